//! Environment-variable credentials (`TWG_TOKEN`, `TWG_USER`, `TWG_SITE`, `TWG_BBC_TOKEN`)
//! for CI: they work in a read-only HOME with no daemon and no stored credentials, never
//! show the token outside `twg auth token`, and `TWG_TOKEN` without `TWG_USER` is a clear
//! error.

use std::process::{Command, Output};
use twg_e2e::{Env, bin, text};

const TOKEN: &str = "env-access-token-5f1c0de";
const BBC: &str = "env-bitbucket-token-77aa";

/// An environment whose HOME (config root included) exists and is mounted read-only.
fn ci_env() -> Env {
    let mut env = Env::new("http://127.0.0.1:9");
    // A config root that exists, as on a machine where twg was used before.
    std::fs::create_dir_all(&env.config_dir).expect("config dir");
    env.set("TWG_TOKEN", TOKEN);
    env.set("TWG_USER", "ci@example.com");
    env.set("TWG_SITE", "https://acme.example.net");
    env.set("TWG_BBC_TOKEN", BBC);
    env
}

/// `twg <args>` inside bubblewrap with HOME bind-mounted read-only. Root ignores file modes,
/// so a read-only mount is the only honest way to test this as root.
fn twg_read_only(env: &Env, args: &[&str]) -> Output {
    let home = env.home.display().to_string();
    let mut cmd: Command = env.command("bwrap");
    cmd.args(["--dev-bind", "/", "/", "--ro-bind", &home, &home, "--"])
        .arg(bin("twg"))
        .args(args);
    cmd.output()
        .expect("run bwrap (apt-get install bubblewrap)")
}

#[test]
fn the_read_only_mount_really_is_read_only() {
    let env = ci_env();
    let probe = env.config_dir.join("probe");
    let out = env
        .command("bwrap")
        .args(["--dev-bind", "/", "/", "--ro-bind"])
        .arg(&env.home)
        .arg(&env.home)
        .args(["--", "touch"])
        .arg(&probe)
        .output()
        .expect("run bwrap");
    assert!(!out.status.success(), "the sandbox must refuse writes");
    assert!(!probe.exists());
}

#[test]
fn auth_token_status_and_doctor_work_in_a_read_only_home_without_a_daemon() {
    let env = ci_env();

    let out = twg_read_only(&env, &["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, format!("{TOKEN}\n"), "only the token");

    let out = twg_read_only(&env, &["auth", "token", "--json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["source"], "env");
    assert_eq!(v["access_token"], TOKEN);
    assert_eq!(v["site"], "https://acme.example.net");

    let out = twg_read_only(&env, &["auth", "status"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("environment variables"), "{stdout}");
    assert!(stdout.contains("ci@example.com"), "{stdout}");
    assert!(stdout.contains("Bitbucket token:    set"), "{stdout}");
    assert_secret_free(&out);

    let out = twg_read_only(&env, &["auth", "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["source"], "env");
    assert_eq!(v["user"], "ci@example.com");
    assert_eq!(v["has_bitbucket_token"], true);
    assert_secret_free(&out);

    let out = twg_read_only(&env, &["doctor"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "doctor failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("environment variables"), "{stdout}");
    assert_secret_free(&out);

    assert_eq!(
        std::fs::read_dir(&env.config_dir).unwrap().count(),
        0,
        "nothing was written"
    );
    assert!(!env.socket.exists(), "no daemon was started");
}

#[test]
fn env_credentials_win_over_stored_ones() {
    let env = ci_env();
    std::fs::write(
        env.auth_path(),
        "version = 1\ngeneration = 1\nbackend = \"file\"\n\n[oauth]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"c\"\ntoken_endpoint = \"http://127.0.0.1:9/t\"\naccess_token = \"stored-token\"\nexpires_at = 1\nrefresh_token = \"stored-refresh\"\n",
    )
    .unwrap();
    let out = twg_read_only(&env, &["auth", "token"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(text(&out).0.trim(), TOKEN);
}

#[test]
fn twg_token_without_twg_user_is_a_clear_error() {
    let mut env = ci_env();
    env.unset("TWG_USER");
    for args in [
        &["auth", "token"][..],
        &["auth", "status"][..],
        &["doctor"][..],
    ] {
        let out = twg_read_only(&env, args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains("TWG_USER"), "{args:?}: {stderr}");
        assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    }
    let out = twg_read_only(&env, &["auth", "token", "--json"]);
    let (_, stderr) = text(&out);
    let v: serde_json::Value = serde_json::from_str(stderr.trim()).expect("JSON envelope");
    assert_eq!(v["error"]["code"], "ENV_INCOMPLETE");
}

fn assert_secret_free(out: &Output) {
    let (o, e) = text(out);
    for s in [TOKEN, BBC] {
        assert!(
            !o.contains(s) && !e.contains(s),
            "a secret leaked:\n{o}\n{e}"
        );
    }
}
