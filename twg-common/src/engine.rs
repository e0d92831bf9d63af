//! The refresh engine shared by twgd and the client's fallback path.
//!
//! The rules that keep a one-time refresh token from ever being lost:
//! 1. Decide from a lock-free read whether a refresh is due (75% of the lifetime, or the
//!    caller needs more validity than is left).
//! 2. Take the cross-process lock and run the persistence preflight. If either fails, send
//!    nothing: the token stays valid for a process that can save.
//! 3. Re-read the store under the lock: another process may have rotated already, and
//!    then its result is used instead of refreshing again.
//! 4. Spend the refresh token read under the lock (never an in-memory copy), and save the
//!    replacement atomically before the lock is released and before anyone sees success.

use crate::error::EngineError;
use crate::lock;
use crate::oauth::error::OAuthError;
use crate::oauth::http::HttpClient;
use crate::oauth::{TokenSet, refresh};
use crate::store::{Credentials, Loaded, OAuthCredentials, Store};
use crate::time::now_unix;
use std::sync::OnceLock;
use std::time::Duration;

/// How long to wait for another process's refresh before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(45);

/// What the caller needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Need {
    /// Seconds of validity the returned access token must still have.
    pub min_valid: i64,
    /// Rotate even when the token is fresh (`twg auth refresh --force`).
    pub force: bool,
}

/// How the engine satisfied the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The stored token was good enough; nothing was sent.
    Fresh,
    /// Another process rotated while we waited for the lock; its result was used.
    Adopted,
    /// We refreshed and saved.
    Refreshed,
    /// The refresh failed transiently, but the current token still satisfies the caller.
    StaleButValid,
}

/// The result: credentials as now stored, and how they came to be.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub loaded: Loaded,
    pub outcome: Outcome,
    /// The transient error behind `StaleButValid`, for logs and status.
    pub warning: Option<String>,
}

impl Refreshed {
    pub fn oauth(&self) -> &OAuthCredentials {
        self.loaded
            .credentials
            .oauth
            .as_ref()
            .expect("the engine only returns credentials with OAuth tokens")
    }
}

/// The engine for one store. Cheap to share; the HTTP client is built on first use, so
/// callers that never refresh pay nothing for TLS set-up.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    config: crate::config::Config,
    http: OnceLock<HttpClient>,
    /// Attempts per refresh when the failure is transient.
    pub attempts: u32,
}

/// True when `oauth` must be refreshed to satisfy `need` at `now`.
pub fn needs_refresh(oauth: &OAuthCredentials, now: i64, need: Need) -> bool {
    need.force
        || !oauth.valid_for(now, need.min_valid)
        || (oauth.expires_at > 0 && now >= oauth.refresh_due_at())
}

