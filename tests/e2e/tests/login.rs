//! `twg login` / `twg logout` end to end against the dev authorization server: a real
//! headless browser completing the verification page, denial, expiry, `slow_down`, site
//! choice, the Bitbucket token across `--force`, revocation on logout, the daemon path,
//! API tokens, the 30-day idle rule, and secrets kept out of argv and logs.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, text};

/// A `twg login` in progress, with its code and URL read from stderr.
struct Running {
    child: Child,
    code: String,
    uri: String,
    stderr: Arc<Mutex<String>>,
    stderr_done: std::sync::mpsc::Receiver<()>,
}

impl Running {
    fn finish(self) -> (Output, String) {
        let out = twg_e2e::wait_within(
            twg_e2e::Proc { child: self.child },
            Duration::from_secs(60),
            "twg login",
        );
        // The reader thread copies stderr until the pipe closes: wait for the end of it.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(5));
        let err = self.stderr.lock().unwrap().clone();
        (out, err)
    }
}

fn start_login(env: &Env, extra: &[&str]) -> Running {
    let mut args = vec!["login", "--no-browser"];
    args.extend_from_slice(extra);
    let mut child = env
        .twg_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twg login");
    let stderr = child.stderr.take().expect("stderr");
    let seen = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, stderr_done) = std::sync::mpsc::channel();
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut code = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    let _ = tx.send(None);
                    let _ = done_tx.send(());
                    return;
                }
                seen.lock().unwrap().push_str(&line);
                if let Some(c) = line.split("one-time code:").nth(1) {
                    code = Some(c.trim().to_string());
                }
                if let (Some(c), Some(u)) = (&code, line.split("Then open:").nth(1)) {
                    let _ = tx.send(Some((c.clone(), u.trim().to_string())));
                }
            }
        });
    }
    let got = rx.recv_timeout(Duration::from_secs(20)).ok().flatten();
    let Some((code, uri)) = got else {
        let _ = child.kill();
        panic!("twg login printed no code:\n{}", seen.lock().unwrap());
    };
    Running {
        child,
        code,
        uri,
        stderr: seen,
        stderr_done,
    }
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

/// Completes the verification page in headless Chromium (`approve` or `deny`).
fn browser(uri: &str, code: &str, mode: &str) {
    let dir = conformance_dir();
    if !dir.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .arg("ci")
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the browser tests (`npm ci` in tests/conformance)");
        assert!(st.success(), "`npm ci` in tests/conformance failed");
    }
    let out = Command::new("node")
        .arg(dir.join("approve-device.mjs"))
        .args([uri, code, mode])
        .output()
        .expect("node is needed for the browser tests");
    let (stdout, stderr) = text(&out);
    let want = if mode == "approve" {
        "APPROVED"
    } else {
        "DENIED"
    };
    assert!(
        out.status.success() && stdout.trim_end().ends_with(want),
        "approve-device.mjs {mode} failed:\n{stdout}\n{stderr}"
    );
}

fn code_of(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

/// Adds a Bitbucket token to `auth.conf` (format v1 `[bitbucket] token`), atomically.
fn seed_bitbucket(env: &Env, token: &str) {
    let path = env.auth_path();
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut bb = toml::Table::new();
    bb.insert("token".into(), token.into());
    doc.insert("bitbucket".into(), bb.into());
    let generation = doc["generation"].as_integer().unwrap();
    doc.insert("generation".into(), (generation + 1).into());
    twg_common::atomic::write_atomic(&path, toml::to_string(&doc).unwrap().as_bytes()).unwrap();
    assert_eq!(env.credentials().bitbucket_token.unwrap().expose(), token);
}

fn sites_args() -> Vec<&'static str> {
    vec![
        "--site",
        "s1,alpha,https://alpha.example.test",
        "--site",
        "s2,beta,https://beta.example.test",
    ]
}

