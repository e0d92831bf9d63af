//! The refresh engine shared by twgd and the client's fallback path.
//!
//! One rule for spending a refresh token, kept here and nowhere else: a refresh token is
//! sent only when
//! 1. it is the newest one known anywhere: `auth.conf`, a recovery record, or this process's
//!    memory of a rotation it could not save ([`Engine::newest`] follows all three);
//! 2. the cross-process lock is held, and the store was re-read under it (another process
//!    may have rotated already; then its result is adopted instead of refreshing again);
//! 3. the exact save that will follow has just succeeded: the preflight *is* that save, an
//!    idempotent atomic rewrite of the current credentials onto `auth.conf` (or the keyring)
//!    through the same code path;
//! 4. the token is not halted: a server that answered `invalid_grant`, or whose answer to a
//!    rotation was lost when it is not known to tolerate reuse, never sees it again;
//! 5. its endpoint belongs to the issuer recorded at login and configured now.
//!
//! After the server rotated, the replacement is saved before anyone sees success; when that
//! save fails it goes to a recovery record (and stays in memory), never nowhere.
//!
//! Why one long file: every step between reading a refresh token and saving its replacement
//! is here, in the order it runs, so the spend rule above can be reviewed (and mutation
//! tested) in one place. About a third of it is unit tests.

use crate::error::EngineError;
use crate::lock;
use crate::oauth::error::OAuthError;
use crate::oauth::http::HttpClient;
use crate::oauth::{TokenSet, refresh};
use crate::recovery::{self, Pending};
use crate::store::{Credentials, FileStamp, Halt, HaltReason, Loaded, OAuthCredentials, Store};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The default `--min-valid`, for tokens that live long enough.
pub const DEFAULT_MIN_VALID: i64 = 60;

/// What the caller needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Need {
    /// Seconds of validity the returned access token must still have; `None` for the
    /// default, which shrinks for short-lived tokens (see [`effective_min_valid`]).
    pub min_valid: Option<i64>,
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
    /// We refreshed and saved (or, when the save failed, kept the result in a recovery
    /// record; `warning` then says where).
    Refreshed,
    /// No refresh happened (a transient failure, or the save could not be proven), but the
    /// current token still satisfies the caller. `warning` says why.
    StaleButValid,
}

/// The result: the newest credentials, and how they came to be.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub loaded: Loaded,
    pub outcome: Outcome,
    /// Why a refresh did not happen or was not saved to `auth.conf`, for logs and status.
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

/// The newest credentials known to this process.
#[derive(Debug, Clone)]
pub struct Newest {
    /// `auth.conf` as loaded, with its credentials replaced by the pending ones if any.
    pub loaded: Loaded,
    /// Set when the newest credentials are not (yet) in `auth.conf`.
    pub pending: Option<Pending>,
    /// The recovery record holding `pending`, when there is one on disk.
    pub record: Option<PathBuf>,
    /// Recovery records that exist but cannot be read or parsed: one may hold the newest
    /// refresh token, so nothing is refreshed and nothing deleted while they are there.
    pub unreadable: Vec<PathBuf>,
}

/// What to do for a request, decided from the credentials alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the current token (with a note for the user, if any).
    Serve(Option<String>),
    /// A refresh is needed.
    Refresh,
}

/// The engine for one store. Cheap to share; the HTTP client is built on first use, so
/// callers that never refresh pay nothing for TLS set-up.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    config: crate::config::Config,
    http: OnceLock<HttpClient>,
    /// A rotation this process could not save to `auth.conf`: part of [`Engine::newest`]
    /// until a save succeeds, so this process can never spend the token it replaced.
    held: Mutex<Option<Pending>>,
    /// A halt that could not be saved, keyed by the refresh token's fingerprint.
    halted: Mutex<Option<(String, Halt)>>,
    /// Where recovery records for this store may be (computed once: checked per request).
    record_paths: Vec<PathBuf>,
    /// What "now" is for every decision (the system clock outside tests).
    clock: crate::time::Clock,
    /// Attempts per refresh when the failure provably left the token unspent.
    pub attempts: u32,
}

