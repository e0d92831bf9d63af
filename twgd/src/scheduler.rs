//! The proactive refresh timer: wakes at the 75% mark (or after a backoff) and refreshes.
//!
//! It also wakes at least every 30 s, so a login written by another process or a wall-clock
//! jump (suspend, resume) is noticed without inotify.

use crate::daemon::Daemon;
use std::sync::Arc;
use std::time::Duration;

const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Runs until the task is dropped.
pub async fn run(daemon: Arc<Daemon>) {
    loop {
        daemon.tick().await;
        let next = daemon.next_refresh_at();
        let wait = if next > 0 {
            Duration::from_secs((next - daemon.engine().now()).max(1) as u64).min(MAX_SLEEP)
        } else {
            MAX_SLEEP
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = daemon.wake.notified() => {}
        }
    }
}
