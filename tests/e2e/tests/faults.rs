//! The token path under faults and attack, against the dev server in strict mode (a reused
//! refresh token revokes the whole grant) unless a case needs a leeway.
//!
//! Every case counts the refresh requests that carried an already-rotated refresh token
//! (`spent_refresh_requests` on the server): twg itself must never send one.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use twg_e2e::{Env, Idp, Proc, text};

fn strict_idp(extra: &[&str]) -> Idp {
    let mut args = vec!["--reuse-leeway", "0"];
    args.extend_from_slice(extra);
    Idp::start(&args)
}

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

fn spent(idp: &Idp) -> u64 {
    idp.counters()["spent_refresh_requests"]
        .as_u64()
        .expect("spent_refresh_requests")
}

fn state_of(idp: &Idp, token: &str) -> String {
    idp.refresh_token_state(token)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits for a child, failing the test (and killing it) after `limit`.
fn wait_within(child: Child, limit: Duration, what: &str) -> Output {
    twg_e2e::wait_within(Proc { child }, limit, what)
}

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.twg_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twg")
}

/// `auth.conf` bind-mounted over itself and made read-only, as a sandbox's per-file deny
/// rule does: the directory stays writable, but nothing can be renamed onto the file
/// (EBUSY). Unmounted on drop.
struct PinnedFile(std::path::PathBuf);

impl PinnedFile {
    fn pin(path: &std::path::Path) -> PinnedFile {
        let run = |args: &[&str]| {
            let ok = Command::new("mount")
                .args(args)
                .arg(path)
                .arg(path)
                .status()
                .expect("mount (the tests run as root)");
            assert!(ok.success(), "mount {args:?} needs root");
        };
        run(&["--bind"]);
        let pinned = PinnedFile(path.to_path_buf());
        let ok = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(path)
            .status()
            .expect("remount");
        assert!(ok.success(), "remount read-only");
        pinned
    }
}

impl Drop for PinnedFile {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// --- 1. min_valid that the server cannot meet -------------------------------------------

fn min_valid_is_bounded(env: &Env, idp: &Idp) {
    idp.reset_counters();
    // 3600 s is met by a token issued this very second and refused a second later; more
    // than the lifetime is always refused. Neither ever rotates.
    std::thread::sleep(Duration::from_millis(1100));
    for requested in ["3600", "7200", "86400"] {
        for _ in 0..3 {
            let out = env.twg(&["auth", "token", "--min-valid", requested]);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{requested}: {stdout}{stderr}");
            assert!(stdout.is_empty(), "no token is printed");
            assert!(
                stderr.contains("3600 s") && stderr.contains("--min-valid"),
                "names the server's lifetime: {stderr}"
            );
        }
    }
    // A request the server can meet is served (the fresh token already satisfies it).
    let out = env.twg(&["auth", "token", "--min-valid", "3000"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.refresh_requests(), 0, "no rotation for any of them");
}

#[test]
fn an_unmeetable_min_valid_never_rotates_through_the_daemon() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    min_valid_is_bounded(&env, &idp);
}

#[test]
fn an_unmeetable_min_valid_never_rotates_without_the_daemon() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    min_valid_is_bounded(&env, &idp);
}

/// With tokens shorter than the default `--min-valid` of 60 s, a token just obtained is
/// served, not rotated: many concurrent clients cause at most one refresh.
fn short_lived_tokens(daemon: bool) {
    let idp = strict_idp(&["--access-token-ttl", "40"]);
    let env = logged_in(&idp);
    let _daemon = daemon.then(|| env.start_daemon());
    idp.reset_counters();
    let n = if daemon { 200 } else { 50 };
    let children: Vec<_> = (0..n).map(|_| spawn(&env, &["auth", "token"])).collect();
    let mut tokens = std::collections::BTreeSet::new();
    for c in children {
        let out = wait_within(c, Duration::from_secs(60), "twg auth token");
        assert!(out.status.success(), "{:?}", text(&out));
        tokens.insert(text(&out).0.trim().to_string());
    }
    assert!(
        idp.refresh_requests() <= 1,
        "{} refreshes for {n} clients",
        idp.refresh_requests()
    );
    assert!(tokens.len() <= 2, "{} different tokens", tokens.len());
    assert_eq!(spent(&idp), 0);
}

#[test]
fn short_lived_tokens_are_not_rotated_per_call_through_the_daemon() {
    short_lived_tokens(true);
}

#[test]
fn short_lived_tokens_are_not_rotated_per_call_without_the_daemon() {
    short_lived_tokens(false);
}

