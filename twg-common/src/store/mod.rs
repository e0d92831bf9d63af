//! The credential store: `auth.conf` in the config root, optionally with its secrets in the
//! OS keyring.
//!
//! Every save is atomic and requires the cross-process lock (a [`LockGuard`] proves it is
//! held). Loads never need the lock: the atomic rename means a reader sees the old or the
//! new file, never a torn one. A corrupt or unknown-version file is reported with its path
//! and left exactly as it is.
//!
//! Why just over 400 lines: the store's one interface (load, save, rewrite, delete) and the
//! choice between the file and keyring backends belong together; the backends, the format
//! and the tests are their own modules.

pub mod chunked;
mod file;
pub mod format;
pub mod keyring;
mod keyring_advice;
#[cfg(test)]
mod tests;

use crate::config::BackendKind;
use crate::lock::LockGuard;
use crate::oauth::client_auth::{AuthMethod, ClientAuth};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use format::{FORMAT_VERSION, FormatError};

/// Problems loading or saving credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}; check that it belongs to you and is readable")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(
        "cannot save credentials: {0}; nothing was changed on disk. Check that the config directory is writable and the disk is not full"
    )]
    Write(#[from] crate::atomic::AtomicWriteError),
    #[error("cannot remove {path}: {source}; check the config directory's permissions and retry")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Dir(#[from] crate::paths::PathError),
    #[error("keyring: {0}")]
    Keyring(String),
}

/// Everything twg knows about the signed-in user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    pub oauth: Option<OAuthCredentials>,
    pub user: Option<UserInfo>,
    pub site: Option<SiteInfo>,
    pub bitbucket_token: Option<Secret>,
    /// The user's own OAuth app (`twg setup oauth-app`), for the next `twg login --web`.
    /// Kept across logouts, like the Bitbucket token.
    pub oauth_app: Option<OAuthApp>,
}

/// A registered OAuth app: its id and secret. The other settings (callback URL) are not
/// secret and live in `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret,
}

/// How the stored tokens were obtained (shown by `auth status` and `doctor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginGrant {
    /// RFC 8628 device authorization.
    Device,
    /// RFC 6749 §4.1 with PKCE (`twg login --web`).
    AuthorizationCode,
}

impl LoginGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginGrant::Device => "device",
            LoginGrant::AuthorizationCode => "authorization_code",
        }
    }
}

/// OAuth tokens and where they were issued; refresh must go back to the same endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthCredentials {
    pub issuer: String,
    pub client_id: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: Secret,
    pub token_type: String,
    /// Unix seconds; 0 when the server gave no `expires_in`.
    pub expires_at: i64,
    /// When the current access token was obtained (the 75% rule is measured from here).
    pub obtained_at: i64,
    pub refresh_token: Option<Secret>,
    /// When the refresh token was last issued or successfully used: idle for 30 days means
    /// the session expired.
    pub refresh_token_issued_at: i64,
    /// Set when the refresh token must never be sent again (see [`Halt`]); cleared only by
    /// a new login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<Halt>,
    /// A confidential client's secret, sent with every refresh and revocation of this login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// How the client authenticates at the token and revocation endpoints.
    #[serde(default)]
    pub client_auth: AuthMethod,
    /// `None` for logins saved before twg recorded it (device logins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<LoginGrant>,
}

impl OAuthCredentials {
    /// This login's client identity for token and revocation requests.
    pub fn client(&self) -> ClientAuth<'_> {
        ClientAuth {
            client_id: &self.client_id,
            secret: self.client_secret.as_ref(),
            method: self.client_auth,
        }
    }
}

/// Why the stored refresh token must not be spent again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// Unix seconds.
    pub at: i64,
    pub reason: HaltReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltReason {
    /// The server answered `invalid_grant`: the grant is dead.
    Revoked,
    /// The refresh request reached the server but its answer was lost or unreadable, and the
    /// server is not known to tolerate reuse: sending the token again could revoke the grant.
    AnswerLost,
}