#[test]
fn browser_approval_logs_in_and_picks_the_only_site() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let run = start_login(&env, &[]);
    browser(&run.uri, &run.code, "approve");
    let (out, err) = run.finish();
    let (stdout, _) = text(&out);
    assert_eq!(code_of(&out), 0, "{stdout}\n{err}");
    assert_eq!(
        stdout,
        format!(
            "✔ Authentication successful!\n✔ Authenticated as Dev User (dev@example.test)\n✔ Credentials saved to {}\n",
            env.auth_path().display()
        )
    );
    let creds = env.credentials();
    assert_eq!(creds.site.expect("site chosen").id, "site-1");
    let o = creds.oauth.expect("oauth");
    assert!(
        o.scopes.iter().any(|s| s == "offline_access"),
        "{:?}",
        o.scopes
    );
    assert!(o.refresh_token.is_some());
    assert_eq!(idp.counters()["device_authorizations"], 1);
}

#[test]
fn browser_denial_exits_77_and_says_so() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let run = start_login(&env, &[]);
    browser(&run.uri, &run.code, "deny");
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 77, "{err}");
    assert!(err.contains("denied") && err.contains("twg login"), "{err}");
    assert!(!env.auth_path().exists());
}

#[test]
fn expired_code_exits_77_with_a_clear_message() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let run = start_login(&env, &[]);
    idp.post("/admin/expire-device-codes", serde_json::json!({}));
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 77, "{err}");
    assert!(
        err.contains("expired") && err.contains("twg login"),
        "{err}"
    );
}

/// An HTTP/1.1 relay in front of the token endpoint that sends one device-code poll twice,
/// back to back: the dev server then answers the second copy with `slow_down` by its own
/// pacing rule (RFC 8628 §3.5), and that answer is what the client receives.
struct PollRelay {
    url: String,
    polls: Arc<Mutex<Vec<Instant>>>,
}

fn read_http(stream: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if stream.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

fn forward(upstream: &str, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(upstream).expect("upstream");
    s.write_all(request).unwrap();
    read_http(&mut BufReader::new(s)).expect("upstream response")
}

impl PollRelay {
    fn start(upstream: &str, duplicate_poll: usize) -> PollRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let p = polls.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (upstream, polls) = (upstream.clone(), p.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut writer = conn;
                    while let Some(req) = read_http(&mut reader) {
                        if String::from_utf8_lossy(&req).contains("device_code=") {
                            let n = {
                                let mut v = polls.lock().unwrap();
                                v.push(Instant::now());
                                v.len()
                            };
                            if n == duplicate_poll {
                                forward(&upstream, &req);
                            }
                        }
                        let resp = forward(&upstream, &req);
                        if writer.write_all(&resp).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        PollRelay { url, polls }
    }
}

#[test]
fn slow_down_lengthens_the_poll_interval_and_the_login_still_completes() {
    let idp = Idp::start(&[]);
    let relay = PollRelay::start(&idp.url, 2);
    let mut env = Env::new(&idp.url);
    env.unset("TWG_OAUTH_ISSUER");
    std::fs::create_dir_all(&env.config_dir).unwrap();
    std::fs::write(
        env.config_dir.join("config.toml"),
        format!(
            "[oauth]\nissuer = \"{}\"\ntoken_endpoint = \"{}/oauth/token\"\n",
            idp.url, relay.url
        ),
    )
    .unwrap();
    let run = start_login(&env, &[]);
    // Poll 2 is answered slow_down; the next poll must come 1 + 5 = 6 s later.
    let deadline = Instant::now() + Duration::from_secs(20);
    while relay.polls.lock().unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "the client stopped polling");
        std::thread::sleep(Duration::from_millis(50));
    }
    idp.post(
        "/admin/approve",
        serde_json::json!({ "user_code": run.code }),
    );
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 0, "{err}");
    let polls = relay.polls.lock().unwrap().clone();
    let gaps: Vec<f64> = polls
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    assert!(
        gaps[0] >= 0.9 && gaps[0] < 3.0,
        "before slow_down the interval is 1 s: {gaps:?}"
    );
    assert!(
        gaps[1] >= 5.9,
        "after slow_down the interval grows by 5 s: {gaps:?}"
    );
    assert!(gaps[2] >= 5.9, "and stays grown: {gaps:?}");
    assert!(err.contains("checking every 6s"), "{err}");
    // The server saw every client poll plus the relay's duplicate.
    assert_eq!(
        idp.counters()["device_token_polls"].as_u64().unwrap() as usize,
        polls.len() + 1
    );
    assert!(env.credentials().oauth.is_some());
}

