//! twgd's state machine in-process (`twgd::daemon`), against the real dev server: the
//! single-flight gate with forced refreshes and failed flights, the backoff and where it
//! ends, the proactive refresh tick, the retry of a rotation waiting in a recovery record,
//! the final save before exit, and what `next_refresh_at` and `unsaved` report.
//!
//! Some tests drive `twgd::server::run` over gRPC, like `in_process.rs`. Those that move a
//! manual clock call the [`Daemon`] directly instead, with no scheduler beside them whose
//! ticks would race the assertions (the tests call `tick` themselves); the clock makes
//! backoffs and token lifetimes exact.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twg_common::engine::{Engine, Need};
use twg_common::rpc::{self, pb};
use twg_common::time::Clock;
use twg_e2e::{Env, Idp};
use twgd::daemon::Daemon;

// ---------------------------------------------------------------------------------------
// Harness

fn config(env: &Env) -> twg_common::config::Config {
    config_with(env, twg_common::config::ConfigFile::default())
}

fn config_with(env: &Env, file: twg_common::config::ConfigFile) -> twg_common::config::Config {
    let vars: std::collections::HashMap<_, _> = env.vars.iter().cloned().collect();
    twg_common::config::Config::resolve(&env.config_dir, file, &|k| vars.get(k).cloned()).unwrap()
}

/// Where `twg` run in `env` keeps recovery records (`<config root>/state`, then
/// `$XDG_RUNTIME_DIR/twg`), so the in-process engine and the real client agree.
fn record_dirs(env: &Env) -> Vec<PathBuf> {
    vec![env.config_dir.join("state"), env.runtime_dir.join("twg")]
}

/// An engine for `env`'s store on `clock`, trying a refresh `attempts` times.
fn engine(env: &Env, clock: &Clock, attempts: u32) -> Engine {
    engine_with(config(env), env, clock, attempts)
}

fn engine_with(
    config: twg_common::config::Config,
    env: &Env,
    clock: &Clock,
    attempts: u32,
) -> Engine {
    let store = twg_common::store::Store::new(&env.config_dir, config.backend);
    let mut engine = Engine::new(store, config)
        .with_clock(clock.clone())
        .with_record_dirs(&record_dirs(env));
    engine.attempts = attempts;
    engine
}

/// A daemon that is not served: no scheduler or upkeep task runs beside the test.
fn unserved(env: &Env, clock: &Clock) -> Daemon {
    Daemon::new(engine(env, clock, 1), env.dir.path().join("unused.sock"))
}

/// What a caller asking for `min_valid` seconds needs (`GetToken` without `force`).
fn need(min_valid: Option<i64>) -> Need {
    Need {
        min_valid,
        force: false,
    }
}

