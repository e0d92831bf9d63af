//! The wire protocol (generated from `proto/twg/v1/daemon.proto`) and the client connector.

#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("twg.v1");
}

use std::path::{Path, PathBuf};
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
    #[error("cannot set up the connection to twgd: {0}")]
    Transport(String),
}

impl ConnectError {
    /// True when the socket file exists but nobody listens (safe to remove under the pid lock).
    pub fn is_stale(&self) -> bool {
        matches!(self, ConnectError::Stale { .. })
    }
}

pub type Client = pb::twg_daemon_client::TwgDaemonClient<tonic::transport::Channel>;

/// Connects to the daemon's socket. The socket is connected first, by hand, so the error
/// says precisely what is wrong (missing, stale, not ours) instead of a generic transport error.
#[cfg(unix)]
pub async fn connect(socket: &Path, timeout: Duration) -> Result<Client, ConnectError> {
    use hyper_util::rt::TokioIo;
    use std::sync::{Arc, Mutex};
    use tokio::net::UnixStream;

    let first = match tokio::time::timeout(timeout, UnixStream::connect(socket)).await {
        Err(_) => {
            return Err(ConnectError::Timeout {
                socket: socket.into(),
            });
        }
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(classify(socket, e)),
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
                None => UnixStream::connect(&path).await?,
            };
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://twgd.local")
        .connect_timeout(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|e| ConnectError::Transport(crate::oauth::error::chain(&e)))?;
    Ok(pb::twg_daemon_client::TwgDaemonClient::new(channel))
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

/// Windows: the daemon listens on a named pipe whose name is the "socket path".
#[cfg(windows)]
pub async fn connect(socket: &Path, timeout: Duration) -> Result<Client, ConnectError> {
    use hyper_util::rt::TokioIo;
    use tokio::net::windows::named_pipe::ClientOptions;
    let name = pipe_name(socket);
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let name = name.clone();
        async move {
            let pipe = ClientOptions::new().open(&name)?;
            Ok::<_, std::io::Error>(TokioIo::new(pipe))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://twgd.local")
        .connect_timeout(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|_| ConnectError::NotRunning {
            socket: socket.into(),
        })?;
    Ok(pb::twg_daemon_client::TwgDaemonClient::new(channel))
}

/// `\\.\pipe\twg-<user>-<path hash>` for a socket path on Windows.
#[cfg(windows)]
pub fn pipe_name(socket: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(socket.to_string_lossy().as_bytes());
    format!(r"\\.\pipe\twg-{}", hex::encode(&digest[..8]))
}
