//! `twg uninstall`: `--dry-run` lists and touches nothing; `--yes` removes exactly the
//! listed paths, revokes at the authorization server, and leaves everything else alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twg_e2e::{Env, Idp, text};

/// Every path under `roots` with its kind and content.
fn snapshot(roots: &[&Path]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        let v = if meta.file_type().is_symlink() {
            format!("link:{}", std::fs::read_link(p).unwrap().display()).into_bytes()
        } else if meta.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
            b"dir".to_vec()
        } else if meta.file_type().is_file() {
            std::fs::read(p).unwrap()
        } else {
            b"special".to_vec() // the daemon socket
        };
        out.insert(p.to_path_buf(), v);
    }
    let mut out = BTreeMap::new();
    for r in roots {
        walk(r, &mut out);
    }
    out
}

/// A logged-in user with a running daemon, an installed layout, every kind of twg file,
/// and unrelated files that must survive.
fn populated(idp: &Idp) -> (Env, twg_e2e::Proc) {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    let root = &env.config_dir;
    std::fs::write(root.join("config.toml"), "[update]\ncheck = false\n").unwrap();
    std::fs::write(root.join("admin.conf"), "# admin key file placeholder\n").unwrap();
    std::fs::write(root.join("upkeep.json"), "{\"format\":1}\n").unwrap();
    let state = root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("audit.log"), "x\n").unwrap();
    let install = env.home.join(".local/share/twg");
    std::fs::create_dir_all(install.join("versions/1.0.0")).unwrap();
    for n in ["twg", "twgd"] {
        std::fs::write(install.join("versions/1.0.0").join(n), n).unwrap();
    }
    std::os::unix::fs::symlink("versions/1.0.0", install.join("current")).unwrap();
    let bin = env.home.join(".local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for n in ["twg", "twgd"] {
        std::os::unix::fs::symlink(install.join("current").join(n), bin.join(n)).unwrap();
    }
    // Not twg's: must survive.
    std::fs::write(bin.join("other-tool"), "keep").unwrap();
    std::fs::create_dir_all(env.home.join(".config/other")).unwrap();
    std::fs::write(env.home.join(".config/other/app.conf"), "keep").unwrap();
    std::fs::create_dir_all(env.home.join(".local/share/other")).unwrap();
    let daemon = env.start_daemon();
    (env, daemon)
}

fn listed(plan: &serde_json::Value) -> Vec<PathBuf> {
    plan["plan"]["remove"]
        .as_array()
        .expect("plan.remove")
        .iter()
        .map(|i| PathBuf::from(i["path"].as_str().unwrap()))
        .collect()
}

