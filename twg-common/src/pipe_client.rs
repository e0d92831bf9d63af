//! Windows client side of the daemon's named pipe: find it, wait out busy moments within
//! the connect deadline, and prove that the process serving it runs as this user before a
//! single byte is written.
//!
//! Open errors are classified, never lumped into "not running": only
//! `ERROR_FILE_NOT_FOUND` means no twgd; `ERROR_PIPE_BUSY` past the deadline means twgd is
//! there but not answering (a client must not then refresh behind its back as if it were
//! absent); `ERROR_ACCESS_DENIED` means the name belongs to someone the pipe's DACL does
//! not admit us to, i.e. another user.

use crate::rpc::{Client, ConnectError, endpoint, pb};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

const ERROR_FILE_NOT_FOUND: i32 = 2;
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_PIPE_BUSY: i32 = 231;

/// `\\.\pipe\twg-<user SID>-<hash of the socket path>`.
///
/// Pipe names are one namespace for every user of the machine, so the name carries the
/// user's SID: two users never want the same pipe, and a name is plainly one user's.
/// That does not stop another user from creating it first (any name can be computed or
/// listed); what stops a squatter is twgd's `first_pipe_instance` (it refuses to start
/// beside one) and the client's check of the serving process's user ([`open_trusted`]).
pub fn pipe_name(socket: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let sid = crate::win::current_user()?.to_string_sid()?;
    let digest = sha2::Sha256::digest(socket.to_string_lossy().as_bytes());
    Ok(format!(r"\\.\pipe\twg-{sid}-{}", hex::encode(&digest[..8])))
}

/// Connects to the daemon's pipe for `socket`, verified to be served by this user.
pub async fn connect(socket: &Path, timeout: Duration) -> Result<Client, ConnectError> {
    use hyper_util::rt::TokioIo;
    use std::sync::{Arc, Mutex};
    let name = pipe_name(socket).map_err(|source| ConnectError::Io {
        socket: socket.into(),
        source,
    })?;
    let first = open_trusted(socket, &name, timeout).await?;
    let first = Arc::new(Mutex::new(Some(first)));
    let socket_path = socket.to_path_buf();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let first = first.clone();
        let name = name.clone();
        let socket = socket_path.clone();
        async move {
            let ready = first.lock().map(|mut g| g.take()).unwrap_or(None);
            let pipe = match ready {
                Some(p) => p,
                None => open_trusted(&socket, &name, timeout)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
            };
            Ok::<_, std::io::Error>(TokioIo::new(pipe))
        }
    });
    let channel = endpoint(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|e| ConnectError::Transport(crate::oauth::error::chain(&e)))?;
    Ok(pb::twg_daemon_client::TwgDaemonClient::new(channel))
}

/// Opens the pipe, retrying while every instance is busy until `timeout`, then checks
/// who serves it.
pub async fn open_trusted(
    socket: &Path,
    name: &str,
    timeout: Duration,
) -> Result<NamedPipeClient, ConnectError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    let pipe = loop {
        match ClientOptions::new().open(name) {
            Ok(p) => break p,
            Err(e) => match e.raw_os_error() {
                Some(ERROR_PIPE_BUSY) if Instant::now() < deadline => {
                    tokio::time::sleep(pause.min(deadline - Instant::now())).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Some(ERROR_PIPE_BUSY) => {
                    return Err(ConnectError::Busy {
                        socket: socket.into(),
                        waited: timeout,
                    });
                }
                Some(ERROR_FILE_NOT_FOUND) => {
                    return Err(ConnectError::NotRunning {
                        socket: socket.into(),
                    });
                }
                Some(ERROR_ACCESS_DENIED) => {
                    return Err(ConnectError::Untrusted {
                        socket: socket.into(),
                        reason: format!(
                            "its pipe {name} exists but does not admit you, so another user's process owns the name"
                        ),
                    });
                }
                _ => {
                    return Err(ConnectError::Io {
                        socket: socket.into(),
                        source: e,
                    });
                }
            },
        }
    };
    check_server(socket, &pipe)?;
    Ok(pipe)
}

