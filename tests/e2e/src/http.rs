//! A tiny blocking HTTP/1.1 client for the harness (loopback only, `Connection: close`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends a request; returns (status, body).
pub fn request(method: &str, url: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = request_with(method, url, content_type, &[], body);
    (status, body)
}

/// Sends a request with extra headers; returns (status, response head, body).
pub fn request_with(
    method: &str,
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    assert!(
        host.starts_with("127.0.0.1") || host.starts_with("localhost"),
        "loopback only: {url}"
    );
    let mut s = TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

/// A header's value from a response head (case-insensitive name).
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// A form POST authenticated with HTTP Basic (RFC 6749 §2.3.1: both parts form-urlencoded).
pub fn form_basic(url: &str, pairs: &[(&str, &str)], user: &str, pass: &str) -> (u16, String) {
    use base64::Engine as _;
    let cred =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(user), enc(pass)));
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, resp) = request_with(
        "POST",
        url,
        "application/x-www-form-urlencoded",
        &[("Authorization", &format!("Basic {cred}"))],
        body.as_bytes(),
    );
    (status, String::from_utf8_lossy(&resp).into_owned())
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn urlencode(s: &str) -> String {
    enc(s)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// JSON in, JSON out; panics on a non-2xx status.
pub fn json(method: &str, url: &str, body: Option<&serde_json::Value>) -> serde_json::Value {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, resp) = request(method, url, "application/json", payload.as_bytes());
    assert!(
        (200..300).contains(&status),
        "{method} {url} -> {status}: {}",
        String::from_utf8_lossy(&resp)
    );
    if resp.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&resp).unwrap_or_else(|_| {
        panic!(
            "{url} returned non-JSON: {}",
            String::from_utf8_lossy(&resp)
        )
    })
}

/// A form POST, as OAuth clients send; returns (status, body text).
pub fn form(url: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let (status, resp) = request(
        "POST",
        url,
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    );
    (status, String::from_utf8_lossy(&resp).into_owned())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
