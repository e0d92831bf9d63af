//! `run(listener, daemon, shutdown)`: serves the gRPC API until `shutdown` resolves.
//! The caller owns the listener, so tests can bind a temporary socket.

use crate::daemon::Daemon;
use crate::service::Service;
use std::future::Future;
use std::sync::Arc;
use twg_common::rpc::pb::twg_daemon_server::TwgDaemonServer;

/// Serves until `shutdown` completes or a client calls `Shutdown`.
#[cfg(unix)]
pub async fn run(
    listener: tokio::net::UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    serve_incoming(incoming, daemon, shutdown).await
}

/// Windows: the same service on a named pipe (see [`crate::pipe`]).
#[cfg(windows)]
pub async fn run_pipe(
    name: String,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_incoming(crate::pipe::incoming(name), daemon, shutdown).await
}

/// Serves connections from `incoming`, with the proactive-refresh and upkeep tasks beside.
async fn serve_incoming<S, IO>(
    incoming: S,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error>
where
    S: futures_util::Stream<Item = std::io::Result<IO>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Send
        + Unpin
        + 'static,
{
    let notify = Arc::new(tokio::sync::Notify::new());
    let service = Service {
        daemon: daemon.clone(),
        shutdown: notify.clone(),
    };
    let upkeep = tokio::spawn(crate::upkeep::run(daemon.clone()));
    let scheduler = tokio::spawn(crate::scheduler::run(daemon));
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = notify.notified() => {}
        }
    };
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(None)
        .add_service(TwgDaemonServer::with_interceptor(
            service,
            crate::peer::check,
        ))
        .serve_with_incoming_shutdown(incoming, stop)
        .await;
    scheduler.abort();
    upkeep.abort();
    result
}
