//! The restricted agent socket (`agent.sock` beside `twgd.sock`): a real twgd and real `twg`
//! processes pointed at it with `TWG_SOCKET`. It hands out tokens and status; everything
//! that manages credentials or the daemon is refused with PERMISSION_DENIED and changes
//! nothing.

use std::time::Duration;
use twg_e2e::{Env, Idp, text, wait_until};

fn agent_env(env: &Env) -> Env {
    let mut agent = Env::new("unused");
    agent.vars = env.vars.clone();
    agent.set(
        "TWG_SOCKET",
        &env.socket
            .with_file_name("agent.sock")
            .display()
            .to_string(),
    );
    agent
}

#[test]
fn the_agent_socket_serves_tokens_and_status_and_refuses_everything_else() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    let mut daemon = env.start_daemon();
    let agent_socket = env.socket.with_file_name("agent.sock");
    assert!(
        agent_socket.exists(),
        "twgd serves agent.sock beside twgd.sock"
    );
    assert!(
        !env.socket.with_file_name("api.sock").exists(),
        "the API proxy is off by default"
    );
    let agent = agent_env(&env);

    let out = agent.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), env.access_token());
    let out = agent.twg(&["daemon", "status"]);
    assert!(out.status.success(), "{:?}", text(&out));

    let refresh_token = env.refresh_token();
    idp.reset_counters();
    for args in [
        &["logout"][..],
        &["auth", "refresh", "--force"],
        &["upkeep", "run"],
        &["daemon", "stop"],
    ] {
        let out = agent.twg(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("agent socket") && stderr.contains("serves only tokens and status"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "twgd still runs"
    );
    assert_eq!(idp.token_requests(), 0, "nothing was refreshed or revoked");
    assert_eq!(env.refresh_token(), refresh_token, "still logged in");
    // The main socket still does it all.
    assert!(env.twg(&["auth", "token"]).status.success());
    daemon.terminate();
}

#[test]
fn the_agent_socket_never_promises_more_validity_than_the_cap() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[agent]\nmax_min_valid_seconds = 120\n",
    )
    .unwrap();
    let mut daemon = env.start_daemon();
    let agent = agent_env(&env);
    idp.reset_counters();
    let out = agent.twg(&["auth", "token", "--min-valid", "600"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("at most 120 s") && stderr.contains("agent.max_min_valid_seconds"),
        "{stderr}"
    );
    let out = agent.twg(&["auth", "token", "--min-valid", "100"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        idp.refresh_requests(),
        0,
        "the agent could not force a rotation"
    );
    // Hand-outs on the agent socket are audited as such.
    wait_until("the audit record", Duration::from_secs(5), || {
        let out = env.twg(&["auth", "audit", "--json"]);
        String::from_utf8_lossy(&out.stdout).contains("\"via\":\"agent\"")
    });
    daemon.terminate();
    assert!(
        !env.socket.with_file_name("agent.sock").exists(),
        "twgd removes agent.sock when it stops"
    );
}