/// `twgd::server::run` for `env`'s config root on a socket of its own.
struct InProcess {
    daemon: Arc<Daemon>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(env: &Env, clock: &Clock, attempts: u32) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let sock_dir = dir.path().join("run");
    twg_common::paths::ensure_private_dir(&sock_dir).unwrap();
    let socket = sock_dir.join("twgd.sock");
    let daemon = Arc::new(Daemon::new(engine(env, clock, attempts), socket.clone()));
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = daemon.clone();
    let task = tokio::spawn(async move {
        twgd::server::run(listener, served, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    InProcess {
        daemon,
        socket,
        _dir: dir,
        stop: Some(tx),
        task,
    }
}

impl InProcess {
    async fn client(&self) -> rpc::Client {
        rpc::connect(&self.socket, Duration::from_secs(5))
            .await
            .unwrap()
    }

    async fn refresh(&self, force: bool) -> Result<pb::RefreshResponse, tonic::Status> {
        refresh_at(&self.socket, force).await
    }

    async fn summary(&self) -> pb::CredentialSummary {
        self.client()
            .await
            .status(pb::StatusRequest {
                client: Some(rpc::client_info(None)),
            })
            .await
            .unwrap()
            .into_inner()
            .credentials
            .expect("a credential summary")
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server::run returns after shutdown")
            .unwrap();
    }
}

async fn refresh_at(socket: &Path, force: bool) -> Result<pb::RefreshResponse, tonic::Status> {
    rpc::connect(socket, Duration::from_secs(5))
        .await
        .unwrap()
        .refresh(pb::RefreshRequest {
            client: Some(rpc::client_info(None)),
            force,
        })
        .await
        .map(|r| r.into_inner())
}

/// Polls `done` every 20 ms for up to `limit`, without blocking the runtime.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A logged-in environment and a manual clock starting now.
fn logged_in(idp: &Idp) -> (Env, Clock) {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    (env, Clock::manual(twg_common::time::now_unix()))
}

/// The stored token's 75% mark.
fn due_at(env: &Env) -> i64 {
    env.credentials().oauth.unwrap().refresh_due_at()
}

/// What a rotation whose save failed leaves behind: the server rotated (the stored refresh
/// token is spent), and the new credentials are only in a recovery record.
struct Unsaved {
    record: PathBuf,
    spent: String,
    new_refresh: String,
}

async fn rotate_into_a_recovery_record(env: &Env, clock: &Clock) -> Unsaved {
    let creds = env.credentials();
    let o = creds.oauth.clone().unwrap();
    let spent = o.refresh_token.clone().unwrap();
    let http = twg_common::oauth::http::HttpClient::new(&config(env)).unwrap();
    let set = twg_common::oauth::refresh::refresh(&http, o.client(), &o.token_endpoint, &spent)
        .await
        .unwrap();
    let new = twg_common::engine::apply_token_set(&creds, &set, clock.now());
    let new_refresh = new
        .oauth
        .as_ref()
        .and_then(|o| o.refresh_token.as_ref())
        .unwrap()
        .expose()
        .to_string();
    assert_ne!(new_refresh, spent.expose(), "the server rotated");
    let pending = twg_common::recovery::Pending {
        credentials: new,
        spent: twg_common::recovery::spent_fingerprint(&spent),
        created_at: clock.now(),
    };
    let name = twg_common::recovery::file_name(&env.config_dir);
    let paths: Vec<_> = record_dirs(env).iter().map(|d| d.join(&name)).collect();
    let record = twg_common::recovery::write_to(&paths, &env.config_dir, &pending).unwrap();
    assert_eq!(record, paths[0]);
    Unsaved {
        record,
        spent: spent.expose().to_string(),
        new_refresh,
    }
}

/// Puts `dir` behind a symlink to it (`true`) or back (`false`). Reads go through, but twg
/// writes nothing into a directory reached by a symlink (`paths::verify_private`), which
/// root cannot override either: the way to make a save fail here.
fn behind_symlink(dir: &Path, yes: bool) {
    let real = dir.with_extension("real");
    if yes {
        std::fs::rename(dir, &real).unwrap();
        std::os::unix::fs::symlink(real.file_name().unwrap(), dir).unwrap();
    } else {
        std::fs::remove_file(dir).unwrap();
        std::fs::rename(&real, dir).unwrap();
    }
}

/// The capped exponential backoff before jitter, for the `failures`th failure in a row.
fn backoff_base(failures: u32) -> i64 {
    (5i64 << (failures - 1).min(6)).min(300)
}

// ---------------------------------------------------------------------------------------
// The single-flight gate

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_forced_refreshes_share_one_rotation() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, _) = logged_in(&idp);
    let d = start(&env, &Clock::System, 3).await;
    idp.reset_counters();
    // The first rotation takes 800 ms; the other forced requests queue behind it.
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 800, "count": 1}));
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let socket = d.socket.clone();
            tokio::spawn(async move { refresh_at(&socket, true).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().expect("every forced refresh succeeds");
    }
    assert_eq!(
        idp.refresh_requests(),
        1,
        "a forced request that waited on a rotation takes its result"
    );
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_a_failed_refresh_asks_the_server_again() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    let old = env.access_token();
    clock.advance(3_700); // expired: nothing can be served without a refresh
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 1}));
    let err = d.token(need(None)).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(idp.refresh_requests(), 1);
    // The earlier flight's failure is not replayed to a request that did not wait on it.
    let new = d.token(need(None)).await.expect("the server is back");
    assert_ne!(new.oauth.access_token.expose(), old);
    assert_eq!(new.oauth.access_token.expose(), env.access_token());
    assert_eq!(idp.refresh_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_refreshes_say_that_they_rotated() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, _) = logged_in(&idp);
    let d = start(&env, &Clock::System, 1).await;
    for _ in 0..2 {
        let r = d.refresh(true).await.unwrap();
        assert!(r.refreshed, "a forced refresh rotated");
        assert_eq!(r.expires_at, env.credentials().oauth.unwrap().expires_at);
    }
    let r = d.refresh(false).await.unwrap();
    assert!(!r.refreshed, "a fresh token is not rotated");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_saved_by_another_process_is_served_at_once() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    let token = |v: twgd::daemon::TokenView| v.oauth.access_token.expose().to_string();
    let first = token(d.token(need(None)).await.unwrap());
    assert_eq!(first, env.access_token());
    assert_eq!(token(d.token(need(None)).await.unwrap()), first, "cached");

    // Another process (here: a second engine on the same store) rotates and saves.
    let other = engine(&env, &clock, 1);
    other
        .ensure(Need {
            min_valid: None,
            force: true,
        })
        .await
        .unwrap();
    let rotated = env.access_token();
    assert_ne!(rotated, first);
    assert_eq!(token(d.token(need(None)).await.unwrap()), rotated);
    assert_eq!(
        d.current().unwrap().unwrap().generation,
        other.store().load().unwrap().unwrap().generation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_that_could_not_be_saved_is_seen_at_once() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    // A 1 s request timeout, so that a hanging server loses the answer quickly.
    let mut file = twg_common::config::ConfigFile::default();
    file.network.timeout_seconds = Some(1);
    let d = Arc::new(Daemon::new(
        engine_with(config_with(&env, file), &env, &clock, 1),
        env.dir.path().join("unused.sock"),
    ));
    clock.advance(2_800); // due, still valid
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "hang", "count": 1}));
    let flight = {
        let d = d.clone();
        tokio::spawn(async move { d.token(need(None)).await })
    };
    // The preflight save is done once the request is at the server. Then the config root
    // goes behind a symlink, so the halt after the lost answer cannot be saved, and the
    // daemon caches the credentials as they are on disk meanwhile.
    eventually("the refresh request", Duration::from_secs(10), || {
        idp.refresh_requests() == 1
    })
    .await;
    behind_symlink(&env.config_dir, true);
    assert!(d.next_refresh_at() > 0);
    let served = flight.await.unwrap();
    behind_symlink(&env.config_dir, false);
    assert_eq!(
        served
            .expect("the old token is still valid")
            .oauth
            .access_token
            .expose(),
        env.access_token()
    );
    assert!(
        env.credentials().oauth.unwrap().halted.is_none(),
        "the halt is not in auth.conf"
    );
    // The engine keeps the halt in memory; the daemon sees it at once.
    let current = d.current().unwrap().unwrap();
    assert!(current.credentials.oauth.unwrap().halted.is_some());
    assert_eq!(d.next_refresh_at(), 0, "a halted token is not scheduled");
    assert_eq!(idp.refresh_requests(), 1);
}

