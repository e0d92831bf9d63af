//! The sockets served beside the main one: the restricted agent socket (always) and the
//! API proxy (when `[api] proxy = true`). Bound with the same checks as the main socket
//! (0700 directory, 0600 socket, a stale socket removed only when nobody answers) while
//! the pidfile is held, and stopped and removed with it.

use crate::daemon::Daemon;
use crate::handlers::Service;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use twg_common::config::Config;

/// Why a socket beside the main one could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ExtraError {
    #[error("agent socket: {0}")]
    Agent(#[source] crate::listen::ListenError),
    #[error("API proxy socket: {0}")]
    Api(#[source] crate::listen::ListenError),
    #[error(transparent)]
    Proxy(#[from] crate::api_proxy::ProxyError),
}

/// The running extra listeners.
#[derive(Debug)]
pub struct Extras {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    paths: Vec<PathBuf>,
}

/// The extra sockets, bound but not served yet. They are bound before the main socket, so
/// by the time `twg daemon start` sees twgd answer, they exist too.
#[derive(Debug)]
pub struct Bound {
    agent: (PathBuf, tokio::net::UnixListener),
    api: Option<(PathBuf, tokio::net::UnixListener)>,
}

/// Binds the agent socket, and the API proxy's when `[api] proxy = true`; `main_socket`
/// places them beside it. Call with the pidfile held.
#[cfg(unix)]
pub fn bind(main_socket: &Path, config: &Config) -> Result<Bound, ExtraError> {
    let agent_path = twg_common::paths::agent_socket_path(main_socket);
    let agent = crate::listen::bind(&agent_path).map_err(ExtraError::Agent)?;
    let api = if config.api.proxy {
        let api_path = twg_common::paths::api_socket_path(main_socket);
        match crate::listen::bind(&api_path) {
            Ok(l) => Some((api_path, l)),
            Err(e) => {
                crate::listen::remove_socket(&agent_path);
                return Err(ExtraError::Api(e));
            }
        }
    } else {
        None
    };
    Ok(Bound {
        agent: (agent_path, agent),
        api,
    })
}

impl Bound {
    /// Starts serving.
    #[cfg(unix)]
    pub fn serve(self, daemon: &Arc<Daemon>) -> Result<Extras, ExtraError> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut rx = stopped.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut extras = Extras {
            stop,
            tasks: Vec::new(),
            paths: vec![self.agent.0.clone()],
        };
        let proxy = match &self.api {
            Some((path, _)) => {
                extras.paths.push(path.clone());
                match crate::api_proxy::Proxy::new(daemon.clone()) {
                    Ok(p) => Some(Arc::new(p)),
                    Err(e) => {
                        extras.remove_sockets();
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        let (agent_path, listener) = self.agent;
        let service = crate::agent_socket::AgentService::new(
            // The agent socket delegates only GetToken and Status, which use neither the
            // shutdown signal nor parked logins.
            Service {
                daemon: daemon.clone(),
                shutdown: Default::default(),
                parked_logins: Default::default(),
            },
            daemon.engine().config().agent,
            agent_path.clone(),
        );
        let stopped = until_stopped();
        extras.tasks.push(tokio::spawn(async move {
            if let Err(e) = crate::agent_socket::run(listener, service, stopped).await {
                tracing::error!(error = %e, "the agent socket stopped");
            }
        }));
        tracing::info!(socket = %agent_path.display(), "agent socket listening");
        if let (Some((api_path, listener)), Some(proxy)) = (self.api, proxy) {
            extras.tasks.push(tokio::spawn(crate::api_proxy::run(
                listener,
                proxy,
                until_stopped(),
            )));
            tracing::info!(socket = %api_path.display(), base_url = %daemon.engine().config().api.base_url, "API proxy listening");
        }
        Ok(extras)
    }
}

impl Extras {
    /// Stops serving and removes the socket files.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in &mut self.tasks {
            // A connection still open must not hold shutdown up.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
        self.remove_sockets();
    }

    fn remove_sockets(&self) {
        for path in &self.paths {
            crate::listen::remove_socket(path);
        }
    }
}
