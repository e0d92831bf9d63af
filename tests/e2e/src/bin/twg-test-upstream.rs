//! An HTTPS API server on 127.0.0.1 for the API proxy tests. It accepts a request only when
//! it carries exactly one `Authorization: Bearer` whose token the dev authorization server
//! still accepts (its `/me`), answers with that profile (and a `Set-Cookie` the proxy must
//! drop), and logs what reached it, one JSON line per request, so tests can check what the
//! proxy sent. It never logs a token.
//!
//! Usage: `twg-test-upstream <idp-url-file> <log-file>`; prints `TWG_TEST_UPSTREAM_PORT=<port>`.
//! The dev server's URL is read from the file at each request, because the dev server is
//! started after this one (its site URL must name this server's port).
//!
//! Its certificate (`tests/data/upstream-cert.der`, for `localhost` and `127.0.0.1`, with
//! `upstream-key.der`) is signed by `tests/data/upstream-ca.pem`; made with `openssl req`/
//! `openssl x509`, valid until 2126.

use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

type Body = http_body_util::Full<Bytes>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let idp_file = PathBuf::from(args.next().expect("usage: <idp-url-file> <log-file>"));
    let log_file = PathBuf::from(args.next().expect("usage: <idp-url-file> <log-file>"));
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data");
    let cert = std::fs::read(data.join("upstream-cert.der")).expect("upstream-cert.der");
    let key = std::fs::read(data.join("upstream-key.der")).expect("upstream-key.der");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .expect("certificate and key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    println!("TWG_TEST_UPSTREAM_PORT={port}");
    let state = Arc::new((idp_file, std::sync::Mutex::new(log_file)));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn answer(
    state: &(PathBuf, std::sync::Mutex<PathBuf>),
    req: Request<Incoming>,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let auth: Vec<String> = parts
        .headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect();
    let body_len = body.collect().await.map(|b| b.to_bytes().len()).ok();
    let bearer = match auth.as_slice() {
        [one] => one.strip_prefix("Bearer ").map(str::to_owned),
        _ => None,
    };
    let idp = std::fs::read_to_string(&state.0).unwrap_or_default();
    let profile = match bearer {
        Some(token) => tokio::task::spawn_blocking(move || {
            let auth = format!("Bearer {token}");
            let (status, _, body) = twg_e2e::http::request_with(
                "GET",
                &format!("{}/me", idp.trim()),
                "text/plain",
                &[("Authorization", &auth)],
                b"",
            );
            (status == 200).then_some(body)
        })
        .await
        .ok()
        .flatten(),
        None => None,
    };
    let line = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "host": parts.headers.get("host").and_then(|v| v.to_str().ok()),
        "authorization_headers": auth.len(),
        "forged": auth.iter().any(|a| a.contains("forged")),
        "cookie": parts.headers.contains_key("cookie"),
        "proxy_authorization": parts.headers.contains_key("proxy-authorization"),
        "body_len": body_len,
        "accepted": profile.is_some(),
    });
    if let Ok(path) = state.1.lock() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
            .expect("upstream log");
        writeln!(f, "{line}").expect("write the upstream log");
    }
    let mut resp = match profile {
        Some(body) => Response::new(Body::from(body)),
        None => {
            let mut r = Response::new(Body::from("bad or missing bearer token\n"));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("header"));
            r
        }
    };
    resp.headers_mut()
        .insert("set-cookie", "upstream-session=1".parse().expect("header"));
    resp
}
