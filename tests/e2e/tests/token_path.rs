//! The core token path end to end: single-flight through twgd, the locked fallback, the
//! peer-uid check, crash safety, bad input, and secrets kept out of every output.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, text};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

/// Spawns `n` `twg auth token` processes at once and collects their outputs.
fn many_tokens(env: &Env, n: usize) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            env.twg_cmd(&["auth", "token"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn twg")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect()
}

fn assert_one_token(outputs: &[Output]) -> String {
    let mut tokens = std::collections::BTreeSet::new();
    for o in outputs {
        let (out, err) = text(o);
        assert!(o.status.success(), "twg auth token failed: {err}");
        tokens.insert(out.trim().to_string());
    }
    assert_eq!(tokens.len(), 1, "every process must get the same token");
    tokens.into_iter().next().unwrap()
}

/// `twg auth refresh --force` succeeds and the stored refresh token is the server's current one.
fn refresh_succeeds_and_stores_a_current_token(env: &Env, idp: &Idp) {
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let state = idp.refresh_token_state(&env.refresh_token());
    assert_eq!(state["state"], "current", "{state}");
}

fn introspect_active(idp: &Idp, token: &str) -> bool {
    let (status, body) = twg_e2e::http::form(
        &format!("{}/oauth/introspect", idp.url),
        &[("token", token)],
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["active"] == true
}

#[test]
fn two_hundred_concurrent_clients_cause_one_refresh_through_the_daemon() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    // Reset before the token goes stale: the daemon's scheduler may refresh it on its own
    // right away, and that refresh and the clients' requests must add up to one.
    idp.reset_counters();
    env.make_stale();
    let outputs = many_tokens(&env, 200);
    let token = assert_one_token(&outputs);
    assert_eq!(
        idp.refresh_requests(),
        1,
        "exactly one token-endpoint request"
    );
    assert_eq!(idp.token_requests(), 1);
    assert_eq!(
        token,
        env.access_token(),
        "the served token is the stored one"
    );
    assert!(
        introspect_active(&idp, &token),
        "the served token is valid at the server"
    );
}

#[test]
fn fifty_concurrent_clients_without_the_daemon_refresh_once_under_the_lock() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    idp.reset_counters();
    let outputs = many_tokens(&env, 50);
    let token = assert_one_token(&outputs);
    assert_eq!(idp.refresh_requests(), 1, "exactly one refresh request");
    // auth.conf parses and holds the rotated, usable refresh token.
    let creds = env.credentials();
    assert_eq!(creds.oauth.as_ref().unwrap().access_token.expose(), token);
    let state = idp.refresh_token_state(&env.refresh_token());
    assert_eq!(state["state"], "current", "{state}");
    assert!(introspect_active(&idp, &token));
}

#[test]
fn auth_refresh_is_a_no_op_when_fresh_and_rotates_with_force() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    idp.reset_counters();
    let out = env.twg(&["auth", "refresh"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.refresh_requests(), 0);
    let before = env.refresh_token();
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.refresh_requests(), 1);
    assert_ne!(env.refresh_token(), before, "--force rotates");
}

/// Runs `program args` as uid/gid 65534 (nobody).
#[test]
fn another_uid_cannot_use_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let token = env.access_token();
    let twg = twg_e2e::bin("twg");
    // Sanity: nobody can run twg at all (otherwise every refusal below proves nothing).
    let out = env.as_nobody(&twg, &["--version"]);
    assert!(
        out.status.success(),
        "twg must run as nobody: {:?}",
        text(&out)
    );

    // As deployed: the 0700 socket directory keeps other users out entirely.
    let out = env.as_nobody(&twg, &["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ermission denied") || stderr.contains("refusing"),
        "refused for the directory: {stderr}"
    );
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // Defence in depth: even with the directory and socket opened up, and a client that
    // skips every client-side check, the daemon's peer-uid check refuses the request.
    let sock_dir = env.socket.parent().unwrap();
    for dir in [env.dir.path(), env.runtime_dir.as_path(), sock_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&env.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let raw = twg_e2e::bin("twg-raw-client");
    let socket = env.socket.display().to_string();
    let out = env.as_nobody(&raw, &[&socket]);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.starts_with("PermissionDenied") && stdout.contains("uid 65534"),
        "expected PERMISSION_DENIED from the daemon's uid check: {stdout}{stderr}"
    );
    assert!(!stdout.contains(&token));
    // The real client refuses this socket on its own (the peer runs as root).
    let out = env.as_nobody(&twg, &["auth", "token"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("refusing"), "{:?}", text(&out));
    // The rightful user is still served.
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), token);
}

