//! Windows transport: a named pipe only this user can open, that rejects remote clients and
//! always has one instance listening.
//!
//! - The DACL grants this user (the SID in our process token) everything and nobody else
//!   anything (`D:P(A;;GA;;;<sid>)`), the equivalent of the 0600 socket on Unix; the default
//!   DACL would also let LocalSystem, administrators and, for reads, Everyone in.
//! - The first instance is created with `first_pipe_instance`, so if another process
//!   (another user squatting the name) already owns it, twgd refuses to start instead of
//!   serving beside it. Clients check the serving process's user too (`twg_common::rpc`).
//! - The next instance is created *before* the connected one is handed to the server
//!   (tokio's documented pattern): between two connections there is never a moment with no
//!   instance, when clients would get `ERROR_FILE_NOT_FOUND` ("not running") or
//!   `ERROR_PIPE_BUSY`.
//!
//! The only unsafe call is tokio's `create_with_security_attributes_raw`.
#![allow(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use twg_common::win::OwnerOnly;

/// One accepted pipe connection.
#[derive(Debug)]
pub struct Conn(NamedPipeServer);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The pipe, with its first instance created and listening.
#[derive(Debug)]
pub struct Listener {
    name: String,
    security: Arc<OwnerOnly>,
    first: NamedPipeServer,
}

/// Why the pipe could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot build the pipe's security descriptor from your user SID: {0}")]
    Security(io::Error),
    #[error(
        "the pipe {name} already exists: another twgd, or another user's process, owns the name ({source}); \
         stop the other twgd with `twg daemon stop`, or find the process holding the pipe"
    )]
    Taken { name: String, source: io::Error },
    #[error("cannot create the pipe {name}: {source}")]
    Create { name: String, source: io::Error },
}

/// Creates the first instance (which fails if anyone else already owns the name).
pub fn bind(name: &str) -> Result<Listener, BindError> {
    let security = Arc::new(OwnerOnly::current_user().map_err(BindError::Security)?);
    let first = create(name, &security, true).map_err(|source| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            BindError::Taken {
                name: name.into(),
                source,
            }
        } else {
            BindError::Create {
                name: name.into(),
                source,
            }
        }
    })?;
    Ok(Listener {
        name: name.to_string(),
        security,
        first,
    })
}

fn create(name: &str, security: &OwnerOnly, first: bool) -> io::Result<NamedPipeServer> {
    let mut opts = ServerOptions::new();
    opts.first_pipe_instance(first).reject_remote_clients(true);
    // SAFETY: `security.attributes()` points at a SECURITY_ATTRIBUTES (and the descriptor
    // it names) owned by `security`, which outlives this call; CreateNamedPipeW only reads
    // it during the call.
    unsafe { opts.create_with_security_attributes_raw(name, security.attributes()) }
}

/// How long to wait before retrying when a new instance cannot be created (out of handles).
const RETRY: Duration = Duration::from_millis(100);

impl Listener {
    /// Accepted connections, one pipe instance each.
    pub fn incoming(self) -> impl futures_util::Stream<Item = io::Result<Conn>> {
        let Listener {
            name,
            security,
            first,
        } = self;
        futures_util::stream::unfold(
            (Some(first), name, security),
            |(listening, name, security)| async move {
                let server = match listening {
                    Some(s) => s,
                    None => match create(&name, &security, false) {
                        Ok(s) => s,
                        Err(e) => {
                            tokio::time::sleep(RETRY).await;
                            return Some((Err(e), (None, name, security)));
                        }
                    },
                };
                if let Err(e) = server.connect().await {
                    // This instance is spent (the client left); its replacement listens
                    // before the error is reported.
                    let next = create(&name, &security, false).ok();
                    return Some((Err(e), (next, name, security)));
                }
                // The next instance listens before this one is served.
                let next = create(&name, &security, false).ok();
                Some((Ok(Conn(server)), (next, name, security)))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::windows::named_pipe::ClientOptions;

    fn unique_name() -> String {
        format!(
            r"\\.\pipe\twg-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        )
    }

    /// While the first client is connected and not yet served, a second client can open
    /// the pipe at once: the next instance was created before the first was handed out.
    #[tokio::test]
    async fn an_instance_is_always_listening() {
        let name = unique_name();
        let mut incoming = Box::pin(bind(&name).unwrap().incoming());
        let _a = ClientOptions::new().open(&name).unwrap();
        let served = incoming.next().await.unwrap().unwrap();
        // Without waiting on the stream again: the second instance must already exist.
        let mut b = ClientOptions::new().open(&name).unwrap();
        let mut second = incoming.next().await.unwrap().unwrap();
        b.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        second.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        served.0.disconnect().unwrap();
    }

    /// The pipe's DACL has exactly one entry: full access for the user in our token.
    #[tokio::test]
    async fn only_this_user_may_open_the_pipe() {
        let name = unique_name();
        let listener = bind(&name).unwrap();
        let sid = twg_common::win::current_user()
            .unwrap()
            .to_string_sid()
            .unwrap();
        let dacl = twg_common::win::dacl_sddl(&listener.first).unwrap();
        // Windows stores GENERIC_ALL mapped to the pipe's own rights (FA); either way one
        // allow entry, for us, protected from inheritance.
        assert!(
            dacl == format!("D:P(A;;FA;;;{sid})") || dacl == format!("D:P(A;;GA;;;{sid})"),
            "{dacl}"
        );
    }

    /// Wine 8.0 ignores `FILE_FLAG_FIRST_PIPE_INSTANCE` (a second first instance is
    /// created), so this runs on real Windows only: `cargo test -- --ignored`.
    #[tokio::test]
    #[ignore = "Wine 8.0 ignores FILE_FLAG_FIRST_PIPE_INSTANCE; run on Windows with --ignored"]
    async fn a_second_server_cannot_take_the_name() {
        let name = unique_name();
        let _held = bind(&name).unwrap();
        match bind(&name) {
            Err(BindError::Taken { .. }) => {}
            other => panic!("second bind: {other:?}"),
        }
    }
}
