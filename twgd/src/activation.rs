//! systemd socket activation and readiness: the listening socket the service manager passes
//! (`LISTEN_FDS`/`LISTEN_PID`), checked to be the one twgd would bind itself, and the
//! `READY=1`/`STOPPING=1` notifications of `Type=notify`.
//!
//! The socket belongs to the service manager: it created the file and keeps listening while
//! twgd is down (queued connections start the next twgd), so twgd never unlinks it.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// Why the socket the service manager passed cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(
        "the service manager passed {count} sockets, twgd serves exactly one; give twgd.socket a single \
         ListenStream= line (run `twg upkeep enable` again to rewrite the units)"
    )]
    Count { count: usize },
    #[error(
        "the socket the service manager passed is not a Unix stream socket ({source}); twgd.socket needs \
         ListenStream=<path> (run `twg upkeep enable` again to rewrite the units)"
    )]
    NotUnixStream { source: std::io::Error },
    #[error(
        "the socket the service manager passed is not listening; twgd.socket must not set Accept=yes \
         (run `twg upkeep enable` again to rewrite the units)"
    )]
    NotListening,
    #[error(
        "the socket the service manager passed has no file path ({detail}); twgd.socket needs \
         ListenStream=<path> (run `twg upkeep enable` again to rewrite the units)"
    )]
    NoPath { detail: String },
    #[error(
        "the service manager passed the socket {passed}, but twgd serves {expected} (from --socket, \
         TWG_SOCKET or XDG_RUNTIME_DIR), where twg looks for it; make ListenStream= in twgd.socket and \
         TWG_SOCKET in twgd.service name the same path (`twg upkeep enable` writes both)"
    )]
    WrongPath { passed: PathBuf, expected: PathBuf },
}

/// A listening socket received from the service manager, not yet matched to a path.
#[derive(Debug)]
pub struct Passed {
    listener: UnixListener,
    path: PathBuf,
}

/// Takes the socket passed by the service manager, if any, and removes `LISTEN_PID` and
/// `LISTEN_FDS` from the environment so no child believes it was activated. Call before any
/// thread exists (the environment is not thread-safe).
pub fn take() -> Result<Option<Passed>, ActivationError> {
    // sd_listen_fds(3) takes the descriptors only when LISTEN_PID names this process;
    // listenfd also accepts a missing LISTEN_PID, which a stray inherited LISTEN_FDS has.
    let pid = std::env::var("LISTEN_PID").ok();
    if pid.and_then(|p| p.trim().parse::<u32>().ok()) != Some(std::process::id()) {
        return Ok(None);
    }
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => return Ok(None),
        1 => {}
        count => return Err(ActivationError::Count { count }),
    }
    let listener = match fds.take_unix_listener(0) {
        Ok(Some(l)) => l,
        Ok(None) => return Ok(None),
        Err(source) => return Err(ActivationError::NotUnixStream { source }),
    };
    check_listening(&listener)?;
    let path = match listener.local_addr() {
        Ok(addr) => match addr.as_pathname() {
            Some(p) => p.to_path_buf(),
            None => {
                return Err(ActivationError::NoPath {
                    detail: "an abstract or unnamed address".into(),
                });
            }
        },
        Err(e) => {
            return Err(ActivationError::NoPath {
                detail: e.to_string(),
            });
        }
    };
    Ok(Some(Passed { listener, path }))
}

/// `SOCK_STREAM` and `SO_ACCEPTCONN`: a connected socket (`Accept=yes`) or a datagram
/// socket would make tonic fail on its first accept, long after start-up said "ready".
fn check_listening(listener: &UnixListener) -> Result<(), ActivationError> {
    use rustix::net::{SocketType, sockopt};
    match sockopt::socket_type(listener) {
        Ok(SocketType::STREAM) => {}
        Ok(other) => {
            return Err(ActivationError::NotUnixStream {
                source: std::io::Error::other(format!("socket type {other:?}")),
            });
        }
        Err(e) => {
            return Err(ActivationError::NotUnixStream {
                source: std::io::Error::from(e),
            });
        }
    }
    match is_listening(listener) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ActivationError::NotListening),
        Err(e) => Err(ActivationError::NotUnixStream {
            source: std::io::Error::from(e),
        }),
    }
}

#[cfg(not(target_vendor = "apple"))]
fn is_listening(listener: &UnixListener) -> rustix::io::Result<bool> {
    rustix::net::sockopt::socket_acceptconn(listener)
}

/// Apple declares `SO_ACCEPTCONN` but does not implement it. Nothing is lost: launchd hands
/// sockets over through `launch_activate_socket`, never `LISTEN_FDS`, so on macOS only a
/// hand-made environment reaches this, and tonic's first accept reports a wrong socket.
#[cfg(target_vendor = "apple")]
fn is_listening(_listener: &UnixListener) -> rustix::io::Result<bool> {
    Ok(true)
}

impl Passed {
    /// The listener, once its path is the one clients look for: a twgd serving another path
    /// would be unreachable for `twg`, and its pidfile would not guard the real socket.
    pub fn into_listener(self, expected: &Path) -> Result<UnixListener, ActivationError> {
        if !same_socket_path(&self.path, expected) {
            return Err(ActivationError::WrongPath {
                passed: self.path,
                expected: expected.to_path_buf(),
            });
        }
        Ok(self.listener)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Equal paths, or the same file name in the same directory reached through a symlink
/// (`/run/user/1000` against a symlinked `XDG_RUNTIME_DIR`).
fn same_socket_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let dir = |p: &Path| std::fs::canonicalize(twg_common::atomic::parent_dir(p)).ok();
    a.file_name() == b.file_name() && dir(a).is_some() && dir(a) == dir(b)
}

/// Tells the service manager twgd serves (`Type=notify`); a no-op without `NOTIFY_SOCKET`.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot tell the service manager that twgd is ready");
    }
}

/// Tells the service manager twgd is shutting down (its last save may take a moment).
pub fn notify_stopping() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Stopping]) {
        tracing::warn!(error = %e, "cannot tell the service manager that twgd is stopping");
    }
}
