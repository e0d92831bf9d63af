//! Windows transport: a named pipe that rejects remote clients. The pipe's default DACL
//! grants write access only to its creator, LocalSystem and administrators, so other users
//! cannot talk to the daemon (the equivalent of the 0600 socket on Unix).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

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

/// Accepted connections, one pipe instance each. The first instance is created with
/// `first_pipe_instance`, so a second daemon (or an impostor) cannot own the name.
pub fn incoming(name: String) -> impl futures_util::Stream<Item = io::Result<Conn>> {
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .reject_remote_clients(true)
        .create(&name);
    futures_util::stream::unfold((Some(first), name), |(next, name)| async move {
        let server = match next {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Some((Err(e), (None, name))),
            None => match ServerOptions::new()
                .reject_remote_clients(true)
                .create(&name)
            {
                Ok(s) => s,
                Err(e) => return Some((Err(e), (None, name))),
            },
        };
        match server.connect().await {
            Ok(()) => Some((Ok(Conn(server)), (None, name))),
            Err(e) => Some((Err(e), (None, name))),
        }
    })
}
