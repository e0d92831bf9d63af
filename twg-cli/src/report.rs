//! The user-facing error report: one message that says what to do next, a documented exit
//! code, and with `--json` a stable envelope on stderr.

use crate::ctx::Ctx;
use twg_common::error::EngineError;
use twg_common::exit;

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    /// Stable machine-readable code (`AUTH_EXPIRED`, `SANDBOX_CANNOT_PERSIST`, ...).
    pub code: &'static str,
    pub exit: i32,
    pub message: String,
    /// Extra structured detail for `--json` (e.g. sandbox guidance).
    pub detail: Option<serde_json::Value>,
    /// Extra text printed after the message in terminal mode.
    pub text: Option<String>,
}

impl CliError {
    pub fn new(code: &'static str, exit: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            exit,
            message: message.into(),
            detail: None,
            text: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new("FAILURE", exit::FAILURE, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new("USAGE", exit::USAGE, message)
    }

    /// Prints the report and returns the exit code.
    pub fn print(&self, ctx: &Ctx) -> i32 {
        if ctx.json {
            let mut err = serde_json::json!({
                "code": self.code,
                "message": self.message,
                "exit_code": self.exit,
            });
            if let Some(d) = &self.detail {
                err["detail"] = d.clone();
            }
            eprintln!("{}", serde_json::json!({ "error": err }));
        } else {
            eprintln!("twg: {}", self.message);
            if let Some(t) = &self.text {
                eprintln!();
                eprintln!("{t}");
            }
        }
        self.exit
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        Self::new(e.code(), e.exit_code(), e.to_string())
    }
}

impl From<twg_common::config::ConfigError> for CliError {
    fn from(e: twg_common::config::ConfigError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<twg_common::paths::PathError> for CliError {
    fn from(e: twg_common::paths::PathError) -> Self {
        Self::new("PATH_ERROR", exit::FAILURE, e.to_string())
    }
}

impl From<twg_common::store::StoreError> for CliError {
    fn from(e: twg_common::store::StoreError) -> Self {
        EngineError::from(e).into()
    }
}

/// Maps a daemon's gRPC error to a report, using the code the daemon attached.
pub fn from_status(status: &tonic::Status) -> CliError {
    let code = status
        .metadata()
        .get("twg-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (code, exit): (&'static str, i32) = match code {
        "NOT_LOGGED_IN" => ("NOT_LOGGED_IN", exit::AUTH_EXPIRED),
        "AUTH_EXPIRED" => ("AUTH_EXPIRED", exit::AUTH_EXPIRED),
        "SANDBOX_CANNOT_PERSIST" => ("SANDBOX_CANNOT_PERSIST", exit::SANDBOX_CANNOT_PERSIST),
        "LOCK_BUSY" => ("LOCK_BUSY", exit::TEMPORARY),
        "TEMPORARY" => ("TEMPORARY", exit::TEMPORARY),
        "PROTOCOL_MISMATCH" => ("PROTOCOL_MISMATCH", exit::PROTOCOL_MISMATCH),
        "CONFIG_CORRUPT" => ("CONFIG_CORRUPT", exit::CONFIG),
        "CONFIG_INVALID" => ("CONFIG_INVALID", exit::CONFIG),
        "REFRESH_REJECTED" => ("REFRESH_REJECTED", exit::FAILURE),
        // The rest of `EngineError::code()`, so `--json` names the same code whether the
        // daemon or the direct path failed.
        "NOT_REFRESHABLE" => ("NOT_REFRESHABLE", exit::FAILURE),
        "PERSIST_FAILED" => ("PERSIST_FAILED", exit::FAILURE),
        "STORE_ERROR" => ("STORE_ERROR", exit::FAILURE),
        "HTTP_SETUP" => ("HTTP_SETUP", exit::FAILURE),
        "MIN_VALID_UNMEETABLE" => ("MIN_VALID_UNMEETABLE", exit::FAILURE),
        "REFRESH_ANSWER_LOST" if status.code() == tonic::Code::Unavailable => {
            ("REFRESH_ANSWER_LOST", exit::TEMPORARY)
        }
        "REFRESH_ANSWER_LOST" => ("REFRESH_ANSWER_LOST", exit::AUTH_EXPIRED),
        "ENDPOINT_NOT_PINNED" => ("ENDPOINT_NOT_PINNED", exit::CONFIG),
        "ISSUER_CHANGED" => ("ISSUER_CHANGED", exit::CONFIG),
        _ => match status.code() {
            tonic::Code::Unauthenticated => ("AUTH_EXPIRED", exit::AUTH_EXPIRED),
            tonic::Code::Unavailable => ("TEMPORARY", exit::TEMPORARY),
            tonic::Code::PermissionDenied => ("PERMISSION_DENIED", exit::FAILURE),
            _ => ("DAEMON_ERROR", exit::FAILURE),
        },
    };
    let message = if status.message().is_empty() {
        format!("twgd answered {:?}", status.code())
    } else {
        status.message().to_string()
    };
    CliError::new(code, exit, message)
}