/// The process serving `pipe` (a client handle) must run as this user (compared with
/// `EqualSid`). The one check of the full CLI's connect and of the front's quick call.
pub(crate) fn check_server(
    socket: &Path,
    pipe: &impl std::os::windows::io::AsRawHandle,
) -> Result<(), ConnectError> {
    let untrusted = |reason: String| ConnectError::Untrusted {
        socket: socket.into(),
        reason,
    };
    let me = crate::win::current_user()
        .map_err(|e| untrusted(format!("cannot read your own user SID ({e})")))?;
    let pid = crate::win::pipe_server_pid(pipe)
        .map_err(|e| untrusted(format!("cannot learn which process serves its pipe ({e})")))?;
    let owner = crate::win::process_user(pid).map_err(|e| {
        untrusted(format!(
            "cannot read the user of the process serving its pipe (pid {pid}): {e}"
        ))
    })?;
    if !owner.same_as(&me) {
        return Err(untrusted(format!(
            "the process serving its pipe (pid {pid}) runs as {owner:?}, not as you ({me:?})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::windows::named_pipe::ServerOptions;

    fn unique_name() -> String {
        format!(
            r"\\.\pipe\twg-test-{}-{}",
            std::process::id(),
            getrandom_u64()
        )
    }

    fn getrandom_u64() -> u64 {
        let mut b = [0u8; 8];
        getrandom::getrandom(&mut b).unwrap();
        u64::from_le_bytes(b)
    }

    #[test]
    fn the_pipe_name_carries_the_user_sid() {
        let name = pipe_name(Path::new(r"C:\t\twgd.sock")).unwrap();
        let sid = crate::win::current_user().unwrap().to_string_sid().unwrap();
        assert!(name.starts_with(&format!(r"\\.\pipe\twg-{sid}-")), "{name}");
        assert_ne!(name, pipe_name(Path::new(r"C:\u\twgd.sock")).unwrap());
    }

    #[tokio::test]
    async fn a_missing_pipe_is_not_running() {
        let e = open_trusted(Path::new("s"), &unique_name(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(e, ConnectError::NotRunning { .. }), "{e:?}");
    }

    /// A pipe whose only instance is taken: the client waits, and gets in once the server
    /// offers a new instance within the deadline.
    #[tokio::test]
    async fn a_busy_pipe_is_retried_within_the_deadline() {
        let name = unique_name();
        let first = ServerOptions::new()
            .first_pipe_instance(true)
            .create(&name)
            .unwrap();
        let _taken = ClientOptions::new().open(&name).unwrap();
        first.connect().await.unwrap();
        // A listening instance is all a client needs to open the pipe.
        let late = {
            let name = name.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                ServerOptions::new().create(&name).unwrap()
            }
        };
        let started = Instant::now();
        let (client, _server) = tokio::join!(
            open_trusted(Path::new("s"), &name, Duration::from_secs(5)),
            late
        );
        client.expect("the retry gets the new instance");
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    /// Busy past the deadline is "not responding", never "not running".
    #[tokio::test]
    async fn a_pipe_busy_past_the_deadline_is_busy_not_absent() {
        let name = unique_name();
        let first = ServerOptions::new()
            .first_pipe_instance(true)
            .max_instances(1)
            .create(&name)
            .unwrap();
        let _taken = ClientOptions::new().open(&name).unwrap();
        first.connect().await.unwrap();
        let e = open_trusted(Path::new("s"), &name, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, ConnectError::Busy { .. }), "{e:?}");
        assert!(!matches!(e, ConnectError::NotRunning { .. }));
    }

    /// Our own server passes the owner check (the same code refuses another user's).
    #[tokio::test]
    async fn a_pipe_served_by_this_user_is_trusted() {
        let name = unique_name();
        let server = ServerOptions::new()
            .first_pipe_instance(true)
            .create(&name)
            .unwrap();
        let client = open_trusted(Path::new("s"), &name, Duration::from_secs(1))
            .await
            .unwrap();
        server.connect().await.unwrap();
        assert_eq!(
            crate::win::pipe_server_pid(&client).unwrap(),
            std::process::id()
        );
    }
}
