//! The loopback listener of `twg login --web` (RFC 8252 §7.3): it waits on the configured
//! redirect URI for the browser's one request, answers it with a short page, and closes.
//!
//! Hand-written on a tokio `TcpListener` rather than a web framework: it serves exactly one
//! GET, so a request line and headers capped at 16 KiB, a per-connection read deadline and
//! `Connection: close` are the whole protocol. It binds the redirect URI's loopback address
//! only (`localhost` binds 127.0.0.1 and, where available, ::1, since browsers try both), and
//! stops after the callback or the login's deadline. Requests for other paths (a browser's
//! `/favicon.ico`) get 404 and do not end the wait. So does a request whose `state` is not
//! this login's (400): any web page can make the browser send one to a loopback port, and it
//! must not be able to end the login. The answer that is taken is relayed as is: `state`,
//! `iss` and the code are checked again by whoever holds the PKCE verifier.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most a browser's request may take to arrive, once connected.
const READ_DEADLINE: Duration = Duration::from_secs(10);
const MAX_REQUEST: usize = 16 * 1024;

/// Why no callback arrived.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "cannot listen on {uri} ({source}); another program holds {addr}: stop it, or register another callback URL for the app and set oauth.redirect_uri to it"
    )]
    Bind {
        uri: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "no answer reached {uri} within {}s{}. If the browser showed an error (a callback URL that does not match the app's exactly, a wrong client id), fix the app's settings; then run `twg login --web` again. Nothing was saved",
        .waited.as_secs(),
        refused_note(*.refused)
    )]
    TimedOut {
        uri: String,
        waited: Duration,
        /// Requests refused for carrying another login's `state`.
        refused: usize,
    },
    #[error("the listener on {uri} failed: {source}; run `twg login --web` again")]
    Accept { uri: String, source: std::io::Error },
    #[error("{0}")]
    Config(String),
}

/// A bound listener, waiting for the callback.
#[derive(Debug)]
pub struct CallbackListener {
    listeners: Vec<TcpListener>,
    uri: String,
    path: String,
}

impl CallbackListener {
    /// Binds the redirect URI's address. Nothing else is ever bound.
    pub async fn bind(redirect_uri: &str) -> Result<Self, ListenError> {
        let addr = twg_common::oauth::authcode::loopback_redirect(redirect_uri)
            .map_err(ListenError::Config)?;
        let url = url::Url::parse(redirect_uri).map_err(|e| ListenError::Config(e.to_string()))?;
        let mut listeners =
            vec![
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ListenError::Bind {
                        uri: redirect_uri.to_string(),
                        addr,
                        source,
                    })?,
            ];
        if url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
        {
            // Browsers try ::1 first for `localhost`. A machine without IPv6 keeps the IPv4
            // listener; but if someone else holds [::1]:port, they would get the browser's
            // answer, so that is an error.
            let v6 = SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port());
            match TcpListener::bind(v6).await {
                Ok(l) => listeners.push(l),
                Err(source) if source.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(ListenError::Bind {
                        uri: redirect_uri.to_string(),
                        addr: v6,
                        source,
                    });
                }
                Err(_) => {}
            }
        }
        Ok(Self {
            listeners,
            uri: redirect_uri.to_string(),
            path: url.path().to_string(),
        })
    }

    /// The addresses actually bound (tests check they are loopback only).
    #[cfg(test)]
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Waits for one request on the callback path and returns its query string. The
    /// listener is closed when this returns (it is consumed).
    pub async fn wait(self, timeout: Duration, state: &str) -> Result<String, ListenError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut refused = 0;
        loop {
            let accepted = tokio::time::timeout_at(deadline, accept_any(&self.listeners)).await;
            let mut stream = match accepted {
                Err(_) => {
                    return Err(ListenError::TimedOut {
                        uri: self.uri.clone(),
                        waited: timeout,
                        refused,
                    });
                }
                Ok(Err(source)) => {
                    return Err(ListenError::Accept {
                        uri: self.uri.clone(),
                        source,
                    });
                }
                Ok(Ok(s)) => s,
            };
            let target = match tokio::time::timeout(READ_DEADLINE, read_target(&mut stream)).await {
                Ok(Some(t)) => t,
                // Garbage, a slow client or a non-GET: answer if we can, keep waiting.
                _ => {
                    respond(&mut stream, "400 Bad Request", PAGE_BAD).await;
                    continue;
                }
            };
            let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
            if path != self.path {
                respond(&mut stream, "404 Not Found", PAGE_NOT_FOUND).await;
                continue;
            }
            if query_value(query, "state").as_deref() != Some(state) {
                refused += 1;
                eprintln!(
                    "! Refused a request to {} with the wrong `state` (not from this login's browser); still waiting",
                    self.uri
                );
                respond(&mut stream, "400 Bad Request", PAGE_WRONG_STATE).await;
                continue;
            }
            let page = if query_value(query, "error").is_some() {
                PAGE_ERROR
            } else {
                PAGE_DONE
            };
            respond(&mut stream, "200 OK", page).await;
            return Ok(query.to_string());
        }
    }
}

