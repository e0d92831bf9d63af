//! One upkeep pass with its I/O: refresh if due soon, the daily update check, the reminder
//! notification, and the atomic save of `upkeep.json`. twgd runs it on its timer and for
//! `RunUpkeep`; `twg upkeep run` runs the same pass in-process when twgd is down.

use crate::schedule;
use crate::state::{self, StateError, UpkeepState};
use std::future::Future;
use std::path::Path;
use twg_common::config::Config;
use twg_common::engine::{Engine, Need, Outcome};
use twg_common::error::EngineError;
use twg_common::manifest::{self, UpdateSettings, Version};
use twg_common::store::{Loaded, OAuthCredentials};
use twg_common::time::now_unix;

/// Who refreshes: twgd (single flight, keeps its cache) or the engine in this process.
pub trait Refresher: Sync {
    fn engine(&self) -> &Engine;
    /// The credentials as they stand (twgd answers from its cache).
    fn current(&self) -> Result<Option<Loaded>, EngineError>;
    /// A forced refresh; `true` when this call rotated the tokens, `false` when another
    /// process had already done so (the engine adopts that rotation instead).
    fn refresh(&self, need: Need) -> impl Future<Output = Result<bool, EngineError>> + Send;
}

impl Refresher for Engine {
    fn engine(&self) -> &Engine {
        self
    }

    fn current(&self) -> Result<Option<Loaded>, EngineError> {
        self.store().load().map_err(EngineError::from)
    }

    async fn refresh(&self, need: Need) -> Result<bool, EngineError> {
        self.ensure(need)
            .await
            .map(|r| r.outcome == Outcome::Refreshed)
    }
}

/// Shows a desktop notification. Failure is expected on headless machines and never fatal:
/// the pass records it as `last_error` and tries again at a later pass.
pub trait Notifier: Sync {
    /// Shows one notification; the error says why it could not be shown.
    fn show(&self, summary: &str, body: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// How this pass was started.
#[derive(Debug, Clone, Copy)]
pub struct PassOptions {
    /// Recorded as `last_run_by`.
    pub by: &'static str,
    /// The next timer pass, when a timer exists (twgd).
    pub next_run_at: Option<i64>,
}

/// Runs one pass and returns the state as saved. Only a failure to lock, read or save
/// `upkeep.json` is an error; everything else is recorded in `last_error`.
pub async fn run(
    auth: &impl Refresher,
    notifier: &impl Notifier,
    opts: PassOptions,
) -> Result<UpkeepState, StateError> {
    let root = auth.engine().store().root().to_path_buf();
    let guard = state::lock(&root).await?;
    let now = now_unix();
    let loaded = state::load_for_update(&root, &guard, now)?;
    let mut state = loaded.state;
    let mut errors = Vec::new();
    if let Some((backup, detail)) = loaded.recovered_from {
        errors.push(format!(
            "upkeep.json was corrupt ({detail}); it was moved to {} and upkeep started fresh",
            backup.display()
        ));
    }
    // Without a save, a shown notification would be shown again at every pass.
    let writable = match state::preflight(&root) {
        Ok(()) => true,
        Err(e) => {
            errors.push(e.to_string());
            false
        }
    };

    state.last_auth_result = match auth_step(auth, now).await {
        AuthStep::Skipped(why) => why,
        AuthStep::Refreshed => {
            state.last_refresh_at = now_unix();
            "refreshed".into()
        }
        AuthStep::Failed(e) => {
            errors.push(format!("refresh failed: {e}"));
            "refresh failed".into()
        }
    };

    let settings = update_settings(&root, auth.engine());
    match &settings {
        Err(e) => errors.push(e.to_string()),
        Ok(s) if s.check && writable => {
            if schedule::check_due(&state, now) {
                state.last_check_at = now;
                state.next_check_at = schedule::next_check_at(now, &mut fastrand::Rng::new());
                match auth.engine().http() {
                    Err(e) => errors.push(format!("update check: {e}")),
                    Ok(http) => match manifest::check(http, s).await {
                        Ok(found) => {
                            tracing::info!(
                                latest = %found.latest.version,
                                update_available = found.update_available,
                                "checked for updates"
                            );
                            state.latest_version = Some(found.latest.version.clone());
                            state.latest_notes_url = found.latest.notes_url.clone();
                        }
                        Err(e) => errors.push(format!("update check: {e}")),
                    },
                }
            }
            if let Err(e) = maybe_notify(notifier, &mut state, now).await {
                errors.push(e);
            }
        }
        Ok(_) => {}
    }

    state.last_run_at = now;
    state.last_run_by = opts.by.to_string();
    if let Some(next) = opts.next_run_at {
        state.next_run_at = next;
    }
    // `last_error` describes the latest pass: a clean pass clears it.
    if errors.is_empty() {
        state.last_error = None;
    } else {
        let message = errors.join("; ");
        tracing::warn!(error = %message, "upkeep pass finished with problems");
        state.set_error(now, message);
    }
    if writable {
        state::save(&root, &state, &guard)?;
    }
    Ok(state)
}

/// The `[update]` settings, re-read each pass so edits to config.toml apply without a
/// restart; if config.toml is broken, the settings twgd started with still work.
fn update_settings(root: &Path, engine: &Engine) -> Result<UpdateSettings, String> {
    let config = match Config::load(root) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "config.toml unreadable; using the settings from start-up");
            engine.config().clone()
        }
    };
    UpdateSettings::from_config(&config).map_err(|e| format!("update check: {e}"))
}

async fn maybe_notify(
    notifier: &impl Notifier,
    state: &mut UpkeepState,
    now: i64,
) -> Result<(), String> {
    let current = Version::current();
    let schedule::Decision::Show(notice) = schedule::decide(state, &current, now) else {
        return Ok(());
    };
    let (summary, body) = schedule::notification_text(&notice, &current);
    notifier.show(&summary, &body).await?;
    tracing::info!(version = %notice.version, kind = ?notice.kind, "update notification shown");
    schedule::record_shown(state, &notice, now);
    Ok(())
}

enum AuthStep {
    Skipped(String),
    Refreshed,
    Failed(String),
}

/// Refreshes only when the 75% mark is within [`schedule::REFRESH_WINDOW`]. No credentials
/// (after `twg logout`) is not a problem: upkeep simply has nothing to do.
async fn auth_step(auth: &impl Refresher, now: i64) -> AuthStep {
    let oauth: OAuthCredentials = match auth.current() {
        Ok(Some(l)) => match l.credentials.oauth {
            Some(o) => o,
            None => return AuthStep::Skipped("not logged in".into()),
        },
        Ok(None) => return AuthStep::Skipped("not logged in".into()),
        Err(e) => return AuthStep::Failed(e.to_string()),
    };
    let due = oauth.refresh_due_at();
    if due == 0 {
        return AuthStep::Skipped("token does not expire".into());
    }
    if !schedule::refresh_due(due, now) {
        return AuthStep::Skipped("not due".into());
    }
    // Forcing makes the normal path refresh now; the engine still takes the lock, re-reads,
    // and adopts a rotation made meanwhile instead of rotating again.
    let need = Need {
        min_valid: None,
        force: true,
    };
    match auth.refresh(need).await {
        Ok(true) => AuthStep::Refreshed,
        Ok(false) => AuthStep::Skipped("already refreshed by another process".into()),
        Err(EngineError::NotLoggedIn { .. }) => AuthStep::Skipped("not logged in".into()),
        Err(e) => AuthStep::Failed(e.to_string()),
    }
}
