//! `twg admin auth login|status|logout` with the key on stdin, and the separation from user
//! credentials: user login, refresh and logout leave `admin.conf` byte-for-byte untouched.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Output;
use twg_e2e::{Env, Idp, text};

const KEY: &str = "ATAT-admin-key-0123456789abcdefXYZ";

fn admin_login(env: &Env, stdin: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "admin",
        "auth",
        "login",
        "--email",
        "root@example.com",
        "--org",
        "org-42",
    ];
    args.extend_from_slice(extra);
    env.twg_with_stdin(&args, stdin.as_bytes())
}

fn admin_path(env: &Env) -> std::path::PathBuf {
    env.config_dir.join("admin.conf")
}

fn assert_no_key(out: &Output) {
    let (o, e) = text(out);
    for part in [KEY, &KEY[KEY.len() - 4..]] {
        assert!(
            !o.contains(part) && !e.contains(part),
            "key leaked:\n{o}\n{e}"
        );
    }
}

#[test]
fn admin_login_status_logout_with_the_key_on_stdin() {
    let env = Env::new("http://127.0.0.1:9");
    let out = admin_login(&env, &format!("{KEY}\n"), &["--with-key"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_no_key(&out);

    let path = admin_path(&env);
    let meta = std::fs::metadata(&path).expect("admin.conf");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let saved = twg_common::admin::load(&env.config_dir)
        .expect("admin.conf parses")
        .expect("admin.conf exists");
    assert_eq!(saved.api_key.expose(), KEY);
    assert_eq!(saved.email, "root@example.com");
    assert_eq!(saved.org_id, "org-42");
    assert!(
        !env.auth_path().exists(),
        "user credentials were not touched"
    );
    assert!(
        env.config_dir.join("admin.conf.lock").exists(),
        "its own lock"
    );

    let out = env.twg(&["admin", "auth", "status"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_no_key(&out);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("root@example.com") && stdout.contains("org-42"),
        "{stdout}"
    );
    assert!(stdout.contains("Admin API key:      set"), "{stdout}");

    let out = env.twg(&["admin", "auth", "status", "--json"]);
    assert!(out.status.success());
    assert_no_key(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["org_id"], "org-42");
    assert_eq!(v["api_key"], "set");

    let out = env.twg(&["admin", "auth", "logout"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!path.exists());

    let out = env.twg(&["admin", "auth", "status", "--json"]);
    assert_eq!(out.status.code(), Some(77), "not logged in is exit 77");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["logged_in"], false);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("twg admin auth login"), "{stderr}");

    // Logging out twice is fine.
    let out = env.twg(&["admin", "auth", "logout"]);
    assert!(out.status.success());
}

#[test]
fn bad_input_saves_nothing() {
    let env = Env::new("http://127.0.0.1:9");
    // Not a terminal and no --with-key: refused, with the alternative named.
    let out = admin_login(&env, KEY, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--with-key"), "{}", text(&out).1);
    // Empty key on stdin.
    let out = admin_login(&env, "\n", &["--with-key"]);
    assert_eq!(out.status.code(), Some(2));
    // Not an email.
    let out = env
        .twg_cmd(&[
            "admin",
            "auth",
            "login",
            "--email",
            "root",
            "--org",
            "o",
            "--with-key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!admin_path(&env).exists());
}

#[test]
fn user_login_refresh_and_logout_leave_admin_conf_untouched() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    let out = admin_login(&env, KEY, &["--with-key"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let path = admin_path(&env);
    let bytes = std::fs::read(&path).unwrap();
    let meta = std::fs::metadata(&path).unwrap();

    env.login(&idp, &[]);
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = env.twg(&["logout"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = env.twg(&["logout", "--all"]);
    assert!(out.status.success(), "{}", text(&out).1);

    let after = std::fs::metadata(&path).expect("admin.conf still exists");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "same bytes");
    assert_eq!(after.ino(), meta.ino(), "never rewritten");
    assert_eq!(after.mtime_nsec(), meta.mtime_nsec());
    assert!(!env.auth_path().exists());
    for f in std::fs::read_dir(&env.config_dir).unwrap() {
        let p = f.unwrap().path();
        if p != path {
            let content = std::fs::read(&p).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&content).contains(KEY),
                "the admin key leaked into {}",
                p.display()
            );
        }
    }
}
