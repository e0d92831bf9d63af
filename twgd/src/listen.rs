//! Binding the daemon socket: a 0700 directory we own, a 0600 socket, and a stale socket
//! removed only when connecting to it is refused (and only while we hold the pidfile).

use std::path::{Path, PathBuf};

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(transparent)]
    Dir(#[from] twg_common::paths::PathError),
    #[error("another twgd answers on {0}; stop it first with `twg daemon stop`")]
    InUse(PathBuf),
    #[error("cannot remove the stale socket {path}: {source}")]
    RemoveStale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Prepares the directory and binds. Call with the pidfile held.
#[cfg(unix)]
pub fn bind(socket: &Path) -> Result<tokio::net::UnixListener, ListenError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = twg_common::atomic::parent_dir(socket);
    twg_common::paths::ensure_private_dir(dir)?;
    if std::fs::symlink_metadata(socket).is_ok() {
        match std::os::unix::net::UnixStream::connect(socket) {
            Ok(_) => return Err(ListenError::InUse(socket.to_path_buf())),
            // Only a refused connection proves nobody listens. Any other failure (a busy
            // backlog, a permission problem) may hide a live daemon whose socket we must
            // not pull away; binding then fails with EADDRINUSE and says so.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(socket).map_err(|source| ListenError::RemoveStale {
                    path: socket.to_path_buf(),
                    source,
                })?;
            }
            Err(_) => {}
        }
    }
    let bind_err = |source| ListenError::Bind {
        path: socket.to_path_buf(),
        source,
    };
    let listener = tokio::net::UnixListener::bind(socket).map_err(bind_err)?;
    // The umask already made it 0600; set it explicitly in case we run under a looser one.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

/// Removes the socket file on shutdown (a named pipe on Windows leaves nothing behind).
pub fn remove_socket(socket: &Path) {
    let _ = std::fs::remove_file(socket);
}

/// The file's identity (device, inode), taken right after binding.
#[cfg(unix)]
pub fn identity(socket: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(socket)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Removes the socket on shutdown only if it is still the file this twgd bound (`bound`
/// from [`identity`]): a service manager that started listening on the same path meanwhile
/// replaced it, and its socket must survive this twgd. `None` (socket activation) removes
/// nothing.
#[cfg(unix)]
pub fn remove_own_socket(socket: &Path, bound: Option<(u64, u64)>) {
    if bound.is_some() && identity(socket) == bound {
        remove_socket(socket);
    }
}