#[test]
fn site_flag_chooses_among_several_and_non_tty_without_it_is_a_clear_error() {
    let mut args = sites_args();
    args.push("--auto-approve");
    let idp = Idp::start(&args);
    let env = Env::new(&idp.url);
    let out = env.twg(&["login", "--no-browser", "--site", "beta"]);
    assert_eq!(code_of(&out), 0, "{:?}", text(&out));
    assert_eq!(env.credentials().site.unwrap().id, "s2");

    let out = env.twg(&["login", "--no-browser"]);
    let (_, err) = text(&out);
    assert_eq!(code_of(&out), 2, "{err}");
    assert!(
        err.contains("stdin is not a terminal") && err.contains("--site"),
        "{err}"
    );
    assert!(err.contains("alpha") && err.contains("beta"), "{err}");
    // The earlier login is untouched.
    assert_eq!(env.credentials().site.unwrap().id, "s2");

    let out = env.twg(&["login", "--no-browser", "--site", "gamma"]);
    let (_, err) = text(&out);
    assert_eq!(code_of(&out), 2, "{err}");
    assert!(err.contains("no site matches `gamma`"), "{err}");
}

#[test]
fn relogin_keeps_the_bitbucket_token_and_force_drops_it() {
    let idp = Idp::start(&["--auto-approve"]);
    let env = Env::new(&idp.url);
    assert_eq!(code_of(&env.twg(&["login", "--no-browser"])), 0);
    seed_bitbucket(&env, "bb-token-value");
    let first_rt = env.refresh_token();
    let out = env.twg(&["login", "--no-browser"]);
    assert_eq!(code_of(&out), 0, "{:?}", text(&out));
    let creds = env.credentials();
    assert_eq!(creds.bitbucket_token.unwrap().expose(), "bb-token-value");
    assert_ne!(
        env.refresh_token(),
        first_rt,
        "re-authentication got new tokens"
    );

    let out = env.twg(&["login", "--no-browser", "--force"]);
    let (_, err) = text(&out);
    assert_eq!(code_of(&out), 0, "{err}");
    assert!(env.credentials().bitbucket_token.is_none());
    assert!(
        err.contains("--force removed the stored Bitbucket token"),
        "{err}"
    );
}

