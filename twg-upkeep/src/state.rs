//! `upkeep.json`: the non-secret record of upkeep passes, update checks and reminders.
//!
//! It lives in the config root beside `auth.conf` and is written atomically
//! ([`twg_common::atomic::write_atomic`]) while holding `upkeep.json.lock`, the same discipline
//! as credential writes. Nothing in it is secret, and all of it can be rebuilt, so a
//! corrupt file is moved aside to `upkeep.json.corrupt-<unix time>` (never silently
//! overwritten) and upkeep starts fresh.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use twg_common::lock::{self, LockError, LockGuard};

/// The `format` written by this build.
pub const FORMAT: u32 = 1;
/// Long enough to wait out another pass (refresh plus a manifest fetch, each time-limited).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(90);

/// The whole file. Unknown fields are ignored and missing ones default, so older and newer
/// builds can share it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpkeepState {
    pub format: u32,
    /// Unix seconds of the last completed pass (0 = never).
    pub last_run_at: i64,
    /// Who ran it: `twgd` or `twg upkeep run`.
    pub last_run_by: String,
    /// When twgd plans the next pass (0 = unknown, e.g. twgd is not running).
    pub next_run_at: i64,
    /// The last refresh made by upkeep.
    pub last_refresh_at: i64,
    /// What the last pass did about credentials (`refreshed`, `not due`, `not logged in`...).
    pub last_auth_result: String,
    /// The last update check attempt (successful or not).
    pub last_check_at: i64,
    /// No update check before this time (daily, with jitter).
    pub next_check_at: i64,
    /// The newest version seen in the manifest on the configured channel.
    pub latest_version: Option<String>,
    pub latest_notes_url: Option<String>,
    /// The version the reminder sequence is about.
    pub notified_version: Option<String>,
    /// Notifications shown for `notified_version` in total (initial + reminders).
    pub notifications_sent: u32,
    pub last_notified_at: i64,
    /// The most recent problem (kept until a pass completes without one).
    pub last_error: Option<String>,
    pub last_error_at: i64,
}

/// Problems reading or writing `upkeep.json`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}; check its permissions")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid upkeep state ({detail}); it is rebuilt on the next upkeep pass")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot save {path}: {detail}; check that the config directory is writable")]
    Write { path: PathBuf, detail: String },
    #[error("cannot take the upkeep lock: {0}")]
    Lock(#[from] LockError),
}

/// What [`load_for_update`] found.
#[derive(Debug)]
pub struct LoadedState {
    pub state: UpkeepState,
    /// Set when a corrupt file was moved aside: where it went and why.
    pub recovered_from: Option<(PathBuf, String)>,
}

/// `upkeep.json.lock` beside `upkeep.json`.
pub fn lock_file(root: &Path) -> PathBuf {
    root.join("upkeep.json.lock")
}

/// Takes the upkeep lock (waits for a pass in another process to finish), creating the
/// private config root first: upkeep may run before anyone has logged in.
pub async fn lock(root: &Path) -> Result<LockGuard, StateError> {
    twg_common::paths::ensure_private_dir(root).map_err(|e| StateError::Write {
        path: twg_common::paths::upkeep_file(root),
        detail: e.to_string(),
    })?;
    Ok(lock::lock(&lock_file(root), LOCK_TIMEOUT).await?)
}

/// Reads `upkeep.json` without the lock (atomic writes mean a reader never sees a torn
/// file). A missing file is the fresh state.
pub fn read(root: &Path) -> Result<UpkeepState, StateError> {
    let path = twg_common::paths::upkeep_file(root);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UpkeepState::fresh()),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path,
        detail: e.to_string(),
    })
}