async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<TcpStream> {
    let accepts = listeners.iter().map(|l| Box::pin(l.accept()));
    let (result, _, _) = futures_util::future::select_all(accepts).await;
    result.map(|(stream, _)| stream)
}

/// The request target of a `GET <target> HTTP/1.x` request, after reading the headers.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_REQUEST {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = std::str::from_utf8(&buf).ok()?;
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some(target.to_string())
}

fn query_value(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn refused_note(refused: usize) -> String {
    match refused {
        0 => String::new(),
        n => format!(" ({n} request(s) with the wrong `state` were refused: not from this login)"),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(READ_DEADLINE, async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

const PAGE_DONE: &str = concat!(
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>twg: sign-in received</title>",
    "<style>body{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}</style>",
    "</head><body><h1 id=\"twg-callback\">Sign-in received</h1>",
    "<p>twg has the answer. Return to your terminal to see the result; you can close this tab.</p></body></html>"
);
const PAGE_ERROR: &str = concat!(
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>twg: sign-in not completed</title>",
    "<style>body{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}</style>",
    "</head><body><h1 id=\"twg-callback\">Sign-in not completed</h1>",
    "<p>The authorization server did not grant access. Return to your terminal for the details.</p></body></html>"
);
const PAGE_WRONG_STATE: &str = concat!(
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>twg: not this login</title></head>",
    "<body><h1>Not this login</h1><p>This answer does not belong to the sign-in twg is waiting for ",
    "(its <code>state</code> does not match). Use the link twg printed in your terminal.</p></body></html>"
);
const PAGE_NOT_FOUND: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Not found</title></head><body>Not found</body></html>";
const PAGE_BAD: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Bad request</title></head><body>Bad request</body></html>";

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn one_callback_is_taken_other_paths_and_garbage_are_not() {
        let port = free_port();
        let uri = format!("http://127.0.0.1:{port}/callback");
        let l = CallbackListener::bind(&uri).await.unwrap();
        assert!(l.local_addrs().iter().all(|a| a.ip().is_loopback()));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let waiter = tokio::spawn(l.wait(Duration::from_secs(20), "s"));
        let favicon = get(addr, "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
        let garbage = get(addr, "\x16\x03\x01 not http\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
        let forged = get(
            addr,
            "GET /callback?code=evil&state=other HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(
            forged.starts_with("HTTP/1.1 400") && forged.contains("Not this login"),
            "{forged}"
        );
        let no_state = get(addr, "GET /callback?code=evil HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(no_state.starts_with("HTTP/1.1 400"), "{no_state}");
        let ok = get(
            addr,
            "GET /callback?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.contains("terminal"),
            "{ok}"
        );
        assert_eq!(waiter.await.unwrap().unwrap(), "code=c&state=s");
        // Closed after the one callback.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn it_gives_up_at_the_deadline_and_closes() {
        let port = free_port();
        let uri = format!("http://127.0.0.1:{port}/cb");
        let l = CallbackListener::bind(&uri).await.unwrap();
        let err = l.wait(Duration::from_millis(200), "s").await.unwrap_err();
        assert!(matches!(err, ListenError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("twg login --web"));
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_clear_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let err = CallbackListener::bind(&format!("http://127.0.0.1:{port}/cb"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("oauth.redirect_uri"), "{err}");
    }

    #[tokio::test]
    async fn a_non_loopback_redirect_is_refused_before_binding() {
        let err = CallbackListener::bind("http://0.0.0.0:8976/callback")
            .await
            .unwrap_err();
        assert!(matches!(err, ListenError::Config(_)), "{err}");
    }
}
