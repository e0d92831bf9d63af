//! A gRPC client for twgd that skips every client-side check (directory owner, socket owner,
//! peer uid), as a hostile local process would: it proves the *daemon's* own defences.
//! Usage: `twg-raw-client <socket> [protocol-version]`; prints `<grpc code> <message>` (and
//! the `twg-error-code`) or `OK <token>`.
//! `twg-raw-client --quick <socket> [protocol-version] [min-valid]` asks over the quick
//! protocol instead and prints `QUICK OK <token>`, `QUICK <error code> <message>` or
//! `QUICK NONE <why>`; `--quick-bytes <socket> <hex>` sends those bytes as they are and
//! prints how many bytes came back (`REPLY <n>`), for malformed requests.

use hyper_util::rt::TokioIo;

/// The quick protocol by hand: no socket checks, the bytes as given.
fn quick(args: &[String]) {
    use std::io::{Read, Write};
    let mut stream = match std::os::unix::net::UnixStream::connect(&args[0]) {
        Ok(s) => s,
        Err(e) => return println!("QUICK NONE connect: {e}"),
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let mut info = twg_common::rpc::client_info(None);
    if let Some(v) = args.get(1) {
        info.protocol_version = v.parse().expect("a protocol version number");
    }
    let request = twg_common::rpc::pb::GetTokenRequest {
        client: Some(info),
        min_valid_seconds: args.get(2).map(|v| v.parse().expect("seconds")),
    };
    if let Err(e) = stream.write_all(&twg_common::quick::encode_request(&request)) {
        return println!("QUICK NONE write: {e}");
    }
    let mut reply = Vec::new();
    if let Err(e) = stream.read_to_end(&mut reply) {
        return println!("QUICK NONE read: {e}");
    }
    let body = reply.get(4..).unwrap_or_default();
    match twg_common::quick::decode_reply(body) {
        Some(twg_common::quick::Answer::Token(t)) => println!("QUICK OK {}", t.access_token),
        Some(twg_common::quick::Answer::Error(code, message)) => {
            println!("QUICK {code} {message}")
        }
        None => println!("QUICK NONE {} bytes that are not a reply", reply.len()),
    }
}

/// Sends raw bytes, then reads until the daemon closes (or 15 s pass).
fn quick_bytes(socket: &str, hex: &str) {
    use std::io::{Read, Write};
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    stream.write_all(&bytes).expect("write");
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => println!("REPLY {}", reply.len()),
        Err(e) => println!("REPLY ERROR {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--quick") => quick(&args[1..]),
        Some("--quick-bytes") => quick_bytes(&args[1], &args[2]),
        _ => grpc(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn grpc() {
    let socket = std::env::args()
        .nth(1)
        .expect("usage: twg-raw-client <socket> [protocol-version]");
    let protocol = std::env::args()
        .nth(2)
        .map(|v| v.parse().expect("a protocol version number"))
        .unwrap_or(twg_common::rpc::PROTOCOL_VERSION);
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let socket = socket.clone();
        async move {
            let s = tokio::net::UnixStream::connect(socket).await?;
            Ok::<_, std::io::Error>(TokioIo::new(s))
        }
    });
    let channel = match tonic::transport::Endpoint::from_static("http://twgd.local")
        .connect_with_connector(connector)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            println!("CONNECT {e}");
            return;
        }
    };
    let mut client = twg_common::rpc::pb::twg_daemon_client::TwgDaemonClient::new(channel);
    let mut info = twg_common::rpc::client_info(None);
    info.protocol_version = protocol;
    let req = twg_common::rpc::pb::GetTokenRequest {
        client: Some(info),
        min_valid_seconds: None,
    };
    match client.get_token(req).await {
        Ok(r) => println!("OK {}", r.into_inner().access_token),
        Err(s) => println!(
            "{:?} {} [{}]",
            s.code(),
            s.message(),
            s.metadata()
                .get("twg-error-code")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        ),
    }
}
