//! A TCP listener whose connections a handler can cut without answering, for the
//! `drop_after_rotate` fault: the client must see a dead connection, not an error response.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug)]
pub struct DroppableListener {
    inner: TcpListener,
}

impl DroppableListener {
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for DroppableListener {
    type Io = DroppableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((inner, addr)) => {
                    let stream = DroppableStream {
                        inner,
                        handle: ConnHandle::default(),
                    };
                    return (stream, addr);
                }
                Err(err) => {
                    // Usually EMFILE: serving must go on, but spinning on the error would not help.
                    tracing::warn!(error = %err, "accept failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Handed to handlers through `ConnectInfo`; dropping makes every later I/O on the socket fail,
/// so hyper abandons the connection before writing a byte of the response.
#[derive(Debug, Clone, Default)]
pub struct ConnHandle {
    dropped: Arc<AtomicBool>,
}

impl ConnHandle {
    pub fn drop_connection(&self) {
        self.dropped.store(true, Ordering::SeqCst);
    }

    fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, DroppableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, DroppableListener>) -> Self {
        stream.io().handle.clone()
    }
}

#[derive(Debug)]
pub struct DroppableStream {
    inner: TcpStream,
    handle: ConnHandle,
}

fn dropped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped on purpose by an injected fault",
    )
}

impl AsyncRead for DroppableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.handle.is_dropped() {
            return Poll::Ready(Err(dropped_error()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handle.is_dropped() {
            return Poll::Ready(Err(dropped_error()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handle.is_dropped() {
            return Poll::Ready(Err(dropped_error()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.handle.is_dropped() {
            return Poll::Ready(Err(dropped_error()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