// ---------------------------------------------------------------------------------------
// Backoff

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_doubles_per_failure_with_jitter_up_to_five_minutes() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    clock.advance(3_700); // expired: every request tries the server, backoff or not
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}));
    let mut jittered = 0;
    for failures in 1..=9u32 {
        d.token(need(None)).await.unwrap_err();
        let info = d.info();
        assert_eq!(info.failures, failures);
        let wait = info.retry_after - clock.now();
        let base = backoff_base(failures);
        assert!(
            (base..=base + base / 4).contains(&wait),
            "failure {failures}: retry in {wait} s, not within [{base}, {}]",
            base + base / 4
        );
        if failures >= 3 && wait > base {
            jittered += 1;
        }
        // The scheduler looks again when the backoff ends.
        assert_eq!(d.next_refresh_at(), info.retry_after);
    }
    assert_eq!(idp.refresh_requests(), 9);
    // Each of failures 3..=9 draws from at least 6 jitter values; all seven landing on zero
    // has a probability below 1e-8.
    assert!(jittered > 0, "the retries are jittered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backoff_ends_exactly_at_retry_after_and_never_serves_a_token_too_short_for_the_caller() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    let old = env.access_token();
    let token = |v: twgd::daemon::TokenView| v.oauth.access_token.expose().to_string();
    clock.advance(2_800); // past the 75% mark, about 800 s left
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}));

    // The failed refresh serves the old token and backs off.
    assert_eq!(token(d.token(need(None)).await.unwrap()), old);
    assert_eq!(idp.refresh_requests(), 1);
    let info = d.info();
    assert_eq!(info.failures, 1);
    assert!(
        (5..=6).contains(&(info.retry_after - clock.now())),
        "{info:?}"
    );
    assert_eq!(token(d.token(need(None)).await.unwrap()), old);
    assert_eq!(idp.refresh_requests(), 1, "no request during the backoff");

    // A caller that needs more than the old token has left is not served it: it gets the
    // refresh's failure.
    let err = d.token(need(Some(900))).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(idp.refresh_requests(), 2);
    let info = d.info();
    assert_eq!(info.failures, 2);
    assert!(
        (10..=12).contains(&(info.retry_after - clock.now())),
        "{info:?}"
    );

    // One second before the backoff ends: still served without a request.
    idp.fault(serde_json::json!({"mode": "none"}));
    clock.advance(info.retry_after - clock.now() - 1);
    assert_eq!(token(d.token(need(None)).await.unwrap()), old);
    assert_eq!(idp.refresh_requests(), 2);
    // At retry_after: refreshed.
    clock.advance(1);
    assert_eq!(clock.now(), info.retry_after);
    let new = token(d.token(need(None)).await.unwrap());
    assert_ne!(new, old);
    assert_eq!(idp.refresh_requests(), 3);
    let info = d.info();
    assert_eq!((info.failures, info.retry_after), (0, 0), "{info:?}");
}

