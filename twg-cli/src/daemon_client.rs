//! Reaching twgd: a quick connect that reports "unreachable" instead of failing, so each
//! command can fall back to doing the work itself, except when the socket is not the
//! user's own: that is refused outright, never silently worked around.

use crate::ctx::Ctx;
use crate::report::{CliError, from_status};
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::{self, Client, ConnectError};

/// How long a connect may take before the daemon counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects, or returns why the daemon is unreachable. A socket that another user could
/// have planted is an error, not "unreachable".
pub async fn connect(ctx: &Ctx) -> Result<Result<Client, ConnectError>, CliError> {
    let socket = ctx.socket()?;
    match rpc::connect(&socket, CONNECT_TIMEOUT).await {
        Err(e @ ConnectError::Untrusted { .. }) => {
            Err(CliError::new(ErrorCode::UntrustedSocket, e.to_string()))
        }
        other => Ok(other),
    }
}

/// A request with the short deadline of calls that never wait on the network.
pub fn quick<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(rpc::QUICK_DEADLINE);
    r
}

/// Maps a failed RPC. Every error twgd itself produces carries a `twg-error-code`; one
/// without it came from the transport (the daemon died, hung or was stopped mid-call).
pub fn rpc_error(status: tonic::Status) -> RpcFailure {
    let from_daemon = ErrorCode::of_status(&status).is_some();
    let transport = matches!(
        status.code(),
        tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unavailable
    );
    if !from_daemon && transport {
        return RpcFailure::Unreachable(format!(
            "twgd{} is not responding ({}); it may be stopped or hung. Restart it with `twg daemon stop` \
             (or `kill` that pid) and `twg daemon start`",
            daemon_pid()
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default(),
            status.message()
        ));
    }
    RpcFailure::Answered(from_status(&status))
}

/// The daemon's pid from its pidfile, for messages.
pub fn daemon_pid() -> Option<u32> {
    let socket = twg_common::paths::socket_path().ok()?;
    std::fs::read_to_string(twg_common::paths::pid_file(&socket))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The daemon answered with an error, or vanished.
#[derive(Debug)]
pub enum RpcFailure {
    Answered(CliError),
    Unreachable(String),
}

impl RpcFailure {
    /// For commands that cannot fall back: an unreachable daemon is exit 69.
    pub fn into_error(self) -> CliError {
        match self {
            RpcFailure::Answered(e) => e,
            RpcFailure::Unreachable(why) => CliError::new(ErrorCode::DaemonUnreachable, why),
        }
    }
}
