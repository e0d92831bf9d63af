//! twgd's side of the quick protocol (`twg_common::quick`): the front `twg`'s one GetToken,
//! without HTTP/2, on the main socket (the named pipe on Windows) beside gRPC.
//!
//! [`split`] reads each accepted connection's first four bytes. A quick request is answered
//! here, through the service's own `get_token` (the peer-uid check first, then the same
//! protocol check, refresh gate and audit record as a gRPC call); every other connection
//! goes on to tonic with those four bytes replayed ([`Rewind`]). The bytes are read in the
//! connection's own task, so a client that connects and sends nothing holds up nobody.

use crate::idle::{Activity, Open};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tonic::transport::server::Connected;
use twg_common::quick;
use twg_common::rpc::pb;
use twg_common::rpc::pb::twg_daemon_server::TwgDaemon;

/// What twgd knows of a connection's peer from the accept: whether it may be served, and
/// what the GetToken handler reads of it (the audit's peer).
pub trait PeerInfo: Clone + Send + Sync + 'static {
    /// Our own user may call; anyone else is refused.
    fn check(&self) -> Result<(), tonic::Status>;
    /// Hands the accept's knowledge to the handler, as tonic does for a gRPC request.
    fn attach<T>(self, request: &mut tonic::Request<T>);
}

#[cfg(unix)]
impl PeerInfo for tonic::transport::server::UdsConnectInfo {
    fn check(&self) -> Result<(), tonic::Status> {
        crate::peer::check_peer(crate::peer::peer_from(self))
    }

    fn attach<T>(self, request: &mut tonic::Request<T>) {
        request.extensions_mut().insert(self);
    }
}

/// A named-pipe connection: the pipe's DACL admits only this user (`crate::pipe`), so
/// whoever connected is this user; tonic learns nothing more of a pipe's peer either.
#[cfg(windows)]
impl PeerInfo for () {
    fn check(&self) -> Result<(), tonic::Status> {
        Ok(())
    }

    fn attach<T>(self, _request: &mut tonic::Request<T>) {}
}

/// How long a connection may take to send its first bytes, a quick request's body, or to
/// take the reply. Real clients send at once; this only bounds a silent or stalled one.
const CLIENT_WAIT: Duration = Duration::from_secs(10);

