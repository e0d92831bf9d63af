//! twgd's desktop notifications (freedesktop `Notify` over the session D-Bus via zbus; the native
//! centre on macOS and Windows). Failure is expected on headless machines and never fatal:
//! the caller records it as `last_error` and tries again at a later pass.

use std::time::Duration;

/// A notification server that never answers must not stall the pass.
const SHOW_TIMEOUT: Duration = Duration::from_secs(10);

/// Notifications shown by twgd itself.
#[derive(Debug, Clone, Copy)]
pub struct Desktop;

impl twg_upkeep::Notifier for Desktop {
    async fn show(&self, summary: &str, body: &str) -> Result<(), String> {
        show(summary, body).await
    }
}

/// Shows one notification; the error says why it could not be shown.
pub async fn show(summary: &str, body: &str) -> Result<(), String> {
    let mut n = notify_rust::Notification::new();
    n.appname("twg")
        .summary(summary)
        .body(body)
        .timeout(notify_rust::Timeout::Default);
    let result = tokio::time::timeout(SHOW_TIMEOUT, deliver(n)).await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "cannot show the update notification ({e}); run `twg update` to install it"
        )),
        Err(_) => Err(format!(
            "the notification server did not answer within {}s; run `twg update` to install it",
            SHOW_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
async fn deliver(n: notify_rust::Notification) -> Result<(), String> {
    n.show_async().await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn deliver(n: notify_rust::Notification) -> Result<(), String> {
    tokio::task::spawn_blocking(move || n.show().map(|_| ()).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}