#[test]
fn logout_revokes_at_the_server_and_the_old_refresh_token_is_rejected() {
    let idp = Idp::start(&["--auto-approve"]);
    let env = Env::new(&idp.url);
    assert_eq!(code_of(&env.twg(&["login", "--no-browser"])), 0);
    let saved = std::fs::read(env.auth_path()).unwrap();
    let rt = env.refresh_token();
    assert_eq!(idp.refresh_token_state(&rt)["usable"], true);
    let out = env.twg(&["logout"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code_of(&out), 0, "{stderr}");
    assert!(stdout.contains("✔ Revoked at the server"), "{stdout}");
    assert!(!env.auth_path().exists());
    assert_eq!(idp.counters()["revocations"], 2);
    assert_eq!(idp.refresh_token_state(&rt)["usable"], false);
    // The revoked refresh token, put back, is refused: the session is over.
    std::fs::write(env.auth_path(), &saved).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (_, err) = text(&out);
    assert_eq!(code_of(&out), 77, "{err}");
    assert!(err.contains("twg login"), "{err}");
    // Logging out again is harmless and says so.
    std::fs::remove_file(env.auth_path()).unwrap();
    let out = env.twg(&["logout"]);
    assert_eq!(code_of(&out), 0);
    assert!(text(&out).1.contains("Not logged in"));
}

#[test]
fn logout_removes_locally_when_revocation_fails_and_keeps_bitbucket_unless_all() {
    let idp = Idp::start(&["--auto-approve"]);
    let env = Env::new(&idp.url);
    assert_eq!(code_of(&env.twg(&["login", "--no-browser"])), 0);
    seed_bitbucket(&env, "bb-kept");
    let rt = env.refresh_token();
    let at = env.access_token();
    idp.fault(serde_json::json!({"endpoint": "revoke", "mode": "status", "status": 503}));
    let out = env.twg(&["logout"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code_of(&out), 0, "{stderr}");
    assert!(
        stderr.contains("! Could not revoke:")
            && stderr.contains("the tokens were removed locally anyway"),
        "{stderr}"
    );
    assert!(!stdout.contains("Revoked at the server"), "{stdout}");
    assert!(stderr.contains("Kept the Bitbucket token"), "{stderr}");
    let left = env.credentials();
    assert!(left.oauth.is_none() && left.user.is_none());
    assert_eq!(left.bitbucket_token.unwrap().expose(), "bb-kept");
    // The server never heard of the logout, so the token is still live there.
    assert_eq!(idp.refresh_token_state(&rt)["usable"], true);
    for secret in [&rt, &at] {
        assert!(!stderr.contains(secret.as_str()) && !stdout.contains(secret.as_str()));
    }
    // Logged out: commands say to log in.
    let out = env.twg(&["auth", "token"]);
    assert_eq!(code_of(&out), 77);

    let out = env.twg(&["logout", "--all"]);
    assert_eq!(code_of(&out), 0);
    assert!(text(&out).0.contains("Removed the Bitbucket token"));
    assert!(!env.auth_path().exists());
}

#[test]
fn through_twgd_login_and_logout_update_the_daemon() {
    let idp = Idp::start(&sites_args());
    let env = Env::new(&idp.url);
    let _daemon = env.start_daemon();
    // Several sites, --site given: chosen by the daemon.
    let run = start_login(&env, &["--site", "alpha"]);
    idp.post(
        "/admin/approve",
        serde_json::json!({ "user_code": run.code }),
    );
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 0, "{err}");
    assert!(text(&out).0.contains("✔ Authenticated as Dev User"));
    assert!(
        env.daemon_log().contains("device login started"),
        "{}",
        env.daemon_log()
    );
    assert_eq!(env.credentials().site.unwrap().id, "s1");
    // The daemon serves the new token at once.
    let out = env.twg(&["auth", "token", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "daemon");
    assert_eq!(v["access_token"].as_str().unwrap(), env.access_token());

    // Several sites, none given, no terminal: the daemon asks, the client says what to do.
    let run = start_login(&env, &[]);
    idp.post(
        "/admin/approve",
        serde_json::json!({ "user_code": run.code }),
    );
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 2, "{err}");
    assert!(
        err.contains("stdin is not a terminal") && err.contains("--site"),
        "{err}"
    );

    let rt = env.refresh_token();
    let out = env.twg(&["logout"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code_of(&out), 0, "{stderr}");
    assert!(stdout.contains("✔ Revoked at the server"), "{stdout}");
    assert!(env.daemon_log().contains("logged out"));
    assert_eq!(idp.refresh_token_state(&rt)["usable"], false);
    let out = env.twg(&["auth", "token"]);
    let (_, err) = text(&out);
    assert_eq!(code_of(&out), 77, "{err}");
    assert!(err.contains("twg login"), "{err}");
}

#[test]
fn with_token_stores_an_api_token_that_auth_token_returns() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let out = env.twg_with_stdin(
        &["login", "--with-token", "--user", "ada@example.test"],
        b"ATATT-api-token-value\n",
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(code_of(&out), 0, "{stderr}");
    assert!(stdout.contains("id.atlassian.com"), "{stdout}");
    assert!(!stdout.contains("ATATT") && !stderr.contains("ATATT"));
    let o = env.credentials().oauth.unwrap();
    assert_eq!(o.token_type, twg_common::api_token::API_TOKEN_TYPE);
    assert!(o.refresh_token.is_none());
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), "ATATT-api-token-value");
    // Through the daemon too.
    let _daemon = env.start_daemon();
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), "ATATT-api-token-value");
    // Nothing to revoke over OAuth; it is removed locally and the page is named.
    let out = env.twg(&["logout"]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("API tokens cannot be revoked by twg"),
        "{stderr}"
    );
    assert_eq!(idp.counters()["revocations"], 0);
    assert!(!env.auth_path().exists());

    // An empty stdin is refused with the page to create one.
    let out = env.twg(&["login", "--with-token"]);
    assert_eq!(code_of(&out), 2);
    assert!(text(&out).1.contains("id.atlassian.com"));
}

