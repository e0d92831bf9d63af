//! The quick protocol (see `proto/twg/v1/daemon.proto`): one GetToken per connection, as
//! length-prefixed protobuf, on twgd's main socket (its named pipe on Windows) beside gRPC.
//! It exists for the front `twg`'s hot path: a blocking call on a std socket needs no async
//! runtime and no HTTP/2 client, which were most of the front's start-up (README,
//! Performance). Every other call, and every case the quick call cannot settle, goes
//! through gRPC in the full CLI.
//!
//! The framing (both sides) is here; the blocking client is [`get_token`] (a Unix socket, or
//! the named pipe on Windows); twgd's side is `twgd::quick`.

use crate::error_code::ErrorCode;
use crate::rpc::pb;

/// What a quick request starts with. gRPC's HTTP/2 preface starts with `PRI `, so the first
/// four bytes tell twgd which protocol a connection speaks.
pub const MAGIC: [u8; 4] = *b"twgq";

/// The largest request or reply body either side accepts (a token response is about 200
/// bytes; the bound only keeps a hostile peer from making the other allocate).
pub const MAX_BODY: usize = 64 * 1024;

/// Why a length prefix is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a quick-protocol message of {0} bytes is longer than the limit of {MAX_BODY}")]
pub struct TooLong(pub usize);

/// A request on the wire: the magic, the length, the encoded `GetTokenRequest`.
pub fn encode_request(request: &pb::GetTokenRequest) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    append_message(&mut out, request);
    out
}

/// A reply on the wire: the length, the encoded `QuickReply`.
pub fn encode_reply(reply: &pb::QuickReply) -> Vec<u8> {
    let mut out = Vec::new();
    append_message(&mut out, reply);
    out
}

fn append_message(out: &mut Vec<u8>, message: &impl prost::Message) {
    let len = message.encoded_len();
    // Our own messages are far below 4 GiB; the receiver checks MAX_BODY anyway.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    message.encode(out).ok();
}

/// The body length a 4-byte prefix announces, refused above [`MAX_BODY`].
pub fn body_len(prefix: [u8; 4]) -> Result<usize, TooLong> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_BODY {
        return Err(TooLong(len));
    }
    Ok(len)
}

/// A request's body (after the magic and the length).
pub fn decode_request(body: &[u8]) -> Result<pb::GetTokenRequest, prost::DecodeError> {
    <pb::GetTokenRequest as prost::Message>::decode(body)
}

/// The reply for a GetToken outcome: the token, or twgd's error as gRPC would carry it (its
/// `twg-error-code`, empty when it has none, its message and its gRPC code).
pub fn reply_for(result: Result<pb::GetTokenResponse, &tonic::Status>) -> pb::QuickReply {
    use pb::quick_reply::Result as R;
    let result = match result {
        Ok(token) => R::Token(token),
        Err(status) => R::Error(pb::QuickError {
            code: ErrorCode::of_status(status)
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            message: status.message().to_string(),
            grpc_code: status.code() as i32,
        }),
    };
    pb::QuickReply {
        result: Some(result),
    }
}

/// What twgd answered.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Token(pb::GetTokenResponse),
    /// twgd's own error (final: twgd has already tried), with its code and message.
    Error(ErrorCode, String),
}

/// A reply's body (after the length): what twgd answered, `None` when it is not a reply.
pub fn decode_reply(body: &[u8]) -> Option<Answer> {
    answer_of(<pb::QuickReply as prost::Message>::decode(body).ok()?)
}

/// The reply's meaning; `None` for a reply with neither a token nor an error, or with an
/// error that is not twgd's answer (no code, a transport's gRPC code): the full CLI then
/// asks again, as it does when the same error comes over gRPC.
pub fn answer_of(reply: pb::QuickReply) -> Option<Answer> {
    use crate::hot_path::{CallFailure, classify};
    use pb::quick_reply::Result as R;
    match reply.result? {
        R::Token(token) => Some(Answer::Token(token)),
        R::Error(e) => {
            // The error as a gRPC status, read by the full CLI's own classification.
            let mut status = tonic::Status::new(tonic::Code::from_i32(e.grpc_code), e.message);
            if !e.code.is_empty()
                && let Ok(code) = e.code.parse()
            {
                status
                    .metadata_mut()
                    .insert(crate::error_code::METADATA_KEY, code);
            }
            match classify(&status) {
                CallFailure::Answered(code, message) => Some(Answer::Error(code, message)),
                CallFailure::Unimplemented | CallFailure::NotResponding => None,
            }
        }
    }
}

#[cfg(any(unix, windows))]
pub use client::{NoAnswer, REPLY_WAIT, get_token};

