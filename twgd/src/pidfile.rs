//! Single-instance guard: an exclusive lock on `twgd.sock.pid`, holding our pid.
//!
//! The lock, not the pid inside, is what counts: the system drops it when the daemon dies,
//! so a stale pidfile never blocks a restart. Unix: `flock` on the whole file. Windows: a
//! `LockFileEx` lock there would also refuse every other handle's reads and writes
//! (`ERROR_LOCK_VIOLATION`), so twgd locks one byte far past the end of the file instead,
//! and the pid stays readable for `twg` and for a second twgd's message.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Why the daemon cannot claim the pidfile.
#[derive(Debug, thiserror::Error)]
pub enum PidError {
    #[error(
        "twgd is already running for this user (pid {pid}, socket lock {path}); use `twg daemon status` or `twg daemon stop`"
    )]
    AlreadyRunning { pid: String, path: PathBuf },
    #[error("cannot use the pidfile {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the daemon's lifetime.
#[derive(Debug)]
pub struct PidFile {
    #[cfg(unix)]
    guard: twg_common::lock::LockGuard,
    #[cfg(windows)]
    _file: std::fs::File,
    path: PathBuf,
}

/// Where the Windows lock sits: past any pid text, so it never covers bytes anyone reads.
#[cfg(windows)]
const LOCK_OFFSET: u64 = 1 << 62;

impl PidFile {
    /// Claims the pidfile or reports who holds it.
    pub fn claim(path: &Path) -> Result<Self, PidError> {
        let io = |source| PidError::Io {
            path: path.to_path_buf(),
            source,
        };
        let Some(held) = lock(path)? else {
            let pid = std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into());
            return Err(PidError::AlreadyRunning {
                pid,
                path: path.to_path_buf(),
            });
        };
        // Through the handle that holds the lock: on Windows a second handle may not write
        // inside a range another handle locked, and one handle is simpler everywhere.
        let mut f = held.file();
        f.set_len(0).map_err(io)?;
        f.rewind().map_err(io)?;
        writeln!(f, "{}", std::process::id()).map_err(io)?;
        Ok(held)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(unix)]
    fn file(&self) -> &std::fs::File {
        self.guard.file()
    }

    #[cfg(windows)]
    fn file(&self) -> &std::fs::File {
        &self._file
    }
}

/// The lock, or `None` when another twgd holds it.
#[cfg(unix)]
fn lock(path: &Path) -> Result<Option<PidFile>, PidError> {
    let io = |source| PidError::Io {
        path: path.to_path_buf(),
        source,
    };
    match twg_common::lock::try_lock(path) {
        Ok(Some(guard)) => Ok(Some(PidFile {
            guard,
            path: path.to_path_buf(),
        })),
        Ok(None) => Ok(None),
        Err(twg_common::lock::LockError::Open { source, .. })
        | Err(twg_common::lock::LockError::Lock { source, .. }) => Err(io(source)),
        Err(e) => Err(io(std::io::Error::other(e.to_string()))),
    }
}

#[cfg(windows)]
fn lock(path: &Path) -> Result<Option<PidFile>, PidError> {
    let io = |source| PidError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    if !twg_common::win::try_lock_range(&file, LOCK_OFFSET, 1).map_err(io)? {
        return Ok(None);
    }
    Ok(Some(PidFile {
        _file: file,
        path: path.to_path_buf(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_pidfile_holds_our_pid_and_refuses_a_second_claim() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twgd.sock.pid");
        // Stale content from an earlier, longer pid must not survive.
        std::fs::write(&path, "123456789012\n").unwrap();
        let held = PidFile::claim(&path).unwrap();
        let me = std::process::id().to_string();
        // Read through another handle while the lock is held.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        // Windows: the lock must not cover the pid's bytes, or every other handle's reads
        // and writes there fail (ERROR_LOCK_VIOLATION). Wine does not enforce that on reads
        // and writes, but it does refuse a conflicting lock, so try to lock them.
        #[cfg(windows)]
        {
            let other = std::fs::File::open(&path).unwrap();
            assert!(
                twg_common::win::try_lock_range(&other, 0, 64).unwrap(),
                "the pid's bytes are locked"
            );
        }
        match PidFile::claim(&path) {
            Err(PidError::AlreadyRunning { pid, .. }) => assert_eq!(pid, me),
            other => panic!("second claim: {other:?}"),
        }
        drop(held);
        let again = PidFile::claim(&path).unwrap();
        assert_eq!(again.path(), path);
    }
}