// --- 2, 3, 4. saves that fail ------------------------------------------------------------

#[test]
fn the_fallback_sends_nothing_when_auth_conf_cannot_be_replaced() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let rt = env.refresh_token();
    let before = std::fs::read(env.auth_path()).unwrap();
    idp.reset_counters();
    let _pin = PinnedFile::pin(&env.auth_path());
    let out = env.twg(&["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(73), "{stdout}{stderr}");
    assert!(stderr.contains("Nothing was sent"), "{stderr}");
    assert_eq!(idp.refresh_requests(), 0, "the preflight is the save");
    assert_eq!(std::fs::read(env.auth_path()).unwrap(), before);
    assert_eq!(state_of(&idp, &rt), "current");
}

#[test]
fn a_rotation_the_daemon_cannot_save_is_never_lost_and_the_spent_token_never_resent() {
    // 8 s tokens: twgd's own refresh at 75% comes due while auth.conf cannot be replaced.
    let idp = strict_idp(&["--access-token-ttl", "8"]);
    let env = logged_in(&idp);
    let daemon = env.start_daemon();
    let old_rt = env.refresh_token();
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 1500, "count": 1}));
    let sent = idp.token_requests();
    let refresh = spawn(&env, &["auth", "refresh", "--force"]);
    // The save was proven and the request is at the server (counted on arrival, before the
    // delay); now, while the server works, auth.conf becomes unreplaceable.
    twg_e2e::wait_until(
        "the refresh to reach the server",
        Duration::from_secs(20),
        || idp.token_requests() > sent,
    );
    let pin = PinnedFile::pin(&env.auth_path());
    let out = wait_within(refresh, Duration::from_secs(30), "twg auth refresh");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(env.refresh_token(), old_rt, "auth.conf could not change");
    assert_eq!(state_of(&idp, &old_rt), "rotated_expired");
    // The new tokens are served, and status says where they are.
    let served = text(&env.twg(&["auth", "token"])).0.trim().to_string();
    assert_ne!(served, env.access_token());
    let status = text(&env.twg(&["auth", "status", "--json"])).0;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let unsaved = status["unsaved"].as_str().unwrap_or_default().to_string();
    assert!(unsaved.contains("recovery record"), "{status}");
    // Let twgd's proactive refresh come due (and pass) while the file stays pinned, and
    // force refreshes too: the spent token in auth.conf is never sent.
    std::thread::sleep(Duration::from_secs(9));
    let forced = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(forced.status.code(), Some(73), "{:?}", text(&forced));
    assert_eq!(spent(&idp), 0, "the spent refresh token was sent again");
    // Stopping twgd keeps the rotated tokens and says where.
    let stop = env.twg(&["daemon", "stop"]);
    let (stdout, stderr) = text(&stop);
    assert!(stop.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("recovery record"), "{stderr}");
    drop(daemon);
    drop(pin);
    // Without twgd, the fallback adopts the record, completes the save and refreshes with
    // the newest token.
    let out = env.twg(&["auth", "refresh"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
    assert_eq!(spent(&idp), 0);
    let status = text(&env.twg(&["auth", "status", "--json"])).0;
    assert!(!status.contains("recovery record"), "{status}");
}

// --- 5. squatted sockets -----------------------------------------------------------------

/// A listener run as `nobody` on `socket` that counts the bytes clients send it.
struct Squatter {
    proc: Proc,
    received: std::path::PathBuf,
}

impl Squatter {
    /// `listen_as_nobody`: bind as root, then drop to uid 65534 before `listen()`, so the
    /// peer credentials clients see are nobody's.
    fn start(socket: &std::path::Path, received: &std::path::Path) -> Squatter {
        let script = r#"
import os, socket, sys, threading
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
open(out, "w").close(); os.chmod(out, 0o666)
os.setgid(65534); os.setuid(65534)
s.listen(64)
print("ready", flush=True)
total = 0
def serve(c):
    global total
    while True:
        d = c.recv(65536)
        if not d: break
        total += len(d)
        with open(out, "w") as f: f.write(str(total))
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(socket)
            .arg(received)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = [0u8; 6];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .expect("squatter ready");
        Squatter {
            proc: Proc { child },
            received: received.to_path_buf(),
        }
    }

    fn bytes(&self) -> u64 {
        std::fs::read_to_string(&self.received)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn refused(env: &Env, squatter: &Squatter, path_hint: &str) {
    for args in [
        &["auth", "token"][..],
        &["daemon", "status"],
        &["daemon", "start"],
        &["auth", "status"],
    ] {
        let out = wait_within(spawn(env, args), Duration::from_secs(30), "twg");
        let (stdout, stderr) = text(&out);
        if args == ["auth", "status"] {
            // Status reports it instead of failing the whole command.
            assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
            assert!(stdout.contains("refusing"), "{args:?}: {stdout}{stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(69), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("refusing") && stderr.contains(path_hint),
            "{args:?}: {stderr}"
        );
        assert!(!stdout.contains("at_"), "no token from the squatter");
    }
    assert_eq!(squatter.bytes(), 0, "nothing was sent to the squatter");
}

#[test]
fn a_socket_in_a_world_writable_directory_is_refused() {
    let idp = strict_idp(&[]);
    let mut env = logged_in(&idp);
    let dir = env.dir.path().join("shared-tmp");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let socket = dir.join("twgd.sock");
    env.set("TWG_SOCKET", &socket.display().to_string());
    let squatter = Squatter::start(&socket, &env.dir.path().join("received"));
    refused(&env, &squatter, "writable by other users");
    drop(squatter.proc);
}

#[test]
fn a_socket_served_by_another_uid_is_refused_even_in_a_private_directory() {
    let idp = strict_idp(&[]);
    let mut env = logged_in(&idp);
    let dir = env.dir.path().join("private");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let socket = dir.join("twgd.sock");
    env.set("TWG_SOCKET", &socket.display().to_string());
    let squatter = Squatter::start(&socket, &env.dir.path().join("received"));
    refused(&env, &squatter, "uid 65534");
    drop(squatter.proc);
}

#[test]
fn a_socket_directory_owned_by_another_user_is_refused() {
    let idp = strict_idp(&[]);
    let mut env = logged_in(&idp);
    let dir = env.dir.path().join("theirs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let socket = dir.join("twgd.sock");
    let squatter = Squatter::start(&socket, &env.dir.path().join("received"));
    let ok = Command::new("chown")
        .args(["65534:65534"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    env.set("TWG_SOCKET", &socket.display().to_string());
    refused(&env, &squatter, "belongs to uid 65534");
    drop(squatter.proc);
}

// --- 6. a stopped daemon -----------------------------------------------------------------

#[test]
fn a_stopped_daemon_hangs_no_client() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let daemon = env.start_daemon();
    let pid = daemon.pid().to_string();
    let stop = |sig: &str| {
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success());
    };
    stop("-STOP");
    // The token is fresh: the fallback serves it from the file.
    let out = wait_within(
        spawn(&env, &["auth", "token"]),
        Duration::from_secs(20),
        "twg auth token against a stopped twgd",
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), env.access_token());
    let out = wait_within(
        spawn(&env, &["daemon", "status"]),
        Duration::from_secs(20),
        "twg daemon status against a stopped twgd",
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(69), "{stdout}{stderr}");
    assert!(
        stderr.contains("not responding") && stderr.contains(&pid),
        "{stderr}"
    );
    stop("-CONT");
    let out = env.twg(&["daemon", "status"]);
    assert!(out.status.success(), "{:?}", text(&out));
}

// --- 7. answers lost or garbled after the server rotated --------------------------------

fn lost_answer(fault: &str, daemon: bool) {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let _daemon = daemon.then(|| env.start_daemon());
    let rt = env.refresh_token();
    let at = env.access_token();
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": fault, "count": 1}));
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{fault}: {stdout}{stderr}");
    assert!(
        stderr.contains("answer was lost") && stderr.contains("will not send"),
        "{fault}: says exactly what happened: {stderr}"
    );
    assert!(!stderr.contains(&rt) && !stderr.contains(&at));
    // The session is kept: the still-valid access token is served...
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{fault}: {:?}", text(&out));
    assert_eq!(text(&out).0.trim(), at);
    // ... and the refresh token that may be spent is never sent again.
    for _ in 0..3 {
        let out = env.twg(&["auth", "refresh", "--force"]);
        assert_eq!(out.status.code(), Some(77), "{:?}", text(&out));
    }
    assert_eq!(idp.refresh_requests(), 1, "{fault}: one request, no retry");
    assert_eq!(spent(&idp), 0, "{fault}");
    let status = text(&env.twg(&["auth", "status"])).0;
    assert!(status.contains("twg login"), "{status}");
}

#[test]
fn a_dropped_answer_after_rotation_is_never_retried_against_a_strict_server() {
    lost_answer("drop_after_rotate", true);
    lost_answer("drop_after_rotate", false);
}

#[test]
fn a_truncated_answer_after_rotation_is_never_retried_against_a_strict_server() {
    lost_answer("truncated_after_rotate", true);
}

#[test]
fn an_html_answer_after_rotation_is_never_retried_against_a_strict_server() {
    lost_answer("html_after_rotate", false);
}

#[test]
fn with_a_reuse_leeway_a_lost_answer_is_retried_once() {
    let idp = Idp::start(&["--reuse-leeway", "600"]);
    let env = logged_in(&idp);
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[oauth]\nreuse_leeway = true\n",
    )
    .unwrap();
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "truncated_after_rotate", "count": 1}));
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
    assert_eq!(idp.refresh_requests(), 2);
}

