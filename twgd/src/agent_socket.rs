//! The restricted agent socket (`agent.sock`): the socket to hand to sandboxes, containers
//! and remote hosts. It answers `GetToken` (within the configured validity cap) and
//! `Status`; every call that manages credentials or the daemon (login, logout, refresh,
//! upkeep, shutdown) is refused with `PERMISSION_DENIED`, as gpg-agent's extra socket
//! can sign but not manage keys.
//!
//! It is the main service wrapped, not a copy of its handlers: allowed calls are delegated
//! with a marker the audit log reads. Implementing the service trait (rather than filtering
//! by method name in a layer) means a new RPC added to the protocol does not compile until
//! someone decides here whether agents may call it.

use crate::handlers::Service;
use std::path::PathBuf;
use tonic::{Request, Response, Status};
use twg_common::agent_access::AgentSettings;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;
use twg_common::rpc::pb::twg_daemon_server::TwgDaemon;

/// Put in a request's extensions by the agent socket, so the audit log can say so.
#[derive(Debug, Clone, Copy)]
pub struct ViaAgentSocket;

/// The agent socket's service.
#[derive(Debug, Clone)]
pub struct AgentService {
    inner: Service,
    settings: AgentSettings,
    path: PathBuf,
}

impl AgentService {
    pub fn new(inner: Service, settings: AgentSettings, path: PathBuf) -> Self {
        Self {
            inner,
            settings,
            path,
        }
    }

    fn refuse(&self, what: &str) -> Status {
        ErrorCode::PermissionDenied.status(format!(
            "this is twgd's agent socket ({}), which serves only tokens and status; {what} is \
             not allowed here. Run it in a normal terminal, where twg uses the main socket",
            self.path.display()
        ))
    }
}

#[tonic::async_trait]
impl TwgDaemon for AgentService {
    async fn get_token(
        &self,
        mut request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        let cap = self.settings.max_min_valid_seconds;
        if let Some(asked) = request.get_ref().min_valid_seconds
            && asked > cap
        {
            // A long --min-valid makes twgd rotate; an agent must not be able to force that.
            return Err(ErrorCode::MinValidUnmeetable.status(format!(
                "the agent socket serves tokens valid for at most {cap} s, and {asked} s were \
                 asked for; ask for less, or raise agent.max_min_valid_seconds in config.toml"
            )));
        }
        request.extensions_mut().insert(ViaAgentSocket);
        self.inner.get_token(request).await
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.inner.status(request).await
    }

    async fn refresh(
        &self,
        _request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(self.refuse("`twg auth refresh`"))
    }

    type LoginStream = crate::session::LoginStream;

    async fn login(
        &self,
        _request: Request<pb::LoginRequest>,
    ) -> Result<Response<Self::LoginStream>, Status> {
        Err(self.refuse("`twg login`"))
    }

    async fn logout(
        &self,
        _request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(self.refuse("`twg logout`"))
    }

    async fn run_upkeep(
        &self,
        _request: Request<pb::RunUpkeepRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        Err(self.refuse("`twg upkeep run`"))
    }

    async fn get_upkeep_status(
        &self,
        _request: Request<pb::UpkeepStatusRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        Err(self.refuse("`twg upkeep status`"))
    }

    async fn shutdown(
        &self,
        _request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        Err(self.refuse("`twg daemon stop`"))
    }
}

/// Serves the agent socket until `shutdown` resolves, with the same peer-uid check as the
/// main socket.
#[cfg(unix)]
pub async fn run(
    listener: tokio::net::UnixListener,
    service: AgentService,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    use twg_common::rpc::pb::twg_daemon_server::TwgDaemonServer;
    let accepted = tokio_stream::wrappers::UnixListenerStream::new(listener);
    // The front's quick requests are served here too, through the same capped `get_token`.
    let incoming = crate::quick::split(accepted, service.clone(), None);
    tonic::transport::Server::builder()
        .http2_keepalive_interval(None)
        .add_service(TwgDaemonServer::with_interceptor(
            service,
            crate::peer::check,
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
