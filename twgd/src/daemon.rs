//! The daemon's credential state: a cached view of the engine's newest credentials,
//! single-flight refresh, and backoff after failures.
//!
//! The daemon never reads the store around the engine: what it serves and what it refreshes
//! both come from [`Engine::newest`], which includes any rotation the engine could not
//! save. So it cannot spend a refresh token from disk while it holds a newer one in memory.
//!
//! Why over 400 lines: the cache, the gate and the backoff are one state machine (a
//! refresh's outcome sets all three), mutation tested as one (`scripts/mutants.sh daemon`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;
use twg_common::engine::{ChangeKey, Engine, Need, Outcome, Verdict, assess};
use twg_common::error::EngineError;
use twg_common::store::{Loaded, OAuthCredentials};

/// After a failure, wait this long before the next proactive attempt.
const RETRY_BACKOFF_MIN: i64 = 5;
const RETRY_BACKOFF_MAX: i64 = 300;
/// How soon to retry saving credentials whose save failed after a refresh.
const UNSAVED_RETRY_SECS: i64 = 5;

/// A snapshot of the current token, for one request.
#[derive(Debug, Clone)]
pub struct TokenView {
    pub oauth: OAuthCredentials,
    pub site: String,
    /// The site's cloud id, empty when no site is stored.
    pub cloud_id: String,
}

/// Refresh bookkeeping shown by `Status` (never secret).
#[derive(Debug, Clone, Default)]
pub struct RefreshInfo {
    pub last_refresh_at: i64,
    pub last_error: Option<String>,
    /// No proactive attempt before this time (backoff after failures).
    pub retry_after: i64,
    pub failures: u32,
    pub refreshes: u64,
}

/// The cached newest credentials and what they were read from.
#[derive(Debug, Clone)]
struct Cached {
    newest: twg_common::engine::Newest,
    key: ChangeKey,
}

/// Shared daemon state.
#[derive(Debug)]
pub struct Daemon {
    engine: Engine,
    cache: RwLock<Option<Cached>>,
    /// Single flight: one refresh at a time, whoever asks.
    refresh_gate: tokio::sync::Mutex<()>,
    /// Set once shutdown holds the gate: a request that reaches the gate afterwards (from
    /// the agent or API socket, which stop after the main server) must not start a refresh
    /// that the exiting process would cut off after the final save.
    stopping: std::sync::atomic::AtomicBool,
    /// Completed flights; a request that waited on the gate while this moved takes the
    /// flight's result instead of starting another.
    flights: AtomicU64,
    /// The error of the last flight, for the requests that waited on it.
    last_flight_error: Mutex<Option<EngineError>>,
    info: Mutex<RefreshInfo>,
    /// Wakes the scheduler early (e.g. to retry an unsaved refresh soon).
    pub wake: tokio::sync::Notify,
    /// The token hand-out audit log.
    pub audit: crate::audit::Audit,
    pub started: Instant,
    pub socket: std::path::PathBuf,
}

