//! The refresh engine against the real dev authorization server, in-process: the rules that
//! decide whether a refresh token is spent or saved, tested fast enough for mutation testing
//! (`scripts/mutants.sh`). The server runs in strict mode: a rotated refresh token presented
//! again revokes the whole grant, and it counts every request that carries one.

use std::path::{Path, PathBuf};
use std::time::Duration;
use twg_common::config::{BackendKind, Config, ConfigFile};
use twg_common::engine::{Engine, Need, Outcome};
use twg_common::error::EngineError;
use twg_common::login::LoginFlow;
use twg_common::oauth::http::HttpClient;
use twg_common::recovery::{self, Pending};
use twg_common::store::{Credentials, Store};

struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The dev server in strict mode (a reused refresh token revokes the grant).
async fn server() -> Server {
    server_with_leeway(Duration::ZERO).await
}

async fn server_with_leeway(reuse_leeway: Duration) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = twg_dev_idp::server::issuer_for(listener.local_addr().unwrap());
    let settings = twg_dev_idp::settings::Settings {
        reuse_leeway,
        auto_approve: true,
        interval: Duration::from_secs(1),
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(twg_dev_idp::server::serve(listener, settings, async {
        let _ = rx.await;
    }));
    Server {
        url,
        stop: Some(tx),
    }
}

