//! The auth-injecting API proxy on `api.sock`: plain HTTP/1.1 from the caller, HTTPS with
//! `Authorization: Bearer <current access token>` to the configured API. An agent reaches
//! the API through it without ever holding a token (Vault Proxy's auto-auth, for twg).
//!
//! Off unless `proxy = true` under `[api]`. Connections get the same peer-uid check as the
//! gRPC sockets; the request handling is in [`forward`], the header rules in [`headers`].

mod caller;
mod forward;
mod headers;

use crate::daemon::Daemon;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use twg_common::agent_access::ApiSettings;

/// A slow or silent client cannot hold a connection open before it has sent its headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot set up the API proxy's HTTP client: {0}")]
    Client(#[from] twg_common::oauth::http::HttpSetupError),
}

/// Everything a request needs; shared by all connections.
#[derive(Debug)]
pub struct Proxy {
    daemon: Arc<Daemon>,
    settings: ApiSettings,
    client: reqwest::Client,
}

impl Proxy {
    /// The HTTP client is twg's own (rustls, `network.ca_file`, `network.timeout_seconds`
    /// as the per-request deadline, no redirects followed).
    pub fn new(daemon: Arc<Daemon>) -> Result<Self, ProxyError> {
        let config = daemon.engine().config();
        let client = twg_common::oauth::http::HttpClient::new(config)?
            .reqwest()
            .clone();
        Ok(Self {
            settings: config.api.clone(),
            daemon,
            client,
        })
    }
}

/// Serves `listener` until `shutdown` resolves. Connections still open then are dropped
/// with the runtime; a request in flight holds no credential state.
#[cfg(unix)]
pub async fn run(
    listener: tokio::net::UnixListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "API proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(stream, proxy.clone()));
    }
}

#[cfg(unix)]
async fn serve_connection(stream: tokio::net::UnixStream, proxy: Arc<Proxy>) {
    let me = rustix::process::geteuid().as_raw();
    let peer = match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => crate::peer::Peer {
            uid: Some(cred.uid()),
            pid: cred.pid(),
        },
        Ok(cred) => {
            tracing::warn!(
                peer_uid = cred.uid(),
                "API proxy: rejected a connection from another user"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "API proxy: no peer credentials; connection dropped");
            return;
        }
    };
    let service = hyper::service::service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(forward::handle(&proxy, req, peer).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "API proxy: connection ended with an error");
    }
}