/// The `--min-valid` actually applied: the caller's, or the default, which never exceeds a
/// quarter of the token's lifetime, so a token that was just obtained is never rotated again.
pub fn effective_min_valid(oauth: &OAuthCredentials, need: Need) -> i64 {
    match need.min_valid {
        Some(v) => v.max(0),
        None => match oauth.lifetime() {
            0 => DEFAULT_MIN_VALID,
            l => DEFAULT_MIN_VALID.min(l / 4),
        },
    }
}

/// The largest `--min-valid` a server issuing tokens of `lifetime` seconds can serve
/// without rotating on nearly every call.
pub fn max_min_valid(lifetime: i64) -> i64 {
    lifetime - lifetime / 10
}

/// True when `oauth` is past its 75% mark.
fn due(oauth: &OAuthCredentials, now: i64) -> bool {
    oauth.expires_at > 0 && now >= oauth.refresh_due_at()
}

/// True when `oauth` must be refreshed to satisfy `need` at `now` (ignoring halts and
/// unmeetable requests; see [`assess`]).
pub fn needs_refresh(oauth: &OAuthCredentials, now: i64, need: Need) -> bool {
    need.force || !oauth.valid_for(now, effective_min_valid(oauth, need)) || due(oauth, now)
}

/// Decides from the credentials alone whether to serve, refresh or fail.
pub fn assess(oauth: &OAuthCredentials, now: i64, need: Need) -> Result<Verdict, EngineError> {
    let min_valid = effective_min_valid(oauth, need);
    if crate::api_token::is_api_token(oauth) {
        if need.force {
            let (name, url) = crate::api_token::api_token_page();
            return Err(EngineError::NotRefreshable(format!(
                "an {name} cannot be refreshed; create a new one at {url} and run `twg login --with-token`"
            )));
        }
        return Ok(Verdict::Serve(None));
    }
    if let Some(halt) = &oauth.halted {
        return match halt.reason {
            HaltReason::Revoked => Err(EngineError::AuthExpired {
                reason: "the server rejected the refresh token (the grant was revoked or expired)"
                    .into(),
            }),
            HaltReason::AnswerLost if !need.force && oauth.valid_for(now, min_valid) => {
                Ok(Verdict::Serve(Some(ANSWER_LOST_NOTE.into())))
            }
            HaltReason::AnswerLost => Err(EngineError::AuthExpired {
                reason: ANSWER_LOST_NOTE.into(),
            }),
        };
    }
    if need.force {
        return Ok(Verdict::Refresh);
    }
    if !oauth.valid_for(now, min_valid) {
        unmeetable(oauth, min_valid, now)?;
        return Ok(Verdict::Refresh);
    }
    if due(oauth, now) {
        return Ok(Verdict::Refresh);
    }
    Ok(Verdict::Serve(None))
}

/// Fails when `min_valid` cannot be met by this server's tokens and a rotation would not
/// change that. A token past its 75% mark is still rotated once (it is due anyway).
fn unmeetable(oauth: &OAuthCredentials, min_valid: i64, now: i64) -> Result<(), EngineError> {
    let lifetime = oauth.lifetime();
    if lifetime > 0 && min_valid > max_min_valid(lifetime) && !due(oauth, now) {
        return Err(EngineError::MinValidUnmeetable {
            requested: min_valid,
            lifetime,
            max: max_min_valid(lifetime),
        });
    }
    Ok(())
}

const ANSWER_LOST_NOTE: &str = "the answer to the last refresh was lost after the request reached the server, which may have \
     rotated the refresh token; twg will not send it again, because this server is not known to tolerate reuse \
     and would revoke the whole grant";