impl Engine {
    pub fn new(store: Store, config: crate::config::Config) -> Self {
        Self {
            store,
            config,
            http: OnceLock::new(),
            attempts: 3,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &crate::config::Config {
        &self.config
    }

    pub fn http(&self) -> Result<&HttpClient, EngineError> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = HttpClient::new(&self.config)?;
        Ok(self.http.get_or_init(|| h))
    }

    /// Loads the credentials, requiring OAuth tokens.
    pub fn load_oauth(&self) -> Result<Loaded, EngineError> {
        let loaded = self.store.load()?;
        match loaded {
            Some(l) if l.credentials.oauth.is_some() => Ok(l),
            _ => Err(EngineError::NotLoggedIn {
                path: self.store.auth_path(),
            }),
        }
    }

    /// Returns credentials that satisfy `need`, refreshing under the lock when required.
    pub async fn ensure(&self, need: Need) -> Result<Refreshed, EngineError> {
        let loaded = self.load_oauth()?;
        let now = now_unix();
        let oauth = loaded.credentials.oauth.as_ref().expect("checked");
        if crate::logout::is_api_token(oauth) {
            if need.force {
                let (name, url) = crate::api_token::api_token_page();
                return Err(EngineError::NotRefreshable(format!(
                    "an {name} cannot be refreshed; create a new one at {url} and run `twg login --with-token`"
                )));
            }
            return Ok(Refreshed {
                loaded,
                outcome: Outcome::Fresh,
                warning: None,
            });
        }
        if !needs_refresh(oauth, now, need) {
            return Ok(Refreshed {
                loaded,
                outcome: Outcome::Fresh,
                warning: None,
            });
        }
        check_refreshable(oauth, now)?;
        let guard = self.lock_for_refresh().await?;
        // Under the lock: the file is the truth. Another process may have rotated already.
        let current = self.load_oauth()?;
        let cur = current.credentials.oauth.as_ref().expect("checked");
        let rotated_meanwhile =
            current.generation != loaded.generation || cur.refresh_token != oauth.refresh_token;
        if rotated_meanwhile
            && !needs_refresh(
                cur,
                now_unix(),
                Need {
                    force: false,
                    ..need
                },
            )
        {
            return Ok(Refreshed {
                loaded: current,
                outcome: Outcome::Adopted,
                warning: None,
            });
        }
        check_refreshable(cur, now_unix())?;
        self.refresh_locked(current, need, &guard).await
    }

    /// Takes the credential lock and proves a save would succeed. Failure = send nothing.
    async fn lock_for_refresh(&self) -> Result<lock::LockGuard, EngineError> {
        let root = self.store.root();
        let guard = lock::lock(&self.store.lock_path(), LOCK_TIMEOUT)
            .await
            .map_err(|e| EngineError::from_lock(root, e))?;
        crate::preflight::check_dir_writable(root).map_err(|e| EngineError::Sandbox {
            config_dir: root.to_path_buf(),
            detail: e.to_string(),
        })?;
        self.store.preflight()?;
        Ok(guard)
    }

    async fn refresh_locked(
        &self,
        current: Loaded,
        need: Need,
        guard: &lock::LockGuard,
    ) -> Result<Refreshed, EngineError> {
        let oauth = current.credentials.oauth.clone().expect("checked");
        let refresh_token = oauth.refresh_token.clone().expect("checked refreshable");
        let http = self.http()?;
        let mut last = None;
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                // Retrying with the same token: a failure before the server rotated leaves
                // it valid. If the server did rotate and the answer was lost, the new token is
                // gone either way; servers with a reuse leeway answer again, strict ones
                // (oidc-provider) revoke the grant and the user must log in again.
                tokio::time::sleep(Duration::from_millis(300 * (1 << attempt.min(4)))).await;
            }
            match refresh::refresh(
                http,
                &oauth.client_id,
                &oauth.token_endpoint,
                &refresh_token,
            )
            .await
            {
                Ok(set) => {
                    let obtained = now_unix();
                    let creds = apply_token_set(&current.credentials, &set, obtained);
                    let (creds, generation) = self.save_with_retry(creds, guard).await?;
                    tracing::info!(
                        expires_at = creds.oauth.as_ref().map(|o| o.expires_at),
                        generation,
                        "refreshed access token"
                    );
                    return Ok(Refreshed {
                        loaded: Loaded {
                            credentials: creds,
                            generation,
                            backend: self.store.backend(),
                            stamp: self.store.stamp(),
                        },
                        outcome: Outcome::Refreshed,
                        warning: None,
                    });
                }
                Err(OAuthError::InvalidGrant { description }) => {
                    return Err(EngineError::AuthExpired {
                        reason: match description {
                            Some(d) => format!(
                                "the server rejected the refresh token: {}",
                                crate::oauth::error::sanitize(&d)
                            ),
                            None => "the server rejected the refresh token".into(),
                        },
                    });
                }
                Err(e @ (OAuthError::Rejected { .. } | OAuthError::Config(_))) => {
                    return Err(EngineError::Rejected(e.to_string()));
                }
                Err(OAuthError::Transient(msg)) => {
                    tracing::warn!(attempt, error = %msg, "refresh failed, will retry");
                    last = Some(msg);
                }
            }
        }
        let msg = last.unwrap_or_else(|| "unknown error".into());
        if oauth.valid_for(now_unix(), need.min_valid) && !need.force {
            return Ok(Refreshed {
                loaded: current,
                outcome: Outcome::StaleButValid,
                warning: Some(msg),
            });
        }
        Err(EngineError::Transient(msg))
    }

    async fn save_with_retry(
        &self,
        creds: Credentials,
        guard: &lock::LockGuard,
    ) -> Result<(Credentials, u64), EngineError> {
        let mut last = None;
        for attempt in 0..5u32 {
            match self.store.save(&creds, guard) {
                Ok(g) => return Ok((creds, g)),
                Err(e) => {
                    tracing::error!(attempt, error = %e, "saving refreshed credentials failed");
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        // The old refresh token is spent: hand the only copy of the new one to the caller
        // rather than dropping it.
        Err(EngineError::PersistAfterRefresh {
            detail: last.map(|e| e.to_string()).unwrap_or_default(),
            refreshed: Box::new(creds),
        })
    }
}

/// Errors out when `oauth` cannot be refreshed at all.
fn check_refreshable(oauth: &OAuthCredentials, now: i64) -> Result<(), EngineError> {
    if oauth.refresh_token.as_ref().is_none_or(|t| t.is_empty()) {
        return Err(EngineError::AuthExpired {
            reason: "the access token expired and the server issued no refresh token".into(),
        });
    }
    if oauth.refresh_token_idle_expired(now) {
        return Err(EngineError::AuthExpired {
            reason: "the refresh token was unused for more than 30 days".into(),
        });
    }
    Ok(())
}

/// The absolute expiry for a response's `expires_in` (0 = none given). A server's absurd
/// value saturates instead of overflowing: a wrapped, negative value would read as "never
/// expires".
pub fn expires_at(obtained_at: i64, expires_in: Option<u64>) -> i64 {
    match expires_in {
        None => 0,
        Some(secs) => obtained_at.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
    }
}

/// New credentials after a token response. A server that does not rotate keeps the old
/// refresh token (RFC 6749 §6 allows both).
pub fn apply_token_set(old: &Credentials, set: &TokenSet, obtained_at: i64) -> Credentials {
    let mut creds = old.clone();
    if let Some(o) = creds.oauth.as_mut() {
        o.access_token = set.access_token.clone();
        o.token_type = set.token_type.clone();
        o.obtained_at = obtained_at;
        o.expires_at = expires_at(obtained_at, set.expires_in);
        if let Some(rt) = &set.refresh_token {
            o.refresh_token = Some(rt.clone());
        }
        // A successful use proves the refresh token alive; the 30-day idle limit counts from
        // here, also for servers that do not rotate.
        o.refresh_token_issued_at = obtained_at;
        if let Some(scopes) = &set.scopes {
            o.scopes = scopes.clone();
        }
    }
    creds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn creds(obtained: i64, expires: i64) -> OAuthCredentials {
        OAuthCredentials {
            issuer: "i".into(),
            client_id: "c".into(),
            token_endpoint: "http://127.0.0.1:1/t".into(),
            revocation_endpoint: None,
            scopes: vec![],
            access_token: Secret::new("a"),
            token_type: "Bearer".into(),
            expires_at: expires,
            obtained_at: obtained,
            refresh_token: Some(Secret::new("r")),
            refresh_token_issued_at: obtained,
        }
    }

    #[test]
    fn refresh_is_due_at_75_percent() {
        let c = creds(1000, 2000);
        assert_eq!(c.refresh_due_at(), 1750);
        assert!(!needs_refresh(&c, 1749, Need::default()));
        assert!(needs_refresh(&c, 1750, Need::default()));
    }

    #[test]
    fn min_valid_forces_an_early_refresh() {
        let c = creds(1000, 2000);
        assert!(!needs_refresh(
            &c,
            1100,
            Need {
                min_valid: 900,
                force: false
            }
        ));
        assert!(needs_refresh(
            &c,
            1100,
            Need {
                min_valid: 901,
                force: false
            }
        ));
        assert!(needs_refresh(
            &c,
            1100,
            Need {
                min_valid: 0,
                force: true
            }
        ));
    }

    #[test]
    fn idle_refresh_token_is_expired() {
        let c = creds(1000, 2000);
        assert!(check_refreshable(&c, 1000 + 30 * 86_400).is_ok());
        assert!(matches!(
            check_refreshable(&c, 1001 + 30 * 86_400),
            Err(EngineError::AuthExpired { .. })
        ));
    }

    #[test]
    fn absurd_expires_in_saturates_instead_of_reading_as_no_expiry() {
        assert_eq!(expires_at(100, None), 0);
        assert_eq!(expires_at(100, Some(60)), 160);
        assert_eq!(expires_at(100, Some(u64::MAX)), i64::MAX);
        assert_eq!(expires_at(100, Some(i64::MAX as u64)), i64::MAX);
    }

    #[test]
    fn lock_timeouts_are_busy_and_unopenable_locks_are_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.conf.lock");
        let _held = lock::try_lock(&path).unwrap().unwrap();
        let timeout = lock::lock_blocking(&path, Duration::from_millis(5)).unwrap_err();
        let e = EngineError::from_lock(dir.path(), timeout);
        assert_eq!(e.code(), "LOCK_BUSY");
        let missing = dir.path().join("missing/auth.conf.lock");
        let open = lock::try_lock(&missing).unwrap_err();
        assert_eq!(
            EngineError::from_lock(dir.path(), open).code(),
            "SANDBOX_CANNOT_PERSIST"
        );
    }

    #[test]
    fn non_rotating_servers_keep_the_old_refresh_token() {
        let old = Credentials {
            oauth: Some(creds(0, 10)),
            ..Default::default()
        };
        let set = TokenSet {
            access_token: Secret::new("a2"),
            token_type: "Bearer".into(),
            expires_in: Some(100),
            refresh_token: None,
            scopes: None,
        };
        let new = apply_token_set(&old, &set, 50);
        let o = new.oauth.unwrap();
        assert_eq!(o.refresh_token.unwrap().expose(), "r");
        assert_eq!(
            o.refresh_token_issued_at, 50,
            "the idle limit restarts on use"
        );
        assert_eq!(o.expires_at, 150);
        assert_eq!(o.access_token.expose(), "a2");
    }
}
