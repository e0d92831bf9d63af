//! The gRPC service: thin handlers that check the protocol version and call the daemon.

use crate::daemon::Daemon;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use twg_common::engine::Need;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;
use twg_upkeep::PassOptions;
use twg_upkeep::state::StateError;
use twg_upkeep::status::{read_for_status, to_proto};

/// The service object; cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    pub daemon: Arc<Daemon>,
    pub shutdown: Arc<tokio::sync::Notify>,
    /// Logins waiting for the client's site choice or web callback.
    pub parked_logins: crate::session::ParkedLogins,
}

#[tonic::async_trait]
impl pb::twg_daemon_server::TwgDaemon for Service {
    #[tracing::instrument(skip_all)]
    async fn get_token(
        &self,
        request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        let peer = crate::peer::peer_of(&request);
        let req = request.get_ref();
        check_protocol(req.client.as_ref())?;
        let need = Need {
            min_valid: req.min_valid_seconds.map(|s| s.min(86_400 * 366) as i64),
            force: false,
        };
        let view = self.daemon.token(need).await.map_err(|e| e.to_status())?;
        let via = crate::audit::Via {
            via: request
                .extensions()
                .get::<crate::agent_socket::ViaAgentSocket>()
                .map(|_| "agent"),
            ..Default::default()
        };
        crate::audit::record_via(
            &self.daemon.audit,
            peer,
            req.client.as_ref(),
            &view.oauth.access_token,
            via,
        );
        Ok(Response::new(pb::GetTokenResponse {
            access_token: view.oauth.access_token.expose().to_string(),
            expires_at: view.oauth.expires_at,
            site: view.site,
            token_type: view.oauth.token_type.clone(),
            protocol_version: twg_common::rpc::PROTOCOL_VERSION,
            source: "oauth".into(),
            cloud_id: view.cloud_id,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        // Status answers any protocol version: it is how a client learns about a mismatch.
        let _ = request;
        let d = &self.daemon;
        let loaded = d.current().ok().flatten();
        let info = d.info();
        let creds = loaded.as_ref().map(|l| &l.credentials);
        let oauth = creds.and_then(|c| c.oauth.as_ref());
        let summary = pb::CredentialSummary {
            logged_in: oauth.is_some(),
            access_expires_at: oauth.map(|o| o.expires_at).unwrap_or(0),
            last_refresh_at: info
                .last_refresh_at
                .max(oauth.map(|o| o.obtained_at).unwrap_or(0)),
            next_refresh_at: d.next_refresh_at(),
            backend: loaded
                .as_ref()
                .map(|l| l.backend)
                .unwrap_or(d.engine().store().backend())
                .as_str()
                .into(),
            site: creds
                .and_then(|c| c.site.as_ref())
                .map(twg_common::store::SiteInfo::label)
                .unwrap_or_default(),
            user: creds
                .and_then(|c| c.user.as_ref())
                .map(twg_common::store::UserInfo::label)
                .unwrap_or_default(),
            issuer: oauth.map(|o| o.issuer.clone()).unwrap_or_default(),
            last_error: info.last_error.unwrap_or_default(),
            has_bitbucket_token: creds.is_some_and(|c| c.bitbucket_token.is_some()),
            config_path: d.engine().store().auth_path().display().to_string(),
            client_id: oauth.map(|o| o.client_id.clone()).unwrap_or_default(),
            client_auth: oauth
                .map(|o| o.client_auth.as_str().to_string())
                .unwrap_or_default(),
            grant: oauth
                .map(|o| o.grant_name().to_string())
                .unwrap_or_default(),
            unsaved: match d.unsaved() {
                None => String::new(),
                Some(Some(path)) => format!(
                    "the newest credentials are in the recovery record {} because {} could not be written; \
                     make the config directory writable (twgd retries every few seconds)",
                    path.display(),
                    d.engine().store().auth_path().display()
                ),
                Some(None) => format!(
                    "the newest credentials exist only in twgd's memory because neither {} nor a recovery record \
                     could be written; make the config directory writable and do not stop twgd",
                    d.engine().store().auth_path().display()
                ),
            },
        };
        Ok(Response::new(pb::StatusResponse {
            package_version: env!("CARGO_PKG_VERSION").into(),
            protocol_version: twg_common::rpc::PROTOCOL_VERSION,
            pid: std::process::id(),
            uptime_seconds: d.started.elapsed().as_secs(),
            credentials: Some(summary),
            socket_path: d.socket.display().to_string(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let req = request.get_ref();
        check_protocol(req.client.as_ref())?;
        // `twg auth refresh` is what users run to finish a save that failed: try it first.
        let _ = self.daemon.retry_unsaved().await;
        let before = self.daemon.info().refreshes;
        let view = self
            .daemon
            .token(Need {
                min_valid: None,
                force: req.force,
            })
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::RefreshResponse {
            refreshed: self.daemon.info().refreshes > before,
            expires_at: view.oauth.expires_at,
        }))
    }

    type LoginStream = crate::session::LoginStream;

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<Self::LoginStream>, Status> {
        check_protocol(request.get_ref().client.as_ref())?;
        crate::session::login(&self.daemon, &self.parked_logins, request).await
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        check_protocol(request.get_ref().client.as_ref())?;
        crate::session::logout(&self.daemon, request).await
    }

    async fn run_upkeep(
        &self,
        request: Request<pb::RunUpkeepRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        check_protocol(request.get_ref().client.as_ref())?;
        let opts = PassOptions {
            by: "twgd (requested)",
            next_run_at: None,
        };
        let state = twg_upkeep::run(&*self.daemon, &crate::notify::Desktop, opts)
            .await
            .map_err(upkeep_state_error)?;
        Ok(Response::new(to_proto(
            &state,
            true,
            self.daemon.info().last_refresh_at,
        )))
    }

    async fn get_upkeep_status(
        &self,
        request: Request<pb::UpkeepStatusRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        check_protocol(request.get_ref().client.as_ref())?;
        // Read without the lock: saves are atomic.
        let state = read_for_status(self.daemon.engine().store().root());
        Ok(Response::new(to_proto(
            &state,
            true,
            self.daemon.info().last_refresh_at,
        )))
    }

    async fn shutdown(
        &self,
        request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        let _ = request;
        tracing::info!("shutdown requested over the socket");
        // The last save happens before the answer, so the client can tell the user where
        // credentials that could not be saved are kept.
        let unsaved = {
            let _gate = self.daemon.quiesce().await;
            self.daemon.final_save().await
        };
        if let Some(msg) = &unsaved {
            tracing::error!("{msg}");
        }
        self.shutdown.notify_one();
        Ok(Response::new(pb::ShutdownResponse {
            unsaved: unsaved.unwrap_or_default(),
        }))
    }
}

/// Rejects clients that speak another protocol version.
pub fn check_protocol(client: Option<&pb::ClientInfo>) -> Result<(), Status> {
    let theirs = client.map(|c| c.protocol_version).unwrap_or(0);
    if theirs == twg_common::rpc::PROTOCOL_VERSION {
        return Ok(());
    }
    Err(ErrorCode::ProtocolMismatch.status(format!(
        "twgd {} speaks protocol {}, this twg speaks {theirs}; restart the daemon with `twg daemon stop && twg daemon start`",
        env!("CARGO_PKG_VERSION"),
        twg_common::rpc::PROTOCOL_VERSION
    )))
}

fn upkeep_state_error(e: StateError) -> Status {
    match e {
        StateError::Lock(_) => ErrorCode::LockBusy.status(format!(
            "{e}; another upkeep pass is running, retry shortly"
        )),
        _ => ErrorCode::Failure.status(e.to_string()),
    }
}
