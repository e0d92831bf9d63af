//! Idle exit under socket activation: twgd ends itself after a quiet period, since the
//! service manager keeps the socket and starts it again on the next connection.
//!
//! Quiet means no open connection for the whole period (counted from the last one to close,
//! so a `Login` stream waiting for the browser keeps twgd up), no refresh in flight, no
//! login parked between two calls, and no credentials waiting to be saved. The exit then
//! takes the normal shutdown path, final save included.

use crate::daemon::Daemon;
use crate::session::ParkedLogins;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Open connections and when the last one closed.
#[derive(Debug)]
pub struct Activity {
    open: AtomicUsize,
    last: std::sync::Mutex<Instant>,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            last: std::sync::Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        *self.last.lock().expect("activity lock") = Instant::now();
    }

    /// How long nothing has been connected; zero while a connection is open.
    fn quiet_for(&self) -> Duration {
        if self.open.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.last.lock().expect("activity lock").elapsed()
    }

    /// Counts an accepted connection as activity until the returned guard drops (held with
    /// the connection: `quick::Rewind` for gRPC, the quick answer's task otherwise).
    pub fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Open {
            activity: self.clone(),
        }
    }
}

/// An open connection, which keeps twgd from idling out until it drops.
#[derive(Debug)]
pub struct Open {
    activity: Arc<Activity>,
}

impl Drop for Open {
    fn drop(&mut self) {
        // Touch before the count drops, so the quiet period starts at the close.
        self.activity.touch();
        self.activity.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why twgd may not idle out now, if anything keeps it.
fn busy(daemon: &Daemon, parked: &ParkedLogins) -> Option<&'static str> {
    if daemon.is_refreshing() {
        return Some("a refresh is in flight");
    }
    if daemon.unsaved().is_some() {
        return Some("credentials are waiting to be saved");
    }
    if !parked.is_empty() {
        return Some("a login is waiting for the client");
    }
    None
}

/// Resolves once twgd has been quiet for `limit` and nothing keeps it.
pub async fn wait_idle(
    daemon: Arc<Daemon>,
    parked: ParkedLogins,
    activity: Arc<Activity>,
    limit: Duration,
) {
    // A pending reason is re-checked at this pace (a save retry runs every few seconds).
    let recheck = limit.clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let quiet = activity.quiet_for();
        if quiet < limit {
            tokio::time::sleep(limit - quiet).await;
            continue;
        }
        match busy(&daemon, &parked) {
            None => {
                tracing::info!(idle = ?limit, "no requests for the idle period; exiting (the service manager keeps the socket)");
                return;
            }
            Some(why) => {
                tracing::debug!(why, "idle, but staying up");
                tokio::time::sleep(recheck).await;
            }
        }
    }
}
