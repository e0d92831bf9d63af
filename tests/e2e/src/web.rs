//! Driving `twg login --web` from tests: start it, read the authorization URL it prints,
//! complete the consent pages in headless Chromium (`tests/conformance/approve-web.mjs`)
//! or deliver a callback by hand, and collect the outcome. Every wait has a deadline.

use crate::{Env, Proc};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

pub fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

/// `twg setup oauth-app` for `client_id` and `redirect_uri`, the secret on stdin (never in
/// argv); fails the test unless it succeeds.
pub fn setup_oauth_app(env: &Env, client_id: &str, redirect_uri: &str, secret: &str) {
    let out = env.twg_with_stdin(
        &[
            "setup",
            "oauth-app",
            "--client-id",
            client_id,
            "--redirect-uri",
            redirect_uri,
            "--with-secret",
        ],
        secret.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", crate::text(&out));
}

/// A `twg login --web --no-browser` in progress.
#[derive(Debug)]
pub struct WebLogin {
    pub proc: Proc,
    /// The authorization URL twg printed.
    pub url: String,
    stderr: Arc<Mutex<String>>,
    stderr_done: std::sync::mpsc::Receiver<()>,
}

impl WebLogin {
    /// Starts the login and waits (at most 20 s) for its authorization URL.
    pub fn start(env: &Env, extra: &[&str]) -> WebLogin {
        let mut args = vec!["login", "--web", "--no-browser"];
        args.extend_from_slice(extra);
        let mut proc = Proc {
            child: env
                .twg_cmd(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn twg login --web"),
        };
        let stderr = proc.child.stderr.take().expect("stderr");
        let seen = Arc::new(Mutex::new(String::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut next_is_url = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        let _ = done_tx.send(());
                        return;
                    }
                    seen.lock().unwrap().push_str(&line);
                    if next_is_url {
                        let _ = url_tx.send(line.trim().to_string());
                        next_is_url = false;
                    }
                    if line.contains("in your browser") {
                        next_is_url = true;
                    }
                }
            });
        }
        match url_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => WebLogin {
                proc,
                url,
                stderr: seen,
                stderr_done: done_rx,
            },
            Err(_) => {
                proc.kill();
                panic!(
                    "twg login --web printed no authorization URL within 20 s:\n{}",
                    seen.lock().unwrap()
                );
            }
        }
    }

    /// A query parameter of the authorization URL.
    pub fn param(&self, name: &str) -> String {
        url_param(&self.url, name).unwrap_or_else(|| panic!("no {name} in {}", self.url))
    }

    /// Waits (at most `limit`) for twg to exit; returns its output, stderr included.
    pub fn finish(mut self, limit: Duration) -> Output {
        let mut stdout = self.proc.child.stdout.take().expect("stdout");
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.proc.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                self.proc.kill();
                panic!(
                    "twg login --web did not end within {limit:?}:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(5));
        Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: self.stderr.lock().unwrap().clone().into_bytes(),
        }
    }
}

/// A query parameter of `url`, decoded.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The outcome of `approve-web.mjs`.
#[derive(Debug)]
pub struct Browser {
    pub code: Option<i32>,
    /// The last stdout line (`REDIRECTED <url>` when the browser landed on the callback).
    pub result: String,
    pub log: String,
}

/// Completes (or denies) the consent pages of `url` in headless Chromium.
pub fn browser(url: &str, mode: &str) -> Browser {
    let out = Command::new("node")
        .arg(conformance_dir().join("approve-web.mjs"))
        .args([url, mode])
        .env("APPROVE_TIMEOUT", "40")
        .stdin(Stdio::null())
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    Browser {
        code: out.status.code(),
        result: stdout.lines().last().unwrap_or("").to_string(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Sends a GET to `url` (a loopback callback) and returns the status line's code, or None
/// when nothing listens.
pub fn get_status(url: &str) -> Option<u16> {
    use std::io::Write;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        if path.is_empty() { "/" } else { path }
    )
    .ok()?;
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Answers the dev server's consent page over HTTP; returns the 303's `Location`.
pub fn consent_over_http(authorize_url: &str, decision: &str) -> String {
    let (status, page) = crate::http::request("GET", authorize_url, "text/plain", b"");
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 200, "{page}");
    let request_id = page
        .split("name=\"request_id\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap_or_else(|| panic!("no request_id on the consent page: {page}"))
        .to_string();
    let origin = authorize_url.split("/authorize").next().unwrap();
    let body = format!("request_id={request_id}&decision={decision}");
    let (status, head, _) = crate::http::request_with(
        "POST",
        &format!("{origin}/authorize"),
        "application/x-www-form-urlencoded",
        &[],
        body.as_bytes(),
    );
    assert_eq!(status, 303, "{head}");
    crate::http::header(&head, "location").expect("Location")
}
