//! The keyring backend against a real Secret Service (gnome-keyring in a private D-Bus
//! session): secrets never in `auth.conf`, reads, rotation, migration both ways, deletion,
//! and clear failures without a Secret Service or with one that hangs. These tests fail,
//! never skip, when gnome-keyring is missing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, text};

/// gnome-keyring in its own `dbus-run-session`. The session lives until this is dropped:
/// the script waits on stdin, so closing it ends bash, then the bus, then the keyring.
struct SecretService {
    child: Child,
    stdin: Option<ChildStdin>,
    address: String,
    _runtime: tempfile::TempDir,
}

const SESSION_SCRIPT: &str = r#"
set -e
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
# The daemon claims org.freedesktop.secrets asynchronously; wait so the first client does
# not race it into a second, D-Bus-activated instance.
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    echo "DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS"
    read -r _ || true
    exit 0
  fi
  sleep 0.05
done
echo "gnome-keyring did not claim org.freedesktop.secrets" >&2
exit 1
"#;

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; the keyring tests need a real Secret Service: \
         apt-get install gnome-keyring dbus-x11 libsecret-tools"
    );
}

impl SecretService {
    fn start(env: &Env) -> SecretService {
        for tool in [
            "dbus-run-session",
            "dbus-send",
            "gnome-keyring-daemon",
            "secret-tool",
        ] {
            require(tool);
        }
        let runtime = tempfile::tempdir().expect("runtime dir");
        let mut child = Command::new("dbus-run-session")
            .args(["--", "bash", "-c", SESSION_SCRIPT])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &env.home)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbus-run-session");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the bus address");
        let address = line
            .trim()
            .strip_prefix("DBUS_SESSION_BUS_ADDRESS=")
            .unwrap_or_else(|| panic!("gnome-keyring did not start; got {line:?}"))
            .to_string();
        SecretService {
            stdin: child.stdin.take(),
            child,
            address,
            _runtime: runtime,
        }
    }

    /// Ends the session and waits for it.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The keyring user name twg uses for `env`'s config root.
fn entry_user(env: &Env) -> String {
    twg_common::store::keyring::entry_user(&env.config_dir)
}

/// The twg entry as seen by `secret-tool`, an independent Secret Service client.
fn lookup(env: &Env) -> Option<serde_json::Value> {
    let out = env
        .command("secret-tool")
        .args(["lookup", "service", "twg", "username", &entry_user(env)])
        .output()
        .expect("run secret-tool");
    // "Not found" is exit 1 with nothing on either stream; anything on stderr means the
    // lookup itself failed (no D-Bus, a locked collection), which must not read as "gone".
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "secret-tool lookup failed: {stderr}"
    );
    if !out.status.success() || out.stdout.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("the twg entry is JSON"))
}

fn secret_field(v: &serde_json::Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in the keyring entry"))
        .to_string()
}

fn set_backend(env: &Env, backend: &str) {
    std::fs::create_dir_all(&env.config_dir).expect("config dir");
    std::fs::write(
        env.config_dir.join("config.toml"),
        format!("[credentials]\nbackend = \"{backend}\"\n"),
    )
    .expect("config.toml");
}

/// Every file under the config root, as text, for "no secret on disk" checks.
fn all_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            let t = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
            out.push((p, t));
        }
    }
    out
}

fn assert_not_on_disk(env: &Env, secrets: &[&str]) {
    for (path, content) in all_files(&env.home) {
        for s in secrets {
            assert!(
                !content.contains(s),
                "a secret is stored in plaintext in {}",
                path.display()
            );
        }
    }
}

fn generation(env: &Env) -> i64 {
    let doc: toml::Table = std::fs::read_to_string(env.auth_path())
        .expect("auth.conf")
        .parse()
        .expect("auth.conf is TOML");
    doc["generation"].as_integer().expect("generation")
}

fn keyring_env(idp: &Idp) -> (Env, SecretService) {
    let mut env = Env::new(&idp.url);
    let ss = SecretService::start(&env);
    env.set("DBUS_SESSION_BUS_ADDRESS", &ss.address);
    (env, ss)
}