#[test]
fn errors_that_prove_no_rotation_are_retried() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 2}));
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.refresh_requests(), 3);
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
    assert_eq!(spent(&idp), 0);
}

/// What only twgd's single-flight gate does: clients that waited on a refresh that failed
/// take its error instead of each trying again. (Under the engine's lock alone, every client
/// would find the token unchanged and run its own three attempts against a failing server.)
#[test]
fn clients_waiting_on_a_failing_refresh_share_its_error_instead_of_retrying() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 1000}));
    let children: Vec<_> = (0..20)
        .map(|_| spawn(&env, &["auth", "refresh", "--force"]))
        .collect();
    for c in children {
        let out = wait_within(c, Duration::from_secs(120), "twg auth refresh --force");
        assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    }
    // One flight: the engine's three attempts (a straggler arriving after it ended may
    // start one more flight).
    let sent = idp.token_requests();
    assert!(
        sent <= 6,
        "{sent} token requests for 20 clients: waiters retried instead of sharing the error"
    );
    idp.fault(serde_json::json!({"mode": "none"}));
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
}

// --- 8. pinned endpoints -----------------------------------------------------------------

fn edit_auth_conf(env: &Env, edit: impl FnOnce(&mut toml::Table)) {
    let path = env.auth_path();
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    edit(doc.get_mut("oauth").unwrap().as_table_mut().unwrap());
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

#[test]
fn an_edited_token_endpoint_never_receives_the_refresh_token() {
    let idp = strict_idp(&[]);
    let attacker = Idp::start(&[]);
    let env = logged_in(&idp);
    let rt = env.refresh_token();
    edit_auth_conf(&env, |o| {
        o.insert(
            "token_endpoint".into(),
            format!("{}/oauth/token", attacker.url).into(),
        );
    });
    idp.reset_counters();
    for daemon in [false, true] {
        let _d = daemon.then(|| env.start_daemon());
        let out = env.twg(&["auth", "refresh", "--force"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(78), "{stdout}{stderr}");
        assert!(stderr.contains("refusing to send"), "{stderr}");
    }
    // Both the endpoint and the issuer edited: the configured issuer catches it.
    edit_auth_conf(&env, |o| {
        o.insert("issuer".into(), attacker.url.clone().into());
    });
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(78), "{:?}", text(&out));
    assert_eq!(attacker.token_requests(), 0, "nothing reached the attacker");
    assert_eq!(idp.refresh_requests(), 0);
    assert_eq!(state_of(&idp, &rt), "current");
}

// --- 9. secrets in child environments ----------------------------------------------------

#[test]
fn twgd_started_by_the_client_inherits_no_secret() {
    let idp = strict_idp(&[]);
    let mut env = logged_in(&idp);
    env.set("TWG_TOKEN", "env-secret-token-value");
    env.set("TWG_USER", "ci@example.test");
    env.set("TWG_BBC_TOKEN", "env-secret-bitbucket-value");
    env.set("HTTPS_PROXY", "http://user:proxy-secret-pass@127.0.0.1:9");
    env.set("NO_PROXY", "127.0.0.1,localhost");
    let out = env.twg(&["daemon", "start", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let started: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    let pid = started["pid"].as_u64().expect("pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ as root");
    let environ = String::from_utf8_lossy(&environ);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    assert!(environ.contains("TWG_CONFIG_DIR="), "sanity: {environ}");
    for secret in [
        "env-secret-token-value",
        "env-secret-bitbucket-value",
        "proxy-secret-pass",
    ] {
        assert!(!environ.contains(secret), "{secret} reached twgd");
    }
}

// --- 10. a revoked grant -----------------------------------------------------------------

fn revoked(daemon: bool) {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let _d = daemon.then(|| env.start_daemon());
    let (status, body) = twg_e2e::http::form(
        &format!("{}/oauth/revoke", idp.url),
        &[
            ("token", &env.refresh_token()),
            ("client_id", "twg-dev-client"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(77), "{:?}", text(&out));
    idp.reset_counters();
    for _ in 0..3 {
        let out = env.twg(&["auth", "token"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(77), "{stdout}{stderr}");
        assert!(
            stdout.is_empty(),
            "the revoked session's token is not served"
        );
        assert!(stderr.contains("twg login"), "{stderr}");
    }
    assert_eq!(idp.refresh_requests(), 0, "a dead grant is not asked again");
    // A new login clears it.
    env.login(&idp, &[]);
    assert!(env.twg(&["auth", "token"]).status.success());
}

#[test]
fn a_revoked_session_is_dead_through_the_daemon() {
    revoked(true);
}

#[test]
fn a_revoked_session_is_dead_without_the_daemon() {
    revoked(false);
}

// --- single flight -------------------------------------------------------------------------

/// Twenty forced refreshes arriving during one rotation share it. (Both twgd's gate and the
/// engine's adopt-under-the-lock keep this at one; the next test tells them apart.)
#[test]
fn concurrent_forced_refreshes_through_the_daemon_share_one_rotation() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    idp.reset_counters();
    // Every client arrives while the first refresh is still in flight.
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 1500, "count": 1}));
    let children: Vec<_> = (0..20)
        .map(|_| spawn(&env, &["auth", "refresh", "--force"]))
        .collect();
    for c in children {
        let out = wait_within(c, Duration::from_secs(60), "twg auth refresh --force");
        assert!(out.status.success(), "{:?}", text(&out));
    }
    assert_eq!(
        idp.refresh_requests(),
        1,
        "one rotation for 20 waiting clients"
    );
    assert_eq!(state_of(&idp, &env.refresh_token()), "current");
    assert_eq!(spent(&idp), 0);
}

// --- the atomic save, seen from the system calls ------------------------------------------

/// Every save of `auth.conf` is: write a temp file in the same directory, fsync it, rename
/// it onto `auth.conf`, then fsync the directory (without which a power loss can bring back
/// the spent refresh token). Checked on the real system calls with strace.
#[test]
fn the_save_fsyncs_the_file_renames_it_and_fsyncs_the_directory() {
    let idp = strict_idp(&[]);
    let env = logged_in(&idp);
    let trace = env.dir.path().join("trace.txt");
    let out = env
        .command("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,fsync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .arg(twg_e2e::bin("twg"))
        .args(["auth", "refresh", "--force"])
        .output()
        .expect("strace is installed (scripts/install-test-deps.sh)");
    assert!(out.status.success(), "{:?}", text(&out));
    let trace = std::fs::read_to_string(&trace).unwrap();
    let dir = env.config_dir.display().to_string();
    let auth = env.auth_path().display().to_string();
    // Per save: the temp file's fd, fsync of it, the rename onto auth.conf, then the
    // directory opened and fsynced.
    let lines: Vec<&str> = trace.lines().collect();
    let fd_of = |l: &str| {
        l.rsplit("= ")
            .next()
            .and_then(|n| n.trim().parse::<i32>().ok())
    };
    let mut saves = 0;
    for (i, l) in lines.iter().enumerate() {
        if !(l.contains("rename") && l.contains(&format!("\"{auth}\""))) {
            continue;
        }
        let temp = l
            .split('"')
            .find(|p| p.contains(".twg-tmp-"))
            .expect("renamed from a temp file in the same directory");
        assert!(
            temp.starts_with(&dir),
            "temp file in the config dir: {temp}"
        );
        let opened = lines[..i]
            .iter()
            .rev()
            .find(|o| o.contains("openat") && o.contains(temp))
            .and_then(|o| fd_of(o))
            .expect("the temp file was opened");
        assert!(
            lines[..i]
                .iter()
                .any(|o| o.contains(&format!("fsync({opened})"))),
            "the temp file was fsynced before the rename:\n{trace}"
        );
        let dir_fd = lines[i..]
            .iter()
            .find(|o| o.contains("openat") && o.contains(&format!("\"{dir}\"")))
            .and_then(|o| fd_of(o))
            .expect("the directory was opened after the rename");
        assert!(
            lines[i..]
                .iter()
                .any(|o| o.contains(&format!("fsync({dir_fd})"))),
            "the directory was fsynced after the rename:\n{trace}"
        );
        saves += 1;
    }
    // The preflight (an idempotent rewrite) and the save after the rotation.
    assert!(saves >= 2, "{saves} saves in:\n{trace}");
}
