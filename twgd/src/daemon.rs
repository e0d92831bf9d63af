//! The daemon's credential state: an in-memory copy of the store, single-flight refresh,
//! and change detection when another process writes `auth.conf`.

use std::sync::{Mutex, RwLock};
use std::time::Instant;
use twg_common::engine::{Engine, Need, Outcome, needs_refresh};
use twg_common::error::EngineError;
use twg_common::store::{FileStamp, Loaded, OAuthCredentials};
use twg_common::time::now_unix;

/// After a transient failure, wait this long before the next proactive attempt.
const RETRY_BACKOFF_MIN: i64 = 5;
const RETRY_BACKOFF_MAX: i64 = 300;
/// How soon to retry saving credentials whose save failed after a refresh.
const UNSAVED_RETRY_SECS: i64 = 5;

/// A snapshot of the current token, for one request.
#[derive(Debug, Clone)]
pub struct TokenView {
    pub oauth: OAuthCredentials,
    pub site: String,
}

/// Refresh bookkeeping shown by `Status` (never secret).
#[derive(Debug, Clone, Default)]
pub struct RefreshInfo {
    pub last_refresh_at: i64,
    pub last_error: Option<String>,
    /// No proactive attempt before this time (backoff after transient failures).
    pub retry_after: i64,
    pub failures: u32,
    /// `auth.conf` generation whose refresh token the server rejected; skip it until it changes.
    pub dead_generation: Option<u64>,
    pub refreshes: u64,
}

/// Shared daemon state.
#[derive(Debug)]
pub struct Daemon {
    engine: Engine,
    cache: RwLock<Option<(Loaded, Option<FileStamp>)>>,
    /// Single flight: one refresh at a time, whoever asks.
    refresh_gate: tokio::sync::Mutex<()>,
    info: Mutex<RefreshInfo>,
    /// Credentials refreshed at the server that could not be saved: the only copy of the new
    /// refresh token. Served from memory and saved again on every tick until it works.
    unsaved: Mutex<Option<twg_common::store::Credentials>>,
    /// Wakes the scheduler early (e.g. to retry an unsaved refresh soon).
    pub wake: tokio::sync::Notify,
    pub started: Instant,
    pub socket: std::path::PathBuf,
}

