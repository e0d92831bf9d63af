//! twgd's upkeep timer: a first pass shortly after start, then one every 12 minutes, each
//! run by [`twg_upkeep::pass`] with twgd as the refresher (single flight, keeps its cache)
//! and desktop notifications shown by twgd itself.

use crate::daemon::Daemon;
use crate::notify::Desktop;
use std::future::Future;
use std::sync::Arc;
use twg_common::engine::{Engine, Need};
use twg_common::error::EngineError;
use twg_common::store::Loaded;
use twg_common::time::now_unix;
use twg_upkeep::{PassOptions, Refresher, schedule};

impl Refresher for Daemon {
    fn engine(&self) -> &Engine {
        Daemon::engine(self)
    }

    fn current(&self) -> Result<Option<Loaded>, EngineError> {
        Daemon::current(self)
    }

    async fn refresh(&self, need: Need) -> Result<bool, EngineError> {
        let before = self.info().refreshes;
        self.token(need).await?;
        Ok(self.info().refreshes > before)
    }
}

/// The timer task spawned by [`crate::server::run`]; runs until aborted.
pub async fn run(daemon: Arc<Daemon>) {
    let mut rng = fastrand::Rng::new();
    drive(&mut rng, |next_run_at| {
        let daemon = daemon.clone();
        async move {
            let opts = PassOptions {
                by: "twgd",
                next_run_at: Some(next_run_at),
            };
            if let Err(e) = twg_upkeep::run(&*daemon, &Desktop, opts).await {
                tracing::error!(error = %e, "upkeep pass failed");
            }
        }
    })
    .await
}

/// The timer: a first pass shortly after start, then one every interval (with jitter).
/// `pass` receives the wall-clock time planned for the following pass.
pub async fn drive<F, Fut>(rng: &mut fastrand::Rng, mut pass: F)
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::time::sleep(schedule::first_pass_delay(rng)).await;
    loop {
        let delay = schedule::next_pass_delay(rng);
        pass(now_unix() + delay.as_secs() as i64).await;
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn timer_runs_first_pass_soon_then_every_twelve_minutes() {
        let passes = Arc::new(Mutex::new(Vec::new()));
        let start = tokio::time::Instant::now();
        let recorded = passes.clone();
        let task = tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(3);
            drive(&mut rng, move |_| {
                recorded.lock().unwrap().push(start.elapsed());
                async {}
            })
            .await
        });
        tokio::time::sleep(Duration::from_secs(3 * 3600 + 1)).await;
        task.abort();
        let passes = passes.lock().unwrap().clone();
        assert!(
            (schedule::FIRST_PASS_MIN..=schedule::FIRST_PASS_MAX).contains(&passes[0]),
            "{passes:?}"
        );
        for pair in passes.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (schedule::PASS_INTERVAL..=schedule::PASS_INTERVAL + schedule::PASS_JITTER_MAX)
                    .contains(&gap),
                "{gap:?}"
            );
        }
        // 3 h / (12 min + up to 30 s) is 14 or 15 passes after the first.
        assert!((15..=16).contains(&passes.len()), "{}", passes.len());
    }
}