impl Daemon {
    pub fn new(engine: Engine, socket: std::path::PathBuf) -> Self {
        Self {
            engine,
            cache: RwLock::new(None),
            refresh_gate: tokio::sync::Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            flights: AtomicU64::new(0),
            last_flight_error: Mutex::new(None),
            info: Mutex::new(RefreshInfo::default()),
            wake: tokio::sync::Notify::new(),
            audit: Default::default(),
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

    /// The newest credentials, re-read when anything they come from changed.
    pub fn current(&self) -> Result<Option<Loaded>, EngineError> {
        Ok(self.current_newest()?.map(|n| n.loaded))
    }

    /// Like [`Daemon::current`], with where the credentials are kept.
    pub fn current_newest(&self) -> Result<Option<twg_common::engine::Newest>, EngineError> {
        let key = self.engine.change_key();
        {
            let cache = self.cache.read().expect("cache lock");
            if let Some(c) = cache.as_ref()
                && c.key == key
            {
                return Ok(Some(c.newest.clone()));
            }
        }
        self.reload_with(key)
    }

    /// Re-reads the engine's newest credentials. A corrupt file is an error, and the last
    /// good copy stays cached.
    pub fn reload(&self) -> Result<Option<Loaded>, EngineError> {
        let key = self.engine.change_key();
        Ok(self.reload_with(key)?.map(|n| n.loaded))
    }

    fn reload_with(
        &self,
        key: ChangeKey,
    ) -> Result<Option<twg_common::engine::Newest>, EngineError> {
        match self.engine.newest()? {
            Some(newest) => {
                *self.cache.write().expect("cache lock") = Some(Cached {
                    newest: newest.clone(),
                    key,
                });
                Ok(Some(newest))
            }
            None => {
                *self.cache.write().expect("cache lock") = None;
                Ok(None)
            }
        }
    }

    /// Drops the cache (after logout).
    pub fn forget(&self) {
        *self.cache.write().expect("cache lock") = None;
    }

    fn view(loaded: &Loaded) -> Option<TokenView> {
        Some(TokenView {
            oauth: loaded.credentials.oauth.clone()?,
            site: loaded
                .credentials
                .site
                .as_ref()
                .map(twg_common::store::SiteInfo::label)
                .unwrap_or_default(),
            cloud_id: loaded
                .credentials
                .site
                .as_ref()
                .map(|s| s.id.clone())
                .unwrap_or_default(),
        })
    }

    /// Serves from the current credentials when no refresh is needed (or one is needed but
    /// backing off, and the token still satisfies the caller). `Ok(None)`: refresh.
    fn serve(&self, need: Need) -> Result<Option<TokenView>, EngineError> {
        let loaded = self.current()?.ok_or_else(|| self.not_logged_in())?;
        let oauth = loaded
            .credentials
            .oauth
            .as_ref()
            .ok_or_else(|| self.not_logged_in())?;
        let now = self.engine.now();
        match assess(oauth, now, need)? {
            Verdict::Serve(_) => Ok(Self::view(&loaded)),
            Verdict::Refresh => {
                let backing_off = now < self.info().retry_after;
                let satisfies = !need.force
                    && oauth.valid_for(now, twg_common::engine::effective_min_valid(oauth, need));
                if backing_off && satisfies {
                    Ok(Self::view(&loaded))
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn not_logged_in(&self) -> EngineError {
        EngineError::NotLoggedIn {
            path: self.engine.store().auth_path(),
        }
    }

    /// A token satisfying `need`. Concurrent callers share one refresh: a request that
    /// waited while another refreshed takes that refresh's result, even with `force`.
    pub async fn token(&self, need: Need) -> Result<TokenView, EngineError> {
        let seen = self.flights.load(Ordering::SeqCst);
        if !need.force
            && let Some(view) = self.serve(need)?
        {
            return Ok(view);
        }
        let _gate = self.refresh_gate.lock().await;
        if self.flights.load(Ordering::SeqCst) != seen {
            let failed = self
                .last_flight_error
                .lock()
                .expect("flight lock")
                .as_ref()
                .map(EngineError::replay);
            // A forced refresh asked for a rotation: if the one it waited on failed, that
            // failure is its answer (not "fresh, nothing to do" with the old token).
            if need.force
                && let Some(e) = failed
            {
                return Err(e);
            }
            let relaxed = Need {
                force: false,
                ..need
            };
            if let Some(view) = self.serve(relaxed)? {
                return Ok(view);
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Err(EngineError::Replayed {
                code: twg_common::error_code::ErrorCode::Temporary,
                message: "twgd is stopping, so it starts no refresh: nothing was sent and your \
                          credentials are unchanged; retry in a moment"
                    .into(),
            });
        }
        let result = self.refresh_now(need).await;
        *self.last_flight_error.lock().expect("flight lock") =
            result.as_ref().err().map(EngineError::replay);
        self.flights.fetch_add(1, Ordering::SeqCst);
        result
    }

    /// Runs the engine (caller holds the gate) and records the outcome.
    async fn refresh_now(&self, need: Need) -> Result<TokenView, EngineError> {
        let result = self.engine.ensure(need).await;
        let now = self.engine.now();
        let mut info = self.info.lock().expect("info lock");
        match result {
            Ok(r) => {
                match r.outcome {
                    Outcome::Refreshed => {
                        info.last_refresh_at = now;
                        info.refreshes += 1;
                        info.failures = 0;
                        info.retry_after = 0;
                        info.last_error = r.warning.clone();
                    }
                    Outcome::StaleButValid => {
                        info.failures += 1;
                        info.retry_after = now + backoff(info.failures);
                        info.last_error = r.warning.clone();
                    }
                    Outcome::Fresh | Outcome::Adopted => {
                        info.failures = 0;
                        info.retry_after = 0;
                        info.last_error = r.warning.clone();
                    }
                }
                drop(info);
                if self.engine.has_held() {
                    self.wake.notify_one();
                }
                // Re-read through the engine: the cache must reflect exactly what it holds.
                self.forget();
                Self::view(&r.loaded).ok_or_else(|| self.not_logged_in())
            }
            Err(EngineError::PersistAfterRefresh { detail, refreshed }) => {
                // Neither auth.conf nor a recovery record took the rotation: the engine holds
                // it in memory and it is served from there; the scheduler keeps retrying.
                tracing::error!(%detail, "refreshed credentials could not be saved anywhere; keeping them in memory");
                info.last_refresh_at = now;
                info.refreshes += 1;
                info.last_error = Some(format!(
                    "the refreshed credentials could not be saved ({detail}); twgd keeps them in memory and retries. \
                     Make the config directory writable and do not stop twgd until `twg auth status` is clean"
                ));
                drop(info);
                self.forget();
                self.wake.notify_one();
                let loaded = Loaded {
                    credentials: *refreshed,
                    generation: 0,
                    backend: self.engine.store().backend(),
                    stamp: None,
                };
                Self::view(&loaded).ok_or_else(|| self.not_logged_in())
            }
            Err(e) => {
                info.last_error = Some(e.to_string());
                info.failures += 1;
                info.retry_after = now + backoff(info.failures);
                drop(info);
                self.forget();
                Err(e)
            }
        }
    }

    /// Waits for a refresh in flight and keeps new ones from starting while the guard lives.
    /// Shutdown holds it before stopping tasks: a refresh cut off between the token request
    /// and the save would lose the rotated refresh token.
    /// From then on no refresh starts in this process (see `stopping`).
    pub async fn quiesce(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let gate = self.refresh_gate.lock().await;
        self.stopping.store(true, Ordering::SeqCst);
        gate
    }

    /// True while a refresh holds the single-flight gate (idle exit waits for it).
    pub fn is_refreshing(&self) -> bool {
        self.refresh_gate.try_lock().is_err()
    }

    /// True when the newest credentials are not in `auth.conf` (held in memory, or in a
    /// recovery record).
    fn has_pending(&self) -> bool {
        self.engine.has_held()
            || self
                .current_newest()
                .ok()
                .flatten()
                .is_some_and(|n| n.pending.is_some())
    }

    /// Tries again to save credentials whose save failed after a refresh.
    pub async fn retry_unsaved(&self) -> Result<(), twg_common::engine::FlushError> {
        if !self.has_pending() {
            return Ok(());
        }
        let result = self.engine.flush().await;
        match &result {
            Ok(()) => {
                tracing::info!("saved the refreshed credentials that could not be saved before");
                self.info.lock().expect("info lock").last_error = None;
            }
            Err(e) => tracing::error!(error = %e, "still cannot save the refreshed credentials"),
        }
        self.forget();
        result
    }

    /// Proactive refresh from the scheduler: refresh when the 75% mark has passed.
    pub async fn tick(&self) {
        let _ = self.retry_unsaved().await;
        let due = match self.current() {
            Ok(Some(l)) => match &l.credentials.oauth {
                Some(o) => {
                    matches!(
                        assess(o, self.engine.now(), Need::default()),
                        Ok(Verdict::Refresh)
                    ) && self.engine.now() >= self.info().retry_after
                }
                None => false,
            },
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read credentials");
                false
            }
        };
        if due && let Err(e) = self.token(Need::default()).await {
            tracing::warn!(error = %e, code = %e.code(), "proactive refresh failed");
        }
    }

    /// When the scheduler should look again (Unix seconds).
    pub fn next_refresh_at(&self) -> i64 {
        if self.has_pending() {
            return self.engine.now() + UNSAVED_RETRY_SECS;
        }
        let info = self.info();
        let Ok(Some(loaded)) = self.current() else {
            return 0;
        };
        match loaded.credentials.oauth.as_ref() {
            Some(o) if o.halted.is_some() => 0,
            Some(o) if o.refresh_due_at() > 0 => o.refresh_due_at().max(info.retry_after),
            _ => 0,
        }
    }

    /// Where the newest credentials wait when `auth.conf` does not hold them, for `Status`
    /// and shutdown: `Some(Some(path))` a recovery record, `Some(None)` memory only.
    pub fn unsaved(&self) -> Option<Option<std::path::PathBuf>> {
        match self.current_newest() {
            Ok(Some(n)) if n.pending.is_some() => Some(n.record),
            Ok(_) => None,
            // The store cannot be read, but a rotation held in memory is still unsaved.
            Err(_) if self.engine.has_held() => Some(None),
            Err(_) => None,
        }
    }

    /// The last save attempt before exit. Returns a message for the operator when the
    /// newest credentials are still not in `auth.conf`.
    pub async fn final_save(&self) -> Option<String> {
        self.unsaved()?;
        match self.engine.flush().await {
            Ok(()) => {
                tracing::info!("saved the pending credentials before exiting");
                None
            }
            Err(e) => Some(match &e.record {
                Some(path) => format!(
                    "the newest credentials could not be saved to {} ({}); they are kept in the recovery record {}, \
                     which every twg process uses. Make the config directory writable, then run `twg auth refresh`",
                    self.engine.store().auth_path().display(),
                    e.detail,
                    path.display()
                ),
                None => format!(
                    "the newest credentials could not be saved anywhere ({}); they are lost when twgd exits. \
                     Run `twg login` afterwards",
                    e.detail
                ),
            }),
        }
    }
}

fn backoff(failures: u32) -> i64 {
    let base = RETRY_BACKOFF_MIN << failures.saturating_sub(1).min(6);
    let capped = base.min(RETRY_BACKOFF_MAX);
    // Jitter so many daemons behind one proxy do not retry in lockstep.
    capped + fastrand::i64(0..=capped / 4)
}