/// Where a SIGKILL landed in one round, read from the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Landed {
    /// No refresh request reached the server (or it never acted on it).
    BeforeRotation,
    /// The server rotated, and the rotated token is what `auth.conf` holds.
    AfterSave,
    /// The server rotated, and the process died before saving: the one window no client
    /// can close (with a strict server the grant is then lost; twg must not make it worse).
    BetweenRotationAndSave,
}

/// Kills `twg auth refresh --force` (and twgd, when `daemon`) at pseudo-random moments,
/// against a strict server (no reuse leeway), and classifies every round. The stored
/// refresh token must be the server's current one unless the kill fell between the
/// rotation and the save, and rounds must land on both sides of the request.
fn kill_9_rounds(daemon: bool) {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = logged_in(&idp);
    let mut rng = if daemon {
        0x2545F4914F6CDD1Du64
    } else {
        0x9E3779B97F4A7C15
    };
    let mut seen = std::collections::BTreeMap::<Landed, u32>::new();
    for round in 0..30 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // The server answers after 30 ms; kills land from 0 to 90 ms after the client starts.
        let kill_after = (rng >> 8) % 90;
        idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 30, "count": 0}));
        let old = env.refresh_token();
        let before = idp.refresh_requests();
        let mut d = daemon.then(|| env.start_daemon());
        let client = env
            .twg_cmd(&["auth", "refresh", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut client = twg_e2e::Proc { child: client };
        std::thread::sleep(Duration::from_millis(kill_after));
        if let Some(d) = d.as_mut() {
            d.kill();
        }
        client.kill();
        // Let the server finish a request it is still delaying, so the verdict is final.
        std::thread::sleep(Duration::from_millis(60));
        let stored = env.refresh_token();
        let stored_state = idp.refresh_token_state(&stored)["state"].clone();
        let old_state = idp.refresh_token_state(&old)["state"].clone();
        let landed = if stored == old && old_state == "current" {
            Landed::BeforeRotation
        } else if stored != old && stored_state == "current" {
            Landed::AfterSave
        } else if stored == old && old_state == "rotated_expired" {
            Landed::BetweenRotationAndSave
        } else {
            panic!(
                "round {round} (kill after {kill_after} ms): stored token {stored_state}, previous {old_state}, \
                 {} requests",
                idp.refresh_requests() - before
            );
        };
        if landed == Landed::BeforeRotation {
            assert!(
                idp.refresh_requests() - before <= 1,
                "round {round}: at most the one request"
            );
        }
        *seen.entry(landed).or_default() += 1;
        if landed == Landed::BetweenRotationAndSave {
            // The grant is gone at a strict server; start over with a new login.
            idp.fault(serde_json::json!({"mode": "none"}));
            env.login(&idp, &[]);
        }
    }
    idp.fault(serde_json::json!({"mode": "none"}));
    eprintln!("where the kills landed: {seen:?}");
    assert!(
        seen.contains_key(&Landed::BeforeRotation) && seen.contains_key(&Landed::AfterSave),
        "kills must land on both sides of the request: {seen:?}"
    );
    assert_eq!(
        idp.counters()["spent_refresh_requests"],
        0,
        "no spent refresh token was ever sent: {seen:?}"
    );
    refresh_succeeds_and_stores_a_current_token(&env, &idp);
}

#[test]
fn kill_9_of_twgd_during_refreshes_never_loses_a_saved_refresh_token() {
    kill_9_rounds(true);
}

#[test]
fn kill_9_of_the_fallback_client_during_its_save_never_loses_a_saved_refresh_token() {
    kill_9_rounds(false);
}

