//! The cross-process exclusive lock that serialises every credential write.
//!
//! It is an advisory `flock` on `auth.conf.lock` beside `auth.conf` (fs4). The kernel
//! releases it when the holder dies, even by SIGKILL, so a crash never wedges other processes.

use crate::platform::Platform;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a credential write waits for another process's refresh (the lock on
/// `auth.conf.lock`) before giving up with "busy, retry".
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(45);

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "timed out after {waited:?} waiting for the lock {path}; another twg process holds it. Retry, or {}",
        find_holder(Platform::CURRENT, path)
    )]
    Timeout { path: PathBuf, waited: Duration },
}

/// How to find the process that holds the lock file, with the tool of `platform`.
fn find_holder(platform: Platform, path: &Path) -> String {
    match platform {
        Platform::Linux => format!("find it with `fuser {}`", path.display()),
        Platform::MacOs => format!("find it with `lsof {}`", path.display()),
        // Windows has no such command-line tool; Resource Monitor searches open handles.
        Platform::Windows => format!(
            "find it in Resource Monitor (CPU tab, Associated Handles, search for {}) and end it",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    }
}

/// Holds the exclusive lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked file, for writing through the handle that holds the lock.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|source| LockError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Tries once; `Ok(None)` when another process holds the lock.
pub fn try_lock(path: &Path) -> Result<Option<LockGuard>, LockError> {
    let file = open_lock_file(path)?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(Some(LockGuard {
            file,
            path: path.to_path_buf(),
        })),
        Err(fs4::TryLockError::WouldBlock) => Ok(None),
        Err(fs4::TryLockError::Error(source)) => Err(LockError::Lock {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// One step of waiting for the lock: the guard, or how long to pause before trying again.
struct Attempt {
    start: Instant,
    pause: Duration,
    timeout: Duration,
}

impl Attempt {
    fn new(timeout: Duration) -> Self {
        Self {
            start: Instant::now(),
            pause: Duration::from_millis(2),
            timeout,
        }
    }

    /// `Ok(Ok(guard))` when taken, `Ok(Err(pause))` to try again after `pause`.
    fn next(&mut self, path: &Path) -> Result<Result<LockGuard, Duration>, LockError> {
        if let Some(guard) = try_lock(path)? {
            return Ok(Ok(guard));
        }
        if self.start.elapsed() >= self.timeout {
            return Err(LockError::Timeout {
                path: path.to_path_buf(),
                waited: self.start.elapsed(),
            });
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Duration::from_millis(50));
        Ok(Err(pause))
    }
}

/// Waits up to `timeout` for the lock, polling without blocking the async runtime.
pub async fn lock(path: &Path, timeout: Duration) -> Result<LockGuard, LockError> {
    let mut attempt = Attempt::new(timeout);
    loop {
        match attempt.next(path)? {
            Ok(guard) => return Ok(guard),
            Err(pause) => tokio::time::sleep(pause).await,
        }
    }
}

/// Blocking variant for synchronous callers.
pub fn lock_blocking(path: &Path, timeout: Duration) -> Result<LockGuard, LockError> {
    let mut attempt = Attempt::new(timeout);
    loop {
        match attempt.next(path)? {
            Ok(guard) => return Ok(guard),
            Err(pause) => std::thread::sleep(pause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = try_lock(&path).unwrap().expect("first lock");
        assert!(try_lock(&path).unwrap().is_none());
        let err = lock_blocking(&path, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }));
        drop(first);
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[test]
    fn timeout_names_the_tool_of_the_platform() {
        let path = Path::new("/home/u/.config/twg/auth.conf.lock");
        assert_eq!(
            find_holder(Platform::Linux, path),
            "find it with `fuser /home/u/.config/twg/auth.conf.lock`"
        );
        assert_eq!(
            find_holder(Platform::MacOs, path),
            "find it with `lsof /home/u/.config/twg/auth.conf.lock`"
        );
        assert_eq!(
            find_holder(
                Platform::Windows,
                // Forward slashes: a separator on every platform the test runs on.
                Path::new("C:/Users/u/AppData/Roaming/twg/auth.conf.lock")
            ),
            "find it in Resource Monitor (CPU tab, Associated Handles, search for auth.conf.lock) and end it"
        );
        let err = LockError::Timeout {
            path: path.to_path_buf(),
            waited: Duration::from_secs(45),
        };
        assert_eq!(
            err.to_string(),
            format!(
                "timed out after 45s waiting for the lock {}; another twg process holds it. Retry, or {}",
                path.display(),
                find_holder(Platform::CURRENT, path)
            )
        );
    }
}
