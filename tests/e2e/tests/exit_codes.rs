//! The exit-code contract agents script against, end to end: 77 (log in again) with a stable
//! `--json` envelope on stderr, 73 (sandbox: nothing sent) and 69 (no daemon, no fallback).

use std::process::Output;
use twg_e2e::{Env, Idp, text};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

/// The `--json` error envelope: exactly one JSON line on stderr, nothing on stdout, and the
/// same three keys every time (plus `detail` where there is more to say).
fn envelope(out: &Output, code: &str, exit: i32) -> serde_json::Value {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(exit), "{stderr}");
    assert!(stdout.is_empty(), "nothing on stdout on failure: {stdout}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stderr.trim()).expect("JSON envelope");
    let err = v["error"].as_object().expect("an `error` object");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert_eq!(err["code"], code, "{v}");
    assert_eq!(err["exit_code"], exit, "{v}");
    assert!(!err["message"].as_str().expect("message").is_empty());
    for k in err.keys() {
        assert!(
            ["code", "message", "exit_code", "detail"].contains(&k.as_str()),
            "unexpected key {k}"
        );
    }
    v
}

fn revoke_refresh_token(idp: &Idp, env: &Env) {
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
    assert_eq!(idp.refresh_token_state(&rt)["usable"], false);
}

#[test]
fn a_revoked_grant_is_77_auth_expired_directly_and_through_the_daemon() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    revoke_refresh_token(&idp, &env);
    env.make_stale();

    // No daemon: the client's own refresh gets invalid_grant.
    let out = env.twg(&["--json", "auth", "token"]);
    let v = envelope(&out, "AUTH_EXPIRED", 77);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("twg login"),
        "{v}"
    );
    // Text mode says the same to a person.
    let out = env.twg(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(77));
    assert!(
        text(&out).1.starts_with("twg: your session expired"),
        "{:?}",
        text(&out)
    );

    // Through twgd: the daemon's answer maps to the same code and envelope.
    let _daemon = env.start_daemon();
    let out = env.twg(&["--json", "auth", "token"]);
    envelope(&out, "AUTH_EXPIRED", 77);
    let out = env.twg(&["--json", "auth", "refresh"]);
    envelope(&out, "AUTH_EXPIRED", 77);
}

#[test]
fn an_old_auth_conf_whose_refresh_token_was_rotated_away_is_77() {
    // No reuse leeway: a rotated-out refresh token is dead at once.
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = logged_in(&idp);
    let old = std::fs::read(env.auth_path()).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::write(env.auth_path(), &old).unwrap();
    env.make_stale();
    let out = env.twg(&["--json", "auth", "token"]);
    envelope(&out, "AUTH_EXPIRED", 77);
}

#[test]
fn no_credentials_at_all_is_77_not_logged_in() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let out = env.twg(&["--json", "auth", "token"]);
    let v = envelope(&out, "NOT_LOGGED_IN", 77);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("twg login"),
        "{v}"
    );
    assert_eq!(idp.token_requests(), 0);
}

#[test]
fn a_read_only_config_without_the_daemon_is_73_with_nothing_sent() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let before = idp.token_requests();
    let cfg = env.config_dir.display().to_string();
    let out = env
        .command("bwrap")
        .args(["--dev-bind", "/", "/", "--ro-bind", &cfg, &cfg, "--"])
        .arg(twg_e2e::bin("twg"))
        .args(["--json", "auth", "token"])
        .output()
        .expect("bubblewrap is required: apt-get install -y bubblewrap");
    let v = envelope(&out, "SANDBOX_CANNOT_PERSIST", 73);
    assert_eq!(v["error"]["detail"]["config_dir"], cfg.as_str());
    assert_eq!(idp.token_requests(), before, "nothing was sent");
}

/// `twg` as uid 65534, for whom the harness's 0700 temp tree (config root and socket
/// directory alike) is out of reach: a real permission failure even though we run as root.
#[test]
fn no_daemon_and_an_unreadable_config_directory_is_69() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let before = idp.token_requests();

    // Daemon stopped: unreachable, and the fallback cannot even read the config root.
    let out = env.as_nobody(twg_e2e::bin("twg"), &["--json", "auth", "token"]);
    let v = envelope(&out, "DAEMON_UNREACHABLE", 69);
    let detail = &v["error"]["detail"];
    assert_eq!(detail["config_dir"], env.config_dir.display().to_string());
    assert_eq!(detail["socket_path"], env.socket.display().to_string());
    let out = env.as_nobody(twg_e2e::bin("twg"), &["auth", "token"]);
    assert_eq!(out.status.code(), Some(69));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("twg daemon start"),
        "says what to do next: {stderr}"
    );
    assert!(
        stderr.contains(&env.config_dir.display().to_string()),
        "{stderr}"
    );
    assert_eq!(idp.token_requests(), before, "nothing was sent");

    // Daemon running but out of this process's reach: the same answer. (The daemon itself
    // may refresh the stale token now; that is the daemon's business, not this client's.)
    let _daemon = env.start_daemon();
    let out = env.as_nobody(twg_e2e::bin("twg"), &["--json", "auth", "token"]);
    envelope(&out, "DAEMON_UNREACHABLE", 69);
    // `auth refresh` falls back the same way.
    let out = env.as_nobody(twg_e2e::bin("twg"), &["--json", "auth", "refresh"]);
    envelope(&out, "DAEMON_UNREACHABLE", 69);

    // The rightful user still gets a token.
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
}
