//! The auth-injecting API proxy (`api.sock`): real `curl` talks plain HTTP over the Unix
//! socket to a real twgd, which forwards over HTTPS to `twg-test-upstream` on 127.0.0.1
//! (its test CA trusted through `network.ca_file`). The upstream accepts only a bearer the
//! dev authorization server still accepts, and logs what reached it.
//!
//! Slightly over 400 lines on purpose: every test shares the `Setup` below (upstream, dev
//! server with the upstream as its site, login, `config.toml`, twgd).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use twg_e2e::{Env, Idp, Proc, bin, wait_until};

struct Setup {
    _dir: tempfile::TempDir,
    _upstream: Proc,
    upstream_log: PathBuf,
    port: u16,
    idp: Idp,
    env: Env,
    daemon: Proc,
}

impl Setup {
    /// Upstream, dev server (whose site is the upstream), login, `config.toml`, twgd.
    fn start(extra_api_config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let idp_file = dir.path().join("idp-url");
        let upstream_log = dir.path().join("upstream.jsonl");
        let mut upstream = Proc {
            child: Command::new(bin("twg-test-upstream"))
                .arg(&idp_file)
                .arg(&upstream_log)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn twg-test-upstream"),
        };
        let mut line = String::new();
        BufReader::new(upstream.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("TWG_TEST_UPSTREAM_PORT=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the upstream: {line:?}"));
        let base = format!("https://localhost:{port}");
        let idp = Idp::start(&["--site", &format!("site-1,dev-site,{base}")]);
        std::fs::write(&idp_file, &idp.url).unwrap();
        let env = Env::new(&idp.url);
        env.login(&idp, &[]);
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/upstream-ca.pem");
        std::fs::write(
            env.config_dir.join("config.toml"),
            format!(
                "[network]\nca_file = \"{}\"\n\n[api]\nproxy = true\nbase_url = \"{base}\"\n\
                 max_request_bytes = 4096\n{extra_api_config}",
                ca.display()
            ),
        )
        .unwrap();
        let daemon = env.start_daemon();
        Setup {
            _dir: dir,
            _upstream: upstream,
            upstream_log,
            port,
            idp,
            env,
            daemon,
        }
    }

    fn api_socket(&self) -> PathBuf {
        self.env.socket.with_file_name("api.sock")
    }

    /// `curl -i` through the proxy; returns (status, response head, body).
    fn curl(&self, args: &[&str], path: &str) -> (u16, String, String) {
        let out = self
            .env
            .command("curl")
            .args(["-sS", "-i", "--unix-socket"])
            .arg(self.api_socket())
            .args(args)
            .arg(format!("http://twg{path}"))
            .output()
            .expect("run curl");
        parse_curl(&String::from_utf8_lossy(&out.stdout))
    }