#[test]
fn refresh_token_idle_for_30_days_means_log_in_again_with_and_without_twgd() {
    let idp = Idp::start(&["--auto-approve"]);
    let env = Env::new(&idp.url);
    assert_eq!(code_of(&env.twg(&["login", "--no-browser"])), 0);
    env.make_stale();
    let path = env.auth_path();
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let old = twg_common::time::now_unix() - 31 * 86_400;
    doc["oauth"]
        .as_table_mut()
        .unwrap()
        .insert("refresh_token_issued_at".into(), old.into());
    twg_common::atomic::write_atomic(&path, toml::to_string(&doc).unwrap().as_bytes()).unwrap();
    idp.reset_counters();
    for with_daemon in [false, true] {
        let _d = with_daemon.then(|| env.start_daemon());
        let out = env.twg(&["auth", "token"]);
        let (_, err) = text(&out);
        assert_eq!(code_of(&out), 77, "daemon={with_daemon}: {err}");
        assert!(
            err.contains("session expired") && err.contains("twg login"),
            "{err}"
        );
    }
    assert_eq!(
        idp.refresh_requests(),
        0,
        "an idle-expired token is never sent"
    );
}

fn proc_cmdlines() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            out.push((pid, String::from_utf8_lossy(&raw).replace('\0', " ")));
        }
    }
    out
}

fn assert_not_in_argv(secrets: &[&str]) {
    for (pid, cmd) in proc_cmdlines() {
        for s in secrets {
            assert!(!cmd.contains(s), "a token is in the argv of pid {pid}");
        }
    }
}

#[test]
fn tokens_never_reach_argv_logs_or_output() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.set("TWG_LOG", "debug");
    let daemon = env.start_daemon();
    let mut outputs = String::new();
    let run = start_login(&env, &[]);
    idp.post(
        "/admin/approve",
        serde_json::json!({ "user_code": run.code }),
    );
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 0, "{err}");
    outputs.push_str(&format!("{}{err}", text(&out).0));
    let (at1, rt1) = (env.access_token(), env.refresh_token());
    // A second login in progress while twgd runs: scan every process's argv.
    let run = start_login(&env, &[]);
    assert_not_in_argv(&[&at1, &rt1]);
    idp.post(
        "/admin/approve",
        serde_json::json!({ "user_code": run.code }),
    );
    let (out, err) = run.finish();
    assert_eq!(code_of(&out), 0, "{err}");
    outputs.push_str(&format!("{}{err}", text(&out).0));
    let (at2, rt2) = (env.access_token(), env.refresh_token());
    assert_not_in_argv(&[&at1, &rt1, &at2, &rt2]);
    for args in [
        vec!["auth", "refresh", "--force"],
        vec!["auth", "status"],
        vec!["auth", "status", "--json"],
    ] {
        let out = env.twg(&args);
        let (o, e) = text(&out);
        outputs.push_str(&o);
        outputs.push_str(&e);
    }
    let (at3, rt3) = (env.access_token(), env.refresh_token());
    assert_ne!(rt3, rt2, "the forced refresh rotated");
    let out = env.twg(&["logout"]);
    outputs.push_str(&format!("{}{}", text(&out).0, text(&out).1));
    drop(daemon);
    let log = env.daemon_log();
    assert!(
        log.contains("device login started"),
        "the daemon ran the logins:\n{log}"
    );
    for s in [&at1, &rt1, &at2, &rt2, &at3, &rt3] {
        assert!(!log.contains(s.as_str()), "a token is in twgd's log");
        assert!(!outputs.contains(s.as_str()), "a token is in twg's output");
    }
}

#[test]
fn twgd_stops_polling_when_the_client_goes_away() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let _daemon = env.start_daemon();
    let mut run = start_login(&env, &[]);
    let polls = || idp.counters()["device_token_polls"].as_u64().unwrap();
    twg_e2e::wait_until(
        "twgd to poll for the client",
        Duration::from_secs(20),
        || polls() >= 1,
    );
    run.child.kill().unwrap();
    let _ = run.child.wait();
    twg_e2e::wait_until(
        "twgd to notice the client left",
        Duration::from_secs(20),
        || env.daemon_log().contains("device login abandoned"),
    );
    let after_kill = polls();
    // Absence takes time to show: three poll intervals (1 s each) with no poll.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(
        idp.counters()["device_token_polls"].as_u64().unwrap(),
        after_kill,
        "twgd kept polling after the client went away"
    );
    assert!(
        env.daemon_log().contains("device login abandoned"),
        "{}",
        env.daemon_log()
    );
}