#[test]
fn login_read_rotate_and_logout_keep_secrets_in_the_keyring_only() {
    let idp = Idp::start(&[]);
    let (env, _ss) = keyring_env(&idp);
    set_backend(&env, "keyring");

    // Store.
    env.login(&idp, &[]);
    let auth = std::fs::read_to_string(env.auth_path()).expect("auth.conf");
    assert!(auth.contains("backend = \"keyring\""), "{auth}");
    assert!(!auth.contains("access_token"), "{auth}");
    assert!(!auth.contains("refresh_token ="), "{auth}");
    let entry = lookup(&env).expect("login created the keyring entry");
    let access = secret_field(&entry, "access_token");
    let refresh = secret_field(&entry, "refresh_token");
    assert_eq!(entry["generation"].as_i64(), Some(generation(&env)));
    assert_not_on_disk(&env, &[&access, &refresh]);

    // Read.
    let out = env.twg(&["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), access);
    let status = env.twg(&["auth", "status", "--json"]);
    let (stdout, stderr) = text(&status);
    assert!(status.status.success(), "{stderr}");
    let s: serde_json::Value = serde_json::from_str(&stdout).expect("status JSON");
    assert_eq!(s["backend"], "keyring", "{s}");
    assert_eq!(s["has_refresh_token"], true, "{s}");

    // Rotate.
    idp.reset_counters();
    let gen_before = generation(&env);
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(idp.refresh_requests(), 1, "one refresh reached the server");
    let entry = lookup(&env).expect("entry after refresh");
    let new_access = secret_field(&entry, "access_token");
    let new_refresh = secret_field(&entry, "refresh_token");
    assert_ne!(new_refresh, refresh, "the rotated refresh token was saved");
    assert_eq!(idp.refresh_token_state(&new_refresh)["state"], "current");
    assert_eq!(generation(&env), gen_before + 1, "auth.conf was rewritten");
    assert_eq!(entry["generation"].as_i64(), Some(gen_before + 1));
    assert_not_on_disk(&env, &[&new_access, &new_refresh]);
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), new_access);

    // The daemon reads and rotates through the keyring too.
    let _daemon = env.start_daemon();
    env.make_stale();
    idp.reset_counters();
    let out = env.twg(&["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{}", env.daemon_log());
    assert_eq!(idp.refresh_requests(), 1);
    let entry = lookup(&env).expect("entry after the daemon's refresh");
    assert_eq!(stdout.trim(), secret_field(&entry, "access_token"));
    assert_eq!(
        idp.refresh_token_state(&secret_field(&entry, "refresh_token"))["state"],
        "current"
    );
    drop(_daemon);

    // Delete.
    let out = env.twg(&["logout"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(lookup(&env).is_none(), "logout removed the keyring entry");
    assert!(!env.auth_path().exists(), "logout removed auth.conf");
}

#[test]
fn switching_backends_moves_the_secrets_and_leaves_no_copy_behind() {
    let idp = Idp::start(&[]);
    let (env, _ss) = keyring_env(&idp);
    env.login(&idp, &[]); // file backend (the default)
    assert!(lookup(&env).is_none());
    let file_refresh = env.refresh_token();

    set_backend(&env, "keyring");
    // The file's own backend is honoured for reading after the switch.
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(text(&out).0.trim(), env.access_token());
    // The next save moves the secrets into the keyring and out of the file.
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let entry = lookup(&env).expect("the secrets moved to the keyring");
    let refresh = secret_field(&entry, "refresh_token");
    assert_ne!(refresh, file_refresh);
    let auth = std::fs::read_to_string(env.auth_path()).unwrap();
    assert!(
        auth.contains("backend = \"keyring\"") && !auth.contains("access_token"),
        "{auth}"
    );
    assert_not_on_disk(&env, &[&refresh, &secret_field(&entry, "access_token")]);

    // And back: the file gets the secrets, the keyring entry is removed.
    set_backend(&env, "file");
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(lookup(&env).is_none(), "the keyring copy was removed");
    let auth = std::fs::read_to_string(env.auth_path()).unwrap();
    assert!(auth.contains("backend = \"file\""), "{auth}");
    assert_eq!(
        idp.refresh_token_state(&env.refresh_token())["state"],
        "current"
    );
}

/// Runs `twg login` to the end, approving the code; returns the output whatever it is.
fn login_output(env: &Env, idp: &Idp) -> std::process::Output {
    let mut child = env
        .twg_cmd(&["login", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twg login");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    let code = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "no user code:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(c) = line.split("one-time code:").nth(1) {
            break c.trim().to_string();
        }
    };
    idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("read stderr");
    let mut out = child.wait_with_output().expect("wait");
    out.stderr = format!("{seen}{rest}").into_bytes();
    out
}

#[test]
fn without_a_secret_service_every_path_fails_clearly_and_nothing_is_written_in_plaintext() {
    let idp = Idp::start(&[]);
    // No DBUS_SESSION_BUS_ADDRESS, and XDG_RUNTIME_DIR holds no bus socket.
    let env = Env::new(&idp.url);
    set_backend(&env, "keyring");
    let out = login_output(&env, &idp);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "login must fail without a keyring");
    assert!(
        stderr.contains("no Secret Service on the session bus"),
        "{stderr}"
    );
    assert!(stderr.contains(r#"backend = "file""#), "{stderr}");
    assert!(!env.auth_path().exists(), "nothing was written");
    for (path, content) in all_files(&env.config_dir) {
        assert!(
            !content.contains("token"),
            "{} holds token data",
            path.display()
        );
    }

    // A keyring-backed auth.conf whose keyring went away: reads fail, the file is untouched.
    let (env, ss) = keyring_env(&idp);
    set_backend(&env, "keyring");
    env.login(&idp, &[]);
    ss.stop();
    let before = std::fs::read(env.auth_path()).unwrap();
    let out = env.twg(&["auth", "token"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("Secret Service"), "{stderr}");
    assert!(stderr.contains("gnome-keyring"), "{stderr}");
    assert_eq!(std::fs::read(env.auth_path()).unwrap(), before);
}

#[test]
fn the_refresh_preflight_proves_the_keyring_before_spending_the_refresh_token() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]); // file backend
    let before = std::fs::read(env.auth_path()).unwrap();
    let refresh = env.refresh_token();
    set_backend(&env, "keyring"); // the next save would go to a keyring that is not there
    idp.reset_counters();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no Secret Service"), "{stderr}");
    assert!(
        stderr.contains("Nothing was sent to the server"),
        "{stderr}"
    );
    assert_eq!(idp.refresh_requests(), 0, "the refresh token was not spent");
    assert_eq!(idp.refresh_token_state(&refresh)["state"], "current");
    assert_eq!(
        std::fs::read(env.auth_path()).unwrap(),
        before,
        "auth.conf untouched"
    );
}

#[test]
fn a_secret_service_that_never_answers_times_out() {
    let idp = Idp::start(&[]);
    let (mut env, ss) = keyring_env(&idp);
    set_backend(&env, "keyring");
    env.login(&idp, &[]);
    ss.stop();
    // A "bus" that accepts connections and never says a word.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("bus");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    env.set(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", sock.display()),
    );
    let start = Instant::now();
    let out = env.twg(&["auth", "token"]);
    let took = start.elapsed();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("did not answer within 5s"), "{stderr}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "took {took:?}"
    );
}

#[test]
fn the_bitbucket_token_lives_in_the_keyring_with_or_without_an_oauth_login() {
    let idp = Idp::start(&[]);
    let (env, _ss) = keyring_env(&idp);
    set_backend(&env, "keyring");
    let bb = "bb-keyring-token-19af";
    let out = env.twg_with_stdin(&["setup", "bitbucket", "--with-token"], bb.as_bytes());
    assert!(out.status.success(), "{}", text(&out).1);
    let auth = std::fs::read_to_string(env.auth_path()).unwrap();
    assert!(auth.contains("in_keyring = true"), "{auth}");
    assert_not_on_disk(&env, &[bb]);
    assert_eq!(secret_field(&lookup(&env).unwrap(), "bitbucket_token"), bb);

    env.login(&idp, &[]);
    let entry = lookup(&env).unwrap();
    assert_eq!(secret_field(&entry, "bitbucket_token"), bb, "login kept it");
    let status = env.twg(&["auth", "status", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(s["has_bitbucket_token"], true, "{s}");

    // Logout keeps the Bitbucket token (in the keyring); --all removes everything.
    let out = env.twg(&["logout"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let entry = lookup(&env).expect("the Bitbucket token is still stored");
    assert_eq!(secret_field(&entry, "bitbucket_token"), bb);
    assert!(
        entry.get("refresh_token").is_none(),
        "{}",
        entry.get("generation").unwrap()
    );
    let out = env.twg(&["logout", "--all"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(lookup(&env).is_none());
    assert!(!env.auth_path().exists());
}

#[test]
fn the_oauth_apps_client_secret_lives_in_the_keyring_and_refreshes_use_it() {
    let redirect = format!("http://127.0.0.1:{}/callback", twg_e2e::web::free_port());
    let secret = "app-secret-in-keyring-7d1e";
    let idp = Idp::start(&[
        "--confidential-client",
        &format!("twg-web:{secret}:{redirect}"),
    ]);
    let (mut env, _ss) = keyring_env(&idp);
    env.unset("TWG_OAUTH_CLIENT_ID");
    set_backend(&env, "keyring");
    twg_e2e::web::setup_oauth_app(&env, "twg-web", &redirect, secret);
    assert_not_on_disk(&env, &[secret]);
    assert_eq!(
        secret_field(&lookup(&env).unwrap(), "app_client_secret"),
        secret
    );

    let login = twg_e2e::web::WebLogin::start(&env, &[]);
    let location = twg_e2e::web::consent_over_http(&login.url, "approve");
    assert_eq!(twg_e2e::web::get_status(&location), Some(200));
    let out = login.finish(Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out).1);
    let entry = lookup(&env).unwrap();
    assert_eq!(secret_field(&entry, "client_secret"), secret);
    let rt = secret_field(&entry, "refresh_token");
    assert_not_on_disk(&env, &[secret, &rt]);
    // The refresh reads the secret back from the keyring (the server insists on it).
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_ne!(secret_field(&lookup(&env).unwrap(), "refresh_token"), rt);
    assert_not_on_disk(&env, &[secret]);
}
