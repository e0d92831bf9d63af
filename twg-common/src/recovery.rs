//! Recovery records: where a rotated refresh token goes when `auth.conf` cannot take it.
//!
//! After the server rotated, the old refresh token is spent and the new one is the only
//! copy. If the atomic save onto `auth.conf` fails (a read-only bind mount, a full disk),
//! the new credentials are written to a private 0600 file in a second place (the state
//! directory, else the runtime directory). Every load adopts a record whose `spent`
//! fingerprint matches the refresh token in `auth.conf`, so no process ever sends that spent
//! token again; the next save under the lock completes the move and removes the record.
//! A record whose `spent` matches nothing (a newer login, a logout) is stale and removed.

use crate::store::Credentials;
use crate::store::format::{self, AuthFile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file name for the config root `root`: one record per root.
pub fn file_name(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(root.to_string_lossy().as_bytes());
    format!("recovery-{}.json", hex::encode(&digest[..8]))
}

/// Where records for `root` may live, in order of preference.
pub fn candidates(root: &Path) -> Vec<PathBuf> {
    let name = file_name(root);
    let mut out = Vec::new();
    if let Ok(d) = crate::paths::state_dir() {
        out.push(d.join(&name));
    }
    if let Ok(d) = crate::paths::runtime_dir() {
        let p = d.join(&name);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Credentials that supersede the ones in `auth.conf` whose refresh token has `spent` as
/// fingerprint.
#[derive(Debug, Clone)]
pub struct Pending {
    pub credentials: Credentials,
    /// Fingerprint of the refresh token these credentials replaced (now spent).
    pub spent: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    config_root: String,
    spent: String,
    created_at: i64,
    /// The credentials in `auth.conf` form, secrets inline.
    auth: String,
}

/// A record found on disk, and where.
#[derive(Debug, Clone)]
pub struct Found {
    pub pending: Pending,
    pub path: PathBuf,
}

/// The full fingerprint used to match a record to a refresh token (longer than the audit
/// fingerprint: a false match would serve the wrong credentials).
pub fn spent_fingerprint(token: &crate::secret::Secret) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.expose().as_bytes()))
}

/// Writes `pending` to the first of `candidates(root)` that takes it; returns the path.
pub fn write(root: &Path, pending: &Pending) -> Result<PathBuf, String> {
    write_to(&candidates(root), root, pending)
}

/// [`write`] to the first of `paths` that takes it.
pub fn write_to(paths: &[PathBuf], root: &Path, pending: &Pending) -> Result<PathBuf, String> {
    let file = RecordFile {
        version: 1,
        config_root: root.display().to_string(),
        spent: pending.spent.clone(),
        created_at: pending.created_at,
        auth: format::render(&AuthFile::from_credentials(&pending.credentials, 0)),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    for path in paths.iter().cloned() {
        let dir = crate::atomic::parent_dir(&path).to_path_buf();
        let attempt = crate::paths::ensure_private_dir(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| crate::atomic::write_atomic(&path, &bytes).map_err(|e| e.to_string()));
        match attempt {
            Ok(()) => return Ok(path),
            Err(e) => errors.push(e),
        }
    }
    Err(if errors.is_empty() {
        "no directory for a recovery record".into()
    } else {
        errors.join("; ")
    })
}

/// Every readable record for `root`. Unreadable or foreign ones are skipped (and logged).
pub fn read_all(root: &Path) -> Vec<Found> {
    read_from(&candidates(root), root)
}

/// [`read_all`] from `paths`.
pub fn read_from(paths: &[PathBuf], root: &Path) -> Vec<Found> {
    scan(paths, root).0
}

/// The readable records in `paths`, and the paths holding a record that cannot be read or
/// parsed. Such a record may hold the only copy of the newest refresh token: it is never
/// deleted, and nothing is refreshed while it is there.
pub fn scan(paths: &[PathBuf], root: &Path) -> (Vec<Found>, Vec<PathBuf>) {
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a recovery record");
                unreadable.push(path.clone());
                continue;
            }
        };
        match parse(root, path, &bytes) {
            Ok(pending) => out.push(Found {
                pending,
                path: path.clone(),
            }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot use a recovery record");
                unreadable.push(path.clone());
            }
        }
    }
    (out, unreadable)
}

fn parse(root: &Path, path: &Path, bytes: &[u8]) -> Result<Pending, String> {
    let file: RecordFile = serde_json::from_slice(bytes).map_err(|_| "not a recovery record")?;
    if file.version != 1 {
        return Err(format!("unknown version {}", file.version));
    }
    if file.config_root != root.display().to_string() {
        return Err("it belongs to another config directory".into());
    }
    let auth = format::parse(path, &file.auth).map_err(|e| e.to_string())?;
    Ok(Pending {
        credentials: auth.into_credentials(),
        spent: file.spent,
        created_at: file.created_at,
    })
}

/// Removes every record for `root` (after a save made them obsolete, or a logout).
pub fn remove_all(root: &Path) {
    remove_from(&candidates(root))
}

/// [`remove_all`] from `paths`.
pub fn remove_from(paths: &[PathBuf]) {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {
                let _ = crate::atomic::sync_dir(crate::atomic::parent_dir(path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a recovery record")
            }
        }
    }
}

/// Follows `base`'s refresh token through `pendings` to the newest credentials: each step
/// adopts the pending entry whose `spent` is the current refresh token. Returns the newest
/// credentials when any step applied.
pub fn newest<'a>(
    base: &Credentials,
    pendings: impl IntoIterator<Item = &'a Pending> + Clone,
) -> Option<&'a Pending> {
    let mut current_rt = base
        .oauth
        .as_ref()
        .and_then(|o| o.refresh_token.as_ref())
        .map(spent_fingerprint)?;
    let mut found: Option<&Pending> = None;
    // A chain cannot be longer than the entries given; the bound also stops a cycle.
    let limit = pendings.clone().into_iter().count();
    for _ in 0..limit {
        let Some(next) = pendings.clone().into_iter().find(|p| p.spent == current_rt) else {
            break;
        };
        found = Some(next);
        match next
            .credentials
            .oauth
            .as_ref()
            .and_then(|o| o.refresh_token.as_ref())
        {
            Some(rt) => current_rt = spent_fingerprint(rt),
            None => break,
        }
    }
    found
}
