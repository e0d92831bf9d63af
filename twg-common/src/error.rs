//! The errors a user can meet on the token path, each with its exit code and next step.

use crate::error_code::ErrorCode;
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
    #[error(
        "--min-valid {requested} cannot be met: this server issues access tokens valid for {lifetime} s, so at most \
         {max} s can be asked for without rotating on nearly every call. Ask for less (or omit --min-valid)"
    )]
    MinValidUnmeetable {
        requested: i64,
        lifetime: i64,
        max: i64,
    },
    #[error(
        "the refresh request reached the authorization server but its answer was lost ({detail}). {}",
        if *.halted {
            "The server may have rotated your refresh token; twg will not send the old one again, because a \
             server without a reuse leeway revokes the whole grant when a spent token comes back. The current \
             access token is used until it expires; then run `twg login`. If your server tolerates reuse for a \
             while after rotation, set `reuse_leeway = true` under [oauth] in config.toml"
        } else {
            "twg asked once more within the server's reuse leeway and lost that answer too. Your credentials \
             are unchanged; retry in a moment (within 10 minutes), or run `twg login` if that fails"
        }
    )]
    AnswerLost { detail: String, halted: bool },
    #[error(
        "refusing to send the refresh token to the {what} {url}: it is not on the origin of the issuer {issuer} \
         recorded at login (or is not https). auth.conf may have been edited; nothing was sent. Run `twg login`"
    )]
    EndpointNotPinned {
        what: &'static str,
        url: String,
        issuer: String,
    },
    #[error(
        "the stored credentials were issued by {recorded}, but twg is configured for {configured}; nothing was \
         sent. Run `twg login` for the configured issuer, or set TWG_OAUTH_ISSUER / [oauth] issuer back"
    )]
    IssuerChanged {
        recorded: String,
        configured: String,
    },
    /// The result of another request's refresh, taken by a request that waited for it.
    #[error("{message}")]
    Replayed { code: ErrorCode, message: String },
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
        self.code().exit()
    }

    /// The stable machine-readable code, which also decides the exit code.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::NotLoggedIn { .. } => ErrorCode::NotLoggedIn,
            EngineError::AuthExpired { .. } => ErrorCode::AuthExpired,
            EngineError::Sandbox { .. } => ErrorCode::SandboxCannotPersist,
            EngineError::Busy(_) => ErrorCode::LockBusy,
            EngineError::Transient(_) => ErrorCode::Temporary,
            EngineError::Rejected(_) => ErrorCode::RefreshRejected,
            EngineError::NotRefreshable(_) => ErrorCode::NotRefreshable,
            EngineError::Store(crate::store::StoreError::Format(_)) => ErrorCode::ConfigCorrupt,
            EngineError::Config(_) => ErrorCode::ConfigInvalid,
            EngineError::Store(_) => ErrorCode::StoreError,
            EngineError::Http(_) => ErrorCode::HttpSetup,
            EngineError::PersistAfterRefresh { .. } => ErrorCode::PersistFailed,
            EngineError::MinValidUnmeetable { .. } => ErrorCode::MinValidUnmeetable,
            EngineError::AnswerLost { halted: true, .. } => ErrorCode::RefreshHalted,
            EngineError::AnswerLost { halted: false, .. } => ErrorCode::RefreshAnswerLost,
            EngineError::EndpointNotPinned { .. } => ErrorCode::EndpointNotPinned,
            EngineError::IssuerChanged { .. } => ErrorCode::IssuerChanged,
            EngineError::Replayed { code, .. } => *code,
        }
    }

    /// As twgd answers it over gRPC.
    pub fn to_status(&self) -> tonic::Status {
        self.code().status(self.to_string())
    }

    /// A copy for requests that waited on the refresh that produced this error.
    pub fn replay(&self) -> EngineError {
        EngineError::Replayed {
            code: self.code(),
            message: self.to_string(),
        }
    }
}
