//! The front `twg`: it answers `twg auth token` through twgd itself, without running the full
//! CLI (`twg-cli`), and hands every other command over with the same arguments and
//! environment, so what users see is the full CLI's, byte for byte. (That the hot path's
//! audit record names the front as the executable, so no exec happened, is asserted in
//! `audit.rs`.)

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use twg_e2e::{Env, Idp, bin, text};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

fn run(env: &Env, program: &Path, args: &[&str]) -> Output {
    env.command(program).args(args).output().unwrap()
}

#[test]
fn the_front_answers_the_hot_path_without_the_full_cli() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    for full_cli in [None, Some(&b"#!/bin/sh\nexit 0\n"[..])] {
        let front = env.front_alone(full_cli);
        let out = run(&env, &front, &["auth", "token"]);
        assert!(out.status.success(), "{full_cli:?}: {:?}", text(&out));
        assert_eq!(text(&out).0.trim(), env.access_token());
        let out = run(
            &env,
            &front,
            &["auth", "token", "--json", "--min-valid", "60"],
        );
        assert!(out.status.success(), "{:?}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["access_token"], env.access_token());
        assert_eq!(v["source"], "daemon");

        // Every other command needs the full CLI: a clear error saying to reinstall.
        for args in [
            &["auth", "status"][..],
            &["--version"],
            &["auth", "token", "--help"],
        ] {
            let out = run(&env, &front, args);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
            assert!(stdout.is_empty(), "{args:?}: {stdout}");
            assert!(
                stderr.starts_with("twg: cannot run ")
                    && stderr.contains(&front.with_file_name("twg-cli").display().to_string())
                    && stderr.contains("reinstall twg"),
                "{args:?}: {stderr}"
            );
        }
        let out = run(&env, &front, &["--json", "auth", "status"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(v["error"]["code"], "FAILURE");
        assert_eq!(out.status.code(), Some(1));
        std::fs::remove_dir_all(front.parent().unwrap()).unwrap();
    }
}

/// What the user sees from the front is what the full CLI prints when run itself.
fn same_as_full_cli(env: &Env, args: &[&str]) {
    let front = env.twg(args);
    let full = run(env, &bin("twg-cli"), args);
    assert_eq!(
        (front.status.code(), text(&front)),
        (full.status.code(), text(&full)),
        "twg {args:?}: front (left) and full CLI (right) differ"
    );
}

#[test]
fn other_commands_are_handed_over_with_the_full_clis_output_and_exit_code() {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    let _daemon = env.start_daemon();
    for args in [
        &["--version"][..],
        &["--help"],
        &["auth", "token", "--help"],
        &["auth", "tokn"],
        &["auth", "token", "--min-valid", "soon"],
        &["--json", "auth", "token", "--min-valid", "soon"],
        &["--json", "auth", "token", "--output", "text"],
        &["auth", "token", "--json", "--min-valid", "999999999"],
        &["auth", "status"],
        &["--json", "daemon", "status"],
        &["completion", "bash"],
    ] {
        same_as_full_cli(&env, args);
    }
    // Env-mode credentials win over twgd: the full CLI decides, with its own checks.
    env.set("TWG_TOKEN", "ci-token");
    same_as_full_cli(&env, &["auth", "token"]);
    env.set("TWG_USER", "ci@example.com");
    let out = env.twg(&["--json", "auth", "token"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["access_token"].as_str(), v["source"].as_str()),
        (Some("ci-token"), Some("env"))
    );
    env.set("TWG_OAUTH_ACCESS_TOKEN", "delegated-token");
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), "delegated-token");
}

/// An error twgd answers is final: the front prints it exactly as the full CLI does and
/// does not hand over (which would ask twgd a second time).
#[test]
fn an_error_twgd_answers_is_printed_by_the_front_as_the_full_cli_prints_it() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let _daemon = env.start_daemon();
    let front = env.front_alone(None);
    for args in [&["auth", "token"][..], &["--json", "auth", "token"]] {
        let from_front = run(&env, &front, args);
        let from_full = run(&env, &bin("twg-cli"), args);
        assert_eq!(
            from_front.status.code(),
            Some(77),
            "{:?}",
            text(&from_front)
        );
        assert_eq!(
            (from_front.status.code(), text(&from_front)),
            (from_full.status.code(), text(&from_full)),
            "{args:?}"
        );
    }
}

/// The front never refreshes. With twgd stopped (SIGSTOP: it accepts the connection and
/// never answers) the front hands over after its one unanswered GetToken, and the full
/// CLI's fallback is the only refresh the server sees.
#[test]
fn a_stopped_daemon_leads_to_exactly_one_refresh_by_the_full_clis_fallback() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let daemon = env.start_daemon();
    let old = env.access_token();
    env.make_stale();
    idp.reset_counters();
    let pid = daemon.pid().to_string();
    let signal = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        )
    };
    signal("-STOP");
    let out = env.twg(&["auth", "token"]);
    signal("-CONT");
    // Give the woken twgd time to act on the requests queued while it was stopped: it must
    // not refresh again either.
    std::thread::sleep(Duration::from_millis(500));
    assert!(out.status.success(), "{:?}", text(&out));
    let token = text(&out).0.trim().to_string();
    assert_ne!(token, old, "a fresh token");
    assert_eq!(
        token,
        env.access_token(),
        "the fallback saved what it printed"
    );
    assert_eq!(idp.refresh_requests(), 1);
}

/// With twgd down, the full CLI refreshes by itself, once.
#[test]
fn without_a_daemon_the_fallback_refreshes_exactly_once() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    idp.reset_counters();
    let out = env.twg(&["--json", "auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "direct");
    assert_eq!(idp.refresh_requests(), 1);
}

/// `twg doctor` run by a full CLI that has no front beside it says so: `twg` would then run
/// another copy, or nothing.
#[test]
fn doctor_warns_when_no_front_is_beside_the_full_cli() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let dir = env.dir.path().join("lonely");
    std::fs::create_dir_all(&dir).unwrap();
    let full = dir.join("twg-cli");
    std::fs::copy(bin("twg-cli"), &full).unwrap();
    let out = run(&env, &full, &["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing = format!("{} is missing", dir.join("twg").display());
    let warned = v["checks"].as_array().unwrap().iter().any(|c| {
        c["name"] == "binaries"
            && c["status"] == "warn"
            && c["detail"].as_str().unwrap().contains(&missing)
            && c["detail"].as_str().unwrap().contains("reinstall twg")
    });
    assert!(warned, "{v}");
}
