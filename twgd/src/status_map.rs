//! Engine errors as gRPC statuses with a machine-readable code, so the client can pick its
//! exit code from the status rather than parsing text.

use tonic::{Code, Status};
use twg_common::error::EngineError;

/// Metadata key carrying `EngineError::code()`.
pub const ERROR_CODE_KEY: &str = "twg-error-code";

pub fn to_status(e: &EngineError) -> Status {
    let code = match e {
        EngineError::NotLoggedIn { .. }
        | EngineError::AuthExpired { .. }
        | EngineError::AnswerLost { halted: true, .. } => Code::Unauthenticated,
        EngineError::Busy(_)
        | EngineError::Transient(_)
        | EngineError::AnswerLost { halted: false, .. } => Code::Unavailable,
        EngineError::MinValidUnmeetable { .. } => Code::OutOfRange,
        EngineError::Sandbox { .. }
        | EngineError::EndpointNotPinned { .. }
        | EngineError::IssuerChanged { .. }
        | EngineError::Config(_)
        | EngineError::Store(twg_common::store::StoreError::Format(_)) => Code::FailedPrecondition,
        EngineError::Replayed { exit, .. } => match *exit {
            twg_common::exit::TEMPORARY => Code::Unavailable,
            twg_common::exit::AUTH_EXPIRED => Code::Unauthenticated,
            twg_common::exit::SANDBOX_CANNOT_PERSIST | twg_common::exit::CONFIG => {
                Code::FailedPrecondition
            }
            _ => Code::Internal,
        },
        _ => Code::Internal,
    };
    let mut status = Status::new(code, e.to_string());
    if let Ok(v) = e.code().parse() {
        status.metadata_mut().insert(ERROR_CODE_KEY, v);
    }
    status
}

/// Rejects clients that speak another protocol version.
pub fn check_protocol(client: Option<&twg_common::rpc::pb::ClientInfo>) -> Result<(), Status> {
    let theirs = client.map(|c| c.protocol_version).unwrap_or(0);
    if theirs == twg_common::rpc::PROTOCOL_VERSION {
        return Ok(());
    }
    let mut status = Status::failed_precondition(format!(
        "twgd {} speaks protocol {}, this twg speaks {theirs}; restart the daemon with `twg daemon stop && twg daemon start`",
        env!("CARGO_PKG_VERSION"),
        twg_common::rpc::PROTOCOL_VERSION
    ));
    status
        .metadata_mut()
        .insert(ERROR_CODE_KEY, "PROTOCOL_MISMATCH".parse().expect("ascii"));
    Err(status)
}