#[cfg(any(unix, windows))]
mod client {
    use super::{Answer, body_len, decode_reply, encode_request};
    use crate::rpc::pb;
    use std::io::{Read, Write};
    use std::path::Path;
    use std::time::Duration;

    /// How long the front waits for twgd's reply. twgd answers from its cache in well under a
    /// millisecond; a reply that takes longer means a refresh is on the way (or twgd hangs),
    /// and then the full CLI takes over: its gRPC call joins the same refresh in twgd, and
    /// its keep-alive pings tell a slow refresh from a stopped daemon.
    pub const REPLY_WAIT: Duration = Duration::from_secs(2);

    /// Why the quick call settled nothing (the front then hands the command to the full CLI,
    /// which checks again and says what is wrong). Never carries a secret.
    #[derive(Debug, thiserror::Error)]
    pub enum NoAnswer {
        /// Missing, stale, or not this user's: the socket's directory or owner, or the
        /// process serving it (the full CLI's own checks).
        #[error("the socket is missing, stale or not trusted: {0}")]
        Socket(#[from] crate::rpc::ConnectError),
        #[error("cannot connect: {0}")]
        Connect(std::io::Error),
        #[error("no reply from twgd: {0}")]
        Io(#[from] std::io::Error),
        #[error("twgd's reply is not a quick-protocol reply")]
        NotQuick,
    }

    /// The exchange itself, on a connection whose peer is checked: the request, then the
    /// reply's length and body.
    fn exchange(
        mut stream: impl Read + Write,
        request: &pb::GetTokenRequest,
    ) -> Result<Answer, NoAnswer> {
        stream.write_all(&encode_request(request))?;
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix)?;
        let len = body_len(prefix).map_err(|_| NoAnswer::NotQuick)?;
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body)?;
        decode_reply(&body).ok_or(NoAnswer::NotQuick)
    }

    /// Asks twgd for a token over the quick protocol, with the full CLI's trust checks (the
    /// socket's directory and owner, then the peer's uid), all before anything is sent.
    /// Nothing here blocks for longer than [`REPLY_WAIT`] at a time: the connect does not
    /// wait for a full backlog, and every read and write has a timeout.
    #[cfg(unix)]
    pub fn get_token(socket: &Path, request: &pb::GetTokenRequest) -> Result<Answer, NoAnswer> {
        crate::rpc::check_socket_path(socket)?;
        let stream = connect(socket)?;
        crate::rpc::check_peer(socket, peer_uid(&stream).map(|uid| (uid, None)))?;
        stream.set_write_timeout(Some(REPLY_WAIT))?;
        stream.set_read_timeout(Some(REPLY_WAIT))?;
        exchange(stream, request)
    }

    /// Windows: twgd's named pipe for `socket` (`pipe_client::pipe_name`), verified to be
    /// served by a process of this user before anything is sent. A busy, missing or refused
    /// pipe is not retried here: the full CLI waits out a busy pipe and names the others.
    /// A pipe opened for synchronous I/O has no read timeout, so the exchange runs on a
    /// thread of its own and is abandoned after [`REPLY_WAIT`] (the process then runs the
    /// full CLI and ends, taking the thread with it).
    #[cfg(windows)]
    pub fn get_token(socket: &Path, request: &pb::GetTokenRequest) -> Result<Answer, NoAnswer> {
        let name = crate::pipe_client::pipe_name(socket).map_err(NoAnswer::Connect)?;
        // Identification only: the server may not impersonate the front (`open_pipe_client`).
        let pipe = crate::win::open_pipe_client(&name).map_err(NoAnswer::Connect)?;
        crate::pipe_client::check_server(socket, &pipe)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let request = request.clone();
        let exchanging = std::thread::spawn(move || {
            let _ = tx.send(exchange(pipe, &request));
        });
        let answer = rx.recv_timeout(REPLY_WAIT);
        if answer.is_err() {
            // Its read is cancelled so the thread ends (and closes the pipe) before the
            // process goes on; a process that exits with a thread still blocked in a read is
            // killed outright under Wine. If the cancel fails, the thread is left behind.
            if crate::win::cancel_blocking_io(&exchanging).is_err() {
                return Err(timed_out());
            }
        }
        // The thread has sent its result (or had its read cancelled): it is ending. Wait for
        // it, for the same reason.
        let _ = exchanging.join();
        answer.map_err(|_| timed_out())?
    }

