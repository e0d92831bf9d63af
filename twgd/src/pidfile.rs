//! Single-instance guard: an exclusive `flock` on `twgd.sock.pid`, holding our pid.
//!
//! The lock, not the pid inside, is what counts: the kernel drops it when the daemon dies,
//! so a stale pidfile never blocks a restart.

use std::io::Write;
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
    guard: twg_common::lock::LockGuard,
}

impl PidFile {
    /// Claims the pidfile or reports who holds it.
    pub fn claim(path: &Path) -> Result<Self, PidError> {
        let io = |source| PidError::Io {
            path: path.to_path_buf(),
            source,
        };
        let guard = match twg_common::lock::try_lock(path) {
            Ok(Some(g)) => g,
            Ok(None) => {
                let pid = std::fs::read_to_string(path)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                return Err(PidError::AlreadyRunning {
                    pid,
                    path: path.to_path_buf(),
                });
            }
            Err(twg_common::lock::LockError::Open { source, .. })
            | Err(twg_common::lock::LockError::Lock { source, .. }) => return Err(io(source)),
            Err(e) => return Err(io(std::io::Error::other(e.to_string()))),
        };
        // Write through a second handle: the lock lives on the guard's descriptor.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        writeln!(f, "{}", std::process::id()).map_err(io)?;
        Ok(Self { guard })
    }

    pub fn path(&self) -> &Path {
        self.guard.path()
    }
}
