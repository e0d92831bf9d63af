//! Reaching twgd: a quick connect that reports "unreachable" instead of failing, so each
//! command can fall back to doing the work itself.

use crate::ctx::Ctx;
use crate::report::{CliError, from_status};
use std::time::Duration;
use twg_common::rpc::{self, Client, ConnectError};

/// How long a connect may take before the daemon counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects, or returns why the daemon is unreachable.
pub async fn connect(ctx: &Ctx) -> Result<Result<Client, ConnectError>, CliError> {
    let socket = ctx.socket()?;
    Ok(rpc::connect(&socket, CONNECT_TIMEOUT).await)
}

/// Maps a failed RPC. A transport failure (daemon died mid-call) is "unreachable".
pub fn rpc_error(status: tonic::Status) -> RpcFailure {
    match status.code() {
        tonic::Code::Unknown | tonic::Code::Cancelled
            if status.message().contains("transport")
                || status.message().contains("connection") =>
        {
            RpcFailure::Unreachable(status.message().to_string())
        }
        _ => RpcFailure::Answered(from_status(&status)),
    }
}

/// The daemon answered with an error, or vanished.
#[derive(Debug)]
pub enum RpcFailure {
    Answered(CliError),
    Unreachable(String),
}