// ---------------------------------------------------------------------------------------
// The proactive refresh

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_refreshes_at_the_75_percent_mark_without_a_request() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = start(&env, &clock, 1).await;
    let first_due = due_at(&env);
    assert!(first_due > clock.now(), "a fresh login is not due");
    assert_eq!(d.daemon.next_refresh_at(), first_due);
    assert_eq!(d.summary().await.next_refresh_at, first_due);
    let spent = env.refresh_token();
    idp.reset_counters();

    clock.advance(first_due - clock.now());
    d.daemon.wake.notify_one();
    eventually("the proactive refresh", Duration::from_secs(10), || {
        env.refresh_token() != spent
    })
    .await;
    assert_eq!(idp.refresh_requests(), 1);
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
    // Scheduled again at the new token's 75% mark.
    let next_due = due_at(&env);
    assert_eq!(next_due, clock.now() + 2_700);
    eventually("the next schedule", Duration::from_secs(5), || {
        d.daemon.next_refresh_at() == next_due
    })
    .await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_refreshes_a_due_token_but_not_an_expired_one_before_the_backoff_ends() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    idp.reset_counters();
    d.tick().await;
    assert_eq!(idp.refresh_requests(), 0, "a fresh token is left alone");

    clock.advance(due_at(&env) - clock.now());
    let spent = env.refresh_token();
    d.tick().await;
    assert_eq!(idp.refresh_requests(), 1, "due at the 75% mark");
    assert_ne!(env.refresh_token(), spent);
    assert_eq!(d.info().refreshes, 1);

    // Expired, and the server failing: one attempt, then nothing until the backoff ends.
    clock.advance(3_700);
    idp.fault(serde_json::json!({"mode": "status", "status": 503, "count": 0}));
    d.tick().await;
    assert_eq!(idp.refresh_requests(), 2);
    let retry_after = d.info().retry_after;
    assert!(retry_after > clock.now());
    for _ in 0..3 {
        d.tick().await;
    }
    assert_eq!(
        idp.refresh_requests(),
        2,
        "no proactive attempt during the backoff"
    );
    clock.advance(retry_after - clock.now());
    d.tick().await;
    assert_eq!(idp.refresh_requests(), 3, "tried again once it ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_is_not_scheduled() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = start(&env, &clock, 1).await;
    assert_eq!(d.daemon.next_refresh_at(), due_at(&env));
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
    let err = d.refresh(true).await.unwrap_err();
    assert!(err.message().contains("twg login"), "{err:?}");
    assert!(env.credentials().oauth.unwrap().halted.is_some());
    assert_eq!(d.daemon.next_refresh_at(), 0, "nothing left to refresh");
    assert_eq!(d.summary().await.next_refresh_at, 0);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_is_never_scheduled_even_after_a_refused_forced_refresh() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let clock = Clock::manual(twg_common::time::now_unix());
    let config = config(&env);
    let store = twg_common::store::Store::new(&env.config_dir, config.backend);
    // What `twg login --with-token` stores: no expiry, no refresh token.
    let creds = twg_common::store::Credentials {
        oauth: Some(twg_common::store::OAuthCredentials {
            issuer: config.oauth.issuer.clone(),
            client_id: config.oauth.client_id.clone(),
            token_endpoint: String::new(),
            revocation_endpoint: None,
            scopes: Vec::new(),
            access_token: twg_common::secret::Secret::new("api-token-4f2a"),
            token_type: twg_common::api_token::API_TOKEN_TYPE.into(),
            expires_at: 0,
            obtained_at: clock.now(),
            refresh_token: None,
            refresh_token_issued_at: 0,
            halted: None,
            client_secret: None,
            client_auth: Default::default(),
            grant: None,
        }),
        ..Default::default()
    };
    twg_common::login::save(&store, &creds).await.unwrap();
    let d = unserved(&env, &clock);
    let view = d.token(need(None)).await.unwrap();
    assert_eq!(view.oauth.access_token.expose(), "api-token-4f2a");
    assert_eq!(d.next_refresh_at(), 0, "nothing to schedule");

    let err = d
        .token(Need {
            min_valid: None,
            force: true,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be refreshed"), "{err}");
    assert!(d.info().retry_after > clock.now(), "the failure backs off");
    assert_eq!(
        d.next_refresh_at(),
        0,
        "the backoff does not schedule a token that never expires"
    );
    assert_eq!(idp.token_requests(), 0);
}

// ---------------------------------------------------------------------------------------
// A rotation that is not in auth.conf

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_waiting_in_a_recovery_record_is_retried_soon_and_then_saved() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    assert_eq!(d.unsaved(), None, "nothing waits");
    let u = rotate_into_a_recovery_record(&env, &clock).await;
    assert_eq!(d.unsaved(), Some(Some(u.record.clone())));
    assert_eq!(
        d.next_refresh_at(),
        clock.now() + 5,
        "the save is retried in 5 s"
    );

    d.retry_unsaved().await.expect("the store takes it now");
    assert_eq!(env.refresh_token(), u.new_refresh, "auth.conf has it");
    assert!(!u.record.exists(), "the record is gone");
    assert_eq!(d.unsaved(), None);
    assert_eq!(d.next_refresh_at(), due_at(&env));
    assert_eq!(idp.counters()["spent_refresh_requests"], 0);
    assert_eq!(idp.refresh_token_state(&u.spent)["usable"], false);
    assert_eq!(idp.refresh_token_state(&u.new_refresh)["state"], "current");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_daemon_saves_a_waiting_rotation_without_being_asked() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let u = rotate_into_a_recovery_record(&env, &clock).await;
    let d = start(&env, &clock, 1).await;
    eventually("the scheduler's save", Duration::from_secs(10), || {
        env.refresh_token() == u.new_refresh && !u.record.exists()
    })
    .await;
    assert_eq!(d.summary().await.unsaved, "");
    assert_eq!(idp.counters()["spent_refresh_requests"], 0);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_nothing_could_save_is_served_from_memory_until_a_save_succeeds() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = Arc::new(unserved(&env, &clock));
    let record_dirs = record_dirs(&env);
    for dir in &record_dirs {
        twg_common::paths::ensure_private_dir(dir).unwrap();
    }
    let private = |yes: bool| {
        if yes {
            behind_symlink(&env.config_dir, false);
        }
        for dir in &record_dirs {
            behind_symlink(dir, !yes);
        }
        if !yes {
            behind_symlink(&env.config_dir, true);
        }
    };
    let (old_access, spent) = (env.access_token(), env.refresh_token());
    idp.reset_counters();
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 800, "count": 1}));
    let flight = {
        let d = d.clone();
        tokio::spawn(async move {
            d.token(Need {
                min_valid: None,
                force: true,
            })
            .await
        })
    };
    // Once the request is at the server (the preflight save is done), neither auth.conf nor
    // a recovery record can be written: the config root and the record directories go
    // behind symlinks.
    eventually("the refresh request", Duration::from_secs(10), || {
        idp.refresh_requests() == 1
    })
    .await;
    private(false);
    let view = flight.await.unwrap().expect("the rotation is served");
    let new_access = view.oauth.access_token.expose().to_string();
    assert_ne!(new_access, old_access);
    assert_eq!(env.refresh_token(), spent, "auth.conf could not take it");
    for dir in &record_dirs {
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "no record");
    }
    let info = d.info();
    assert_eq!(info.refreshes, 1);
    let last_error = info.last_error.unwrap_or_default();
    assert!(last_error.contains("keeps them in memory"), "{last_error}");
    assert_eq!(d.unsaved(), Some(None), "memory only");
    assert_eq!(d.next_refresh_at(), clock.now() + 5, "retried soon");
    let again = d.token(need(None)).await.unwrap();
    assert_eq!(
        again.oauth.access_token.expose(),
        new_access,
        "served from memory"
    );

    // Still nowhere to write: the final save says what is lost.
    let msg = d.final_save().await.expect("a message for the operator");
    assert!(msg.contains("could not be saved anywhere"), "{msg}");
    // An unreadable auth.conf does not hide the rotation held in memory.
    let text = std::fs::read(env.auth_path()).unwrap();
    std::fs::write(env.auth_path(), "version = 1\ngeneration = \"torn").unwrap();
    assert_eq!(d.unsaved(), Some(None));
    std::fs::write(env.auth_path(), text).unwrap();

    // Writable again: the retry saves it, and nothing spent was ever sent.
    private(true);
    d.retry_unsaved().await.expect("saved now");
    assert_eq!(env.access_token(), new_access);
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
    assert_eq!(d.unsaved(), None);
    assert_eq!(idp.refresh_requests(), 1);
    assert_eq!(idp.counters()["spent_refresh_requests"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_save_completes_a_waiting_rotation_or_says_where_it_is() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    assert_eq!(d.final_save().await, None, "nothing to save");

    let u = rotate_into_a_recovery_record(&env, &clock).await;
    // The lock cannot be taken (a directory where its file goes): nothing can be saved,
    // and the message says where the credentials are.
    let lock = env.config_dir.join("auth.conf.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let msg = d.final_save().await.expect("a message for the operator");
    assert!(
        msg.contains(&u.record.display().to_string()),
        "names the record: {msg}"
    );
    assert!(msg.contains("twg auth refresh"), "{msg}");
    assert_ne!(env.refresh_token(), u.new_refresh);
    assert!(u.record.exists(), "the record is kept");

    // With the lock back, the final save puts the rotation in auth.conf.
    std::fs::remove_dir(&lock).unwrap();
    assert_eq!(d.final_save().await, None);
    assert_eq!(env.refresh_token(), u.new_refresh);
    assert!(!u.record.exists());
    assert_eq!(d.unsaved(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_auth_conf_is_not_reported_as_unsaved_credentials() {
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    std::fs::write(env.auth_path(), "version = 1\ngeneration = \"torn").unwrap();
    assert!(d.current().is_err(), "the file is corrupt");
    assert_eq!(d.unsaved(), None, "no rotation is held anywhere");
    assert_eq!(d.final_save().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_refresh_starts_once_shutdown_has_held_the_gate() {
    // The agent and API sockets stop after the main server's final save: a request that
    // reaches the gate then (an API-proxy retry after a 401 forces a refresh) must not spend
    // the refresh token in a process that is about to exit without saving again.
    let idp = Idp::start(&["--reuse-leeway", "0"]);
    let (env, clock) = logged_in(&idp);
    let d = unserved(&env, &clock);
    let (access, refresh) = (env.access_token(), env.refresh_token());
    drop(d.quiesce().await);
    idp.reset_counters();
    let forced = d
        .token(Need {
            min_valid: None,
            force: true,
        })
        .await
        .expect_err("a forced refresh is refused while stopping");
    assert_eq!(
        forced.code(),
        twg_common::error_code::ErrorCode::Temporary,
        "{forced}"
    );
    assert!(forced.to_string().contains("retry"), "{forced}");
    // An expired token cannot be served without a refresh: refused the same way.
    clock.advance(3_700);
    let expired = d
        .token(need(None))
        .await
        .expect_err("no refresh for an expired token either");
    assert_eq!(
        expired.code(),
        twg_common::error_code::ErrorCode::Temporary,
        "{expired}"
    );
    assert_eq!(idp.refresh_requests(), 0, "nothing was sent");
    assert_eq!((env.access_token(), env.refresh_token()), (access, refresh));
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current",
        "the stored refresh token is still the live one"
    );
}