/// The connections of `accepted` that speak gRPC, each with its first bytes replayed;
/// quick requests among them are answered by `service` along the way. With `activity`, each
/// connection counts as activity for idle exit until it closes. Accept errors are passed on
/// for tonic to judge, as before. Dropping the stream (tonic stopping) stops the accepting.
pub fn split<IO, S>(
    accepted: impl Stream<Item = std::io::Result<IO>> + Send + 'static,
    service: S,
    activity: Option<Arc<Activity>>,
) -> Incoming<IO>
where
    IO: AsyncRead + AsyncWrite + Connected<ConnectInfo: PeerInfo> + Send + Unpin + 'static,
    S: TwgDaemon + Clone,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let accept = tokio::spawn(async move {
        let mut accepted = std::pin::pin!(accepted);
        while let Some(conn) = accepted.next().await {
            match conn {
                Ok(io) => {
                    let open = activity.as_ref().map(|a| a.open());
                    tokio::spawn(route(io, open, service.clone(), tx.clone()));
                }
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    Incoming { rx, accept }
}

/// One connection: answered here when it is a quick request, else handed to tonic. `open`
/// lives as long as the connection.
async fn route<IO, S>(
    mut io: IO,
    open: Option<Open>,
    service: S,
    to_grpc: tokio::sync::mpsc::Sender<std::io::Result<Rewind<IO>>>,
) where
    IO: AsyncRead + AsyncWrite + Connected<ConnectInfo: PeerInfo> + Send + Unpin + 'static,
    S: TwgDaemon,
{
    let mut first = [0u8; 4];
    match tokio::time::timeout(CLIENT_WAIT, io.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        // Closed, failed or silent before four bytes: nothing to answer.
        _ => return,
    }
    if first == quick::MAGIC {
        answer(io, service).await;
        drop(open);
    } else {
        let _ = to_grpc.send(Ok(Rewind::new(first, io, open))).await;
    }
}

/// Reads one quick request, answers it and closes. A malformed request gets no reply (the
/// front then hands the command to the full CLI, which says what is wrong).
async fn answer<IO, S>(mut io: IO, service: S)
where
    IO: AsyncRead + AsyncWrite + Connected<ConnectInfo: PeerInfo> + Unpin,
    S: TwgDaemon,
{
    let info = io.connect_info();
    // Another uid is refused before twgd reads (or allocates for) a byte of its request.
    let result = match info.check() {
        Err(status) => {
            refuse(io, &status).await;
            return;
        }
        Ok(()) => match tokio::time::timeout(CLIENT_WAIT, read_request(&mut io)).await {
            Ok(Ok(request)) => {
                let mut request = tonic::Request::new(request);
                info.attach(&mut request);
                service.get_token(request).await.map(|r| r.into_inner())
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "refused a malformed quick request");
                return;
            }
            Err(_) => {
                tracing::debug!("a quick request did not arrive in time");
                return;
            }
        },
    };
    let reply = quick::encode_reply(&match result {
        Ok(token) => quick::reply_for(Ok(token)),
        Err(status) => quick::reply_for(Err(&status)),
    });
    let sent = async {
        io.write_all(&reply).await?;
        io.shutdown().await?;
        // A named pipe has no half-close (its shutdown does nothing), and closing the server's
        // end is not documented to keep unread bytes for the client: wait for the client to
        // close first, which it does once it has read the reply.
        // (The client's close may read as an error: either way, it is done.)
        #[cfg(windows)]
        let _ = tokio::io::copy(&mut (&mut io).take(1), &mut tokio::io::sink()).await;
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(CLIENT_WAIT, sent).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not send a quick reply"),
        Err(_) => tracing::debug!("a quick reply was not taken in time"),
    }
}

/// Sends a refusal to a client whose request was not read. Its bytes are then read into
/// nothing (at most one request's worth, within the same wait) until it closes: closing a
/// socket with unread data resets the connection, and the client could lose the refusal.
async fn refuse(mut io: impl AsyncRead + AsyncWrite + Unpin, status: &tonic::Status) {
    let reply = quick::encode_reply(&quick::reply_for(Err(status)));
    let sent = async {
        io.write_all(&reply).await?;
        io.shutdown().await?;
        let limit = (quick::MAX_BODY + 4) as u64;
        tokio::io::copy(&mut (&mut io).take(limit), &mut tokio::io::sink()).await
    };
    let _ = tokio::time::timeout(CLIENT_WAIT, sent).await;
}

async fn read_request(io: &mut (impl AsyncRead + Unpin)) -> std::io::Result<pb::GetTokenRequest> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = quick::body_len(prefix).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    quick::decode_request(&body).map_err(std::io::Error::other)
}

/// The gRPC connections of [`split`]; stops the accepting when dropped.
pub struct Incoming<IO> {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Rewind<IO>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl<IO> Stream for Incoming<IO> {
    type Item = std::io::Result<Rewind<IO>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<IO> std::fmt::Debug for Incoming<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish_non_exhaustive()
    }
}

impl<IO> Drop for Incoming<IO> {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A connection whose first bytes were already read: they are read again first. It holds
/// the connection's place in the idle count (when there is one) until tonic drops it.
pub struct Rewind<IO> {
    first: [u8; 4],
    replayed: usize,
    io: IO,
    _open: Option<Open>,
}

impl<IO> Rewind<IO> {
    fn new(first: [u8; 4], io: IO, open: Option<Open>) -> Self {
        Self {
            first,
            replayed: 0,
            io,
            _open: open,
        }
    }
}

impl<IO> std::fmt::Debug for Rewind<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewind")
            .field("replayed", &self.replayed)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.first.len() {
            let rest = &this.first[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<IO: Connected> Connected for Rewind<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_bytes_are_read_again_then_the_rest() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b"PRI * HTTP/2.0").await.unwrap();
        drop(a);
        let mut b = b;
        let mut first = [0u8; 4];
        b.read_exact(&mut first).await.unwrap();
        let mut rewound = Rewind::new(first, b, None);
        let mut all = Vec::new();
        rewound.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"PRI * HTTP/2.0");
    }

    #[tokio::test]
    async fn a_small_read_takes_the_replayed_bytes_in_parts() {
        let (a, b) = tokio::io::duplex(64);
        drop(a);
        let mut rewound = Rewind::new(*b"abcd", b, None);
        let mut two = [0u8; 2];
        rewound.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        rewound.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"cd");
    }
}