#[test]
fn dry_run_and_refusal_change_nothing() {
    let idp = Idp::start(&[]);
    let (env, _daemon) = populated(&idp);
    let roots = [env.home.as_path(), env.runtime_dir.as_path()];
    let before = snapshot(&roots);
    let revocations = idp.counters()["revocations"].as_u64().unwrap();

    let out = env.twg(&["uninstall", "--dry-run"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(o.contains("Nothing was changed"), "{o}");
    for p in [
        &env.config_dir,
        &env.home.join(".local/share/twg"),
        &env.home.join(".local/bin/twg"),
    ] {
        assert!(
            o.contains(&p.display().to_string()),
            "{} listed:\n{o}",
            p.display()
        );
    }
    assert!(!o.contains("other-tool"), "{o}");
    assert_eq!(before, snapshot(&roots), "--dry-run touched nothing");

    // No terminal and no --yes: refuse, change nothing.
    let out = env.twg(&["uninstall"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}\n{e}");
    assert!(e.contains("--yes") && e.contains("--dry-run"), "{e}");
    assert_eq!(
        before,
        snapshot(&roots),
        "a refused uninstall touched nothing"
    );
    assert_eq!(
        idp.counters()["revocations"].as_u64().unwrap(),
        revocations,
        "nothing revoked"
    );
    assert!(
        env.twg(&["daemon", "status"]).status.success(),
        "the daemon still runs"
    );
}

#[test]
fn yes_removes_exactly_the_listed_paths_and_revokes() {
    let idp = Idp::start(&[]);
    let (env, mut daemon) = populated(&idp);
    let refresh_token = env.refresh_token();
    assert_eq!(idp.refresh_token_state(&refresh_token)["usable"], true);
    let revocations = idp.counters()["revocations"].as_u64().unwrap();
    let roots = [env.home.as_path(), env.runtime_dir.as_path()];

    let out = env.twg(&["--json", "uninstall", "--dry-run"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let plan: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    let listed = listed(&plan);
    for expected in [
        env.config_dir.clone(),
        env.runtime_dir.join("twg"),
        env.home.join(".local/share/twg"),
        env.home.join(".local/bin/twg"),
        env.home.join(".local/bin/twgd"),
    ] {
        assert!(
            listed.contains(&expected),
            "{} missing from {listed:?}",
            expected.display()
        );
    }
    assert!(plan["plan"]["credentials"].is_string(), "{plan}");
    let before = snapshot(&roots);

    let out = env.twg(&["--json", "uninstall", "--yes"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let result: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    let removed: Vec<PathBuf> = result["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert_eq!(removed, listed, "removed exactly what --dry-run listed");
    assert_eq!(result["revoked"], true, "{result}");

    // Revoked at the server, not just deleted here.
    assert!(idp.counters()["revocations"].as_u64().unwrap() > revocations);
    assert_eq!(idp.refresh_token_state(&refresh_token)["usable"], false);

    // Everything under a listed path is gone; everything else is byte-for-byte unchanged.
    let after = snapshot(&roots);
    for (path, content) in &before {
        if listed.iter().any(|l| path.starts_with(l)) {
            assert!(
                !after.contains_key(path),
                "{} should be gone",
                path.display()
            );
        } else {
            assert_eq!(after.get(path), Some(content), "{} changed", path.display());
        }
    }
    assert!(
        after.keys().all(|p| before.contains_key(p)),
        "nothing new appeared"
    );
    let mut stopped = None;
    twg_e2e::wait_until(
        "twgd to exit after uninstall",
        Duration::from_secs(20),
        || {
            stopped = daemon.child.try_wait().unwrap();
            stopped.is_some()
        },
    );
    assert_eq!(
        stopped.unwrap().code(),
        Some(0),
        "twgd was stopped gracefully"
    );
}

#[test]
fn a_shared_config_root_loses_only_twg_files() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    // TWG_CONFIG_DIR pointing at a directory twg shares with other tools.
    let shared = env.home.join(".config");
    env.set("TWG_CONFIG_DIR", &shared.display().to_string());
    env.set(
        "TWG_STATE_DIR",
        &env.home.join(".local/state/twg").display().to_string(),
    );
    env.config_dir = shared.clone();
    env.login(&idp, &[]);
    std::fs::write(shared.join("config.toml"), "[update]\ncheck = false\n").unwrap();
    std::fs::create_dir_all(shared.join("other-app")).unwrap();
    std::fs::write(shared.join("other-app/settings"), "keep").unwrap();
    std::fs::write(shared.join("unrelated.conf"), "keep").unwrap();
    let out = env.twg(&["--json", "uninstall", "--dry-run"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths = listed(&plan);
    assert!(
        !paths.contains(&shared),
        "the shared root itself is never listed: {paths:?}"
    );
    assert!(paths.contains(&shared.join("auth.conf")), "{paths:?}");
    let out = env.twg(&["uninstall", "--yes"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!shared.join("auth.conf").exists() && !shared.join("config.toml").exists());
    assert_eq!(
        std::fs::read(shared.join("other-app/settings")).unwrap(),
        b"keep"
    );
    assert_eq!(
        std::fs::read(shared.join("unrelated.conf")).unwrap(),
        b"keep"
    );
}