/// Reads the state for a pass, holding the lock. A corrupt file is renamed to
/// `upkeep.json.corrupt-<now>` and the fresh state returned, so it is neither lost nor
/// silently overwritten.
pub fn load_for_update(
    root: &Path,
    _guard: &LockGuard,
    now: i64,
) -> Result<LoadedState, StateError> {
    match read(root) {
        Ok(state) => Ok(LoadedState {
            state,
            recovered_from: None,
        }),
        Err(StateError::Corrupt { path, detail }) => {
            let backup = root.join(format!("upkeep.json.corrupt-{now}"));
            std::fs::rename(&path, &backup).map_err(|e| StateError::Write {
                path: backup.clone(),
                detail: format!("moving the corrupt file aside failed: {e}"),
            })?;
            let _ = twg_common::atomic::sync_dir(root);
            tracing::error!(
                path = %path.display(),
                backup = %backup.display(),
                %detail,
                "upkeep.json was corrupt; moved it aside and started fresh"
            );
            Ok(LoadedState {
                state: UpkeepState::fresh(),
                recovered_from: Some((backup, detail)),
            })
        }
        Err(e) => Err(e),
    }
}

/// Proves a save could succeed (create, fsync, rename in the config root) before a pass
/// does anything whose record would otherwise be lost, such as showing a notification.
pub fn preflight(root: &Path) -> Result<(), StateError> {
    twg_common::preflight::check_dir_writable(root).map_err(|e| StateError::Write {
        path: twg_common::paths::upkeep_file(root),
        detail: e.to_string(),
    })
}

/// Writes the state atomically; the caller holds the upkeep lock.
pub fn save(root: &Path, state: &UpkeepState, _guard: &LockGuard) -> Result<(), StateError> {
    let path = twg_common::paths::upkeep_file(root);
    let mut state = state.clone();
    state.format = FORMAT;
    let mut bytes = serde_json::to_vec_pretty(&state).expect("state serializes");
    bytes.push(b'\n');
    twg_common::atomic::write_atomic(&path, &bytes).map_err(|e| StateError::Write {
        path,
        detail: e.to_string(),
    })
}

impl UpkeepState {
    pub fn fresh() -> Self {
        Self {
            format: FORMAT,
            ..Self::default()
        }
    }

    /// Records a problem (replacing the previous one).
    pub fn set_error(&mut self, now: i64, message: impl Into<String>) {
        self.last_error = Some(message.into());
        self.last_error_at = now;
    }

    /// This state as the pretty JSON stored on disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("state serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exact_json() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let guard = lock::try_lock(&lock_file(root)).unwrap().unwrap();
        let mut s = UpkeepState::fresh();
        s.last_run_at = 100;
        s.latest_version = Some("1.2.3".into());
        s.notifications_sent = 2;
        save(root, &s, &guard).unwrap();
        let text = std::fs::read_to_string(twg_common::paths::upkeep_file(root)).unwrap();
        assert!(text.contains("\"notifications_sent\": 2"), "{text}");
        assert_eq!(read(root).unwrap(), s);
        // Older/newer builds: unknown fields ignored, missing ones defaulted.
        std::fs::write(
            twg_common::paths::upkeep_file(root),
            r#"{"format":1,"last_run_at":5,"from_the_future":[1]}"#,
        )
        .unwrap();
        let s = read(root).unwrap();
        assert_eq!(s.last_run_at, 5);
        assert_eq!(s.notifications_sent, 0);
    }

    #[test]
    fn missing_file_is_fresh_and_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(read(root).unwrap(), UpkeepState::fresh());
        let path = twg_common::paths::upkeep_file(root);
        std::fs::write(&path, b"{\"last_run_at\": tru").unwrap();
        assert!(matches!(read(root), Err(StateError::Corrupt { .. })));
        let guard = lock::try_lock(&lock_file(root)).unwrap().unwrap();
        let loaded = load_for_update(root, &guard, 1234).unwrap();
        assert_eq!(loaded.state, UpkeepState::fresh());
        let (backup, _) = loaded.recovered_from.unwrap();
        assert_eq!(backup, root.join("upkeep.json.corrupt-1234"));
        assert_eq!(std::fs::read(&backup).unwrap(), b"{\"last_run_at\": tru");
        assert!(!path.exists());
    }
}
