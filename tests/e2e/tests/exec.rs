//! `twg exec`: the token reaches the named command's environment and nowhere else (not the
//! calling shell, not argv, not the logs); the command takes over twg's process, so signals
//! and the exit status are its own; when no token can be had, the command never runs.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};
use std::time::Duration;
use twg_e2e::{Env, Idp, Proc, bin, text, wait_until};

/// The child's environment, from `env` output.
fn vars(out: &Output) -> BTreeMap<String, String> {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "twg exec failed: {stderr}");
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CI mode: a token from the environment, no server needed.
fn env_mode() -> Env {
    let mut env = Env::new("http://127.0.0.1:9");
    env.set("TWG_TOKEN", "ci-token-7d1e");
    env.set("TWG_USER", "ci@example.test");
    env
}

#[test]
fn the_command_gets_the_token_site_and_cloud_id_and_no_other_secret() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.login(&idp, &[]);
    // Secrets twg knows about, an inherited cloud id, and a proxy with a password.
    env.set("TWG_OAUTH_CLIENT_SECRET", "client-secret-9f2");
    env.set("TWG_BBC_TOKEN", "bb-secret-51c");
    env.set("TWG_CLOUD_ID", "inherited-cloud");
    env.set("HTTPS_PROXY", "http://user:proxy-pass@127.0.0.1:9");
    env.set("TWG_LOG", "debug");
    let site = env.credentials().site.expect("the login stored a site");
    for through_daemon in [false, true] {
        let _daemon = through_daemon.then(|| env.start_daemon());
        let out = env.twg(&["exec", "--", "env"]);
        let child = vars(&out);
        let token = env.access_token();
        assert_eq!(child["TWG_OAUTH_ACCESS_TOKEN"], token);
        assert_eq!(child["TWG_SITE"], site.url);
        assert_eq!(child["TWG_CLOUD_ID"], site.id, "daemon: {through_daemon}");
        for secret in ["TWG_OAUTH_CLIENT_SECRET", "TWG_BBC_TOKEN", "TWG_TOKEN"] {
            assert!(!child.contains_key(secret), "{secret} reached the command");
        }
        assert_eq!(
            child["HTTPS_PROXY"], "http://user:proxy-pass@127.0.0.1:9",
            "the user's proxy is the command's as without twg"
        );
        let stderr = text(&out).1;
        assert!(!stderr.contains(&token), "twg's debug log shows the token");
        assert!(
            !env.daemon_log().contains(&token),
            "twgd's log shows the token"
        );
        if through_daemon {
            // twgd handed it out (recorded), rather than twg reading auth.conf itself.
            wait_until("twgd's audit record", Duration::from_secs(10), || {
                let out = env.twg(&["auth", "audit", "--json"]);
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                !report["records"].as_array().unwrap().is_empty()
            });
        }
    }
}

#[test]
fn the_calling_shell_never_sees_the_token() {
    let env = env_mode();
    let script = format!(
        "'{}' exec -- sh -c 'echo child=$TWG_OAUTH_ACCESS_TOKEN'; echo parent=${{TWG_OAUTH_ACCESS_TOKEN-unset}}",
        bin("twg").display()
    );
    let out = env.command("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(
        text(&out).0,
        "child=ci-token-7d1e\nparent=unset\n",
        "{}",
        text(&out).1
    );
}

#[test]
fn ci_mode_passes_its_site_and_cloud_id_and_drops_twg_token() {
    let mut env = env_mode();
    env.set("TWG_SITE", "https://ci.example.test");
    env.set("TWG_CLOUD_ID", "ci-cloud");
    let child = vars(&env.twg(&["exec", "--", "env"]));
    assert_eq!(child["TWG_OAUTH_ACCESS_TOKEN"], "ci-token-7d1e");
    assert_eq!(child["TWG_SITE"], "https://ci.example.test");
    assert_eq!(child["TWG_CLOUD_ID"], "ci-cloud");
    assert!(!child.contains_key("TWG_TOKEN"));
}

