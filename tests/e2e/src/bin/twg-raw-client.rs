//! A gRPC client for twgd that skips every client-side check (directory owner, socket owner,
//! peer uid), as a hostile local process would: it proves the *daemon's* own defences.
//! Usage: `twg-raw-client <socket> [protocol-version]`; prints `<grpc code> <message>` (and
//! the `twg-error-code`) or `OK <token>`.

use hyper_util::rt::TokioIo;

#[tokio::main(flavor = "current_thread")]
async fn main() {
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
