//! The wire protocol (generated from `proto/twg/v1/daemon.proto`) and the client connector.

#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("twg.v1");
}

#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// Bumped on any incompatible protocol change. Client and daemon must agree.
pub const PROTOCOL_VERSION: u32 = 1;

/// The client's identity for a request.
pub fn client_info(agent: Option<&str>) -> pb::ClientInfo {
    pb::ClientInfo {
        protocol_version: PROTOCOL_VERSION,
        client_version: env!("CARGO_PKG_VERSION").to_string(),
        agent: agent.unwrap_or_default().to_string(),
    }
}

/// Why the daemon could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("twgd is not running (no socket at {socket})")]
    NotRunning { socket: PathBuf },
    #[error("twgd is not running (stale socket at {socket})")]
    Stale { socket: PathBuf },
    #[error("permission denied on {socket}; it belongs to another user")]
    PermissionDenied { socket: PathBuf },
    #[error("cannot connect to twgd at {socket}: {source}")]
    Io {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("twgd at {socket} did not answer the connection in time")]
    Timeout { socket: PathBuf },
    /// Windows: the pipe exists but every instance stayed taken past the deadline. twgd is
    /// there (so this is never "not running"), just not answering.
    #[error(
        "twgd's pipe for {socket} stayed busy for {waited:?}; twgd may be hung. Retry, or restart it with \
         `twg daemon stop` and `twg daemon start`"
    )]
    Busy { socket: PathBuf, waited: Duration },
    /// The socket or its directory is not exclusively the user's, or the process behind it
    /// runs as someone else: nothing is sent to it.
    #[error(
        "refusing to use the twgd socket {socket}: {reason}. Another user may be trying to intercept your \
         tokens; nothing was sent. Remove it if it is yours, or point XDG_RUNTIME_DIR or TWG_SOCKET at a \
         directory only you can write"
    )]
    Untrusted { socket: PathBuf, reason: String },
    #[error("cannot set up the connection to twgd: {0}")]
    Transport(String),
}

impl ConnectError {
    /// True when the socket file exists but nobody listens (safe to remove under the pid lock).
    pub fn is_stale(&self) -> bool {
        matches!(self, ConnectError::Stale { .. })
    }

    /// True when a twgd is there but does not answer: a caller must not start another one
    /// or report it as not running.
    pub fn is_not_responding(&self) -> bool {
        matches!(self, ConnectError::Busy { .. })
    }
}

pub type Client = pb::twg_daemon_client::TwgDaemonClient<tonic::transport::Channel>;

/// The longest any call may take before the daemon counts as not responding. Calls that
/// may refresh (behind the credential lock and the network) need this much; a stopped or
/// hung daemon is caught much sooner by the HTTP/2 keep-alive below.
pub const CALL_DEADLINE: Duration = Duration::from_secs(90);
/// Deadline for calls that never wait on the network (`Status`).
pub const QUICK_DEADLINE: Duration = Duration::from_secs(5);
/// A daemon that does not answer a ping within this is not responding (SIGSTOP, a hang).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The channel settings every client connection uses: a call deadline and keep-alive pings
/// that fail the call when the daemon stops answering.
pub(crate) fn endpoint(timeout: Duration) -> tonic::transport::Endpoint {
    tonic::transport::Endpoint::from_static("http://twgd.local")
        .connect_timeout(timeout)
        .timeout(CALL_DEADLINE)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
}

/// Connects to the daemon's socket. The socket is connected first, by hand, so the error
/// says precisely what is wrong (missing, stale, not ours) instead of a generic transport
/// error, and nothing is sent before the socket is proven to be the user's own.
#[cfg(unix)]
pub async fn connect(socket: &Path, timeout: Duration) -> Result<Client, ConnectError> {
    use hyper_util::rt::TokioIo;
    use std::sync::{Arc, Mutex};

    check_socket_path(socket)?;
    let first = match tokio::time::timeout(timeout, connect_trusted(socket)).await {
        Err(_) => {
            return Err(ConnectError::Timeout {
                socket: socket.into(),
            });
        }
        Ok(r) => r?,
    };
    let first = Arc::new(Mutex::new(Some(first)));
    let path = socket.to_path_buf();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let first = first.clone();
        let path = path.clone();
        async move {
            let ready = first.lock().map(|mut g| g.take()).unwrap_or(None);
            let stream = match ready {
                Some(s) => s,
                None => connect_trusted(&path)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
            };
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let channel = endpoint(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|e| ConnectError::Transport(crate::oauth::error::chain(&e)))?;
    Ok(pb::twg_daemon_client::TwgDaemonClient::new(channel))
}

/// Connects and checks that the process on the other end runs as this user. Call
/// [`check_socket_path`] first (as [`connect`] does).
#[cfg(unix)]
async fn connect_trusted(socket: &Path) -> Result<tokio::net::UnixStream, ConnectError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| classify(socket, e))?;
    check_peer(socket, stream.peer_cred().map(|c| (c.uid(), c.pid())))?;
    Ok(stream)
}

/// The process serving `socket` must run as this user: `peer` is its uid (and pid, where
/// known) as the kernel recorded them at connect, or why they could not be read. The one
/// check of the full CLI's connect and of the front's quick call.
#[cfg(unix)]
pub(crate) fn check_peer(
    socket: &Path,
    peer: std::io::Result<(u32, Option<i32>)>,
) -> Result<(), ConnectError> {
    let untrusted = |reason: String| ConnectError::Untrusted {
        socket: socket.into(),
        reason,
    };
    let (uid, pid) =
        peer.map_err(|e| untrusted(format!("cannot read the peer's credentials ({e})")))?;
    let me = rustix::process::geteuid().as_raw();
    if uid != me {
        return Err(untrusted(format!(
            "the process serving it runs as uid {uid}{}, not as you (uid {me})",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        )));
    }
    Ok(())
}

/// The socket's directory must be the user's and writable by nobody else (so nobody else
/// can have put the socket there), and the socket itself the user's.
#[cfg(unix)]
pub fn check_socket_path(socket: &Path) -> Result<(), ConnectError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let untrusted = |reason: String| ConnectError::Untrusted {
        socket: socket.into(),
        reason,
    };
    let dir = crate::atomic::parent_dir(socket);
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConnectError::NotRunning {
                socket: socket.into(),
            });
        }
        Err(e) => return Err(classify(socket, e)),
    };
    if meta.uid() != me {
        return Err(untrusted(format!(
            "its directory {} belongs to uid {}, not to you (uid {me})",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(format!(
            "its directory {} is writable by other users (mode {:o})",
            dir.display(),
            meta.mode() & 0o7777
        )));
    }
    match std::fs::symlink_metadata(socket) {
        Ok(m) if m.uid() != me => Err(untrusted(format!(
            "it belongs to uid {}, not to you (uid {me})",
            m.uid()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConnectError::NotRunning {
            socket: socket.into(),
        }),
        Err(e) => Err(classify(socket, e)),
    }
}

#[cfg(unix)]
fn classify(socket: &Path, e: std::io::Error) -> ConnectError {
    use std::io::ErrorKind;
    let socket = socket.to_path_buf();
    match e.kind() {
        ErrorKind::NotFound => ConnectError::NotRunning { socket },
        ErrorKind::ConnectionRefused => ConnectError::Stale { socket },
        ErrorKind::PermissionDenied => ConnectError::PermissionDenied { socket },
        _ => ConnectError::Io { socket, source: e },
    }
}

/// Windows: the daemon listens on a named pipe named after the "socket path".
#[cfg(windows)]
pub use crate::pipe_client::{connect, pipe_name};
