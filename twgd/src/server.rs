//! `run(listener, daemon, shutdown)`: serves the gRPC API until `shutdown` resolves.
//! The caller owns the listener, so tests can bind a temporary socket. [`run_with`] adds
//! what the real process needs: service-manager notifications and idle exit.

use crate::daemon::Daemon;
use crate::handlers::Service;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use twg_common::rpc::pb::twg_daemon_server::TwgDaemonServer;

/// How the real process serves, beyond what in-process tests need.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Exit after this long without requests (socket activation only: the service manager
    /// keeps the socket and starts twgd again on the next connection).
    pub idle_exit: Option<Duration>,
    /// Send `STOPPING=1` to the service manager when shutdown begins.
    pub notify: bool,
}

/// Serves until `shutdown` completes or a client calls `Shutdown`.
#[cfg(unix)]
pub async fn run(
    listener: tokio::net::UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    run_with(listener, daemon, shutdown, ServeOptions::default()).await
}

/// [`run`], plus idle exit and service-manager notifications.
#[cfg(unix)]
pub async fn run_with(
    listener: tokio::net::UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
) -> Result<(), tonic::transport::Error> {
    let activity = crate::idle::Activity::new();
    let accepted = tokio_stream::wrappers::UnixListenerStream::new(listener);
    // Quick requests (the front's hot path) are answered beside gRPC on the same socket;
    // every connection, of either kind, counts as activity while it is open.
    let counted = Some(activity.clone());
    let incoming = |service: &Service| crate::quick::split(accepted, service.clone(), counted);
    serve_incoming(incoming, daemon, shutdown, opts, activity).await
}

/// Windows: the same service on a named pipe (see [`crate::pipe`]).
#[cfg(windows)]
pub async fn run_pipe(
    listener: crate::pipe::Listener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let activity = crate::idle::Activity::new();
    let opts = ServeOptions::default();
    // Quick requests (the front's hot path) are answered beside gRPC on the pipe too.
    let incoming =
        |service: &Service| crate::quick::split(listener.incoming(), service.clone(), None);
    serve_incoming(incoming, daemon, shutdown, opts, activity).await
}

/// Serves the connections `incoming` makes (given the service, for a transport that answers
/// some calls itself), with the proactive-refresh and upkeep tasks beside.
async fn serve_incoming<S, IO>(
    incoming: impl FnOnce(&Service) -> S,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    opts: ServeOptions,
    activity: Arc<crate::idle::Activity>,
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
    let parked_logins = crate::session::ParkedLogins::default();
    let service = Service {
        daemon: daemon.clone(),
        shutdown: notify.clone(),
        parked_logins: parked_logins.clone(),
    };
    let incoming = incoming(&service);
    let idle = {
        let daemon = daemon.clone();
        async move {
            match opts.idle_exit {
                Some(limit) => crate::idle::wait_idle(daemon, parked_logins, activity, limit).await,
                None => std::future::pending().await,
            }
        }
    };
    let upkeep = tokio::spawn(crate::upkeep_timer::run(daemon.clone()));
    let scheduler = tokio::spawn(crate::scheduler::run(daemon.clone()));
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = notify.notified() => {}
            _ = idle => {}
        }
        #[cfg(unix)]
        if opts.notify {
            crate::activation::notify_stopping();
        }
        let _ = stopping_tx.send(true);
    };
    let serve = tonic::transport::Server::builder()
        .http2_keepalive_interval(None)
        .add_service(TwgDaemonServer::with_interceptor(
            service,
            crate::peer::check,
        ))
        .serve_with_incoming_shutdown(incoming, stop);
    // tonic waits for every open stream before it returns, and a `Login` stream waits for
    // the user's approval for up to the code's lifetime: give open calls a grace period,
    // not a veto over shutdown.
    let grace = async move {
        let _ = stopping_rx.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        r = serve => r,
        () = grace => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "open calls did not finish; stopping anyway");
            Ok(())
        }
    };
    // A refresh in flight (from a request, the scheduler or upkeep) finishes and saves first.
    let gate = daemon.quiesce().await;
    scheduler.abort();
    upkeep.abort();
    let _ = scheduler.await;
    let _ = upkeep.await;
    // Never exit silently with credentials that are not in auth.conf.
    if let Some(msg) = daemon.final_save().await {
        tracing::error!("{msg}");
        eprintln!("twgd: {msg}");
    }
    drop(gate);
    result
}

/// How long shutdown waits for open calls (a pending `Login` stream) before it stops anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
