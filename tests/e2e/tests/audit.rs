//! The token hand-out audit log end to end: twgd records who got a token (never the token),
//! `twg auth audit` shows it with the daemon up or down, the files rotate by size, and a
//! broken audit directory never costs a token request.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use twg_common::secret::Secret;
use twg_e2e::{Env, Idp, text};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

/// Where twgd writes by default in this harness: `<TWG_CONFIG_DIR>/state`.
fn state_dir(env: &Env) -> std::path::PathBuf {
    env.config_dir.join("state")
}

fn audit_json(env: &Env, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "auth", "audit"];
    args.extend_from_slice(extra);
    let out = env.twg(&args);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// `audit_json` once at least `n` records are on disk: the writer batches for a couple of
/// milliseconds before it writes.
fn audit_when(env: &Env, n: usize) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let report = audit_json(env, &[]);
        if report["records"].as_array().unwrap().len() >= n || std::time::Instant::now() > deadline
        {
            return report;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every audit file's text, concatenated.
fn all_audit_text(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("audit.jsonl")
        {
            all.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    all
}

#[test]
fn each_hand_out_is_recorded_with_the_callers_pid_and_exe_and_no_token() {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    let mut daemon = env.start_daemon();

    // Three real clients with distinct pids; one says it runs under Gemini CLI.
    let mut pids = Vec::new();
    for agent in [None, None, Some("1")] {
        let mut c = env.twg_cmd(&["auth", "token"]);
        if let Some(v) = agent {
            c.env("GEMINI_CLI", v);
        }
        let child = c.stdout(std::process::Stdio::piped()).spawn().unwrap();
        pids.push(child.id());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
    }
    let token = env.access_token();
    let fp = Secret::new(token.clone()).fingerprint();
    let twg = std::fs::canonicalize(twg_e2e::bin("twg"))
        .unwrap()
        .display()
        .to_string();

    // On disk within milliseconds, while the daemon runs.
    let report = audit_when(&env, 3);
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{report}");
    for (r, pid) in records.iter().zip(&pids) {
        assert_eq!(r["pid"], *pid, "newest last, in order: {report}");
        assert_eq!(r["exe"], twg.as_str());
        assert_eq!(r["uid"], 0);
        assert_eq!(r["fingerprint"], fp.as_str());
        assert_eq!(r["client_version"], env!("CARGO_PKG_VERSION"));
    }
    assert!(records[0]["agent"].is_null());
    assert_eq!(records[2]["agent"], "gemini-cli");
    assert_eq!(report["audit_dir"], state_dir(&env).display().to_string());

    // The table: a header, then one row per hand-out with pid, exe, agent, via and fingerprint.
    let out = env.twg(&["auth", "audit"]);
    let table = text(&out).0;
    let lines: Vec<_> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].ends_with("FINGERPRINT"),
        "{table}"
    );
    let last: Vec<_> = lines[3].split_whitespace().collect();
    assert_eq!(
        last[1..],
        [
            pids[2].to_string().as_str(),
            twg.as_str(),
            "gemini-cli",
            "-", // VIA: the main socket
            fp.as_str()
        ]
    );

    // Private files, and no secret in them.
    let dir = state_dir(&env);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("audit.jsonl")), 0o600);
    let files = all_audit_text(&dir);
    assert!(!files.contains(&token) && !files.contains(&env.refresh_token()));

    // With the daemon stopped the log is still readable, and --limit keeps the newest.
    assert_eq!(daemon.terminate(), Some(0));
    let report = audit_json(&env, &["--limit", "2"]);
    let got: Vec<_> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].clone())
        .collect();
    assert_eq!(got, [pids[1], pids[2]].map(serde_json::Value::from));

    // --since: a time in the future selects nothing; a window back from now selects all.
    assert_eq!(
        audit_json(&env, &["--since", "2999-01-01T00:00:00Z"])["records"],
        serde_json::json!([])
    );
    assert_eq!(
        audit_json(&env, &["--since", "10m"])["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let out = env.twg(&["auth", "audit", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));

    // A client that refreshes by itself never talks to twgd, so nothing new is recorded.
    env.set(
        "TWG_SOCKET",
        &env.dir.path().join("nowhere.sock").display().to_string(),
    );
    assert!(env.twg(&["auth", "token"]).status.success());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        audit_json(&env, &[])["records"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn an_empty_log_is_not_an_error() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let out = env.twg(&["auth", "audit"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("No token hand-outs recorded"),
        "{:?}",
        text(&out)
    );
    assert_eq!(audit_json(&env, &[])["records"], serde_json::json!([]));
}

/// Drives GetToken over the socket from this process, `n` times on `conns` connections.
fn hammer(env: &Env, n: usize, conns: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let mut c = twg_common::rpc::connect(&env.socket, Duration::from_secs(5))
                .await
                .unwrap();
            let per = n / conns;
            tasks.push(tokio::spawn(async move {
                for _ in 0..per {
                    let req = twg_common::rpc::pb::GetTokenRequest {
                        client: Some(twg_common::rpc::client_info(Some("codex"))),
                        min_valid_seconds: Some(60),
                    };
                    c.get_token(req).await.expect("GetToken");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn the_log_rotates_by_size_and_keeps_every_record_under_load() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let mut daemon = env.start_daemon();
    // About 250 bytes a record: 6,400 records overflow one 1 MiB file.
    let n = 6_400;
    hammer(&env, n, 16);
    // SIGTERM flushes whatever is still queued before the daemon exits.
    assert_eq!(daemon.terminate(), Some(0));

    let dir = state_dir(&env);
    let live = dir.join("audit.jsonl");
    let rotated = dir.join("audit.jsonl.1");
    assert!(rotated.exists(), "no rotation after {n} records");
    for p in [&live, &rotated] {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len <= 1024 * 1024, "{} is {len} bytes", p.display());
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let report = audit_json(&env, &[]);
    let records = report["records"].as_array().unwrap();
    assert_eq!(
        records.len(),
        n,
        "a queue sized for bursts drops nothing at this rate"
    );
    assert_eq!(report["skipped_lines"], 0);
    let me = std::process::id();
    assert!(
        records
            .iter()
            .all(|r| r["pid"] == me && r["agent"] == "codex")
    );
    let test_exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(records[0]["exe"], test_exe.display().to_string());
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["unix_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first, newest last"
    );
}

#[test]
fn a_broken_audit_directory_never_fails_a_token_request() {
    let idp = Idp::start(&[]);
    let mut env = logged_in(&idp);
    // The state directory would have to live under a regular file: every open fails, and
    // not because of file modes (which root ignores).
    let blocker = env.dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    env.set(
        "TWG_STATE_DIR",
        &blocker.join("state").display().to_string(),
    );
    let _daemon = env.start_daemon();
    for _ in 0..5 {
        let out = env.twg(&["auth", "token"]);
        assert!(out.status.success(), "{:?}", text(&out));
        assert_eq!(text(&out).0.trim(), env.access_token());
    }
    twg_e2e::wait_until(
        "twgd to log the audit failure",
        Duration::from_secs(10),
        || env.daemon_log().contains("cannot write the audit log"),
    );
    let log = env.daemon_log();
    assert_eq!(
        log.matches("cannot write the audit log").count(),
        1,
        "warn once:\n{log}"
    );
    // The reader says what is wrong rather than pretending the log is empty.
    let out = env.twg(&["auth", "audit"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("cannot read the audit log"),
        "{:?}",
        text(&out)
    );
}