impl Daemon {
    pub fn new(engine: Engine, socket: std::path::PathBuf) -> Self {
        Self {
            engine,
            cache: RwLock::new(None),
            refresh_gate: tokio::sync::Mutex::new(()),
            info: Mutex::new(RefreshInfo::default()),
            unsaved: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            started: Instant::now(),
            socket,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn info(&self) -> RefreshInfo {
        self.info.lock().expect("info lock").clone()
    }

    /// The cached credentials, reloaded first if `auth.conf` changed on disk.
    pub fn current(&self) -> Result<Option<Loaded>, EngineError> {
        if self.has_unsaved() {
            // The file holds a spent refresh token; memory is the truth until it is saved.
            return Ok(self
                .cache
                .read()
                .expect("cache lock")
                .as_ref()
                .map(|(l, _)| l.clone()));
        }
        let stamp = self.engine.store().stamp();
        {
            let cache = self.cache.read().expect("cache lock");
            if let Some((loaded, cached_stamp)) = cache.as_ref()
                && *cached_stamp == stamp
                && stamp.is_some()
            {
                return Ok(Some(loaded.clone()));
            }
        }
        self.reload()
    }

    /// Re-reads the store. A corrupt file is an error, and the last good copy stays cached
    /// (the daemon keeps serving a valid token rather than failing everyone).
    pub fn reload(&self) -> Result<Option<Loaded>, EngineError> {
        let stamp = self.engine.store().stamp();
        match self.engine.store().load() {
            Ok(Some(loaded)) => {
                *self.cache.write().expect("cache lock") = Some((loaded.clone(), stamp));
                Ok(Some(loaded))
            }
            Ok(None) => {
                *self.cache.write().expect("cache lock") = None;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops the cache (after logout).
    pub fn forget(&self) {
        self.drop_unsaved();
        *self.cache.write().expect("cache lock") = None;
    }

    fn view(&self, loaded: &Loaded) -> Option<TokenView> {
        Some(TokenView {
            oauth: loaded.credentials.oauth.clone()?,
            site: loaded
                .credentials
                .site
                .as_ref()
                .map(twg_common::store::SiteInfo::label)
                .unwrap_or_default(),
        })
    }

    /// True when a request for `need` must go through a refresh.
    fn must_refresh(&self, oauth: &OAuthCredentials, generation: u64, need: Need) -> bool {
        let now = now_unix();
        if need.force || !oauth.valid_for(now, need.min_valid) {
            return true;
        }
        let info = self.info.lock().expect("info lock");
        if info.dead_generation == Some(generation) {
            return false;
        }
        needs_refresh(oauth, now, need) && now >= info.retry_after
    }

    /// A token satisfying `need`. Concurrent callers share one refresh.
    pub async fn token(&self, need: Need) -> Result<TokenView, EngineError> {
        if let Some(loaded) = self.current()?
            && let Some(oauth) = &loaded.credentials.oauth
            && !self.must_refresh(oauth, loaded.generation, need)
        {
            return Ok(self.view(&loaded).expect("has oauth"));
        }
        let _gate = self.refresh_gate.lock().await;
        // Whoever held the gate before us may have refreshed already.
        let loaded = self.current()?.ok_or_else(|| EngineError::NotLoggedIn {
            path: self.engine.store().auth_path(),
        })?;
        let Some(oauth) = &loaded.credentials.oauth else {
            return Err(EngineError::NotLoggedIn {
                path: self.engine.store().auth_path(),
            });
        };
        if !self.must_refresh(
            oauth,
            loaded.generation,
            Need {
                force: false,
                ..need
            },
        ) && !need.force
        {
            return Ok(self.view(&loaded).expect("has oauth"));
        }
        if self.info().dead_generation == Some(loaded.generation) {
            return Err(EngineError::AuthExpired {
                reason: "the server rejected the refresh token".into(),
            });
        }
        self.refresh_now(need).await
    }

    /// Runs the engine (caller holds the gate) and records the outcome.
    async fn refresh_now(&self, need: Need) -> Result<TokenView, EngineError> {
        let result = self.engine.ensure(need).await;
        let now = now_unix();
        let mut info = self.info.lock().expect("info lock");
        match result {
            Ok(r) => {
                match r.outcome {
                    Outcome::Refreshed => {
                        info.last_refresh_at = now;
                        info.refreshes += 1;
                        info.failures = 0;
                        info.retry_after = 0;
                        info.last_error = None;
                    }
                    Outcome::StaleButValid => {
                        info.failures += 1;
                        info.retry_after = now + backoff(info.failures);
                        info.last_error = r.warning.clone();
                    }
                    Outcome::Fresh | Outcome::Adopted => {
                        info.failures = 0;
                        info.retry_after = 0;
                    }
                }
                drop(info);
                // The stamp the engine took with what it read or saved under the lock: a
                // fresh stat here could pair these credentials with a newer file written by
                // another process since, and the cache would then hide that file.
                let stamp = r.loaded.stamp;
                let view = self.view(&r.loaded).expect("has oauth");
                *self.cache.write().expect("cache lock") = Some((r.loaded, stamp));
                Ok(view)
            }
            Err(EngineError::PersistAfterRefresh { detail, refreshed }) => {
                // The server rotated and the disk refused the result: keep serving the new
                // tokens from memory and retry the save on every tick.
                tracing::error!(%detail, "refreshed credentials could not be saved; keeping them in memory");
                info.last_refresh_at = now;
                info.refreshes += 1;
                info.last_error = Some(format!(
                    "the refreshed credentials could not be saved ({detail}); twgd keeps them in memory and retries; fix the config directory's permissions"
                ));
                drop(info);
                let generation = self
                    .cache
                    .read()
                    .expect("cache lock")
                    .as_ref()
                    .map(|(l, _)| l.generation)
                    .unwrap_or(0);
                let loaded = Loaded {
                    credentials: (*refreshed).clone(),
                    generation,
                    backend: self.engine.store().backend(),
                    stamp: None,
                };
                let view = self.view(&loaded).ok_or_else(|| EngineError::NotLoggedIn {
                    path: self.engine.store().auth_path(),
                })?;
                *self.unsaved.lock().expect("unsaved lock") = Some(*refreshed);
                *self.cache.write().expect("cache lock") = Some((loaded, None));
                self.wake.notify_one();
                Ok(view)
            }
            Err(e) => {
                info.last_error = Some(e.to_string());
                match &e {
                    EngineError::AuthExpired { .. } => {
                        info.dead_generation = self
                            .cache
                            .read()
                            .expect("cache lock")
                            .as_ref()
                            .map(|(l, _)| l.generation);
                    }
                    _ => {
                        info.failures += 1;
                        info.retry_after = now + backoff(info.failures);
                    }
                }
                Err(e)
            }
        }
    }

    /// Waits for a refresh in flight and keeps new ones from starting while the guard lives.
    /// Shutdown holds it before stopping tasks: a refresh cut off between the token request
    /// and the save would lose the rotated refresh token.
    pub async fn quiesce(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.refresh_gate.lock().await
    }

    /// Proactive refresh from the scheduler: refresh when the 75% mark has passed.
    fn has_unsaved(&self) -> bool {
        self.unsaved.lock().expect("unsaved lock").is_some()
    }

    /// A login or logout replaced the credentials: anything unsaved is obsolete.
    pub fn drop_unsaved(&self) {
        self.unsaved.lock().expect("unsaved lock").take();
    }

    /// Tries again to save credentials whose save failed after a refresh.
    pub async fn retry_unsaved(&self) {
        let Some(creds) = self.unsaved.lock().expect("unsaved lock").clone() else {
            return;
        };
        match twg_common::login::save(self.engine.store(), &creds).await {
            Ok(()) => {
                tracing::info!("saved the refreshed credentials that could not be saved before");
                self.unsaved.lock().expect("unsaved lock").take();
                self.info.lock().expect("info lock").last_error = None;
                if let Err(e) = self.reload() {
                    tracing::warn!(error = %e, "cannot reload credentials");
                }
            }
            Err(e) => tracing::error!(error = %e, "still cannot save the refreshed credentials"),
        }
    }

    pub async fn tick(&self) {
        self.retry_unsaved().await;
        let due = match self.current() {
            Ok(Some(l)) => match &l.credentials.oauth {
                Some(o) => self.must_refresh(o, l.generation, Need::default()),
                None => false,
            },
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read credentials");
                false
            }
        };
        if due && let Err(e) = self.token(Need::default()).await {
            tracing::warn!(error = %e, code = e.code(), "proactive refresh failed");
        }
    }

    /// When the scheduler should look again (Unix seconds).
    pub fn next_refresh_at(&self) -> i64 {
        if self.has_unsaved() {
            return now_unix() + UNSAVED_RETRY_SECS;
        }
        let info = self.info();
        let cache = self.cache.read().expect("cache lock");
        match cache.as_ref().and_then(|(l, _)| {
            l.credentials
                .oauth
                .as_ref()
                .map(|o| (l.generation, o.refresh_due_at()))
        }) {
            Some((generation, _)) if info.dead_generation == Some(generation) => 0,
            Some((_, due)) if due > 0 => due.max(info.retry_after),
            _ => 0,
        }
    }
}

fn backoff(failures: u32) -> i64 {
    let base = RETRY_BACKOFF_MIN << failures.saturating_sub(1).min(6);
    let capped = base.min(RETRY_BACKOFF_MAX);
    // Jitter so many daemons behind one proxy do not retry in lockstep.
    capped + fastrand::i64(0..=capped / 4)
}
