//! Organisation admin credentials (an Atlassian Admin API key) in `admin.conf`.
//!
//! Deliberately separate from the user's `auth.conf`: its own file, its own lock
//! (`admin.conf.lock`), its own format. User login, refresh and logout never read or touch
//! it, so an admin key cannot be lost or leaked by the token path, and vice versa.
//!
//! ```toml
//! # twg organisation admin credentials. Written by twg; keep private (0600).
//! version = 1
//! email = "admin@example.com"
//! org_id = "0a1b2c3d-..."
//! api_key = "..."
//! saved_at = 1795993200   # Unix seconds
//! ```

use crate::lock::{LockError, LockGuard};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FORMAT_VERSION: u32 = 1;

/// How long `twg admin auth login|logout` waits for another process holding the lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

const HEADER: &str = "# twg organisation admin credentials. Written by twg; keep private (0600).\n";

/// The stored admin credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminCredentials {
    pub email: String,
    pub org_id: String,
    pub api_key: Secret,
    /// Unix seconds.
    #[serde(default)]
    pub saved_at: i64,
}

#[derive(Serialize, Deserialize)]
struct AdminFile {
    version: u32,
    #[serde(flatten)]
    credentials: AdminCredentials,
}

/// Problems with `admin.conf`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is corrupt ({detail}). It was left untouched: remove it with `twg admin auth logout` and log in again"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} has format version {found}, but this twg understands up to {FORMAT_VERSION}; upgrade twg (`twg update`)"
    )]
    UnknownVersion { path: PathBuf, found: u32 },
    #[error("cannot save the admin credentials: {0}; nothing was changed on disk")]
    Write(#[from] crate::atomic::AtomicWriteError),
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Dir(#[from] crate::paths::PathError),
}

/// The lock file that serialises writes of `admin.conf`.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join("admin.conf.lock")
}

/// Parses `admin.conf`, checking the version first so a newer format gets the right error.
/// Errors never echo the file's content (it holds the key).
pub fn parse(path: &Path, text: &str) -> Result<AdminCredentials, AdminError> {
    let corrupt = |detail: String| AdminError::Corrupt {
        path: path.into(),
        detail,
    };
    let file: AdminFile = crate::versioned::parse(text, FORMAT_VERSION).map_err(|e| match e {
        crate::versioned::VersionedError::Corrupt(detail) => corrupt(detail),
        crate::versioned::VersionedError::Newer(found) => AdminError::UnknownVersion {
            path: path.into(),
            found,
        },
    })?;
    if file.credentials.api_key.is_empty() {
        return Err(corrupt("the API key is empty".into()));
    }
    Ok(file.credentials)
}

/// Renders `admin.conf`.
pub fn render(credentials: &AdminCredentials) -> String {
    let file = AdminFile {
        version: FORMAT_VERSION,
        credentials: credentials.clone(),
    };
    let body = toml::to_string(&file).expect("admin.conf types always serialise");
    format!("{HEADER}{body}")
}

/// Loads the admin credentials in `root`; `Ok(None)` when there are none.
pub fn load(root: &Path) -> Result<Option<AdminCredentials>, AdminError> {
    let path = crate::paths::admin_file(root);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AdminError::Read { path, source }),
    };
    let text = String::from_utf8(bytes).map_err(|_| AdminError::Corrupt {
        path: path.clone(),
        detail: "not UTF-8 text".into(),
    })?;
    parse(&path, &text).map(Some)
}

/// Takes the admin lock, creating the config root if needed.
pub async fn lock(root: &Path) -> Result<LockGuard, AdminError> {
    crate::paths::ensure_private_dir(root)?;
    Ok(crate::lock::lock(&lock_path(root), LOCK_TIMEOUT).await?)
}

/// Saves atomically (mode 0600). The guard proves the admin lock is held.
pub fn save(
    root: &Path,
    credentials: &AdminCredentials,
    guard: &LockGuard,
) -> Result<(), AdminError> {
    debug_assert_eq!(guard.path(), lock_path(root));
    crate::paths::ensure_private_dir(root)?;
    crate::atomic::write_atomic(
        &crate::paths::admin_file(root),
        render(credentials).as_bytes(),
    )?;
    Ok(())
}

/// Removes `admin.conf`; returns whether there was one.
pub fn delete(root: &Path, guard: &LockGuard) -> Result<bool, AdminError> {
    debug_assert_eq!(guard.path(), lock_path(root));
    let path = crate::paths::admin_file(root);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            crate::atomic::sync_dir(root).ok();
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(AdminError::Remove { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: &str = r#"# twg organisation admin credentials. Written by twg; keep private (0600).
version = 1
email = "admin@example.com"
org_id = "org-123"
api_key = "ATAT-key"
saved_at = 1795993200
"#;

    fn sample() -> AdminCredentials {
        AdminCredentials {
            email: "admin@example.com".into(),
            org_id: "org-123".into(),
            api_key: Secret::new("ATAT-key"),
            saved_at: 1_795_993_200,
        }
    }

    #[test]
    fn exact_round_trip() {
        let parsed = parse(Path::new("admin.conf"), EXACT).unwrap();
        assert_eq!(parsed, sample());
        assert_eq!(render(&parsed), EXACT);
    }

    #[test]
    fn newer_version_is_named_and_old_garbage_is_corrupt() {
        let err = parse(Path::new("/x/admin.conf"), "version = 2\n").unwrap_err();
        assert!(matches!(err, AdminError::UnknownVersion { found: 2, .. }));
        assert!(err.to_string().contains("/x/admin.conf"));
        let err = parse(Path::new("a"), "email = \"x\"\n").unwrap_err();
        assert!(matches!(err, AdminError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn errors_never_echo_the_key() {
        let text = "version = 1\nemail = \"a\"\norg_id = \"o\"\napi_key = \"SECRET-KEY\" junk\n";
        let err = parse(Path::new("admin.conf"), text)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET-KEY"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(!format!("{:?}", sample()).contains("ATAT-key"));
    }

    #[tokio::test]
    async fn save_load_delete_in_a_private_file_under_its_own_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("twg");
        assert!(load(&root).unwrap().is_none());
        let guard = lock(&root).await.unwrap();
        assert_eq!(guard.path(), root.join("admin.conf.lock"));
        save(&root, &sample(), &guard).unwrap();
        assert_eq!(load(&root).unwrap(), Some(sample()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(crate::paths::admin_file(&root))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The user-credential lock is a different file: holding one never blocks the other.
        assert!(
            crate::lock::try_lock(&crate::paths::auth_lock_file(&root))
                .unwrap()
                .is_some()
        );
        assert!(delete(&root, &guard).unwrap());
        assert!(!delete(&root, &guard).unwrap());
        assert!(load(&root).unwrap().is_none());
    }
}