impl Engine {
    pub fn new(store: Store, config: crate::config::Config) -> Self {
        Self {
            record_paths: recovery::candidates(store.root()),
            clock: crate::time::Clock::System,
            store,
            config,
            http: OnceLock::new(),
            held: Mutex::new(None),
            halted: Mutex::new(None),
            attempts: 3,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Decide by `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: crate::time::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Keep recovery records in `dirs` instead of the state and runtime directories (tests).
    pub fn with_record_dirs(mut self, dirs: &[PathBuf]) -> Self {
        let name = recovery::file_name(self.store.root());
        self.record_paths = dirs.iter().map(|d| d.join(&name)).collect();
        self
    }

    /// Unix seconds now, by this engine's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
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

    /// A cheap fingerprint of everything [`Engine::newest`] reads: when it is unchanged, so
    /// is the answer.
    pub fn change_key(&self) -> ChangeKey {
        let records = self.record_paths.iter().map(|p| FileStamp::of(p)).collect();
        let held = self
            .held
            .lock()
            .expect("held lock")
            .as_ref()
            .map(|p| p.created_at);
        ChangeKey {
            auth: self.store.stamp(),
            records,
            held,
        }
    }

    /// The newest credentials: `auth.conf`, advanced through any recovery record or
    /// in-memory rotation that supersedes its refresh token. `Ok(None)` when logged out.
    pub fn newest(&self) -> Result<Option<Newest>, EngineError> {
        let Some(mut loaded) = self.store.load()? else {
            return Ok(None);
        };
        let (records, unreadable) = recovery::scan(&self.record_paths, self.store.root());
        let held = self.held.lock().expect("held lock").clone();
        let mut pendings: Vec<(Pending, Option<PathBuf>)> = records
            .into_iter()
            .map(|f| (f.pending, Some(f.path)))
            .collect();
        if let Some(h) = held {
            pendings.push((h, None));
        }
        let chosen =
            recovery::newest(&loaded.credentials, pendings.iter().map(|(p, _)| p)).cloned();
        let mut out = Newest {
            loaded: loaded.clone(),
            pending: None,
            record: None,
            unreadable,
        };
        if let Some(p) = chosen {
            loaded.credentials = p.credentials.clone();
            out.record = pendings
                .iter()
                .find(|(q, path)| path.is_some() && q.spent == p.spent)
                .and_then(|(_, path)| path.clone());
            out.pending = Some(p);
        }
        if let Some((fp, halt)) = self.halted.lock().expect("halted lock").as_ref()
            && let Some(o) = loaded.credentials.oauth.as_mut()
            && o.halted.is_none()
            && o.refresh_token
                .as_ref()
                .is_some_and(|rt| recovery::spent_fingerprint(rt) == *fp)
        {
            o.halted = Some(halt.clone());
        }
        out.loaded = loaded;
        Ok(Some(out))
    }

    /// Loads the newest credentials, requiring OAuth tokens.
    pub fn load_oauth(&self) -> Result<Newest, EngineError> {
        match self.newest()? {
            Some(n) if n.loaded.credentials.oauth.is_some() => Ok(n),
            _ => Err(EngineError::NotLoggedIn {
                path: self.store.auth_path(),
            }),
        }
    }

    /// True when this process holds a rotation that is not in `auth.conf`.
    pub fn has_held(&self) -> bool {
        self.held.lock().expect("held lock").is_some()
    }

    /// Returns credentials that satisfy `need`, refreshing under the lock when required.
    pub async fn ensure(&self, need: Need) -> Result<Refreshed, EngineError> {
        let first = self.load_oauth()?;
        let oauth = first.loaded.credentials.oauth.as_ref().expect("checked");
        if let Verdict::Serve(note) = assess(oauth, self.now(), need)? {
            return Ok(Refreshed {
                warning: note.or_else(|| pending_note(&first)),
                loaded: first.loaded,
                outcome: Outcome::Fresh,
            });
        }
        check_refreshable(oauth, self.now())?;
        let guard = lock::lock(&self.store.lock_path(), lock::CREDENTIALS_TIMEOUT)
            .await
            .map_err(|e| EngineError::from_lock(self.store.root(), e))?;
        // Under the lock: another process may have rotated (or halted) already.
        let current = self.load_oauth()?;
        let cur = current.loaded.credentials.oauth.as_ref().expect("checked");
        if (cur.refresh_token != oauth.refresh_token || cur.halted != oauth.halted)
            && let Verdict::Serve(note) = assess(
                cur,
                self.now(),
                Need {
                    force: false,
                    ..need
                },
            )?
        {
            return Ok(Refreshed {
                warning: note.or_else(|| pending_note(&current)),
                loaded: current.loaded,
                outcome: Outcome::Adopted,
            });
        }
        check_refreshable(cur, self.now())?;
        self.check_endpoints(cur)?;
        if let Some(path) = current.unreadable.first() {
            let err = EngineError::Sandbox {
                config_dir: self.store.root().to_path_buf(),
                detail: format!(
                    "the recovery record {} cannot be read; it may hold your newest refresh token, so none is \
                     sent until it can (fix its permissions, or move it aside once you know it is obsolete)",
                    path.display()
                ),
            };
            return unsent(current, need, self.now(), err);
        }
        // The preflight is the save: rewrite the newest credentials onto auth.conf exactly as
        // the save after the refresh will. This also completes a pending save.
        let current = match self.persist(&current, &guard) {
            Ok(saved) => saved,
            Err(e) => {
                let err = match e {
                    e @ crate::store::StoreError::Keyring(_) => EngineError::Store(e),
                    e => EngineError::Sandbox {
                        config_dir: self.store.root().to_path_buf(),
                        detail: e.to_string(),
                    },
                };
                return unsent(current, need, self.now(), err);
            }
        };
        let result = self.refresh_locked(current, need, &guard).await?;
        finish(result, need, self.now())
    }

    /// Saves `current` (the newest credentials) onto the store: an idempotent rewrite, or
    /// the completion of a pending save. On success any pending copy is obsolete and
    /// removed; on failure nothing changed.
    fn persist(
        &self,
        current: &Newest,
        guard: &lock::LockGuard,
    ) -> Result<Newest, crate::store::StoreError> {
        // The keyring answers first, so a missing Secret Service leaves auth.conf untouched.
        self.store.preflight()?;
        let generation = match current.pending {
            // Completing a pending save is a real save: a new generation.
            Some(_) => self.store.save(&current.loaded.credentials, guard)?,
            None => self.store.rewrite(&current.loaded, guard)?,
        };
        if current.pending.is_some() {
            tracing::info!("saved credentials that were waiting in a recovery record");
        }
        self.clear_pending(&current.unreadable);
        let mut loaded = current.loaded.clone();
        loaded.generation = generation;
        loaded.stamp = self.store.stamp();
        loaded.backend = self.store.backend();
        Ok(Newest {
            loaded,
            pending: None,
            record: None,
            unreadable: current.unreadable.clone(),
        })
    }

    /// After a save: the memory copy and the records it superseded go. A record that could
    /// not be read is kept (`keep`): it may hold something newer than anything seen here.
    fn clear_pending(&self, keep: &[PathBuf]) {
        self.held.lock().expect("held lock").take();
        let gone: Vec<PathBuf> = self
            .record_paths
            .iter()
            .filter(|p| !keep.contains(p))
            .cloned()
            .collect();
        recovery::remove_from(&gone);
    }

    /// Completes a pending save if there is one and the store takes it now. Returns where
    /// the pending credentials still are when it does not (`None` = memory only).
    pub async fn flush(&self) -> Result<(), FlushError> {
        let current = match self.newest() {
            Ok(Some(c)) => c,
            // Logged out: a held rotation is obsolete.
            Ok(None) => {
                self.held.lock().expect("held lock").take();
                return Ok(());
            }
            // Unreadable is not logged out: keep what is held.
            Err(e) => {
                return Err(FlushError {
                    record: None,
                    detail: e.to_string(),
                });
            }
        };
        let Some(pending) = current.pending.clone() else {
            // A held rotation that no longer matches auth.conf (a login replaced it) is stale.
            self.held.lock().expect("held lock").take();
            return Ok(());
        };
        let guard = lock::lock(&self.store.lock_path(), lock::CREDENTIALS_TIMEOUT)
            .await
            .map_err(|e| FlushError {
                record: current.record.clone(),
                detail: e.to_string(),
            })?;
        let current = self.newest().ok().flatten().unwrap_or(current);
        match self.persist(&current, &guard) {
            Ok(_) => Ok(()),
            Err(e) => {
                let record = match &current.record {
                    Some(p) => Some(p.clone()),
                    None => {
                        recovery::write_to(&self.record_paths, self.store.root(), &pending).ok()
                    }
                };
                Err(FlushError {
                    record,
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Token and revocation endpoints must share the origin of the issuer recorded at login,
    /// and that issuer must be the one configured now: an edited `auth.conf` cannot send the
    /// refresh token anywhere else.
    pub fn check_endpoints(&self, oauth: &OAuthCredentials) -> Result<(), EngineError> {
        pin_endpoints(oauth, &self.config.oauth.issuer)
    }

    async fn refresh_locked(
        &self,
        current: Newest,
        need: Need,
        guard: &lock::LockGuard,
    ) -> Result<Refreshed, EngineError> {
        let oauth = current.loaded.credentials.oauth.clone().expect("checked");
        let refresh_token = oauth.refresh_token.clone().expect("checked refreshable");
        let http = self.http()?;
        let mut last = None;
        let mut lost_retried = false;
        let mut attempt = 0;
        while attempt < self.attempts.max(1) {
            if attempt > 0 && last.is_some() {
                // Only failures that provably left the token unspent get here.
                tokio::time::sleep(Duration::from_millis(300 * (1 << attempt.min(4)))).await;
            }
            attempt += 1;
            match refresh::refresh(http, oauth.client(), &oauth.token_endpoint, &refresh_token)
                .await
            {
                Ok(set) => {
                    // Lifetimes count from the answer's arrival, by this engine's clock.
                    let creds = apply_token_set(&current.loaded.credentials, &set, self.now());
                    return self.save_rotation(current.loaded, creds, &refresh_token, guard);
                }
                Err(OAuthError::InvalidGrant { description }) => {
                    self.halt(&current.loaded, HaltReason::Revoked, guard);
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
                Err(OAuthError::AnswerLost(msg)) => {
                    if self.config.reuse_leeway && !lost_retried {
                        // The server tolerates reuse for a while: asking again with the same
                        // token returns the rotation whose answer was lost.
                        tracing::warn!(error = %msg, "refresh answer lost; retrying once within the server's reuse leeway");
                        lost_retried = true;
                        last = None;
                        attempt -= 1;
                        continue;
                    }
                    if self.config.reuse_leeway {
                        // Still lost after the retry. The leeway makes a later attempt safe
                        // for a while, so the session is kept as it is.
                        let err = EngineError::AnswerLost {
                            detail: msg,
                            halted: false,
                        };
                        return unsent(current, need, self.now(), err);
                    }
                    tracing::error!(error = %msg, "refresh answer lost; the refresh token will not be sent again");
                    self.halt(&current.loaded, HaltReason::AnswerLost, guard);
                    let err = EngineError::AnswerLost {
                        detail: msg,
                        halted: true,
                    };
                    return unsent(current, need, self.now(), err);
                }
                Err(OAuthError::Transient(msg)) => {
                    tracing::warn!(attempt, error = %msg, "refresh failed before rotating; will retry");
                    last = Some(msg);
                }
            }
        }
        let msg = last.unwrap_or_else(|| "unknown error".into());
        unsent(current, need, self.now(), EngineError::Transient(msg))
    }

    /// Saves a rotation. Nothing is lost when the save fails: the new credentials go to a
    /// recovery record and this process's memory, and are served from there.
    fn save_rotation(
        &self,
        before: Loaded,
        creds: Credentials,
        spent: &crate::secret::Secret,
        guard: &lock::LockGuard,
    ) -> Result<Refreshed, EngineError> {
        let mut last = None;
        for attempt in 0..3u32 {
            match self.store.save(&creds, guard) {
                Ok(generation) => {
                    self.clear_pending(&[]);
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
                Err(e) => {
                    tracing::error!(attempt, error = %e, "saving refreshed credentials failed");
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(20 << attempt));
                }
            }
        }
        let detail = last.map(|e| e.to_string()).unwrap_or_default();
        let pending = Pending {
            credentials: creds.clone(),
            spent: recovery::spent_fingerprint(spent),
            created_at: self.now(),
        };
        *self.held.lock().expect("held lock") = Some(pending.clone());
        let loaded = Loaded {
            credentials: creds.clone(),
            ..before
        };
        match recovery::write_to(&self.record_paths, self.store.root(), &pending) {
            Ok(path) => {
                tracing::error!(record = %path.display(), %detail, "refreshed credentials could not be saved to auth.conf; they are in a recovery record");
                Ok(Refreshed {
                    loaded,
                    outcome: Outcome::Refreshed,
                    warning: Some(format!(
                        "the refreshed credentials could not be saved to {} ({detail}); they are safe in {} and \
                         every twg process uses them from there. Make the config directory writable, then run \
                         `twg auth refresh` to finish the save",
                        self.store.auth_path().display(),
                        path.display()
                    )),
                })
            }
            Err(record_err) => Err(EngineError::PersistAfterRefresh {
                detail: format!("{detail}; the recovery record failed too: {record_err}"),
                refreshed: Box::new(creds),
            }),
        }
    }

    /// Marks the refresh token so that no process sends it again. Best effort: the lock is
    /// held and the save was just proven; when it still fails the halt is kept in memory.
    fn halt(&self, current: &Loaded, reason: HaltReason, guard: &lock::LockGuard) {
        let mut creds = current.credentials.clone();
        let halt = Halt {
            at: self.now(),
            reason,
        };
        let Some(o) = creds.oauth.as_mut() else {
            return;
        };
        o.halted = Some(halt.clone());
        if let Some(rt) = &o.refresh_token {
            *self.halted.lock().expect("halted lock") =
                Some((recovery::spent_fingerprint(rt), halt));
        }
        if let Err(e) = self.store.save(&creds, guard) {
            tracing::error!(error = %e, "cannot record that the refresh token must not be sent again");
        }
    }
}

/// What [`Engine::newest`] depends on, for cheap change detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeKey {
    auth: Option<FileStamp>,
    records: Vec<Option<FileStamp>>,
    held: Option<i64>,
}

/// A pending save that could not be completed.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct FlushError {
    /// The recovery record holding the credentials; `None` when they are only in memory.
    pub record: Option<PathBuf>,
    pub detail: String,
}

/// The note shown while credentials wait in a recovery record.
fn pending_note(n: &Newest) -> Option<String> {
    n.pending.as_ref().map(|_| match &n.record {
        Some(p) => format!(
            "the newest credentials are in the recovery record {} because the config directory could not be written; \
             make it writable, then run `twg auth refresh`",
            p.display()
        ),
        None => "the newest credentials exist only in twgd's memory because nothing could be written; \
                 make the config directory writable"
            .to_string(),
    })
}

/// Nothing was spent: serve the current token if it still satisfies the caller, otherwise
/// report `err`.
fn unsent(
    current: Newest,
    need: Need,
    now: i64,
    err: EngineError,
) -> Result<Refreshed, EngineError> {
    let oauth = current.loaded.credentials.oauth.as_ref().expect("checked");
    if !need.force && oauth.valid_for(now, effective_min_valid(oauth, need)) {
        return Ok(Refreshed {
            loaded: current.loaded,
            outcome: Outcome::StaleButValid,
            warning: Some(err.to_string()),
        });
    }
    Err(err)
}

/// After one rotation: a `min_valid` the new token cannot meet is the server's lifetime,
/// reported rather than retried.
fn finish(result: Refreshed, need: Need, now: i64) -> Result<Refreshed, EngineError> {
    let oauth = result.oauth();
    let min_valid = effective_min_valid(oauth, need);
    if !oauth.valid_for(now, min_valid) && oauth.lifetime() > 0 {
        return Err(EngineError::MinValidUnmeetable {
            requested: min_valid,
            lifetime: oauth.lifetime(),
            max: max_min_valid(oauth.lifetime()),
        });
    }
    Ok(result)
}

/// See [`Engine::check_endpoints`].
pub fn pin_endpoints(oauth: &OAuthCredentials, configured_issuer: &str) -> Result<(), EngineError> {
    let refuse = |what: &'static str, url: &str| EngineError::EndpointNotPinned {
        what,
        url: url.to_string(),
        issuer: oauth.issuer.clone(),
    };
    if !crate::config::same_origin(&oauth.issuer, configured_issuer) {
        return Err(EngineError::IssuerChanged {
            recorded: oauth.issuer.clone(),
            configured: configured_issuer.to_string(),
        });
    }
    for (what, url) in [
        ("token endpoint", Some(&oauth.token_endpoint)),
        ("revocation endpoint", oauth.revocation_endpoint.as_ref()),
    ] {
        // An empty endpoint (API tokens) can receive nothing.
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            continue;
        };
        if !crate::config::same_origin(url, &oauth.issuer)
            || crate::config::validate_url(what, url, "auth.conf").is_err()
        {
            return Err(refuse(what, url));
        }
    }
    Ok(())
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
        o.halted = None;
    }
    creds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::time::now_unix;

    fn creds(obtained: i64, expires: i64) -> OAuthCredentials {
        OAuthCredentials {
            issuer: "http://127.0.0.1:1".into(),
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
            halted: None,
            client_secret: None,
            client_auth: Default::default(),
            grant: None,
        }
    }

    fn need(min_valid: i64) -> Need {
        Need {
            min_valid: Some(min_valid),
            force: false,
        }
    }

    #[test]
    fn refresh_is_due_at_75_percent() {
        let c = creds(1000, 2000);
        assert_eq!(c.refresh_due_at(), 1750);
        assert!(!needs_refresh(&c, 1749, Need::default()));
        assert!(needs_refresh(&c, 1750, Need::default()));
        assert_eq!(
            assess(&c, 1749, Need::default()).unwrap(),
            Verdict::Serve(None)
        );
        assert_eq!(assess(&c, 1750, Need::default()).unwrap(), Verdict::Refresh);
    }

    #[test]
    fn min_valid_forces_an_early_refresh() {
        let c = creds(1000, 2000);
        assert!(!needs_refresh(&c, 1100, need(900)));
        assert!(needs_refresh(&c, 1100, need(901)));
        assert!(needs_refresh(
            &c,
            1100,
            Need {
                min_valid: Some(0),
                force: true
            }
        ));
        assert_eq!(assess(&c, 1300, need(800)).unwrap(), Verdict::Refresh);
        assert_eq!(
            assess(&c, 1100, need(901)).unwrap_err().code(),
            crate::error_code::ErrorCode::MinValidUnmeetable
        );
    }

    #[test]
    fn a_token_without_expiry_is_never_due() {
        // expires_at = 0: the server gave no `expires_in`.
        let c = creds(1000, 0);
        assert_eq!(
            assess(&c, 10_000_000, Need::default()).unwrap(),
            Verdict::Serve(None)
        );
        assert_eq!(
            assess(&c, 10_000_000, need(86_400)).unwrap(),
            Verdict::Serve(None)
        );
        assert!(!needs_refresh(&c, 10_000_000, Need::default()));
    }

    #[test]
    fn the_default_min_valid_never_rotates_a_short_lived_token_just_obtained() {
        // A 30 s token: the default shrinks to a quarter of the lifetime.
        let c = creds(1000, 1030);
        assert_eq!(effective_min_valid(&c, Need::default()), 7);
        for now in 1000..1022 {
            assert_eq!(
                assess(&c, now, Need::default()).unwrap(),
                Verdict::Serve(None),
                "at +{}s",
                now - 1000
            );
        }
        assert_eq!(assess(&c, 1023, Need::default()).unwrap(), Verdict::Refresh);
        // A long-lived token keeps the 60 s default.
        assert_eq!(effective_min_valid(&creds(0, 3600), Need::default()), 60);
    }

    #[test]
    fn a_min_valid_the_server_cannot_meet_is_an_error_not_a_rotation() {
        let c = creds(1000, 4600);
        for requested in [3600, 3241, 7200, 86_400] {
            let err = assess(&c, 2000, need(requested)).unwrap_err();
            assert_eq!(err.code().as_str(), "MIN_VALID_UNMEETABLE", "{requested}");
            assert!(err.to_string().contains("3600 s"), "{err}");
        }
        // 90% of the lifetime is still served by one rotation.
        assert_eq!(assess(&c, 1400, need(3240)).unwrap(), Verdict::Refresh);
        // A token that already satisfies the request is served, whatever the lifetime.
        assert_eq!(assess(&c, 1001, need(3590)).unwrap(), Verdict::Serve(None));
        // A token past its 75% mark is rotated once even for an unmeetable request.
        assert_eq!(assess(&c, 4000, need(7200)).unwrap(), Verdict::Refresh);
        // ... and the rotated token is then reported, not rotated again.
        let fresh = Refreshed {
            loaded: Loaded {
                credentials: Credentials {
                    oauth: Some(creds(now_unix(), now_unix() + 3600)),
                    ..Default::default()
                },
                generation: 1,
                backend: Default::default(),
                stamp: None,
            },
            outcome: Outcome::Refreshed,
            warning: None,
        };
        let err = finish(fresh, need(7200), now_unix()).unwrap_err();
        assert_eq!(err.code().as_str(), "MIN_VALID_UNMEETABLE");
    }

    #[test]
    fn halted_tokens_are_never_refreshed() {
        let mut c = creds(1000, 2000);
        c.halted = Some(Halt {
            at: 1500,
            reason: HaltReason::Revoked,
        });
        let err = assess(&c, 1100, Need::default()).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::AUTH_EXPIRED);
        c.halted = Some(Halt {
            at: 1500,
            reason: HaltReason::AnswerLost,
        });
        // The access token is still good: served, with the reason.
        assert!(matches!(
            assess(&c, 1800, Need::default()).unwrap(),
            Verdict::Serve(Some(_))
        ));
        // Once it is not, the user must log in; it is never refreshed.
        let err = assess(&c, 1990, Need::default()).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::AUTH_EXPIRED);
        assert!(
            assess(
                &c,
                1100,
                Need {
                    min_valid: None,
                    force: true
                }
            )
            .is_err()
        );
    }

    #[test]
    fn endpoints_are_pinned_to_the_issuer() {
        let c = creds(0, 10);
        pin_endpoints(&c, "http://127.0.0.1:1").unwrap();
        pin_endpoints(&c, "http://127.0.0.1:1/").unwrap();
        let mut evil = c.clone();
        evil.token_endpoint = "http://127.0.0.1:2/t".into();
        assert_eq!(
            pin_endpoints(&evil, "http://127.0.0.1:1")
                .unwrap_err()
                .code(),
            crate::error_code::ErrorCode::EndpointNotPinned
        );
        let mut evil = c.clone();
        evil.revocation_endpoint = Some("https://evil.example/revoke".into());
        assert!(pin_endpoints(&evil, "http://127.0.0.1:1").is_err());
        // Issuer and endpoint both edited: the configured issuer catches it.
        let mut evil = c.clone();
        evil.issuer = "https://evil.example".into();
        evil.token_endpoint = "https://evil.example/t".into();
        assert_eq!(
            pin_endpoints(&evil, "http://127.0.0.1:1")
                .unwrap_err()
                .code(),
            crate::error_code::ErrorCode::IssuerChanged
        );
        let mut atl = c.clone();
        atl.issuer = "https://auth.atlassian.com".into();
        atl.token_endpoint = "https://auth.atlassian.com/oauth/token".into();
        atl.revocation_endpoint = Some("https://auth.atlassian.com/oauth/revoke".into());
        pin_endpoints(&atl, "https://auth.atlassian.com").unwrap();
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
        assert_eq!(e.code().as_str(), "LOCK_BUSY");
        let missing = dir.path().join("missing/auth.conf.lock");
        let open = lock::try_lock(&missing).unwrap_err();
        assert_eq!(
            EngineError::from_lock(dir.path(), open).code(),
            crate::error_code::ErrorCode::SandboxCannotPersist
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
            obtained_at: 50,
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

    #[test]
    fn recovery_chains_lead_to_the_newest_credentials() {
        let base = Credentials {
            oauth: Some(creds(0, 10)),
            ..Default::default()
        };
        let step = |from: &str, to: &str| {
            let mut o = creds(0, 10);
            o.refresh_token = Some(Secret::new(to));
            Pending {
                credentials: Credentials {
                    oauth: Some(o),
                    ..Default::default()
                },
                spent: recovery::spent_fingerprint(&Secret::new(from)),
                created_at: 0,
            }
        };
        let pendings = [step("r2", "r3"), step("x", "y"), step("r", "r2")];
        let newest = recovery::newest(&base, pendings.iter()).unwrap();
        let rt = newest
            .credentials
            .oauth
            .as_ref()
            .unwrap()
            .refresh_token
            .as_ref()
            .unwrap();
        assert_eq!(rt.expose(), "r3");
        // Nothing matches a store that moved on (a new login): nothing is adopted.
        let unrelated = [step("x", "y")];
        assert!(recovery::newest(&base, unrelated.iter()).is_none());
        // A cycle cannot loop forever.
        let cycle = [step("r", "q"), step("q", "r")];
        assert!(recovery::newest(&base, cycle.iter()).is_some());
    }
}
