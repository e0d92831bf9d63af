//! Waiting for SIGTERM or SIGINT (Ctrl-C), the ways tests and people stop the server.

use std::future::Future;
use std::io;

/// Installs the handlers now, so a failure shows at start-up, and returns a future that
/// resolves on the first signal.
#[cfg(unix)]
pub fn signal() -> io::Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

#[cfg(not(unix))]
pub fn signal() -> io::Result<impl Future<Output = ()> + Send> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received");
        } else {
            // Without a working handler, never resolving is safer than stopping at once.
            std::future::pending::<()>().await;
        }
    })
}