    /// Every request that reached the upstream, oldest first.
    fn upstream_requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.upstream_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn parse_curl(out: &str) -> (u16, String, String) {
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in curl's output: {out:?}"));
    (status, head.to_string(), body.to_string())
}

fn require_bwrap() {
    let ok = Command::new("bwrap")
        .args(["--dev-bind", "/", "/", "--unshare-net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "bubblewrap is required: apt-get install -y bubblewrap");
}

#[test]
fn an_agent_without_network_reaches_the_api_without_ever_holding_a_token() {
    require_bwrap();
    let s = Setup::start("");
    let env = &s.env;
    // The agent: no network, the config directory hidden, only the API socket to talk to.
    // The test's tokens go to the sandbox on stdin, only for the grep that proves no file
    // it can read holds them.
    let script = r#"
        curl -sS -i --unix-socket "$API" "http://twg/me?secret=hunter2"; echo "@@"
        curl -sS --max-time 5 "https://localhost:$PORT/me" >/dev/null 2>&1 && echo direct-ok || echo direct-failed; echo "@@"
        ls -A "$TWG_CONFIG_DIR"; echo "@@"
        env; echo "@@"
        grep -rlsF -f /dev/stdin "$SEARCH"; echo "grep-exit=$?"
    "#;
    let cfg = env.config_dir.display().to_string();
    let mut child = env
        .command("bwrap")
        .args([
            "--dev-bind",
            "/",
            "/",
            "--unshare-net",
            "--tmpfs",
            &cfg,
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("API", s.api_socket())
        .env("PORT", s.port.to_string())
        .env("SEARCH", env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bwrap");
    let secrets = format!("{}\n{}\n", env.access_token(), env.refresh_token());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secrets.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let parts: Vec<&str> = stdout.split("@@\n").collect();
    assert_eq!(
        parts.len(),
        5,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, head, body) = parse_curl(parts[0]);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(body.contains("\"email\""), "the upstream's answer: {body}");
    assert_eq!(
        parts[1].trim(),
        "direct-failed",
        "the sandbox has no network"
    );
    assert_eq!(parts[2].trim(), "", "the config directory is hidden");
    let access = env.access_token();
    assert!(!parts[3].contains(&access), "no token in its environment");
    assert!(!parts[3].contains("TWG_TOKEN"), "{}", parts[3]);
    assert_eq!(
        parts[4].trim(),
        "grep-exit=1",
        "no file it can read holds a token"
    );
    // Audited: who, what and the status, never the query string.
    let mut record = serde_json::Value::Null;
    wait_until("the proxy's audit record", Duration::from_secs(5), || {
        let out = env.twg(&["auth", "audit", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        record = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .flat_map(|v| match v {
                serde_json::Value::Array(a) => a,
                serde_json::Value::Object(ref o) if o.contains_key("records") => {
                    o["records"].as_array().cloned().unwrap_or_default()
                }
                other => vec![other],
            })
            .find(|r| r["via"] == "api")
            .unwrap_or_default();
        !record.is_null()
    });
    assert_eq!(record["method"], "GET", "{record}");
    assert_eq!(record["path"], "/me", "{record}");
    assert_eq!(record["status"], 200, "{record}");
    assert!(record["pid"].is_number(), "{record}");
    for (what, text) in [
        ("audit log", audit_text(env)),
        ("twgd log", env.daemon_log()),
    ] {
        assert!(!text.contains("hunter2"), "{what} holds the query string");
        assert!(!text.contains(&access), "{what} holds the token");
    }
}

fn audit_text(env: &Env) -> String {
    let state = env.config_dir.join("state");
    std::fs::read_to_string(state.join("audit.jsonl")).unwrap_or_default()
}

#[test]
fn the_callers_credentials_never_reach_upstream_and_cookies_never_come_back() {
    let s = Setup::start("");
    let (status, head, body) = s.curl(
        &[
            "-H",
            "Authorization: Bearer forged",
            "-H",
            "Cookie: session=forged",
            "-H",
            "Proxy-Authorization: Basic Zm9yZ2Vk",
        ],
        "/me",
    );
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        !head.to_ascii_lowercase().contains("set-cookie"),
        "upstream's cookie is dropped: {head}"
    );
    let seen = s.upstream_requests();
    let last = seen.last().expect("the request reached the upstream");
    assert_eq!(last["authorization_headers"], 1, "{last}");
    assert_eq!(last["forged"], false, "{last}");
    assert_eq!(last["cookie"], false, "{last}");
    assert_eq!(last["proxy_authorization"], false, "{last}");
    assert_eq!(last["accepted"], true, "{last}");
    assert_eq!(last["host"], format!("localhost:{}", s.port), "{last}");

    // Only origin-form requests: an absolute URL or CONNECT names another server.
    let (status, _, body) = s.curl(&["--request-target", "http://evil.example/me"], "/me");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("origin form"), "{body}");
    assert_eq!(s.upstream_requests().len(), seen.len(), "nothing forwarded");
}

#[test]
fn a_rotation_in_the_middle_of_a_stream_of_requests_causes_exactly_one_refresh() {
    let s = Setup::start("");
    s.idp.reset_counters();
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..12 {
                    let (status, _, _) = s.curl(&[], "/me");
                    statuses.lock().unwrap().push(status);
                }
            });
        }
        wait_until("some requests", Duration::from_secs(30), || {
            s.upstream_requests().len() >= 8
        });
        // The access token expires under the stream of requests.
        s.env.make_stale();
    });
    let statuses = statuses.into_inner().unwrap();
    assert_eq!(statuses.len(), 48);
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    assert_eq!(
        s.idp.refresh_requests(),
        1,
        "one refresh for the whole stream"
    );
    assert!(
        s.upstream_requests().iter().all(|r| r["accepted"] == true),
        "every request carried a token the server accepted"
    );
}

fn revoke(s: &Setup, token: &str) {
    let (status, body) = twg_e2e::http::form(
        &format!("{}/oauth/revoke", s.idp.url),
        &[("token", token), ("client_id", "twg-dev-client")],
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_upstream_401_refreshes_once_and_repeats_only_requests_without_a_body() {
    let mut s = Setup::start("");
    s.idp.reset_counters();
    // The server stops accepting the current token (revoked, as after a password change).
    revoke(&s, &s.env.access_token());
    let (status, _, body) = s.curl(&[], "/me");
    assert_eq!(status, 200, "repeated with a fresh token: {body}");
    assert_eq!(s.idp.refresh_requests(), 1);

    revoke(&s, &s.env.access_token());
    let before = s.upstream_requests().len();
    let (status, _, _) = s.curl(&["-X", "POST", "--data-binary", "payload"], "/me");
    assert_eq!(status, 401, "a request with a body is not sent twice");
    let posts: Vec<_> = s.upstream_requests()[before..].to_vec();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["body_len"], 7, "the body was forwarded");
    assert_eq!(s.idp.refresh_requests(), 2, "but the token was refreshed");
    let (status, _, _) = s.curl(&[], "/me");
    assert_eq!(status, 200);
    assert_eq!(s.idp.refresh_requests(), 2, "and the next request uses it");

    // The size cap, with and without a declared length; nothing that large goes upstream.
    let big = "x".repeat(5000);
    let before = s.upstream_requests().len();
    let (status, _, body) = s.curl(&["-X", "POST", "--data-binary", &big], "/me");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("api.max_request_bytes"), "{body}");
    assert_eq!(s.upstream_requests().len(), before);
    let (status, _, body) = s.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &big,
        ],
        "/me",
    );
    assert_eq!(status, 413, "{body}");
    s.daemon.terminate();
    assert!(
        !s.api_socket().exists(),
        "twgd removes api.sock when it stops"
    );
}

