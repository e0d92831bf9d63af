//! GetToken over HTTP/2 on the trusted socket, with hyper's client directly instead of
//! tonic's channel (its tower buffer, reconnect and codec layers cost 25 page faults and a
//! tenth of the front's size for a process that makes one call). The wire is gRPC's: a
//! length-prefixed protobuf body, the status in the trailers (or, for an error without a
//! body, in the headers). The status is parsed by tonic's own `Status::from_header_map`, as
//! tonic's client does, so twgd's errors (their `twg-error-code` included) read exactly as
//! the full CLI reads them.

use hyper::body::Bytes;
use std::path::Path;
use std::time::Duration;
use twg_common::rpc::{self, pb};

/// How long a connect may take before twgd counts as unreachable (as in the full CLI; a
/// named pipe opens at once or fails).
#[cfg(unix)]
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A twgd that does not answer a ping within this is not responding (SIGSTOP, a hang), as
/// with the full CLI's channel settings (`twg_common::rpc`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// twgd's answer: its response or the error status it sent. `None` when nothing usable came
/// back (not running, stale, untrusted, the connection failed or timed out, not gRPC).
pub async fn get_token(
    socket: &Path,
    request: &pb::GetTokenRequest,
) -> Option<Result<pb::GetTokenResponse, tonic::Status>> {
    let stream = open(socket).await?;
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let http = hyper::Request::post("http://twgd.local/twg.v1.TwgDaemon/GetToken")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(frame(request)))
        .ok()?;
    let (headers, trailers, body) = tokio::time::timeout(rpc::CALL_DEADLINE, async {
        use http_body_util::BodyExt;
        let response = sender.send_request(http).await.ok()?;
        if response.status() != hyper::StatusCode::OK {
            return None;
        }
        let headers = response.headers().clone();
        let collected = response.into_body().collect().await.ok()?;
        let trailers = collected.trailers().cloned();
        Some((headers, trailers, collected.to_bytes()))
    })
    .await
    .ok()??;
    let status = trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
        .or_else(|| tonic::Status::from_header_map(&headers))?;
    if status.code() != tonic::Code::Ok {
        return Some(Err(status));
    }
    Some(Ok(unframe(&body)?))
}

/// gRPC's message frame: not compressed, the length (big-endian u32), the message.
fn frame(request: &pb::GetTokenRequest) -> Bytes {
    use prost::Message;
    let len = request.encoded_len();
    let mut buf = Vec::with_capacity(5 + len);
    buf.push(0);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    request.encode(&mut buf).ok();
    Bytes::from(buf)
}

/// The one uncompressed message of a gRPC response body.
fn unframe(body: &[u8]) -> Option<pb::GetTokenResponse> {
    use prost::Message;
    let (&compressed, rest) = body.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if compressed != 0 {
        return None;
    }
    pb::GetTokenResponse::decode(rest.get(4..4 + len)?).ok()
}

/// The socket, after the same checks as the full CLI's connect (directory, owner, peer uid),
/// all before anything is sent.
#[cfg(unix)]
async fn open(socket: &Path) -> Option<tokio::net::UnixStream> {
    rpc::check_socket_path(socket).ok()?;
    tokio::time::timeout(CONNECT_TIMEOUT, rpc::connect_trusted(socket))
        .await
        .ok()?
        .ok()
}

/// The daemon's named pipe, opened as the full CLI's connect opens it.
#[cfg(windows)]
async fn open(socket: &Path) -> Option<tokio::net::windows::named_pipe::NamedPipeClient> {
    tokio::net::windows::named_pipe::ClientOptions::new()
        .open(rpc::pipe_name(socket))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_a_compressed_or_short_body_is_refused() {
        use prost::Message;
        let response = pb::GetTokenResponse {
            access_token: "at".into(),
            expires_at: 42,
            ..Default::default()
        };
        let mut body = vec![0];
        body.extend_from_slice(&(response.encoded_len() as u32).to_be_bytes());
        response.encode(&mut body).unwrap();
        assert_eq!(unframe(&body), Some(response));
        let mut compressed = body.clone();
        compressed[0] = 1;
        assert_eq!(unframe(&compressed), None);
        assert_eq!(unframe(&body[..body.len() - 1]), None);
        let request = pb::GetTokenRequest::default();
        assert_eq!(&frame(&request)[..], &[0, 0, 0, 0, 0][..]);
    }
}