#[test]
fn a_corrupt_auth_conf_is_reported_and_left_untouched() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let garbage = b"version = 1\ngeneration = 2\n[oauth\nthis is not toml \x00\xff";
    std::fs::write(env.auth_path(), garbage).unwrap();
    for args in [
        &["auth", "token"][..],
        &["auth", "status"],
        &["auth", "refresh"],
    ] {
        let out = env.twg(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {stderr}");
        assert!(
            stderr.contains("auth.conf") && stderr.contains("twg login"),
            "{stderr}"
        );
    }
    let daemon = env.start_daemon();
    let out = env.twg(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(78), "{:?}", text(&out));
    assert_eq!(
        std::fs::read(env.auth_path()).unwrap(),
        garbage,
        "never overwritten"
    );
    drop(daemon);
    let out = env.twg(&["doctor"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "doctor found a problem: {:?}",
        text(&out)
    );
    assert!(text(&out).0.contains("auth.conf"), "{:?}", text(&out));
}

#[test]
fn garbage_on_the_socket_does_not_hurt_the_daemon() {
    use std::io::Write;
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    for chunk in [
        &b"\x00\x01\x02garbage\xff\xfe"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\x00\x00\x00\x00\x00junk",
    ] {
        let mut s = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
        let _ = s.write_all(chunk);
        drop(s);
    }
    // Half-open connections that never speak must not block others either.
    let _idle: Vec<_> = (0..20)
        .map(|_| std::os::unix::net::UnixStream::connect(&env.socket).unwrap())
        .collect();
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), env.access_token());
}

/// Forces a refresh through the daemon while the token endpoint misbehaves.
fn broken_endpoint_case(fault: serde_json::Value, expect_in_message: &str) {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[network]\ntimeout_seconds = 2\n",
    )
    .unwrap();
    let _daemon = env.start_daemon();
    let before = std::fs::read(env.auth_path()).unwrap();
    let rt = env.refresh_token();
    idp.fault(fault);
    let started = Instant::now();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(75), "{stdout}{stderr}");
    assert!(stderr.contains(expect_in_message), "{stderr}");
    assert!(stderr.contains("retry"), "says what to do: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !stderr.contains(&rt) && !stderr.contains("at_"),
        "no token in errors: {stderr}"
    );
    assert_eq!(
        std::fs::read(env.auth_path()).unwrap(),
        before,
        "nothing lost on disk"
    );
    idp.fault(serde_json::json!({"mode": "none"}));
    // The daemon keeps serving the still-valid token, and refreshes once the server recovers.
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    refresh_succeeds_and_stores_a_current_token(&env, &idp);
}

#[test]
fn an_html_error_page_from_the_token_endpoint_is_a_clear_temporary_error() {
    broken_endpoint_case(serde_json::json!({"mode": "html", "count": 0}), "HTML page");
}

/// A refresh that reached the server and whose answer is unusable may have rotated the
/// token: against a server not known to tolerate reuse it is not retried, the session is
/// kept (the access token stays usable) and the message says what happened.
fn lost_answer_case(fault: serde_json::Value, expect_in_message: &str) {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[network]\ntimeout_seconds = 2\n",
    )
    .unwrap();
    let _daemon = env.start_daemon();
    let rt = env.refresh_token();
    let at = env.access_token();
    idp.reset_counters();
    idp.fault(fault);
    let started = Instant::now();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stdout}{stderr}");
    assert!(stderr.contains(expect_in_message), "{stderr}");
    assert!(stderr.contains("answer was lost"), "{stderr}");
    assert!(stderr.contains("twg login"), "says what to do: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !stderr.contains(&rt) && !stderr.contains(&at),
        "no token in errors: {stderr}"
    );
    assert_eq!(env.refresh_token(), rt, "the session is kept");
    idp.fault(serde_json::json!({"mode": "none"}));
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), at);
    assert_eq!(idp.refresh_requests(), 1, "sent once, never again");
}

#[test]
fn a_truncated_token_response_is_never_retried_against_a_strict_server() {
    lost_answer_case(
        serde_json::json!({"mode": "truncated", "count": 0}),
        "truncated JSON",
    );
}

#[test]
fn a_hanging_token_endpoint_times_out_and_is_not_retried() {
    lost_answer_case(serde_json::json!({"mode": "hang", "count": 0}), "timed out");
}

#[test]
fn a_response_lost_after_rotation_is_recovered_within_the_leeway() {
    let idp = Idp::start(&["--reuse-leeway", "600"]);
    let env = logged_in(&idp);
    // twg retries a lost answer only for a server known to honour a reuse leeway.
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[oauth]\nreuse_leeway = true\n",
    )
    .unwrap();
    idp.fault(serde_json::json!({"mode": "drop_after_rotate", "count": 1}));
    refresh_succeeds_and_stores_a_current_token(&env, &idp);
}

