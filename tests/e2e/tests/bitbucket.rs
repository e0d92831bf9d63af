//! The Bitbucket token (`twg setup bitbucket`): stored without an OAuth login, kept by
//! login and refresh, and written from a read done under the credential lock, so a refresh
//! that lands meanwhile is never overwritten.

use std::process::Output;
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, text};

const BB: &str = "bb-token-3c9e1f";

fn set_token(env: &Env, token: &str) -> std::process::Child {
    env.twg_spawn_with_stdin(&["setup", "bitbucket", "--with-token"], token.as_bytes())
}

fn set_token_output(env: &Env, token: &str) -> Output {
    set_token(env, token).wait_with_output().expect("wait")
}

#[test]
fn a_bitbucket_token_alone_then_kept_through_login_and_refresh() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let out = set_token_output(&env, &format!("{BB}\n"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(BB) && !stderr.contains(BB),
        "the token is never printed"
    );
    let creds = env.credentials();
    assert_eq!(creds.bitbucket_token.as_ref().map(|t| t.expose()), Some(BB));
    assert!(creds.oauth.is_none(), "no OAuth login was needed");

    env.login(&idp, &[]);
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let creds = env.credentials();
    assert_eq!(creds.bitbucket_token.as_ref().map(|t| t.expose()), Some(BB));
    assert!(creds.oauth.is_some());

    // Replacing it keeps the OAuth tokens exactly.
    let before = env.refresh_token();
    let out = set_token_output(&env, "bb-second");
    assert!(out.status.success(), "{}", text(&out).1);
    let creds = env.credentials();
    assert_eq!(creds.bitbucket_token.unwrap().expose(), "bb-second");
    assert_eq!(env.refresh_token(), before);

    // Empty input saves nothing.
    let out = set_token_output(&env, "\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        env.credentials().bitbucket_token.unwrap().expose(),
        "bb-second"
    );
}

#[test]
fn the_token_is_saved_from_a_read_made_under_the_lock() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    // Hold the credential lock as a refreshing process would.
    let lock = twg_common::lock::try_lock(&env.config_dir.join("auth.conf.lock"))
        .expect("lock file")
        .expect("nobody else holds the lock");
    let mut child = set_token(&env, BB);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "setup bitbucket must wait for the lock"
    );
    // "Another process" saves while setup waits: a new generation and a new expiry.
    env.make_stale();
    let rotated = std::fs::read_to_string(env.auth_path()).unwrap();
    drop(lock);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "setup bitbucket never finished");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let doc: toml::Table = std::fs::read_to_string(env.auth_path())
        .unwrap()
        .parse()
        .unwrap();
    let was: toml::Table = rotated.parse().unwrap();
    assert_eq!(
        doc["oauth"]["expires_at"], was["oauth"]["expires_at"],
        "the save kept what was on disk when the lock was granted"
    );
    assert_eq!(
        doc["generation"].as_integer().unwrap(),
        was["generation"].as_integer().unwrap() + 1
    );
    assert_eq!(env.credentials().bitbucket_token.unwrap().expose(), BB);
}
