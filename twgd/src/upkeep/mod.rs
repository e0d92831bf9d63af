//! Upkeep inside twgd: the 12-minute pass, update checks and notifications.
//!
//! [`schedule`] holds the pure rules, [`pass`] one pass with its I/O (shared with
//! `twg upkeep run`), [`notify`] the desktop notification. Upkeep never downloads or
//! installs anything: it tells the user to run `twg update`.

pub mod notify;
pub mod pass;
pub mod schedule;

use crate::daemon::Daemon;
use crate::service::Service;
use crate::service::check_protocol;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use twg_common::error_code::ErrorCode;
use twg_common::manifest::Version;
use twg_common::rpc::pb;
use twg_common::time::now_unix;
use twg_common::upkeep_state::{self, StateError, UpkeepState};

/// The timer task spawned by [`crate::server::run`]; runs until aborted.
pub async fn run(daemon: Arc<Daemon>) {
    let mut rng = fastrand::Rng::new();
    drive(&mut rng, |next_run_at| {
        let daemon = daemon.clone();
        async move {
            let opts = pass::PassOptions {
                by: "twgd",
                next_run_at: Some(next_run_at),
            };
            if let Err(e) = pass::run(pass::Auth::Daemon(&daemon), opts).await {
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

/// `RunUpkeep`: one pass now, then its result.
pub async fn rpc_run(
    svc: &Service,
    request: Request<pb::RunUpkeepRequest>,
) -> Result<Response<pb::UpkeepStatus>, Status> {
    check_protocol(request.get_ref().client.as_ref())?;
    let daemon = &svc.daemon;
    let opts = pass::PassOptions {
        by: "twgd (requested)",
        next_run_at: None,
    };
    let state = pass::run(pass::Auth::Daemon(daemon), opts)
        .await
        .map_err(state_status)?;
    Ok(Response::new(to_proto(
        &state,
        true,
        daemon.info().last_refresh_at,
    )))
}

/// `GetUpkeepStatus`: the saved state (read without the lock; saves are atomic).
pub async fn rpc_status(
    svc: &Service,
    request: Request<pb::UpkeepStatusRequest>,
) -> Result<Response<pb::UpkeepStatus>, Status> {
    check_protocol(request.get_ref().client.as_ref())?;
    let daemon = &svc.daemon;
    let root = daemon.engine().store().root();
    let state = read_for_status(root);
    Ok(Response::new(to_proto(
        &state,
        true,
        daemon.info().last_refresh_at,
    )))
}

/// The saved state for display. A corrupt file is left in place here (the next pass moves
/// it aside under the lock) and reported as the error.
pub fn read_for_status(root: &std::path::Path) -> UpkeepState {
    match upkeep_state::read(root) {
        Ok(s) => s,
        Err(e) => {
            let mut s = UpkeepState::fresh();
            s.set_error(now_unix(), e.to_string());
            s
        }
    }
}

fn state_status(e: StateError) -> Status {
    match e {
        StateError::Lock(_) => ErrorCode::LockBusy.status(format!(
            "{e}; another upkeep pass is running, retry shortly"
        )),
        _ => ErrorCode::Failure.status(e.to_string()),
    }
}

/// The wire form of `state`. `last_refresh_at` also counts refreshes made outside upkeep.
pub fn to_proto(
    state: &UpkeepState,
    daemon_running: bool,
    other_refresh_at: i64,
) -> pb::UpkeepStatus {
    pb::UpkeepStatus {
        daemon_running,
        last_run_at: state.last_run_at,
        next_run_at: if daemon_running { state.next_run_at } else { 0 },
        last_refresh_at: state.last_refresh_at.max(other_refresh_at),
        last_update_check_at: state.last_check_at,
        latest_version: state.latest_version.clone().unwrap_or_default(),
        pending_notification: schedule::describe_pending(state, &Version::current(), now_unix()),
        last_error: state.last_error.clone().unwrap_or_default(),
        state_json: state.to_json(),
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

    #[test]
    fn status_hides_next_run_when_the_daemon_is_down() {
        let s = UpkeepState {
            next_run_at: 42,
            last_refresh_at: 5,
            ..UpkeepState::fresh()
        };
        assert_eq!(to_proto(&s, true, 9).next_run_at, 42);
        assert_eq!(to_proto(&s, true, 9).last_refresh_at, 9);
        assert_eq!(to_proto(&s, false, 0).next_run_at, 0);
        assert!(
            to_proto(&s, false, 0)
                .state_json
                .contains("\"next_run_at\": 42")
        );
    }
}
