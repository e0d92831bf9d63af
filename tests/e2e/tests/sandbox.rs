//! twg inside a real sandbox (bubblewrap, config root bind-mounted read-only), as coding
//! agents run it: through the daemon it works without touching the config directory; without
//! the daemon it sends nothing, exits 73 and prints the agent's own setting.
//!
//! These tests run as root, where file modes mean nothing; only a read-only mount is real.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use twg_e2e::{Env, Idp, text};

/// A logged-in environment whose audit log lives outside the config root, so the root can
/// be compared byte for byte while the daemon writes its audit records.
fn logged_in(idp: &Idp) -> Env {
    let mut env = Env::new(&idp.url);
    let state = env.dir.path().join("state");
    env.set("TWG_STATE_DIR", &state.display().to_string());
    env.login(idp, &[]);
    env
}

/// Variables that make twg detect an agent.
type AgentEnv<'a> = &'a [(&'a str, &'a str)];

fn require_bwrap() {
    let ok = Command::new("bwrap")
        .args(["--dev-bind", "/", "/", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "bubblewrap is required: apt-get install -y bubblewrap");
}

/// `twg <args>` inside bubblewrap: the whole file system as is, except the config root,
/// which is read-only, and the runtime directory, which is empty but for the daemon socket
/// (bound in explicitly, as an agent's socket allowance would). The shell prints its pid
/// and then becomes twg, so the first stdout line is twg's pid.
fn sandboxed(env: &Env, agent_env: &[(&str, &str)], args: &[&str]) -> (Option<u32>, Output) {
    require_bwrap();
    let cfg = env.config_dir.display().to_string();
    let run = env.runtime_dir.display().to_string();
    let sock = env.socket.display().to_string();
    let mut c = env.command("bwrap");
    c.args([
        "--dev-bind",
        "/",
        "/",
        "--ro-bind",
        &cfg,
        &cfg,
        "--tmpfs",
        &run,
    ]);
    if env.socket.exists() {
        c.args(["--bind", &sock, &sock]);
    }
    c.args([
        "--die-with-parent",
        "--",
        "sh",
        "-c",
        r#"echo "$$"; exec "$0" "$@""#,
    ])
    .arg(twg_e2e::bin("twg"))
    .args(args);
    for (k, v) in agent_env {
        c.env(k, v);
    }
    let mut out = c.output().expect("run bwrap");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (first, rest) = stdout.split_once('\n').unwrap_or((stdout.as_str(), ""));
    let pid = first.trim().parse().ok();
    out.stdout = rest.as_bytes().to_vec();
    (pid, out)
}

/// Everything observable about a directory tree: per entry its type, mode, size, mtime
/// (nanoseconds) and, for files, the full content. Directory mtimes catch any create,
/// rename or delete, including ones undone before we look.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    size: u64,
    mtime_ns: i128,
    content: Vec<u8>,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let meta = std::fs::symlink_metadata(dir).expect("stat");
        out.insert(
            dir.strip_prefix(root).unwrap().to_path_buf(),
            entry(&meta, Vec::new(), "dir"),
        );
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let path = e.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let (kind, content) = if meta.file_type().is_symlink() {
                    (
                        "link",
                        std::fs::read_link(&path)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    )
                } else {
                    ("file", std::fs::read(&path).expect("read"))
                };
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    entry(&meta, content, kind),
                );
            }
        }
    }
    fn entry(meta: &std::fs::Metadata, content: Vec<u8>, kind: &'static str) -> Entry {
        Entry {
            kind,
            mode: meta.mode(),
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            content,
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn envelope(out: &Output) -> serde_json::Value {
    let stderr = text(out).1;
    serde_json::from_str(stderr.trim())
        .unwrap_or_else(|e| panic!("not a JSON envelope ({e}): {stderr}"))
}

/// `twg --json auth audit`, once a record for `pid` is on disk (the daemon's writer batches
/// for a couple of milliseconds).
fn audit_with_pid(env: &Env, pid: u32) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let out = env.twg(&["--json", "auth", "audit"]);
        assert!(out.status.success(), "{:?}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = report["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["pid"] == pid);
        if found || std::time::Instant::now() > deadline {
            return report;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Every audit file's bytes, concatenated.
fn audit_bytes(env: &Env) -> String {
    let dir = env.dir.path().join("state");
    let mut all = String::new();
    for e in std::fs::read_dir(&dir).expect("state dir exists") {
        let path = e.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("audit.jsonl")
        {
            all.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    all
}

#[test]
fn through_the_daemon_a_sandboxed_client_gets_a_token_and_writes_nothing() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let before = snapshot(&env.config_dir);
    idp.reset_counters();

    let (pid, out) = sandboxed(&env, &[("CLAUDECODE", "1")], &["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    let token = env.access_token();
    assert_eq!(stdout.trim(), token);
    assert_eq!(
        idp.token_requests(),
        0,
        "a fresh token needs no server call"
    );

    // The sandbox really is read-only: a write from inside fails.
    let cfg = env.config_dir.display().to_string();
    let probe = env
        .command("bwrap")
        .args([
            "--dev-bind",
            "/",
            "/",
            "--ro-bind",
            &cfg,
            &cfg,
            "--",
            "touch",
        ])
        .arg(env.config_dir.join("probe"))
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "the read-only bind must refuse writes"
    );

    let after = snapshot(&env.config_dir);
    assert_eq!(before, after, "the config directory changed");

    // The daemon recorded the sandboxed process: its pid, its executable, its agent.
    let pid = pid.expect("the sandbox printed its pid");
    let report = audit_with_pid(&env, pid);
    let records = report["records"].as_array().unwrap();
    let mine = records
        .iter()
        .find(|r| r["pid"] == pid)
        .unwrap_or_else(|| panic!("no record for pid {pid}: {report}"));
    let twg = std::fs::canonicalize(twg_e2e::bin("twg")).unwrap();
    assert_eq!(mine["exe"], twg.display().to_string(), "{mine}");
    assert_eq!(mine["agent"], "claude-code");
    assert_eq!(mine["uid"], 0);
    assert_eq!(
        mine["fingerprint"],
        twg_common::secret::Secret::new(token.clone()).fingerprint()
    );

    // Neither token is anywhere in the audit files.
    let files = audit_bytes(&env);
    assert!(!files.is_empty());
    assert!(
        !files.contains(&token),
        "the access token leaked into the audit log"
    );
    assert!(
        !files.contains(&env.refresh_token()),
        "the refresh token leaked into the audit log"
    );
}

/// Stale token, no daemon, read-only config root: for each agent environment, nothing is
/// sent, exit 73, and the guidance names the real config root.
#[test]
fn without_the_daemon_a_sandboxed_refresh_sends_nothing_and_explains_why() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let refresh_token = env.refresh_token();
    let cfg = env.config_dir.display().to_string();
    let before = snapshot(&env.config_dir);
    let requests = idp.token_requests();

    let cases: &[(AgentEnv, Option<&str>)] = &[
        (&[], None),
        (&[("CLAUDECODE", "1")], Some("claude-code")),
        (&[("CODEX_SANDBOX", "seatbelt")], Some("codex")),
        (&[("CODEX_SANDBOX_NETWORK_DISABLED", "1")], Some("codex")),
    ];
    for (vars, agent) in cases {
        // --json: the envelope, and the snippet parsed in its own format.
        let (_, out) = sandboxed(&env, vars, &["--json", "auth", "token"]);
        assert_eq!(out.status.code(), Some(73), "{vars:?}: {:?}", text(&out));
        assert!(
            out.stdout.is_empty(),
            "no token on stdout: {:?}",
            text(&out).0
        );
        let e = envelope(&out);
        let err = &e["error"];
        assert_eq!(err["code"], "SANDBOX_CANNOT_PERSIST", "{e}");
        assert_eq!(err["exit_code"], 73);
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("Nothing was sent"),
            "{e}"
        );
        let detail = &err["detail"];
        assert_eq!(detail["config_dir"], cfg.as_str(), "{e}");
        // The restricted agent socket, not the full one.
        assert_eq!(
            detail["socket_path"],
            env.socket
                .with_file_name("agent.sock")
                .display()
                .to_string()
        );
        assert_eq!(detail["agent"].as_str(), *agent, "{e}");
        let setting = &detail["agent_setting"];
        match *agent {
            Some("codex") => {
                assert_eq!(setting["format"], "toml");
                let doc: toml::Table = setting["content"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .expect("the Codex snippet is TOML");
                let fs = doc["permissions"]["twg"]["filesystem"].as_table().unwrap();
                assert_eq!(
                    fs.get(&cfg).and_then(|v| v.as_str()),
                    Some("write"),
                    "{doc}"
                );
                assert_eq!(doc["default_permissions"].as_str(), Some("twg"));
            }
            Some("claude-code") => {
                assert_eq!(setting["format"], "json");
                let doc: serde_json::Value =
                    serde_json::from_str(setting["content"].as_str().unwrap())
                        .expect("the Claude Code snippet is JSON");
                assert_eq!(
                    doc["sandbox"]["filesystem"]["allowWrite"],
                    serde_json::json!([cfg])
                );
                assert_eq!(doc["sandbox"]["enabled"], true);
            }
            _ => assert!(setting.is_null(), "no agent, no snippet: {e}"),
        }

        // Text mode: the guidance, with the real path, on stderr.
        let (_, out) = sandboxed(&env, vars, &["auth", "token"]);
        assert_eq!(out.status.code(), Some(73));
        let stderr = text(&out).1;
        assert!(
            stderr.contains(&format!("cannot write to its config directory {cfg}")),
            "{stderr}"
        );
        assert!(stderr.contains("Preferred fix"), "{stderr}");
        // Agents are pointed at the restricted agent socket, never the full one.
        let agent_socket = env.socket.with_file_name("agent.sock");
        assert!(
            stderr.contains(&agent_socket.display().to_string()),
            "{stderr}"
        );
        assert!(!stderr.contains("twgd.sock"), "{stderr}");
        if agent.is_some() {
            assert!(
                stderr.contains(&format!("Alternative: let the agent write {cfg}")),
                "{stderr}"
            );
        }
    }

    assert_eq!(
        idp.token_requests(),
        requests,
        "the sandboxed client must not call the token endpoint"
    );
    assert_eq!(
        snapshot(&env.config_dir),
        before,
        "the config directory changed"
    );

    // The refresh token was never spent: the server still accepts it, and a normal refresh
    // outside the sandbox succeeds with it.
    let state = idp.refresh_token_state(&refresh_token);
    assert_eq!(state["usable"], true, "{state}");
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.token_requests(), requests + 1, "one refresh, outside");
    assert_ne!(
        env.refresh_token(),
        refresh_token,
        "rotated and saved outside"
    );
    assert_eq!(text(&out).0.trim(), env.access_token());
}

/// A stale token through the daemon: the daemon (outside) refreshes and saves; the
/// sandboxed client still writes nothing itself and gets the new token.
#[test]
fn a_stale_token_is_refreshed_by_the_daemon_outside_the_sandbox() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    env.make_stale();
    let old_refresh = env.refresh_token();
    // Before the daemon starts: its scheduler may refresh the stale token on its own, and
    // that refresh and the client's request must add up to one.
    idp.reset_counters();
    let _daemon = env.start_daemon();
    let (pid, out) = sandboxed(&env, &[("CODEX_SANDBOX", "seatbelt")], &["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(idp.refresh_requests(), 1);
    assert_ne!(env.refresh_token(), old_refresh);
    assert_eq!(text(&out).0.trim(), env.access_token());
    audit_with_pid(&env, pid.unwrap());
    let out = env.twg(&["--json", "auth", "audit", "--limit", "1"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["records"][0]["pid"], pid.unwrap(), "{report}");
    assert_eq!(report["records"][0]["agent"], "codex", "{report}");
}
