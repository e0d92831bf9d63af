//! README promises about the network and where things live: `HTTP_PROXY`/`HTTPS_PROXY` are
//! honoured and `NO_PROXY` bypasses them, redirects are never followed, response bodies are
//! capped at 1 MiB, `TWG_LOG` turns on `twg`'s logs (which never show a token), and the
//! config root and socket fall back to the XDG, then home, directories.
//!
//! The proxy, the relay in front of the dev server and the counting listeners are tiny
//! HTTP/1.1 servers in this file: one request per connection, always answered with
//! `Connection: close`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use twg_e2e::{Env, Idp, Proc, text};

// --- the test servers --------------------------------------------------------------------

/// One HTTP/1.1 request as read off a socket.
#[derive(Debug)]
struct Request {
    method: String,
    /// As sent: origin form (`/oauth/token`), absolute form (`http://host/path`) for a
    /// proxy, or authority form (`host:port`) for `CONNECT`.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn is_refresh(&self) -> bool {
        self.method == "POST"
            && self.target.ends_with("/oauth/token")
            && String::from_utf8_lossy(&self.body).contains("grant_type=refresh_token")
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

type Handler = dyn Fn(&Request, u16) -> Vec<u8> + Send + Sync;

/// A loopback HTTP server: counts connections, records each request line, and writes what
/// `handle(request, own_port)` returns.
struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(handle: impl Fn(&Request, u16) -> Vec<u8> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let port = listener.local_addr().expect("local addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handle: Arc<Handler> = Arc::new(handle);
        let (c, s) = (connections.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (s, handle) = (s.clone(), handle.clone());
                std::thread::spawn(move || {
                    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
                    let Some(req) = read_request(&stream) else {
                        return;
                    };
                    s.lock()
                        .unwrap()
                        .push(format!("{} {}", req.method, req.target));
                    let answer = handle(&req, port);
                    // The client may close early (a capped body): not this server's failure.
                    let _ = stream.write_all(&answer);
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Server {
            port,
            connections,
            seen,
        }
    }

    /// A listener that only counts who connects (its answer is a 500).
    fn counting() -> Server {
        Server::start(|_, _| response("500 Internal Server Error", &[], b"{}"))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, line: &str) -> usize {
        self.seen().iter().filter(|l| *l == line).count()
    }
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends `req` to `addr` as `path` (origin form) and returns the answer, re-framed with a
/// Content-Length (de-chunked) and `Connection: close`, its body passed through `edit`.
fn forward(addr: &str, path: &str, req: &Request, edit: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let Ok(mut up) = TcpStream::connect(addr) else {
        return response("502 Bad Gateway", &[], b"");
    };
    up.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut head = format!("{} {path} HTTP/1.1\r\n", req.method);
    for (k, v) in &req.headers {
        let hop = ["connection", "proxy-connection", "keep-alive"];
        if !hop.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut raw = Vec::new();
    if up.write_all(head.as_bytes()).is_err()
        || up.write_all(&req.body).is_err()
        || up.read_to_end(&mut raw).is_err()
    {
        return response("502 Bad Gateway", &[], b"");
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("upstream answer has a head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .map(|(_, s)| s.to_string())
        .expect("status line");
    let mut headers = Vec::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        {
            body = dechunk(&body);
        }
        let framing = ["content-length", "transfer-encoding", "connection"];
        if !framing.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    response(&status, &headers, &edit(body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// A forward proxy as `HTTP_PROXY` expects one: relays absolute-form requests, refuses
/// `CONNECT` (so an https target is seen arriving here, and goes no further).
fn proxy() -> Server {
    Server::start(|req, _| {
        if req.method == "CONNECT" {
            return response("502 Bad Gateway", &[], b"");
        }
        let rest = req
            .target
            .strip_prefix("http://")
            .expect("an absolute-form target");
        let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        forward(addr, if path.is_empty() { "/" } else { path }, req, |b| b)
    })
}

/// The issuer `twg` is pointed at: it forwards everything to the dev server (whose own URL
/// it rewrites to its own in every answer, so the metadata names it and every endpoint is
/// on its origin), except refresh requests while `refresh_answer` holds a canned answer.
fn relay(idp: &Idp, refresh_answer: Arc<Mutex<Option<Vec<u8>>>>) -> Server {
    let idp_url = idp.url.clone();
    Server::start(move |req, port| {
        if req.is_refresh()
            && let Some(answer) = refresh_answer.lock().unwrap().clone()
        {
            return answer;
        }
        let addr = idp_url.strip_prefix("http://").expect("http dev server");
        let me = format!("http://127.0.0.1:{port}");
        forward(addr, &req.target, req, |body| {
            String::from_utf8(body)
                .expect("the dev server answers text")
                .replace(&idp_url, &me)
                .into_bytes()
        })
    })
}

// --- running twg with a deadline ---------------------------------------------------------

fn run_within(mut cmd: Command, limit: Duration, what: &str) -> Output {
    let proc = Proc {
        child: cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    };
    let pid = proc.pid();
    let (tx, rx) = mpsc::channel();
    // `wait_with_output` drains both pipes, so a chatty (debug-logging) twg never blocks.
    std::thread::spawn(move || {
        let _ = tx.send(twg_e2e::wait_with_output(proc));
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not finish within {limit:?}")
        }
    }
}

fn twg(env: &Env, args: &[&str]) -> Output {
    run_within(
        env.twg_cmd(args),
        Duration::from_secs(60),
        &format!("twg {args:?}"),
    )
}

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

fn state_of(idp: &Idp, token: &str) -> String {
    idp.refresh_token_state(token)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn json_error(stderr: &str) -> serde_json::Value {
    serde_json::from_str(stderr.trim())
        .unwrap_or_else(|_| panic!("a JSON error envelope on stderr: {stderr}"))
}

// --- 1. proxies --------------------------------------------------------------------------

/// A forced refresh goes through `HTTP_PROXY` (the dev server is plain http, so that is the
/// variable that applies; reqwest does not exempt loopback), and `NO_PROXY` bypasses it.
fn refresh_through_the_proxy(daemon: bool) {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    let proxy = proxy();
    let token_line = format!("POST {}/oauth/token", idp.url);
    let round = |env: &mut Env, no_proxy: Option<&str>| {
        env.set("HTTP_PROXY", &proxy.url());
        match no_proxy {
            Some(v) => env.set("NO_PROXY", v),
            None => env.unset("NO_PROXY"),
        }
        // Through the daemon, only twgd has the proxy settings: the client's own are
        // removed, so the request can only have been routed by twgd.
        let d = daemon.then(|| env.start_daemon());
        if daemon {
            env.unset("HTTP_PROXY");
            env.unset("NO_PROXY");
        }
        let before = (env.refresh_token(), idp.refresh_requests());
        let out = twg(env, &["auth", "refresh", "--force"]);
        assert!(out.status.success(), "{no_proxy:?}: {:?}", text(&out));
        drop(d);
        let after = env.refresh_token();
        assert_ne!(after, before.0, "the refresh rotated");
        assert_eq!(state_of(&idp, &after), "current");
        assert_eq!(idp.refresh_requests(), before.1 + 1);
    };
    round(&mut env, None);
    let proxied = proxy.count(&token_line);
    assert_eq!(
        proxied,
        1,
        "the token request went through HTTP_PROXY: {:?}",
        proxy.seen()
    );
    round(&mut env, Some("127.0.0.1"));
    assert_eq!(
        proxy.count(&token_line),
        proxied,
        "NO_PROXY bypassed the proxy: {:?}",
        proxy.seen()
    );
}

#[test]
fn http_proxy_is_honoured_and_no_proxy_bypasses_it_without_the_daemon() {
    refresh_through_the_proxy(false);
}

#[test]
fn http_proxy_is_honoured_and_no_proxy_bypasses_it_through_the_daemon() {
    refresh_through_the_proxy(true);
}

/// An https issuer is reached through `HTTPS_PROXY` (a `CONNECT` for its host and port,
/// which this proxy refuses), and directly with `NO_PROXY`. No TLS server is needed: what
/// counts is where twg's connection goes.
#[test]
fn https_proxy_receives_the_connect_and_no_proxy_goes_direct() {
    let target = Server::counting();
    let proxy = proxy();
    let mut env = Env::new(&format!("https://127.0.0.1:{}", target.port));
    env.set("HTTPS_PROXY", &proxy.url());
    let connect = format!("CONNECT 127.0.0.1:{}", target.port);
    let out = twg(&env, &["login", "--no-browser"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    assert!(
        proxy.count(&connect) >= 1,
        "twg asked the proxy for a tunnel: {:?}",
        proxy.seen()
    );
    assert_eq!(target.connections(), 0, "nothing went around the proxy");
    let through_proxy = proxy.seen().len();
    env.set("NO_PROXY", "127.0.0.1");
    let out = twg(&env, &["login", "--no-browser"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    assert_eq!(proxy.seen().len(), through_proxy, "{:?}", proxy.seen());
    assert!(
        target.connections() >= 1,
        "NO_PROXY: twg connected directly"
    );
    assert!(!env.auth_path().exists());
}

// --- 2. no redirects ---------------------------------------------------------------------

#[test]
fn a_redirected_refresh_is_not_followed_and_the_token_is_kept() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let answer = Arc::new(Mutex::new(None));
    let relay = relay(&idp, answer.clone());
    let elsewhere = Server::counting();
    let env = Env::new(&relay.url());
    env.login(&idp, &[]);
    let rt = env.refresh_token();
    idp.reset_counters();
    let location = format!("{}/oauth/token", elsewhere.url());
    *answer.lock().unwrap() = Some(response(
        "307 Temporary Redirect",
        &[("Location", &location)],
        b"",
    ));
    for daemon in [false, true] {
        let _d = daemon.then(|| env.start_daemon());
        let before = relay.connections();
        let out = twg(&env, &["--json", "auth", "refresh", "--force"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "daemon {daemon}: {stdout}{stderr}"
        );
        let e = json_error(&stderr);
        assert_eq!(e["error"]["code"], "REFRESH_REJECTED", "{e}");
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("307"), "names the redirect: {message}");
        assert!(!stderr.contains(&rt) && !stdout.contains(&rt));
        assert!(relay.connections() > before, "the 307 was received");
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the redirect was never followed"
    );
    assert_eq!(idp.refresh_requests(), 0);
    let stored = env.credentials().oauth.expect("[oauth]");
    assert_eq!(stored.refresh_token.expect("refresh token").expose(), rt);
    assert!(stored.halted.is_none(), "a 3xx proves no rotation");
    assert_eq!(state_of(&idp, &rt), "current");
    // The kept token still works once the server behaves.
    *answer.lock().unwrap() = None;
    let out = twg(&env, &["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
    assert_eq!(idp.refresh_requests(), 1);
}

// --- 3. the 1 MiB body cap ---------------------------------------------------------------

/// A valid token response padded to `size` bytes.
fn token_answer(access: &str, refresh: &str, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600,"refresh_token":"{refresh}","scope":"read:me offline_access","padding":""#
    );
    let pad = size - head.len() - 2;
    let body = format!("{head}{}\"}}", "x".repeat(pad));
    assert_eq!(body.len(), size);
    serde_json::from_str::<serde_json::Value>(&body).expect("valid JSON");
    response(
        "200 OK",
        &[
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn a_token_answer_over_1_mib_is_refused_and_nothing_is_saved() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let answer = Arc::new(Mutex::new(None));
    let relay = relay(&idp, answer.clone());
    let env = Env::new(&relay.url());
    env.login(&idp, &[]);
    // Control: the same kind of answer at 512 KiB is read and saved.
    *answer.lock().unwrap() = Some(token_answer("relay-at-small", "relay-rt-small", 512 << 10));
    let out = twg(&env, &["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(env.refresh_token(), "relay-rt-small");
    // 2 MiB: refused. A 2xx that cannot be read after the request was sent is an answer
    // lost against a strict server: the session is halted, exit 77.
    *answer.lock().unwrap() = Some(token_answer("relay-at-big", "relay-rt-big", 2 << 20));
    let mut cmd = env.command("/usr/bin/time");
    cmd.args(["-f", "TWG_MAX_RSS_KB=%M"])
        .arg(twg_e2e::bin("twg"))
        .args(["--json", "auth", "refresh", "--force"]);
    let out = run_within(cmd, Duration::from_secs(60), "twg auth refresh (2 MiB)");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stdout}{stderr}");
    // twg's one JSON line, then /usr/bin/time's lines.
    let e = json_error(stderr.lines().next().unwrap_or_default());
    let rss = stderr
        .rsplit_once("TWG_MAX_RSS_KB=")
        .expect("/usr/bin/time's line")
        .1;
    assert_eq!(e["error"]["code"], "REFRESH_HALTED", "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("larger than 1048576 bytes") && message.contains("will not send"),
        "{message}"
    );
    let rss_kb: u64 = rss.trim().parse().expect("max RSS in KiB");
    assert!(rss_kb < 64 << 10, "twg peaked at {rss_kb} KiB");
    let auth = std::fs::read_to_string(env.auth_path()).unwrap();
    assert!(!auth.contains("relay-rt-big") && !auth.contains("relay-at-big"));
    let stored = env.credentials().oauth.expect("[oauth]");
    assert_eq!(
        stored.refresh_token.expect("refresh token").expose(),
        "relay-rt-small"
    );
    assert_eq!(
        stored.halted.map(|h| h.reason),
        Some(twg_common::store::HaltReason::AnswerLost)
    );
    // As documented: the access token is served until it expires.
    let out = twg(&env, &["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), "relay-at-small");
    assert_eq!(
        idp.refresh_requests(),
        0,
        "every refresh was answered by the relay"
    );
}

// --- 4. TWG_LOG ---------------------------------------------------------------------------

#[test]
fn twg_log_turns_on_the_clients_logs_and_they_never_show_a_token() {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    let mut tokens = vec![env.access_token(), env.refresh_token()];
    let mut run = |env: &Env| {
        let mut stderr = String::new();
        for args in [&["auth", "refresh", "--force"][..], &["auth", "status"]] {
            let out = twg(env, args);
            let (o, e) = text(&out);
            assert!(out.status.success(), "{args:?}: {o}{e}");
            tokens.push(env.access_token());
            tokens.push(env.refresh_token());
            for t in &tokens {
                assert!(!o.contains(t.as_str()), "{args:?} printed a token");
            }
            stderr.push_str(&e);
        }
        stderr
    };
    let quiet = run(&env);
    for level in ["TRACE", "DEBUG", "INFO", "WARN"] {
        assert!(!quiet.contains(level), "no logs without TWG_LOG: {quiet}");
    }
    env.set("TWG_LOG", "debug");
    let logged = run(&env);
    assert!(
        logged.lines().filter(|l| l.contains("DEBUG")).count() >= 2,
        "debug lines on stderr: {logged}"
    );
    for t in &tokens {
        assert!(!logged.contains(t.as_str()), "a token reached the log");
    }
}

// --- 5. path fallbacks -------------------------------------------------------------------

/// Stops the daemon `twg daemon start` started, by its pid, even when the test fails.
struct Started(u64);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Without `TWG_CONFIG_DIR`/`TWG_SOCKET`: a login lands in `config_root`, and
/// `twg daemon start` binds `socket` (0600, in a 0700 directory), which the client finds.
fn falls_back_to(mut env: Env, idp: &Idp, config_root: &Path, socket: &Path) {
    env.unset("TWG_CONFIG_DIR");
    env.unset("TWG_SOCKET");
    // std's temp dir, which must stay untouched (no `twg-<uid>` socket directory there).
    let tmp = env.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    env.set("TMPDIR", &tmp.display().to_string());
    let default_root = env.config_dir.clone();
    env.config_dir = config_root.to_path_buf();
    env.socket = socket.to_path_buf();
    env.login(idp, &[]);
    assert!(env.auth_path().exists(), "auth.conf in {config_root:?}");
    assert_eq!(mode(&env.auth_path()), 0o600);
    assert_eq!(mode(config_root), 0o700);
    if default_root != config_root {
        assert!(!default_root.exists(), "nothing in {default_root:?}");
    }
    let out = twg(&env, &["--json", "daemon", "start"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let started: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    let _guard = Started(started["pid"].as_u64().expect("pid"));
    let meta = std::fs::symlink_metadata(socket).unwrap_or_else(|e| panic!("{socket:?}: {e}"));
    assert!(meta.file_type().is_socket());
    assert_eq!(mode(socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    let out = twg(&env, &["daemon", "status"]);
    assert!(
        out.status.success(),
        "the client finds it: {:?}",
        text(&out)
    );
    let out = twg(&env, &["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), env.access_token());
    let out = twg(&env, &["daemon", "stop"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!socket.exists());
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "the shared temp dir was used: {left:?}");
}

#[test]
fn config_and_socket_fall_back_to_the_xdg_directories() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    let xdg_config = env.dir.path().join("xdg-config");
    let xdg_runtime = env.dir.path().join("xdg-runtime");
    std::fs::create_dir(&xdg_runtime).unwrap();
    std::fs::set_permissions(&xdg_runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.set("XDG_CONFIG_HOME", &xdg_config.display().to_string());
    env.set("XDG_RUNTIME_DIR", &xdg_runtime.display().to_string());
    let (root, socket) = (xdg_config.join("twg"), xdg_runtime.join("twg/twgd.sock"));
    falls_back_to(env, &idp, &root, &socket);
}

#[test]
fn without_xdg_directories_config_and_socket_fall_back_to_home() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.unset("XDG_CONFIG_HOME");
    env.unset("XDG_RUNTIME_DIR");
    env.unset("XDG_CACHE_HOME");
    let home = env.home.clone();
    let (root, socket) = (
        home.join(".config/twg"),
        home.join(".cache/twg/run/twgd.sock"),
    );
    falls_back_to(env, &idp, &root, &socket);
}