impl Server {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let c = reqwest::Client::new();
        let r = c
            .request(method, format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn counter(&self, name: &str) -> u64 {
        self.admin(
            reqwest::Method::GET,
            "/admin/counters",
            serde_json::json!({}),
        )
        .await[name]
            .as_u64()
            .unwrap()
    }

    async fn fault(&self, spec: serde_json::Value) {
        self.admin(reqwest::Method::POST, "/admin/faults", spec)
            .await;
    }

    async fn state(&self, token: &str) -> String {
        self.admin(
            reqwest::Method::POST,
            "/admin/check-refresh-token",
            serde_json::json!({ "token": token }),
        )
        .await["state"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn config(root: &Path, issuer: &str) -> Config {
    let issuer = issuer.to_string();
    Config::resolve(root, ConfigFile::default(), &move |k| match k {
        "TWG_OAUTH_ISSUER" => Some(issuer.clone()),
        "TWG_OAUTH_CLIENT_ID" => Some("twg-dev-client".into()),
        "TWG_OAUTH_SCOPES" => Some("read:me offline_access".into()),
        _ => None,
    })
    .unwrap()
}

/// A logged-in config root and an engine on it (records kept inside the temp dir).
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    records: PathBuf,
    server: Server,
}

impl Setup {
    async fn new() -> Setup {
        let server = server().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("twg");
        let records = dir.path().join("state");
        let config = config(&root, &server.url);
        let flow = LoginFlow::new(&config, HttpClient::new(&config).unwrap())
            .await
            .unwrap();
        let auth = flow.start().await.unwrap();
        let tokens = flow.wait(&auth, |_| {}).await.unwrap();
        let creds = flow.credentials(&tokens, None, None, None, false);
        twg_common::login::save(&Store::new(&root, BackendKind::File), &creds)
            .await
            .unwrap();
        Setup {
            _dir: dir,
            root,
            records,
            server,
        }
    }

    fn engine(&self) -> Engine {
        Engine::new(
            Store::new(&self.root, BackendKind::File),
            config(&self.root, &self.server.url),
        )
        .with_record_dirs(std::slice::from_ref(&self.records))
    }

    fn stored(&self) -> Credentials {
        Store::new(&self.root, BackendKind::File)
            .load()
            .unwrap()
            .unwrap()
            .credentials
    }

    fn rt(&self) -> String {
        rt_of(&self.stored())
    }

    /// Rewrites the stored credentials (as another process would), under the lock.
    async fn write(&self, creds: &Credentials) {
        twg_common::login::save(&Store::new(&self.root, BackendKind::File), creds)
            .await
            .unwrap();
    }
}

fn rt_of(c: &Credentials) -> String {
    c.oauth
        .as_ref()
        .unwrap()
        .refresh_token
        .as_ref()
        .unwrap()
        .expose()
        .to_string()
}

/// A rotation whose save "failed": `auth.conf` is put back to the spent token, and the
/// pending credentials that replaced it are returned (with the spent token's fingerprint).
async fn unsaved_rotation(s: &Setup) -> (Credentials, Pending) {
    let before = s.stored();
    s.engine().ensure(force()).await.unwrap();
    let rotated = s.stored();
    s.write(&before).await;
    let spent = before
        .oauth
        .as_ref()
        .unwrap()
        .refresh_token
        .as_ref()
        .unwrap();
    let pending = Pending {
        credentials: rotated,
        spent: recovery::spent_fingerprint(spent),
        created_at: 0,
    };
    (before, pending)
}

fn force() -> Need {
    Need {
        min_valid: None,
        force: true,
    }
}

#[tokio::test]
async fn a_forced_refresh_rotates_and_saves_the_current_token() {
    let s = Setup::new().await;
    let old = s.rt();
    let r = s.engine().ensure(force()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Refreshed);
    assert_ne!(s.rt(), old);
    assert_eq!(s.server.state(&s.rt()).await, "current");
    assert_eq!(
        rt_of(&r.loaded.credentials),
        s.rt(),
        "returns what it saved"
    );
    assert_eq!(s.server.counter("refresh_requests").await, 1);
}

#[tokio::test]
async fn a_fresh_token_is_served_without_a_request_and_a_stale_one_is_refreshed() {
    let s = Setup::new().await;
    let e = s.engine();
    let r = e.ensure(Need::default()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fresh);
    assert_eq!(s.server.counter("refresh_requests").await, 0);
    // Past the 75% mark by the engine's clock.
    let clock = twg_common::time::Clock::manual(twg_common::time::now_unix() + 2800);
    let r = s
        .engine()
        .with_clock(clock)
        .ensure(Need::default())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Refreshed);
    assert_eq!(s.server.counter("refresh_requests").await, 1);
}

#[tokio::test]
async fn a_rotation_made_while_waiting_for_the_lock_is_adopted_not_repeated() {
    let s = Setup::new().await;
    let spent = s.stored();
    // "Another process" rotates; this engine still sees the old, stale token on disk.
    s.engine().ensure(force()).await.unwrap();
    let rotated = s.stored();
    s.write(&spent).await;
    let stale_clock = twg_common::time::Clock::manual(twg_common::time::now_unix() + 2800);
    let store = Store::new(&s.root, BackendKind::File);
    let guard = twg_common::lock::lock(&store.lock_path(), Duration::from_secs(5))
        .await
        .unwrap();
    let e = s.engine().with_clock(stale_clock.clone());
    let waiting = tokio::spawn(async move { e.ensure(Need::default()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // While it waits for the lock, the other process saves its rotation.
    let mut fresh = rotated.clone();
    fresh.oauth.as_mut().unwrap().obtained_at = stale_clock.now();
    fresh.oauth.as_mut().unwrap().expires_at = stale_clock.now() + 3600;
    store.save(&fresh, &guard).unwrap();
    drop(guard);
    let r = waiting.await.unwrap().unwrap();
    assert_eq!(r.outcome, Outcome::Adopted);
    assert_eq!(rt_of(&r.loaded.credentials), rt_of(&rotated));
    assert_eq!(
        s.server.counter("refresh_requests").await,
        1,
        "one rotation"
    );
    assert_eq!(s.server.counter("spent_refresh_requests").await, 0);
}

#[tokio::test]
async fn a_recovery_record_is_adopted_and_its_token_sent_never_the_spent_one() {
    let s = Setup::new().await;
    // The file still holds the spent token, the record the new one.
    let (_, pending) = unsaved_rotation(&s).await;
    let rotated = pending.credentials.clone();
    let record = recovery::write_to(
        &[s.records.join(recovery::file_name(&s.root))],
        &s.root,
        &pending,
    )
    .unwrap();
    let e = s.engine();
    let newest = e.newest().unwrap().unwrap();
    assert_eq!(rt_of(&newest.loaded.credentials), rt_of(&rotated));
    assert_eq!(newest.record.as_deref(), Some(record.as_path()));
    // A forced refresh spends the record's token, saves, and removes the record.
    e.ensure(force()).await.unwrap();
    assert_eq!(s.server.counter("spent_refresh_requests").await, 0);
    assert_eq!(s.server.state(&s.rt()).await, "current");
    assert!(!record.exists(), "the record was folded back and removed");
}

#[tokio::test]
async fn flush_completes_a_pending_save_and_a_stale_record_is_ignored() {
    let s = Setup::new().await;
    let (before, pending) = unsaved_rotation(&s).await;
    let rotated = pending.credentials.clone();
    let path = s.records.join(recovery::file_name(&s.root));
    recovery::write_to(std::slice::from_ref(&path), &s.root, &pending).unwrap();
    s.engine().flush().await.unwrap();
    assert_eq!(
        s.rt(),
        rt_of(&rotated),
        "the pending credentials were saved"
    );
    assert!(!path.exists());
    // A record for a token the store no longer holds is not adopted.
    let stale = Pending {
        credentials: before.clone(),
        spent: "0".repeat(64),
        created_at: 0,
    };
    recovery::write_to(std::slice::from_ref(&path), &s.root, &stale).unwrap();
    let newest = s.engine().newest().unwrap().unwrap();
    assert!(newest.pending.is_none());
    assert_eq!(rt_of(&newest.loaded.credentials), rt_of(&rotated));
}

#[tokio::test]
async fn a_lost_answer_halts_the_token_against_a_strict_server() {
    let s = Setup::new().await;
    let rt = s.rt();
    s.server
        .fault(serde_json::json!({"mode": "truncated_after_rotate", "count": 1}))
        .await;
    let err = s.engine().ensure(force()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::AnswerLost { halted: true, .. }),
        "{err}"
    );
    assert_eq!(s.rt(), rt, "the session is kept");
    assert!(
        s.stored().oauth.unwrap().halted.is_some(),
        "and halted on disk"
    );
    // Never sent again, by this engine or another.
    for _ in 0..2 {
        assert!(s.engine().ensure(force()).await.is_err());
    }
    let r = s.engine().ensure(Need::default()).await.unwrap();
    assert!(
        r.warning.is_some(),
        "the still-valid token is served with a note"
    );
    assert_eq!(s.server.counter("refresh_requests").await, 1);
}

#[tokio::test]
async fn invalid_grant_ends_the_session_until_a_new_login() {
    let s = Setup::new().await;
    let c = reqwest::Client::new();
    c.post(format!("{}/oauth/revoke", s.server.url))
        .form(&[("token", s.rt().as_str()), ("client_id", "twg-dev-client")])
        .send()
        .await
        .unwrap();
    let err = s.engine().ensure(force()).await.unwrap_err();
    assert_eq!(err.exit_code(), twg_common::exit::AUTH_EXPIRED);
    let err = s.engine().ensure(Need::default()).await.unwrap_err();
    assert_eq!(
        err.exit_code(),
        twg_common::exit::AUTH_EXPIRED,
        "not served"
    );
    assert_eq!(s.server.counter("refresh_requests").await, 1);
}

#[tokio::test]
async fn transient_errors_are_retried_and_an_unmeetable_min_valid_sends_nothing() {
    let s = Setup::new().await;
    s.server
        .fault(serde_json::json!({"mode": "status", "status": 503, "count": 1}))
        .await;
    let mut e = s.engine();
    e.attempts = 2;
    let r = e.ensure(force()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Refreshed);
    assert_eq!(s.server.counter("refresh_requests").await, 2);
    let err = s
        .engine()
        .ensure(Need {
            min_valid: Some(7200),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "MIN_VALID_UNMEETABLE");
    assert_eq!(s.server.counter("refresh_requests").await, 2);
}

#[tokio::test]
async fn an_edited_token_endpoint_receives_nothing() {
    let s = Setup::new().await;
    let mut c = s.stored();
    c.oauth.as_mut().unwrap().token_endpoint = "https://evil.example/token".into();
    s.write(&c).await;
    let err = s.engine().ensure(force()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "ENDPOINT_NOT_PINNED");
    assert_eq!(
        s.server.counter("token_requests").await,
        1,
        "only the login's"
    );
}

#[tokio::test]
async fn a_persistent_failure_is_tried_exactly_attempts_times_and_the_token_kept() {
    let s = Setup::new().await;
    let rt = s.rt();
    s.server
        .fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}))
        .await;
    let mut e = s.engine();
    e.attempts = 2;
    let err = e.ensure(force()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "TEMPORARY");
    assert_eq!(s.server.counter("refresh_requests").await, 2);
    assert_eq!(s.rt(), rt);
    assert_eq!(s.server.state(&rt).await, "current");
}

#[tokio::test]
async fn a_forced_refresh_waiting_for_the_lock_adopts_the_rotation_made_meanwhile() {
    let s = Setup::new().await;
    let spent = s.stored();
    s.engine().ensure(force()).await.unwrap();
    let rotated = s.stored();
    s.write(&spent).await;
    let store = Store::new(&s.root, BackendKind::File);
    let guard = twg_common::lock::lock(&store.lock_path(), Duration::from_secs(5))
        .await
        .unwrap();
    let e = s.engine();
    let waiting = tokio::spawn(async move { e.ensure(force()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.save(&rotated, &guard).unwrap();
    drop(guard);
    let r = waiting.await.unwrap().unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Adopted,
        "a rotation made meanwhile is enough"
    );
    assert_eq!(s.server.counter("refresh_requests").await, 1);
    assert_eq!(s.server.counter("spent_refresh_requests").await, 0);
}

#[tokio::test]
async fn credentials_without_oauth_tokens_are_not_logged_in() {
    let s = Setup::new().await;
    let bitbucket_only = Credentials {
        bitbucket_token: Some(twg_common::secret::Secret::new("bb")),
        ..Default::default()
    };
    s.write(&bitbucket_only).await;
    let err = s.engine().ensure(Need::default()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "NOT_LOGGED_IN");
}

/// Against a server with a reuse leeway, a lost answer is asked again once, also when only
/// one attempt is allowed: the retry is not a transient-error attempt.
#[tokio::test]
async fn with_a_reuse_leeway_a_lost_answer_is_retried_once() {
    let lenient = server_with_leeway(Duration::from_secs(600)).await;
    let mut s = Setup::new().await;
    // Log in against the lenient server instead.
    let config = config(&s.root, &lenient.url);
    let flow = LoginFlow::new(&config, HttpClient::new(&config).unwrap())
        .await
        .unwrap();
    let auth = flow.start().await.unwrap();
    let tokens = flow.wait(&auth, |_| {}).await.unwrap();
    s.write(&flow.credentials(&tokens, None, None, None, false))
        .await;
    s.server = lenient;
    s.server
        .fault(serde_json::json!({"mode": "truncated_after_rotate", "count": 1}))
        .await;
    let mut config = config;
    config.reuse_leeway = true;
    let mut e = Engine::new(Store::new(&s.root, BackendKind::File), config)
        .with_record_dirs(std::slice::from_ref(&s.records));
    e.attempts = 1;
    let r = e.ensure(force()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Refreshed);
    assert_eq!(s.server.counter("refresh_requests").await, 2);
    assert_eq!(s.server.state(&s.rt()).await, "current");
}

/// A record that cannot be read may hold the only copy of the newest refresh token: nothing
/// is sent, and it is not deleted.
#[tokio::test]
async fn an_unreadable_recovery_record_stops_refreshes_and_is_kept() {
    let s = Setup::new().await;
    std::fs::create_dir_all(&s.records).unwrap();
    let path = s.records.join(recovery::file_name(&s.root));
    std::fs::write(&path, b"{\"version\": 9, \"truncated").unwrap();
    let err = s.engine().ensure(force()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "SANDBOX_CANNOT_PERSIST");
    assert!(err.to_string().contains("cannot be read"), "{err}");
    assert_eq!(s.server.counter("refresh_requests").await, 0);
    assert!(path.exists(), "the record is kept");
}
