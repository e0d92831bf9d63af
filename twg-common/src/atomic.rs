//! Atomic file replacement: temp file in the same directory, flushed to disk, renamed over
//! the target, and the rename itself made durable.
//!
//! Unix: `fsync` the file, `rename`, `fsync` the directory. Windows: `FlushFileBuffers`
//! (what `sync_all` calls there), then `MoveFileExW(MOVEFILE_REPLACE_EXISTING |
//! MOVEFILE_WRITE_THROUGH)`, which returns only once the rename is on disk (Windows has no
//! directory fsync; tempfile's own `persist` omits the write-through flag).
//!
//! After `write_atomic` returns, the new content is durable and readers see either the old
//! or the new file, never a torn one. On any error the old file is untouched.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A failed atomic write, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum AtomicWriteError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Replaces `path` with `bytes` atomically. The file is created with mode 0600 on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let wrap = |source| AtomicWriteError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = parent_dir(path);
    // tempfile creates the file 0600 on Unix, so the secret is never world-readable even briefly.
    let mut tmp = tempfile::Builder::new()
        .prefix(".twg-tmp-")
        .tempfile_in(dir)
        .map_err(wrap)?;
    tmp.write_all(bytes).map_err(wrap)?;
    tmp.as_file().sync_all().map_err(wrap)?;
    persist(tmp, path).map_err(wrap)?;
    sync_dir(dir).map_err(wrap)
}

#[cfg(unix)]
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// The handle is closed first (a file open elsewhere cannot always be renamed over on
/// Windows); the temp path still deletes itself if the rename fails.
#[cfg(windows)]
fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    let tmp = tmp.into_temp_path();
    crate::win::rename_write_through(&tmp, path)?;
    // Renamed away: nothing left to delete.
    let _ = tmp.keep();
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows has no directory fsync: the write-through rename in [`persist`] is what makes it
/// durable.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.conf");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn the_parent_of_a_bare_file_name_is_the_current_directory() {
        assert_eq!(parent_dir(Path::new("auth.conf")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/a/auth.conf")), Path::new("/a"));
        assert_eq!(parent_dir(Path::new("a/b")), Path::new("a"));
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