    #[cfg(windows)]
    fn timed_out() -> NoAnswer {
        NoAnswer::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "twgd did not answer in time",
        ))
    }

    /// A connected socket in blocking mode. The connect itself does not block: a twgd that
    /// is stopped (SIGSTOP) with a full accept backlog refuses at once (`EAGAIN`) instead
    /// of holding the caller.
    #[cfg(unix)]
    fn connect(socket: &Path) -> Result<std::os::unix::net::UnixStream, NoAnswer> {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
        let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None)
            .map_err(|e| NoAnswer::Connect(e.into()))?;
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
            .map_err(|e| NoAnswer::Connect(e.into()))?;
        rustix::io::ioctl_fionbio(&fd, true).map_err(|e| NoAnswer::Connect(e.into()))?;
        let addr = SocketAddrUnix::new(socket).map_err(|e| NoAnswer::Connect(e.into()))?;
        rustix::net::connect(&fd, &addr).map_err(|e| NoAnswer::Connect(e.into()))?;
        rustix::io::ioctl_fionbio(&fd, false).map_err(|e| NoAnswer::Connect(e.into()))?;
        Ok(std::os::unix::net::UnixStream::from(fd))
    }

    /// The uid of the process serving the socket, as the kernel recorded it at connect.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn peer_uid(stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
        Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
    }

    #[cfg(target_os = "macos")]
    fn peer_uid(stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
        crate::darwin::peer_uid(stream)
    }

    /// Elsewhere the peer cannot be checked here, so the quick call is not made (the full
    /// CLI's connect, through tokio, checks it).
    #[cfg(all(
        unix,
        not(any(target_os = "linux", target_os = "android", target_os = "macos"))
    ))]
    fn peer_uid(_stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "peer credentials are not read on this platform",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_request_starts_with_the_magic_and_its_length() {
        let request = pb::GetTokenRequest {
            client: Some(crate::rpc::client_info(Some("codex"))),
            min_valid_seconds: Some(120),
        };
        let wire = encode_request(&request);
        assert_eq!(&wire[..4], b"twgq");
        assert_ne!(&wire[..4], b"PRI ", "must differ from HTTP/2's preface");
        let len = body_len(wire[4..8].try_into().unwrap()).unwrap();
        assert_eq!(len, wire.len() - 8);
        assert_eq!(pb::GetTokenRequest::decode(&wire[8..]).unwrap(), request);
    }

    #[test]
    fn a_length_over_the_limit_is_refused() {
        assert_eq!(body_len((MAX_BODY as u32).to_be_bytes()), Ok(MAX_BODY));
        assert_eq!(
            body_len((MAX_BODY as u32 + 1).to_be_bytes()),
            Err(TooLong(MAX_BODY + 1))
        );
        // What an old twgd sends first, its HTTP/2 SETTINGS frame, reads as a length the
        // front accepts: it hands over because the body never comes (the stream closes).
        assert_eq!(body_len([0, 0, 0x12, 4]), Ok(0x1204));
    }

    #[test]
    fn replies_round_trip_with_their_codes() {
        let token = pb::GetTokenResponse {
            access_token: "at".into(),
            expires_at: 42,
            ..Default::default()
        };
        let wire = encode_reply(&reply_for(Ok(token.clone())));
        let reply = pb::QuickReply::decode(&wire[4..]).unwrap();
        assert_eq!(answer_of(reply), Some(Answer::Token(token)));

        let status = ErrorCode::AuthExpired.status("run `twg login`");
        let reply = reply_for(Err(&status));
        assert_eq!(
            answer_of(reply),
            Some(Answer::Error(
                ErrorCode::AuthExpired,
                "run `twg login`".into()
            ))
        );
        // A code from a newer twgd falls back on its gRPC code, as over gRPC.
        let newer = |grpc: tonic::Code, message: &str| pb::QuickReply {
            result: Some(pb::quick_reply::Result::Error(pb::QuickError {
                code: "SOMETHING_NEW".into(),
                message: message.into(),
                grpc_code: grpc as i32,
            })),
        };
        let status = tonic::Status::unauthenticated("m");
        assert_eq!(
            answer_of(newer(tonic::Code::Unauthenticated, "m")),
            Some(Answer::Error(
                ErrorCode::of_daemon_status(&status),
                "m".into()
            ))
        );
        assert_eq!(
            answer_of(newer(tonic::Code::Unauthenticated, "m")),
            Some(Answer::Error(ErrorCode::AuthExpired, "m".into()))
        );
        assert_eq!(
            answer_of(newer(tonic::Code::Internal, "")),
            Some(Answer::Error(
                ErrorCode::DaemonError,
                "twgd answered Internal".into()
            ))
        );
        assert_eq!(answer_of(pb::QuickReply { result: None }), None);
        // An error twgd attached no code to, with a transport's gRPC code, is not its answer:
        // over gRPC the full CLI would fall back, so the front hands over.
        let status = tonic::Status::unavailable("connection reset");
        assert_eq!(answer_of(reply_for(Err(&status))), None);
    }
}
