//! README promises that had no test of their own: twgd's proactive refresh, `twg daemon
//! start`/`stop`, the socket's mode, and exit 75 end to end.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, text};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

#[test]
fn twgd_refreshes_at_75_percent_with_no_client_asking() {
    // 8 s tokens: due 6 s after issue.
    let idp = Idp::start(&["--reuse-leeway", "0", "--access-token-ttl", "8"]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let first = env.refresh_token();
    idp.reset_counters();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.refresh_token() == first {
        assert!(
            Instant::now() < deadline,
            "twgd did not refresh on its own within 30 s; log:\n{}",
            env.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(idp.refresh_requests() >= 1);
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
    assert_eq!(idp.counters()["spent_refresh_requests"], 0);
}

#[test]
fn daemon_start_returns_when_it_answers_and_stop_returns_when_the_process_has_exited() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let out = env.twg(&["--json", "daemon", "start"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let started: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    assert_eq!(started["started"], true, "{started}");
    // It answers at once: start returned only when the socket served.
    let out = env.twg(&["daemon", "status"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out)
            .0
            .contains(&started["pid"].as_u64().unwrap().to_string())
    );
    // The socket is 0600 in a 0700 directory.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.socket), 0o600);
    assert_eq!(mode(env.socket.parent().unwrap()), 0o700);
    // A second start finds it running.
    let out = env.twg(&["--json", "daemon", "start"]);
    let again: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    assert_eq!(again["started"], false);
    assert_eq!(again["pid"], started["pid"]);
    let out = env.twg(&["--json", "daemon", "stop"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let stopped: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert_eq!(stopped["pid"], started["pid"], "{stopped}");
    // Stop returns only once the process has exited (it may linger as a zombie until its
    // new parent reaps it), not merely once the socket file is gone.
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", started["pid"])).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("gone");
    assert!(
        matches!(state, "gone" | "Z" | "X"),
        "twgd is still {state} after stop"
    );
    assert!(!env.socket.exists(), "the socket is gone after stop");
    let out = env.twg(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(69));
    // Stopping again is not an error.
    assert!(env.twg(&["daemon", "stop"]).status.success());
}

#[test]
fn a_server_that_keeps_failing_is_exit_75_and_the_token_is_kept() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = logged_in(&idp);
    env.make_stale();
    let rt = env.refresh_token();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}));
    let out = env.twg(&["--json", "auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(75), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no token on failure: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(v["error"]["code"], "TEMPORARY", "{v}");
    assert!(!stderr.contains(&rt));
    idp.fault(serde_json::json!({"mode": "none"}));
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current",
        "nothing was spent"
    );
    assert_eq!(env.refresh_token(), rt);
}

/// A client speaking another protocol version is refused with a code the client maps to
/// exit 76, and gets no token.
#[test]
fn another_protocol_version_is_refused_by_the_daemon() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let raw = twg_e2e::bin("twg-raw-client");
    let run = |version: &str| {
        let out = env
            .command(&raw)
            .arg(&env.socket)
            .arg(version)
            .output()
            .unwrap();
        text(&out).0
    };
    let current = twg_common::rpc::PROTOCOL_VERSION.to_string();
    assert!(
        run(&current).starts_with("OK "),
        "the same version is served"
    );
    let other = (twg_common::rpc::PROTOCOL_VERSION + 1).to_string();
    let answer = run(&other);
    assert!(
        answer.starts_with("FailedPrecondition") && answer.contains("[PROTOCOL_MISMATCH]"),
        "{answer}"
    );
    assert!(!answer.contains(&env.access_token()));
}

/// Behind a twgd of another protocol version, `twg` exits 76 and says how to restart it; it
/// never refreshes on its own behind the daemon's back, even with a stale token.
#[test]
fn a_daemon_of_another_protocol_is_exit_76_and_twg_refreshes_nothing() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let rt = env.refresh_token();
    let mut other = twg_e2e::Proc {
        child: env
            .command(twg_e2e::bin("twg-other-daemon"))
            .arg(&env.socket)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(other.child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "READY");
    idp.reset_counters();
    for args in [
        &["auth", "token"][..],
        &["auth", "refresh", "--force"],
        &["daemon", "status"],
    ] {
        let out = env.twg(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(76), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("twg daemon stop"), "{args:?}: {stderr}");
        assert!(!stdout.contains(&env.access_token()));
    }
    let out = env.twg(&["auth", "token", "--json"]);
    let err: serde_json::Value =
        serde_json::from_str(text(&out).1.lines().last().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(err["error"]["exit_code"], 76);
    assert_eq!(
        idp.refresh_requests(),
        0,
        "nothing refreshed behind the daemon"
    );
    assert_eq!(env.refresh_token(), rt);
    other.kill();
}