#[test]
fn an_expired_session_says_run_twg_login_with_exit_77() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let rt = env.refresh_token();
    let (status, body) = twg_e2e::http::form(
        &format!("{}/oauth/revoke", idp.url),
        &[
            ("token", rt.as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", "twg-dev-client"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    env.make_stale();
    let out = env.twg(&["auth", "token"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("twg login"), "{stderr}");
    let daemon = env.start_daemon();
    let out = env.twg(&["--json", "auth", "token"]);
    assert_eq!(out.status.code(), Some(77));
    let envelope: serde_json::Value =
        serde_json::from_str(text(&out).1.trim()).expect("JSON envelope");
    assert_eq!(envelope["error"]["code"], "AUTH_EXPIRED");
    drop(daemon);
}

#[test]
fn no_secret_reaches_logs_or_error_output() {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    env.set("TWG_LOG", "trace");
    let _daemon = env.start_daemon();
    let mut seen = String::new();
    let mut tokens = vec![env.access_token(), env.refresh_token()];
    for args in [
        &["auth", "refresh", "--force"][..],
        &["auth", "status"],
        &["auth", "status", "--json"],
        &["doctor"],
        &["doctor", "--json"],
        &["daemon", "status"],
    ] {
        let out = env.twg(args);
        let (o, e) = text(&out);
        seen.push_str(&o);
        seen.push_str(&e);
        tokens.push(env.access_token());
        tokens.push(env.refresh_token());
    }
    // `auth token` prints the access token on stdout on purpose; its stderr stays clean.
    let out = env.twg(&["auth", "token"]);
    seen.push_str(&text(&out).1);
    drop(_daemon);
    // The fallback path too, with tracing on.
    env.make_stale();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (o, e) = text(&out);
    seen.push_str(&o);
    seen.push_str(&e);
    tokens.push(env.access_token());
    tokens.push(env.refresh_token());
    seen.push_str(&env.daemon_log());
    assert!(
        env.daemon_log().contains("refreshed access token"),
        "the log was captured"
    );
    for t in tokens {
        assert!(!seen.contains(&t), "a token leaked into output or logs");
    }
}

#[test]
fn a_second_daemon_exits_with_a_distinct_code() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let out = env.command(twg_e2e::bin("twgd")).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{:?}", text(&out));
    assert!(text(&out).1.contains("already running"));
}

#[test]
fn the_daemon_removes_its_socket_on_sigterm() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let mut daemon = env.start_daemon();
    assert!(env.socket.exists());
    assert_eq!(daemon.terminate(), Some(0));
    assert!(!env.socket.exists());
    // And the client falls back to direct work.
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success());
    let _ = Command::new("true").status();
}

/// A tiny tmpfs mounted over a directory, unmounted on drop.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(dir: &std::path::Path) -> TinyFs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount (the tests run as root)");
        assert!(ok.success(), "mounting a tmpfs needs root");
        TinyFs(dir.to_path_buf())
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_save_that_fails_after_rotation_keeps_the_new_tokens_in_the_daemon_until_saved() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = Env::new(&idp.url);
    let _fs = TinyFs::mount(&env.config_dir);
    env.login(&idp, &[]);
    let _daemon = env.start_daemon();
    let old_rt = env.refresh_token();
    let old_at = env.access_token();
    // The token endpoint answers slowly: the preflight passes, then the disk fills up
    // before the rotated tokens come back.
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 1500, "count": 1}));
    let sent = idp.token_requests();
    let refresh = twg_e2e::Proc {
        child: env
            .twg_cmd(&["auth", "refresh", "--force"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    };
    // The request is at the server (counted on arrival, before the delay): fill the disk.
    twg_e2e::wait_until(
        "the refresh to reach the server",
        Duration::from_secs(20),
        || idp.token_requests() > sent,
    );
    let filler = env.config_dir.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
    let out = twg_e2e::wait_within(refresh, Duration::from_secs(30), "twg auth refresh");
    assert!(
        out.status.success(),
        "the daemon serves the rescued tokens: {:?}",
        text(&out)
    );
    assert_eq!(
        env.refresh_token(),
        old_rt,
        "the full disk kept the old file"
    );
    let served = text(&env.twg(&["auth", "token"])).0.trim().to_string();
    assert_ne!(served, old_at, "the new access token is served from memory");
    assert!(introspect_active(&idp, &served));
    let status = text(&env.twg(&["auth", "status"])).0;
    assert!(
        status.contains("could not be saved"),
        "status says so: {status}"
    );
    // With room again, the daemon saves the new tokens by itself.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.refresh_token() == old_rt {
        assert!(
            Instant::now() < deadline,
            "twgd never saved the rescued tokens"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
    assert_eq!(env.access_token(), served);
}
