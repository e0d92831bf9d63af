//! The errors a user can meet on the token path, each with its exit code and next step.

use crate::exit;
use std::path::PathBuf;

/// A failure of the refresh engine or the store, as the user should see it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("not logged in (no credentials in {path}); run `twg login`")]
    NotLoggedIn { path: PathBuf },
    #[error("your session expired ({reason}); run `twg login`")]
    AuthExpired { reason: String },
    #[error(
        "cannot refresh here: {detail}. Nothing was sent to the server, so your refresh token is intact. \
         Run `twg auth refresh` in a normal terminal, or start twgd (`twg daemon start` / `twg upkeep enable`)"
    )]
    Sandbox { config_dir: PathBuf, detail: String },
    #[error(
        "another twg process is refreshing and did not finish in time ({0}); retry in a moment"
    )]
    Busy(String),
    #[error(
        "cannot reach the authorization server: {0}. Your credentials are unchanged; retry later"
    )]
    Transient(String),
    #[error(
        "the authorization server refused the refresh: {0}. Check the OAuth settings, then run `twg login`"
    )]
    Rejected(String),
    #[error("{0}")]
    NotRefreshable(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Http(#[from] crate::oauth::http::HttpSetupError),
    /// The server rotated the tokens but every save failed. `refreshed` holds the only copy
    /// of the new refresh token: a long-lived caller (twgd) can keep using it and save it
    /// later; a short-lived one can at least use the new access token. Its `Debug` is
    /// redacted and it never reaches `Display`.
    #[error(
        "the tokens were refreshed but could not be saved ({detail}); the new refresh token exists only in \
         this process's memory. Fix the config directory's permissions, then run `twg auth refresh`; \
         if that says the session expired, run `twg login`"
    )]
    PersistAfterRefresh {
        detail: String,
        refreshed: Box<crate::store::Credentials>,
    },
}

impl EngineError {
    /// A failure to take the credential lock: another process holding it too long is
    /// temporary; a lock file that cannot even be opened means this process cannot save.
    pub fn from_lock(config_dir: &std::path::Path, e: crate::lock::LockError) -> Self {
        match e {
            crate::lock::LockError::Timeout { .. } => EngineError::Busy(e.to_string()),
            e => EngineError::Sandbox {
                config_dir: config_dir.to_path_buf(),
                detail: e.to_string(),
            },
        }
    }

    /// The documented exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::NotLoggedIn { .. } | EngineError::AuthExpired { .. } => exit::AUTH_EXPIRED,
            EngineError::Sandbox { .. } => exit::SANDBOX_CANNOT_PERSIST,
            EngineError::Busy(_) | EngineError::Transient(_) => exit::TEMPORARY,
            EngineError::Store(crate::store::StoreError::Format(_)) | EngineError::Config(_) => {
                exit::CONFIG
            }
            EngineError::Rejected(_)
            | EngineError::NotRefreshable(_)
            | EngineError::Store(_)
            | EngineError::Http(_)
            | EngineError::PersistAfterRefresh { .. } => exit::FAILURE,
        }
    }

    /// A stable machine-readable code for `--json` envelopes.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::NotLoggedIn { .. } => "NOT_LOGGED_IN",
            EngineError::AuthExpired { .. } => "AUTH_EXPIRED",
            EngineError::Sandbox { .. } => "SANDBOX_CANNOT_PERSIST",
            EngineError::Busy(_) => "LOCK_BUSY",
            EngineError::Transient(_) => "TEMPORARY",
            EngineError::Rejected(_) => "REFRESH_REJECTED",
            EngineError::NotRefreshable(_) => "NOT_REFRESHABLE",
            EngineError::Store(crate::store::StoreError::Format(_)) => "CONFIG_CORRUPT",
            EngineError::Config(_) => "CONFIG_INVALID",
            EngineError::Store(_) => "STORE_ERROR",
            EngineError::Http(_) => "HTTP_SETUP",
            EngineError::PersistAfterRefresh { .. } => "PERSIST_FAILED",
        }
    }
}