#[test]
fn exit_codes_are_the_command_s_or_a_shell_s() {
    let env = env_mode();
    let code = |args: &[&str]| env.twg(args).status.code();
    assert_eq!(code(&["exec", "--", "true"]), Some(0));
    assert_eq!(code(&["exec", "--", "sh", "-c", "exit 3"]), Some(3));

    let out = env.twg(&["exec", "--", "twg-no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("not found") && stderr.contains("PATH"),
        "{stderr}"
    );

    let script = env.dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    let out = env.twg(&["exec", "--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(text(&out).1.contains("chmod +x"), "{}", text(&out).1);
    assert!(text(&out).0.is_empty());

    let out = env.twg(&["--json", "exec", "--", "twg-no-such-command"]);
    let err: serde_json::Value = serde_json::from_str(text(&out).1.trim()).unwrap();
    assert_eq!(err["error"]["code"], "EXEC_NOT_FOUND");
    assert_eq!(err["error"]["exit_code"], 127);

    // Death by a signal is the command's own: the caller sees the signal, and a shell
    // reports 128 + its number.
    let out = env.twg(&["exec", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.signal(), Some(9));
    let script = format!(
        "'{}' exec -- sh -c 'kill -TERM $$'; echo $?",
        bin("twg").display()
    );
    let out = env.command("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(text(&out).0.trim(), "143");
}

#[test]
fn signals_sent_to_twg_reach_the_command() {
    let env = env_mode();
    for signal in ["TERM", "HUP", "USR1"] {
        let ready = env.dir.path().join(format!("ready-{signal}"));
        let got = env.dir.path().join(format!("got-{signal}"));
        let script = format!(
            "trap 'echo {signal} > {got}; exit 7' {signal}; echo $$ > {ready}; while :; do sleep 0.05; done",
            got = got.display(),
            ready = ready.display()
        );
        let mut proc = Proc {
            child: env
                .twg_cmd(&["exec", "--", "sh", "-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        };
        wait_until("the command to start", Duration::from_secs(20), || {
            std::fs::read_to_string(&ready).is_ok_and(|s| s.ends_with('\n'))
        });
        let pid = proc.pid();
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            !String::from_utf8_lossy(&argv).contains("ci-token-7d1e"),
            "the token is never in argv"
        );
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let mut status = None;
        wait_until("the command to exit", Duration::from_secs(20), || {
            status = proc.child.try_wait().unwrap();
            status.is_some()
        });
        assert_eq!(status.unwrap().code(), Some(7), "SIG{signal}");
        assert_eq!(
            std::fs::read_to_string(&got).unwrap().trim(),
            signal,
            "the command's trap ran"
        );
    }
}

#[test]
fn without_a_token_the_command_never_runs() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let marker = env.dir.path().join("ran");
    let touch = ["exec", "--", "touch", marker.to_str().unwrap()];

    // Not logged in: `twg auth token`'s exit code.
    assert_eq!(env.twg(&touch).status.code(), Some(77));
    assert!(!marker.exists());

    // TWG_TOKEN without TWG_USER: invalid configuration.
    let mut ci = Env::new(&idp.url);
    ci.set("TWG_TOKEN", "x");
    assert_eq!(ci.twg(&touch).status.code(), Some(78));
    assert!(!marker.exists());

    // --min-valid beyond what the server's tokens live is refused; nothing is rotated.
    env.login(&idp, &[]);
    idp.reset_counters();
    let mut args = vec!["exec", "--min-valid", "7200"];
    args.extend_from_slice(&touch[1..]);
    let out = env.twg(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    assert!(!marker.exists());
    assert_eq!(idp.refresh_requests(), 0);

    // A stale token is refreshed first, as for `twg auth token`.
    env.make_stale();
    let child = vars(&env.twg(&["exec", "--min-valid", "300", "--", "env"]));
    assert_eq!(idp.refresh_requests(), 1);
    assert_eq!(child["TWG_OAUTH_ACCESS_TOKEN"], env.access_token());
}
