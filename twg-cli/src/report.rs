//! The user-facing error report: one message that says what to do next, a documented exit
//! code, and with `--json` a stable envelope on stderr.

use twg_common::error::EngineError;
use twg_common::error_code::ErrorCode;

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    /// Stable machine-readable code; it decides the exit code.
    pub code: ErrorCode,
    pub message: String,
    /// Extra structured detail for `--json` (e.g. sandbox guidance).
    pub detail: Option<serde_json::Value>,
    /// Extra text printed after the message in terminal mode.
    pub text: Option<String>,
}

impl CliError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
            text: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Usage, message)
    }

    /// The documented exit code.
    pub fn exit(&self) -> i32 {
        self.code.exit()
    }

    /// Prints the report (the `--json` envelope when `json`) and returns the exit code.
    pub fn print(&self, json: bool) -> i32 {
        if json {
            eprintln!(
                "{}",
                twg_common::hot_path::error_envelope(
                    self.code,
                    &self.message,
                    self.detail.as_ref()
                )
            );
        } else {
            eprintln!("twg: {}", self.message);
            if let Some(t) = &self.text {
                eprintln!();
                eprintln!("{t}");
            }
        }
        self.exit()
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<twg_common::config::ConfigError> for CliError {
    fn from(e: twg_common::config::ConfigError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<twg_common::paths::PathError> for CliError {
    fn from(e: twg_common::paths::PathError) -> Self {
        Self::new(ErrorCode::PathError, e.to_string())
    }
}

impl From<twg_common::store::StoreError> for CliError {
    fn from(e: twg_common::store::StoreError) -> Self {
        EngineError::from(e).into()
    }
}

impl From<twg_common::login::WebLoginError> for CliError {
    fn from(e: twg_common::login::WebLoginError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<twg_common::oauth::device::DeviceError> for CliError {
    fn from(e: twg_common::oauth::device::DeviceError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// Maps a daemon's gRPC error to a report, using the code the daemon attached.
pub fn from_status(status: &tonic::Status) -> CliError {
    let message = if status.message().is_empty() {
        format!("twgd answered {:?}", status.code())
    } else {
        status.message().to_string()
    };
    CliError::new(ErrorCode::of_daemon_status(status), message)
}
