//! A stand-in for a twgd of another release: it owns the socket as twgd does (0700
//! directory, the same uid), answers `Status` with protocol `PROTOCOL_VERSION + 1`, and
//! refuses every other call exactly as a real twgd refuses a client of another protocol.
//! It proves the *client's* side end to end: `twg` maps the refusal to exit 76 and never
//! falls back to refreshing on its own behind a daemon it cannot talk to.
//! Usage: `twg-other-daemon <socket>`; prints `READY` once listening; runs until killed.

use std::os::unix::fs::PermissionsExt;
use tonic::{Request, Response, Status};
use twg_common::rpc::pb;

const OTHER: u32 = twg_common::rpc::PROTOCOL_VERSION + 1;

fn refused() -> Status {
    let mut status = Status::failed_precondition(format!(
        "twgd 99.0.0 speaks protocol {OTHER}, this twg speaks {}; restart the daemon with `twg daemon stop && twg daemon start`",
        twg_common::rpc::PROTOCOL_VERSION
    ));
    status.metadata_mut().insert(
        "twg-error-code",
        "PROTOCOL_MISMATCH".parse().expect("ascii"),
    );
    status
}

#[derive(Debug)]
struct Other;

type Stream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::LoginEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::twg_daemon_server::TwgDaemon for Other {
    async fn get_token(
        &self,
        _: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        Err(refused())
    }
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(pb::StatusResponse {
            package_version: "99.0.0".into(),
            protocol_version: OTHER,
            pid: std::process::id(),
            ..Default::default()
        }))
    }
    async fn refresh(
        &self,
        _: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(refused())
    }
    type LoginStream = Stream;
    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<Self::LoginStream>, Status> {
        Err(refused())
    }
    async fn logout(
        &self,
        _: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(refused())
    }
    async fn run_upkeep(
        &self,
        _: Request<pb::RunUpkeepRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        Err(refused())
    }
    async fn get_upkeep_status(
        &self,
        _: Request<pb::UpkeepStatusRequest>,
    ) -> Result<Response<pb::UpkeepStatus>, Status> {
        Err(refused())
    }
    async fn shutdown(
        &self,
        _: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        Err(refused())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let socket = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: twg-other-daemon <socket>"),
    );
    let dir = socket.parent().expect("socket directory");
    std::fs::create_dir_all(dir).expect("socket directory");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind the socket");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    println!("READY");
    tonic::transport::Server::builder()
        .add_service(pb::twg_daemon_server::TwgDaemonServer::new(Other))
        .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
        .await
        .expect("serve");
}