impl HaltReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HaltReason::Revoked => "revoked",
            HaltReason::AnswerLost => "answer_lost",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub email: String,
    pub account_id: String,
}

impl UserInfo {
    /// How twg names the user everywhere: "Name (email)", or whichever part the server gave.
    pub fn label(&self) -> String {
        match (self.name.is_empty(), self.email.is_empty()) {
            (false, false) if self.name != self.email => format!("{} ({})", self.name, self.email),
            (false, _) => self.name.clone(),
            (true, _) => self.email.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub id: String,
    pub name: String,
    pub url: String,
}

impl SiteInfo {
    /// How the site is shown: its URL, else its name.
    pub fn label(&self) -> String {
        if self.url.is_empty() {
            self.name.clone()
        } else {
            self.url.clone()
        }
    }
}

/// A refresh token unused for this long is treated as expired ("run `twg login`").
pub const REFRESH_TOKEN_IDLE_LIMIT_SECS: i64 = 30 * 24 * 3600;

impl OAuthCredentials {
    /// The moment the 75% mark of the access token's lifetime passes.
    pub fn refresh_due_at(&self) -> i64 {
        if self.expires_at <= 0 {
            return 0;
        }
        let lifetime = (self.expires_at - self.obtained_at).max(0);
        self.obtained_at + lifetime * 3 / 4
    }

    /// True when the access token is usable for at least `min_valid` more seconds.
    pub fn valid_for(&self, now: i64, min_valid: i64) -> bool {
        self.expires_at <= 0 || self.expires_at - now >= min_valid.max(1)
    }

    /// How these credentials were obtained, as status and `--json` name it (empty when
    /// unknown, for logins from before twg recorded it).
    pub fn grant_name(&self) -> &'static str {
        self.grant.map(LoginGrant::as_str).unwrap_or_default()
    }

    /// The access token's lifetime as issued (0 when the server gave none).
    pub fn lifetime(&self) -> i64 {
        if self.expires_at <= 0 {
            0
        } else {
            (self.expires_at - self.obtained_at).max(0)
        }
    }

    /// The refresh token's idle limit has passed.
    pub fn refresh_token_idle_expired(&self, now: i64) -> bool {
        self.refresh_token_issued_at > 0
            && now - self.refresh_token_issued_at > REFRESH_TOKEN_IDLE_LIMIT_SECS
    }
}

/// What `load` returns: the credentials and a stamp that changes on every save.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub credentials: Credentials,
    pub generation: u64,
    pub backend: BackendKind,
    pub stamp: Option<FileStamp>,
}

/// Identity of the `auth.conf` file on disk; an atomic save always changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let ino = 0;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Some(Self {
            ino,
            len: meta.len(),
            mtime_ns,
        })
    }
}

/// The store for one config root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    backend: BackendKind,
}

