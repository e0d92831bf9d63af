//! Test support: spawns the built server and talks to it with a tiny HTTP/1.1 client over
//! std's TcpStream, so responses are seen byte for byte (headers, truncated bodies, dropped
//! connections) without a client library smoothing them over.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CLIENT_ID: &str = "twg-dev-client";
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// What the project's clients ask for; `offline_access` is what earns a refresh token.
pub const TEST_SCOPE: &str = "read:me read:jira-work offline_access";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A confidential client whose id and secret need form-encoding in an HTTP Basic header.
pub const CONF_ID: &str = "twg conf+/1";
pub const CONF_SECRET: &str = "s3cr:t/+%";
/// Nothing listens here: the tests read the Location header instead of following it.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// `--confidential-client` for [`CONF_ID`].
pub fn conf_client_arg() -> String {
    format!("{CONF_ID}:{CONF_SECRET}:{REDIRECT_URI}")
}

/// How a confidential client sends its secret in [`Idp::token_as`].
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `client_secret_post`.
    Post(&'a str),
    /// `client_secret_basic`, encoded as RFC 6749 §2.3.1 says.
    Basic(&'a str),
    /// Just the client_id.
    NoSecret,
}

/// The `/authorize` query for [`CONF_ID`], with `overrides` replacing (or, with `None`,
/// removing) parameters.
pub fn authorize_path(overrides: &[(&str, Option<&str>)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", TEST_SCOPE),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("audience", "api.atlassian.com"),
        ("prompt", "consent"),
    ];
    for (name, value) in overrides {
        pairs.retain(|(n, _)| n != name);
        if let Some(value) = value {
            pairs.push((name, value));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/authorize?{query}")
}

/// `Basic base64(urlencode(id):urlencode(secret))`.
pub fn basic_auth(id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    basic_auth_raw(&format!("{}:{}", encode(id), encode(secret)))
}

/// `Basic base64(credentials)`, without any urlencoding (what a sloppy client sends).
pub fn basic_auth_raw(credentials: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in credentials.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The consent form's hidden request id.
pub fn consent_request_id(page: &str) -> String {
    let marker = "name=\"request_id\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no request_id in {page}"))
        + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

/// A running server; killed when dropped.
pub struct Idp {
    child: Child,
    pub url: String,
    /// `host:port` for raw connections.
    addr: String,
}

impl Idp {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twg-dev-idp"))
            .args(args)
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn twg-dev-idp");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(DEFAULT_TIMEOUT)
            .expect("twg-dev-idp printed its URL line in time");
        let url = line
            .trim_end()
            .strip_prefix("TWG_DEV_IDP_URL=")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let addr = url.strip_prefix("http://").expect("http URL").to_owned();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "bound to loopback only: {addr}"
        );
        Self { child, url, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    #[cfg(unix)]
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {within:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> io::Result<Reply> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes())?;
        stream.write_all(body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Reply::parse(&raw)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"", DEFAULT_TIMEOUT)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.request(
            "GET",
            path,
            &[("Authorization", &auth)],
            b"",
            DEFAULT_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_post_form(
        &self,
        path: &str,
        params: &[(&str, &str)],
        timeout: Duration,
    ) -> io::Result<Reply> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
            timeout,
        )
    }

    pub fn post_form(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.try_post_form(path, params, DEFAULT_TIMEOUT)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// A form POST with extra headers (an Authorization header, say).
    pub fn post_form_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        params: &[(&str, &str)],
    ) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, body.as_bytes(), DEFAULT_TIMEOUT)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// A token-endpoint (or revoke/introspect) request from [`CONF_ID`], authenticated by `auth`.
    pub fn token_as(&self, path: &str, auth: Auth<'_>, params: &[(&str, &str)]) -> Reply {
        let mut params = params.to_vec();
        match auth {
            Auth::Basic(secret) => {
                let header = basic_auth(CONF_ID, secret);
                return self.post_form_with(path, &[("Authorization", &header)], &params);
            }
            Auth::Post(secret) => {
                params.extend([("client_id", CONF_ID), ("client_secret", secret)]);
            }
            Auth::NoSecret => params.push(("client_id", CONF_ID)),
        }
        self.post_form_with(path, &[], &params)
    }

    /// Opens the consent page for `path` and answers it with `decision` as a browser would;
    /// returns the 303's Location parameters.
    pub fn consent(&self, path: &str, decision: &str) -> HashMap<String, String> {
        let page = self.get(path);
        assert_eq!(page.status, 200, "{}", page.body);
        let request_id = consent_request_id(&page.body);
        let answer = self.post_form(
            "/authorize",
            &[("request_id", &request_id), ("decision", decision)],
        );
        assert_eq!(answer.status, 303, "{}", answer.body);
        answer.redirect_params(REDIRECT_URI)
    }

    /// An approved authorization for [`CONF_ID`]; returns the code.
    pub fn authorization_code(&self) -> String {
        let params = self.consent(&authorize_path(&[]), "approve");
        assert_eq!(params["state"], "st-1");
        assert_eq!(params["iss"], self.url);
        params["code"].clone()
    }

    pub fn exchange_code(&self, auth: Auth<'_>, code: &str, verifier: Option<&str>) -> Reply {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        params.extend(verifier.map(|v| ("code_verifier", v)));
        self.token_as("/oauth/token", auth, &params)
    }

    /// The `/admin/token-requests` log, oldest first.
    pub fn token_requests(&self) -> Vec<Value> {
        let reply = self.get("/admin/token-requests");
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()["requests"].as_array().unwrap().clone()
    }

    pub fn post_json(&self, path: &str, body: Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
            DEFAULT_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn start_device_flow(&self) -> Value {
        let reply = self.post_form(
            "/oauth/device/code",
            &[("client_id", CLIENT_ID), ("scope", TEST_SCOPE)],
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    pub fn poll(&self, device_code: &str) -> Reply {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", device_code),
                ("client_id", CLIENT_ID),
            ],
        )
    }

    pub fn try_refresh(&self, refresh_token: &str, timeout: Duration) -> io::Result<Reply> {
        self.try_post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", CLIENT_ID),
            ],
            timeout,
        )
    }

    pub fn refresh(&self, refresh_token: &str) -> Reply {
        self.try_refresh(refresh_token, DEFAULT_TIMEOUT)
            .expect("refresh request")
    }

    /// A whole device login approved through the admin API; returns the token response.
    pub fn login(&self) -> Value {
        let device = self.start_device_flow();
        let approved = self.post_json(
            "/admin/approve",
            json!({ "user_code": device["user_code"] }),
        );
        assert_eq!(approved.status, 200, "{}", approved.body);
        let reply = self.poll(device["device_code"].as_str().unwrap());
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    pub fn refresh_state(&self, token: &str) -> (String, bool) {
        let reply = self.post_json("/admin/check-refresh-token", json!({ "token": token }));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        (
            body["state"].as_str().unwrap().to_owned(),
            body["usable"].as_bool().unwrap(),
        )
    }

    pub fn counters(&self) -> Value {
        self.get("/admin/counters").json()
    }

    pub fn set_fault(&self, fault: Value) {
        let reply = self.post_json("/admin/faults", fault);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a file the server may still be writing (it renames into place, so once present it is whole).
pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> io::Result<Self> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        if raw.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed without a response",
            ));
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of headers"))?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("non-UTF-8 head"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let reply = Self {
            status,
            headers,
            body: String::from_utf8_lossy(&raw[split + 4..]).into_owned(),
        };
        if let Some(length) = reply.header("content-length") {
            let expected: usize = length.parse().map_err(|_| bad("bad content-length"))?;
            if expected != reply.body.len() {
                return Err(bad("body shorter than content-length"));
            }
        }
        assert_ne!(
            reply.header("transfer-encoding"),
            Some("chunked"),
            "not supported here"
        );
        Ok(reply)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a redirect to `redirect_uri` and returns its query parameters.
    pub fn redirect_params(&self, redirect_uri: &str) -> HashMap<String, String> {
        let location = self
            .header("location")
            .unwrap_or_else(|| panic!("no Location in {:?}", self.headers));
        let (base, query) = location.split_once('?').unwrap_or((location, ""));
        assert_eq!(base, redirect_uri);
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Asserts an RFC 6749 §5.2 error and returns its description.
    pub fn assert_oauth_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert!(
            self.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{:?}",
            self.headers
        );
        let body = self.json();
        assert_eq!(body["error"], code, "{}", self.body);
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