#[test]
fn a_read_only_proxy_forwards_only_safe_methods() {
    let s = Setup::start("read_only = true\n");
    let (status, _, body) = s.curl(&["-X", "POST", "--data-binary", "x"], "/me");
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("read-only"), "{body}");
    assert!(s.upstream_requests().is_empty(), "nothing reached upstream");
    let (status, _, _) = s.curl(&[], "/me");
    assert_eq!(status, 200);
}

#[test]
fn other_uids_are_refused_on_the_agent_and_api_sockets() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::start("");
    let env = &s.env;
    let token = env.access_token();
    // Defence in depth: with the directories and sockets opened up (as deployed, the 0700
    // directory keeps other users out), only twgd's own peer-uid check stands.
    let sock_dir = env.socket.parent().unwrap();
    for dir in [env.dir.path(), env.runtime_dir.as_path(), sock_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let agent_socket = env.socket.with_file_name("agent.sock");
    for sock in [&agent_socket, &s.api_socket()] {
        std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let raw = bin("twg-raw-client");
    let out = env.as_nobody(&raw, &[&agent_socket.display().to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("PermissionDenied") && stdout.contains("uid 65534"),
        "the agent socket checks the peer's uid: {stdout}"
    );
    assert!(!stdout.contains(&token));

    let curl = PathBuf::from("/usr/bin/curl");
    let api = s.api_socket().display().to_string();
    let out = env.as_nobody(
        &curl,
        &["-sS", "-i", "--unix-socket", &api, "http://twg/me"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "no answer for another uid: {stdout}");
    assert!(!stdout.contains("HTTP/1.1"), "{stdout}");
    assert!(s.upstream_requests().is_empty(), "nothing was forwarded");
    // The rightful user is still served.
    assert_eq!(s.curl(&[], "/me").0, 200);
}