impl Store {
    /// A store in `root` that writes with `backend` (from `config.toml`).
    pub fn new(root: impl Into<PathBuf>, backend: BackendKind) -> Self {
        Self {
            root: root.into(),
            backend,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    pub fn auth_path(&self) -> PathBuf {
        crate::paths::auth_file(&self.root)
    }

    pub fn lock_path(&self) -> PathBuf {
        crate::paths::auth_lock_file(&self.root)
    }

    /// The current file stamp, for cheap change detection.
    pub fn stamp(&self) -> Option<FileStamp> {
        FileStamp::of(&self.auth_path())
    }

    /// Loads the stored credentials; `Ok(None)` when there is no `auth.conf`.
    pub fn load(&self) -> Result<Option<Loaded>, StoreError> {
        file::load(self)
    }

    /// Saves atomically with the configured backend. The guard proves the caller holds the
    /// credential lock.
    ///
    /// When the previous save used the other backend, its copy of the secrets is removed
    /// afterwards (switching `backend` in config.toml is an explicit choice, so the secrets
    /// move rather than linger in two places).
    pub fn save(&self, credentials: &Credentials, guard: &LockGuard) -> Result<u64, StoreError> {
        self.save_as(credentials, None, guard)
    }

    /// Rewrites `loaded` exactly where and as it is (same generation), through the same
    /// code path as [`Store::save`]: the refresh preflight, which proves that the save after
    /// a rotation will succeed. When the configured backend differs from the file's, this is
    /// a real save (the secrets move), with a new generation.
    pub fn rewrite(&self, loaded: &Loaded, guard: &LockGuard) -> Result<u64, StoreError> {
        let same = file::read(self)
            .ok()
            .flatten()
            .is_some_and(|f| f.backend == self.backend && f.generation == loaded.generation);
        let generation = same.then_some(loaded.generation);
        self.save_as(&loaded.credentials, generation, guard)
    }

    fn save_as(
        &self,
        credentials: &Credentials,
        keep_generation: Option<u64>,
        guard: &LockGuard,
    ) -> Result<u64, StoreError> {
        debug_assert_eq!(guard.path(), self.lock_path());
        crate::paths::ensure_private_dir(self.root())?;
        let (next, previous) = file::next(self);
        let generation = keep_generation.unwrap_or(next);
        match self.backend {
            BackendKind::File => {
                file::save(self, credentials, generation)?;
                if previous == Some(BackendKind::Keyring) {
                    // The file now holds the secrets; a keyring that cannot be reached only
                    // leaves a stale copy behind, which must not turn a good save into an error.
                    if let Err(e) = keyring::delete(self) {
                        tracing::warn!(error = %e, "could not remove the old keyring entry after moving the secrets to auth.conf");
                    }
                }
            }
            BackendKind::Keyring => {
                let mut generation = generation;
                if previous == Some(BackendKind::File) {
                    // Switching from the file: auth.conf still says `backend = "file"` and
                    // holds the old secrets, so a crash or failure between the keyring write
                    // and the auth.conf write would leave load reading the spent refresh
                    // token. Put the new secrets in the file first; from then on either
                    // state load can land in holds the current tokens.
                    file::save(self, credentials, generation)?;
                    generation = file::next(self).0;
                }
                // Writing the keyring-form auth.conf is what takes the secrets out of the file.
                keyring::save(self, credentials, generation)?;
                return Ok(generation);
            }
        }
        Ok(generation)
    }

    /// Proves that a save with the configured backend can succeed, before a refresh token is
    /// spent: for the keyring, that the Secret Service answers and is unlocked.
    pub fn preflight(&self) -> Result<(), StoreError> {
        match self.backend {
            BackendKind::File => Ok(()),
            BackendKind::Keyring => keyring::probe(self).map_err(|e| {
                StoreError::Keyring(format!(
                    "{}. Nothing was sent to the server, so your refresh token is intact",
                    e.to_string().trim_start_matches("keyring: ")
                ))
            }),
        }
    }

    /// Deletes the stored credentials (and keyring secrets). Missing is fine.
    ///
    /// The keyring entry goes first: if the keyring cannot be reached, `auth.conf` stays so
    /// the user can retry, rather than orphaning secrets nothing points at any more.
    pub fn delete(&self, guard: &LockGuard) -> Result<(), StoreError> {
        debug_assert_eq!(guard.path(), self.lock_path());
        let recorded = file::read(self).ok().flatten().map(|f| f.backend);
        if recorded == Some(BackendKind::Keyring) {
            keyring::delete(self)?;
        } else if self.backend == BackendKind::Keyring
            && let Err(e) = keyring::delete(self)
        {
            // Nothing points at a keyring entry here; a leftover one is only cleaned up.
            tracing::warn!(error = %e, "could not check the keyring for a leftover twg entry");
        }
        file::delete(self)
    }
}
