//! A writability probe for a directory, for `twg doctor` and the upkeep state: it creates a
//! file, writes and fsyncs it, renames it, fsyncs the directory and removes it.
//!
//! The refresh engine does not use it: before spending a refresh token it performs the very
//! save that will follow (`Store::rewrite` onto `auth.conf`), since a new file's rename
//! proves nothing about replacing `auth.conf` (a read-only bind mount refuses only that).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The config directory cannot take a save right now.
#[derive(Debug, thiserror::Error)]
#[error("the config directory {dir} is not writable from this process ({step}: {source})")]
pub struct PreflightError {
    pub dir: PathBuf,
    pub step: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Proves that a file can be created, fsynced and renamed in `dir`.
pub fn check_dir_writable(dir: &Path) -> Result<(), PreflightError> {
    let fail = |step, source| PreflightError {
        dir: dir.to_path_buf(),
        step,
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".twg-preflight-")
        .tempfile_in(dir)
        .map_err(|e| fail("create", e))?;
    tmp.write_all(b"twg preflight\n")
        .map_err(|e| fail("write", e))?;
    tmp.as_file().sync_all().map_err(|e| fail("fsync", e))?;
    let target = dir.join(format!(".twg-preflight-{}.done", std::process::id()));
    tmp.persist(&target).map_err(|e| fail("rename", e.error))?;
    let removed = std::fs::remove_file(&target).map_err(|e| fail("remove", e));
    crate::atomic::sync_dir(dir).map_err(|e| fail("fsync directory", e))?;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_in_a_writable_dir_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_dir_writable(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn fails_for_a_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_dir_writable(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.step, "create");
    }
}
