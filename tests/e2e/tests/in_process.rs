//! twgd's state machine in-process, in the style of mini-redis: `twgd::server::run` on a
//! temporary socket, driven over a real gRPC connection, against the real dev server.

use std::sync::Arc;
use std::time::Duration;
use twg_common::rpc::{self, pb};
use twg_e2e::{Env, Idp};

/// An in-process daemon for `env`'s config root on a socket of its own.
struct InProcess {
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(env: &Env) -> InProcess {
    start_with_clock(env, twg_common::time::Clock::System).await
}

async fn start_with_clock(env: &Env, clock: twg_common::time::Clock) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let sock_dir = dir.path().join("run");
    twg_common::paths::ensure_private_dir(&sock_dir).unwrap();
    let socket = sock_dir.join("twgd.sock");
    let vars: std::collections::HashMap<_, _> = env.vars.iter().cloned().collect();
    let config = twg_common::config::Config::resolve(
        &env.config_dir,
        twg_common::config::ConfigFile::default(),
        &|k| vars.get(k).cloned(),
    )
    .unwrap();
    let store = twg_common::store::Store::new(&env.config_dir, config.backend);
    let daemon = Arc::new(twgd::daemon::Daemon::new(
        twg_common::engine::Engine::new(store, config).with_clock(clock),
        socket.clone(),
    ));
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        twgd::server::run(listener, daemon, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    InProcess {
        socket,
        _dir: dir,
        stop: Some(tx),
        task,
    }
}

impl InProcess {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server::run returns after shutdown")
            .unwrap();
    }
}

fn get_token(min_valid: Option<u64>) -> pb::GetTokenRequest {
    pb::GetTokenRequest {
        client: Some(rpc::client_info(None)),
        min_valid_seconds: min_valid,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_refresh_and_an_unmeetable_one_fails_without_rotating() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    env.make_stale();
    let d = start(&env).await;
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 800, "count": 1}));
    let mut calls = Vec::new();
    for _ in 0..64 {
        let socket = d.socket.clone();
        calls.push(tokio::spawn(async move {
            let mut c = rpc::connect(&socket, Duration::from_secs(5)).await.unwrap();
            c.get_token(get_token(None))
                .await
                .unwrap()
                .into_inner()
                .access_token
        }));
    }
    let mut tokens = std::collections::BTreeSet::new();
    for c in calls {
        tokens.insert(c.await.unwrap());
    }
    assert_eq!(
        tokens.len(),
        1,
        "every waiter took the one refresh's result"
    );
    assert_eq!(idp.refresh_requests(), 1);
    let mut c = rpc::connect(&d.socket, Duration::from_secs(5))
        .await
        .unwrap();
    let err = c.get_token(get_token(Some(7200))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("3600 s"), "{}", err.message());
    assert_eq!(
        idp.refresh_requests(),
        1,
        "no rotation for an unmeetable request"
    );
    let status = c
        .status(pb::StatusRequest {
            client: Some(rpc::client_info(None)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.pid, std::process::id(), "served in-process");
    d.shutdown().await;
}

async fn token(socket: &std::path::Path) -> Result<String, tonic::Status> {
    let mut c = rpc::connect(socket, Duration::from_secs(5)).await.unwrap();
    c.get_token(get_token(None))
        .await
        .map(|r| r.into_inner().access_token)
}

/// The 75% mark, backoff after failures and reloading another process's save, on a manual
/// clock: hours of token life pass in an instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_75_percent_mark_backoff_and_reload_on_a_manual_clock() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    let clock = twg_common::time::Clock::manual(twg_common::time::now_unix());
    let d = start_with_clock(&env, clock.clone()).await;
    idp.reset_counters();
    let first = token(&d.socket).await.unwrap();
    assert_eq!(first, env.access_token());
    assert_eq!(idp.refresh_requests(), 0, "a fresh token is served as is");

    // Past the 75% mark of a 3600 s token, with the server failing: the current token is
    // still served, and the failed refresh backs off.
    clock.advance(2800);
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}));
    assert_eq!(token(&d.socket).await.unwrap(), first);
    let tried = idp.refresh_requests();
    assert!(tried >= 1, "the refresh was attempted");
    for _ in 0..5 {
        assert_eq!(token(&d.socket).await.unwrap(), first);
    }
    assert_eq!(
        idp.refresh_requests(),
        tried,
        "no attempt during the backoff"
    );

    // After the backoff, with the server back: one refresh, a new token.
    idp.fault(serde_json::json!({"mode": "none"}));
    clock.advance(400);
    let second = token(&d.socket).await.unwrap();
    assert_ne!(second, first);
    assert_eq!(idp.refresh_requests(), tried + 1);
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );

    // Another process rotates (the real `twg`, falling back since this daemon's socket is
    // not the one it knows): the daemon serves what that process saved.
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{:?}", twg_e2e::text(&out));
    assert_eq!(token(&d.socket).await.unwrap(), env.access_token());
    assert_eq!(idp.counters()["spent_refresh_requests"], 0);
    d.shutdown().await;
}
