//! The store's promises, on a real file system: generations that change on every save, the
//! stamp twgd uses for change detection, the refresh preflight (`rewrite`) that keeps the
//! generation, secrets that move when the backend is switched, and errors that are never
//! mistaken for "logged out" or "already removed".
//!
//! Long because it is only tests: one per promise, written for the mutants they catch.
//!
//! The keyring tests run this test binary again in a child process with a session bus of
//! their own: a private gnome-keyring (`dbus-run-session`), or a bus address where nothing
//! listens. The test process's own environment is never used for the keyring, so these tests
//! neither touch a developer's real keyring nor depend on one. They fail, never skip, when
//! gnome-keyring is missing.

use super::format::{self, AuthFile};
use super::*;
use crate::lock;

// ---------------------------------------------------------------------------------------
// Fixtures

/// A private temporary directory holding the config root `twg` (created by the first save
/// or by [`guard`]).
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("twg")
    }

    fn store(&self, backend: BackendKind) -> Store {
        Store::new(self.path(), backend)
    }
}

/// The credential lock for `store`'s root. One per root and test: a second `flock` on the
/// same file would wait for the first even within one process.
fn guard(store: &Store) -> LockGuard {
    crate::paths::ensure_private_dir(store.root()).expect("config root");
    lock::try_lock(&store.lock_path())
        .expect("lock file")
        .expect("nobody else holds the lock")
}

/// A full login whose secrets all carry `tag`, so two saves differ in every secret.
fn creds(tag: &str) -> Credentials {
    Credentials {
        oauth: Some(OAuthCredentials {
            issuer: "https://auth.example".into(),
            client_id: "cid".into(),
            token_endpoint: "https://auth.example/oauth/token".into(),
            revocation_endpoint: Some("https://auth.example/oauth/revoke".into()),
            scopes: vec!["read:me".into(), "offline_access".into()],
            access_token: Secret::new(format!("at-{tag}")),
            token_type: "Bearer".into(),
            expires_at: 2_000,
            obtained_at: 1_000,
            refresh_token: Some(Secret::new(format!("rt-{tag}"))),
            refresh_token_issued_at: 1_000,
            halted: None,
            client_secret: None,
            client_auth: AuthMethod::None,
            grant: Some(LoginGrant::Device),
        }),
        user: Some(UserInfo {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            account_id: "acc-1".into(),
        }),
        site: Some(SiteInfo {
            id: "s1".into(),
            name: "acme".into(),
            url: "https://acme.example".into(),
        }),
        bitbucket_token: Some(Secret::new(format!("bb-{tag}"))),
        oauth_app: None,
    }
}

/// `auth.conf` as its raw text.
fn text_of(store: &Store) -> String {
    std::fs::read_to_string(store.auth_path()).expect("auth.conf")
}

/// `auth.conf` parsed independently of the store's own reading code.
fn on_disk(store: &Store) -> AuthFile {
    format::parse(&store.auth_path(), &text_of(store)).expect("auth.conf parses")
}

fn load(store: &Store) -> Loaded {
    store.load().expect("load").expect("auth.conf exists")
}

// ---------------------------------------------------------------------------------------
// Names, labels and limits

#[test]
fn grant_and_halt_names_are_the_ones_auth_conf_uses() {
    // `twg auth status` shows these; they must read like the file does.
    for (grant, name) in [
        (LoginGrant::Device, "device"),
        (LoginGrant::AuthorizationCode, "authorization_code"),
    ] {
        assert_eq!(grant.as_str(), name);
        assert_eq!(serde_json::to_value(grant).unwrap(), name);
    }
    for (reason, name) in [
        (HaltReason::Revoked, "revoked"),
        (HaltReason::AnswerLost, "answer_lost"),
    ] {
        assert_eq!(reason.as_str(), name);
        assert_eq!(serde_json::to_value(reason).unwrap(), name);
    }
}

#[test]
fn a_site_is_shown_by_its_url_else_by_its_name() {
    let mut site = SiteInfo {
        id: "s1".into(),
        name: "acme".into(),
        url: "https://acme.example".into(),
    };
    assert_eq!(site.label(), "https://acme.example");
    site.url.clear();
    assert_eq!(site.label(), "acme");
}

#[test]
fn a_user_is_named_by_name_and_email_or_whichever_the_server_gave() {
    let user = |name: &str, email: &str| UserInfo {
        name: name.into(),
        email: email.into(),
        account_id: "acc-1".into(),
    };
    assert_eq!(
        user("Ada", "ada@example.com").label(),
        "Ada (ada@example.com)"
    );
    // A server that puts the email in the name field too: said once.
    assert_eq!(
        user("ada@example.com", "ada@example.com").label(),
        "ada@example.com"
    );
    assert_eq!(user("Ada", "").label(), "Ada");
    assert_eq!(user("", "ada@example.com").label(), "ada@example.com");
    assert_eq!(user("", "").label(), "");
}

#[test]
fn a_login_names_its_grant_or_nothing_when_it_was_not_recorded() {
    let mut o = creds("a").oauth.unwrap();
    o.grant = Some(LoginGrant::AuthorizationCode);
    assert_eq!(o.grant_name(), "authorization_code");
    o.grant = Some(LoginGrant::Device);
    assert_eq!(o.grant_name(), "device");
    o.grant = None;
    assert_eq!(o.grant_name(), "");
}

#[test]
fn a_refresh_token_idles_out_only_once_the_whole_limit_has_passed() {
    let mut o = creds("a").oauth.unwrap();
    o.refresh_token_issued_at = 1_000;
    let limit = REFRESH_TOKEN_IDLE_LIMIT_SECS;
    assert!(!o.refresh_token_idle_expired(1_000));
    assert!(
        !o.refresh_token_idle_expired(1_000 + limit),
        "exactly 30 days"
    );
    assert!(o.refresh_token_idle_expired(1_000 + limit + 1));
    // Unknown issue time (0): never treated as idle.
    o.refresh_token_issued_at = 0;
    assert!(!o.refresh_token_idle_expired(10 * limit));
}

#[test]
fn a_store_reports_the_backend_it_was_configured_with() {
    let root = Root::new();
    assert_eq!(
        root.store(BackendKind::Keyring).backend(),
        BackendKind::Keyring
    );
    assert_eq!(root.store(BackendKind::File).backend(), BackendKind::File);
}

// ---------------------------------------------------------------------------------------
// Generations and stamps

#[test]
fn every_save_gets_the_next_generation_and_a_new_stamp() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    assert!(store.load().unwrap().is_none(), "nothing saved yet");
    assert_eq!(store.stamp(), None, "no auth.conf, no stamp");
    let g = guard(&store);

    let mut stamps = Vec::new();
    for (n, tag) in [(1, "one"), (2, "two-two"), (3, "three-three-three")] {
        assert_eq!(store.save(&creds(tag), &g).unwrap(), n, "save #{n}");
        assert_eq!(on_disk(&store).generation, n);
        let loaded = load(&store);
        assert_eq!(loaded.generation, n);
        assert_eq!(loaded.backend, BackendKind::File);
        assert_eq!(loaded.credentials, creds(tag));
        let stamp = store.stamp().expect("auth.conf has a stamp");
        assert_eq!(FileStamp::of(&store.auth_path()), Some(stamp));
        assert_eq!(loaded.stamp, Some(stamp), "load reports the same stamp");
        assert_eq!(
            store.stamp(),
            Some(stamp),
            "unchanged file, unchanged stamp"
        );
        assert!(!stamps.contains(&stamp), "save #{n} changed the stamp");
        stamps.push(stamp);
    }
    assert_eq!(FileStamp::of(&root.dir.path().join("absent")), None);
}

#[test]
fn a_generation_too_large_for_toml_starts_over_at_one() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    let g = guard(&store);
    let mut file = AuthFile::from_credentials(&creds("a"), 1);
    file.generation = i64::MAX as u64;
    std::fs::write(store.auth_path(), format::render(&file)).unwrap();
    assert_eq!(load(&store).generation, i64::MAX as u64);
    assert_eq!(store.save(&creds("b"), &g).unwrap(), 1);
    assert_eq!(on_disk(&store).generation, 1);
}

// ---------------------------------------------------------------------------------------
// The refresh preflight: rewrite

#[test]
fn rewrite_writes_the_same_credentials_again_under_the_same_generation() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    let g = guard(&store);
    for tag in ["a", "b", "c"] {
        store.save(&creds(tag), &g).unwrap();
    }
    let loaded = load(&store);
    assert_eq!(loaded.generation, 3);
    let before = store.stamp().unwrap();

    assert_eq!(
        store.rewrite(&loaded, &g).unwrap(),
        3,
        "the generation is kept"
    );
    assert_eq!(on_disk(&store).generation, 3);
    assert_eq!(load(&store).credentials, creds("c"));
    // The file really went through the save path: the atomic rename put a new file there
    // (its temporary file existed beside the old one, so the inode differs).
    assert_ne!(store.stamp().unwrap(), before, "auth.conf was rewritten");
    // And the next real save still moves on from there.
    assert_eq!(store.save(&creds("d"), &g).unwrap(), 4);
}

#[test]
fn rewrite_of_credentials_older_than_the_file_is_a_new_generation() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    let g = guard(&store);
    store.save(&creds("old"), &g).unwrap();
    let stale = load(&store);
    assert_eq!(stale.generation, 1);
    store.save(&creds("new"), &g).unwrap(); // another process saved meanwhile
    // Writing `stale` now is a real save: generation 1 is taken, and generations only
    // move forward.
    assert_eq!(store.rewrite(&stale, &g).unwrap(), 3);
    let now = load(&store);
    assert_eq!(now.generation, 3);
    assert_eq!(now.credentials, creds("old"));
}

#[test]
fn rewrite_fails_when_auth_conf_cannot_be_replaced() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    let g = guard(&store);
    // A directory where auth.conf goes: renaming a file over it fails, even for root.
    std::fs::create_dir(store.auth_path()).unwrap();
    let loaded = Loaded {
        credentials: creds("a"),
        generation: 4,
        backend: BackendKind::File,
        stamp: None,
    };
    let err = store.rewrite(&loaded, &g).unwrap_err();
    assert!(matches!(err, StoreError::Write(_)), "{err:?}");
    assert!(store.auth_path().is_dir(), "nothing was replaced");
}

// ---------------------------------------------------------------------------------------
// Errors are not "logged out" and not "already removed"

#[test]
fn an_auth_conf_that_cannot_be_read_is_an_error_not_logged_out() {
    // A directory in place of the file: EISDIR.
    let root = Root::new();
    let store = root.store(BackendKind::File);
    std::fs::create_dir_all(store.auth_path()).unwrap();
    match store.load() {
        Err(StoreError::Read { path, .. }) => assert_eq!(path, store.auth_path()),
        other => panic!("expected a read error, got {other:?}"),
    }

    // A config root below a regular file: ENOTDIR. (Windows answers ERROR_PATH_NOT_FOUND,
    // which std maps to NotFound, so there it reads as not logged in.)
    #[cfg(unix)]
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain"), "x").unwrap();
        let store = Store::new(dir.path().join("plain").join("twg"), BackendKind::File);
        match store.load() {
            Err(StoreError::Read { path, source }) => {
                assert_eq!(path, store.auth_path());
                assert_eq!(source.kind(), std::io::ErrorKind::NotADirectory);
            }
            other => panic!("expected a read error, got {other:?}"),
        }
    }
}

#[test]
fn delete_tolerates_a_missing_file_but_not_a_failed_removal() {
    let root = Root::new();
    let store = root.store(BackendKind::File);
    let g = guard(&store);

    // Nothing there: fine.
    store.delete(&g).expect("deleting nothing succeeds");

    // A saved login: gone afterwards.
    store.save(&creds("a"), &g).unwrap();
    store.delete(&g).expect("delete");
    assert!(!store.auth_path().exists());
    assert!(store.load().unwrap().is_none());

    // Removal that fails for another reason (a directory in its place: EISDIR) is reported
    // with the path, and nothing is removed.
    std::fs::create_dir(store.auth_path()).unwrap();
    match store.delete(&g) {
        Err(StoreError::Remove { path, .. }) => assert_eq!(path, store.auth_path()),
        other => panic!("expected a removal error, got {other:?}"),
    }
    assert!(store.auth_path().is_dir());
}

// ---------------------------------------------------------------------------------------
// The keyring backend, in a child process with a session bus of its own
// (Linux: gnome-keyring over D-Bus; the Windows Credential Manager has its own tests in
// `chunked.rs`, run under Wine.)
#[cfg(target_os = "linux")]
mod secret_service {
    use super::*;
    use std::process::Command;

    /// The secrets of [`creds`]`(tag)`, for "not in plaintext" checks.
    fn secrets(tag: &str) -> [String; 3] {
        [
            format!("at-{tag}"),
            format!("rt-{tag}"),
            format!("bb-{tag}"),
        ]
    }

    fn refresh_token(c: &Credentials) -> &str {
        c.oauth
            .as_ref()
            .and_then(|o| o.refresh_token.as_ref())
            .map(Secret::expose)
            .unwrap_or_default()
    }

    /// Set in the child to the name of the one test it runs.
    const CHILD: &str = "TWG_STORE_TEST_CHILD";

    /// The child's session bus.
    #[derive(Clone, Copy, Debug)]
    enum Bus {
        /// A private, unlocked gnome-keyring in its own `dbus-run-session`.
        SecretService,
        /// An address where nothing listens: no Secret Service at all.
        Nothing,
    }

    /// Starts gnome-keyring, waits until it owns the Secret Service name (otherwise the first
    /// client could race it into a second, D-Bus-activated instance), then runs `"$@"`: the
    /// test binary. The session ends when the test does.
    const SESSION_SCRIPT: &str = r#"
set -e
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    exec "$@"
  fi
  sleep 0.05
done
echo "gnome-keyring did not claim org.freedesktop.secrets" >&2
exit 1
"#;

    /// Runs `body` as the test `test` (this module's function of that name) in a new process of
    /// this test binary, on `bus`; in that child, runs `body` itself.
    fn in_child(test: &str, bus: Bus, body: impl FnOnce()) {
        if std::env::var(CHILD).as_deref() == Ok(test) {
            body();
            return;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let tools: &[&str] = match bus {
            Bus::SecretService => &[
                "dbus-run-session",
                "dbus-send",
                "gnome-keyring-daemon",
                "secret-tool",
            ],
            Bus::Nothing => &[],
        };
        for tool in tools {
            assert!(
                std::env::split_paths(&path).any(|d| d.join(tool).is_file()),
                "`{tool}` is not installed; the keyring tests need a real Secret Service: \
             apt-get install gnome-keyring dbus-x11 libsecret-tools"
            );
        }
        let scratch = tempfile::tempdir().expect("scratch dir");
        let home = scratch.path().join("home");
        let runtime = scratch.path().join("run");
        for d in [&home, &runtime] {
            crate::paths::ensure_private_dir(d).expect("private dir");
        }
        let exe = std::env::current_exe().expect("the test binary");
        // libtest names tests by their path below the crate.
        let module = module_path!().split_once("::").expect("crate::path").1;
        let name = format!("{module}::{test}");
        let mut cmd = match bus {
            Bus::SecretService => {
                let mut c = Command::new("dbus-run-session");
                c.args(["--", "bash", "-c", SESSION_SCRIPT, "bash"])
                    .arg(&exe);
                c
            }
            Bus::Nothing => {
                let mut c = Command::new(&exe);
                c.env(
                    "DBUS_SESSION_BUS_ADDRESS",
                    format!("unix:path={}", runtime.join("no-bus-here").display()),
                );
                c
            }
        };
        let out = cmd
            .args(["--exact", &name, "--test-threads=1"])
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("RUST_BACKTRACE", "1")
            .env(CHILD, test)
            .output()
            .expect("run the child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "the child test {name} failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }

    /// The twg entry for `store`'s root as `secret-tool` (an independent Secret Service client)
    /// sees it; `None` when there is none.
    fn keyring_entry(store: &Store) -> Option<serde_json::Value> {
        let user = keyring::entry_user(store.root());
        let out = Command::new("secret-tool")
            .args(["lookup", "service", keyring::SERVICE, "username", &user])
            .output()
            .expect("run secret-tool");
        // "Not found" is exit 1 with nothing on either stream; anything on stderr is a failed
        // lookup, which must not read as "gone".
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "secret-tool failed: {stderr}");
        if !out.status.success() || out.stdout.is_empty() {
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("the twg entry is JSON"))
    }

    fn assert_no_secret_in_file(store: &Store, tag: &str) {
        let text = text_of(store);
        for s in secrets(tag) {
            assert!(!text.contains(&s), "{s} is in auth.conf:\n{text}");
        }
    }

    #[test]
    fn without_a_secret_service_the_preflight_fails_before_anything_is_sent_or_written() {
        in_child(
            "without_a_secret_service_the_preflight_fails_before_anything_is_sent_or_written",
            Bus::Nothing,
            || {
                let root = Root::new();
                root.store(BackendKind::File)
                    .preflight()
                    .expect("the file backend needs nothing");
                let store = root.store(BackendKind::Keyring);
                let err = store.preflight().unwrap_err();
                let msg = err.to_string();
                assert!(matches!(err, StoreError::Keyring(_)), "{err:?}");
                assert!(msg.contains("no Secret Service"), "{msg}");
                assert!(msg.contains("Nothing was sent to the server"), "{msg}");
                assert!(!store.auth_path().exists(), "nothing was written");
            },
        );
    }

    #[test]
    fn switching_to_an_unreachable_keyring_leaves_the_new_secrets_readable_from_the_file() {
        in_child(
            "switching_to_an_unreachable_keyring_leaves_the_new_secrets_readable_from_the_file",
            Bus::Nothing,
            || {
                let root = Root::new();
                let file = root.store(BackendKind::File);
                let g = guard(&file);
                file.save(&creds("old"), &g).unwrap();
                // The save after a rotation, with `backend = "keyring"` newly configured and no
                // keyring: it fails, but load must not return the spent refresh token.
                let keyring = root.store(BackendKind::Keyring);
                let err = keyring.save(&creds("new"), &g).unwrap_err();
                assert!(matches!(err, StoreError::Keyring(_)), "{err:?}");
                let loaded = load(&file);
                assert_eq!(refresh_token(&loaded.credentials), "rt-new");
                assert_eq!(loaded.credentials, creds("new"));
                assert_eq!(loaded.backend, BackendKind::File);
                assert_eq!(loaded.generation, 2);
            },
        );
    }

    #[test]
    fn deleting_a_keyring_login_without_the_keyring_keeps_auth_conf_for_a_retry() {
        in_child(
            "deleting_a_keyring_login_without_the_keyring_keeps_auth_conf_for_a_retry",
            Bus::Nothing,
            || {
                let root = Root::new();
                let store = root.store(BackendKind::Keyring);
                let g = guard(&store);
                let mut file = AuthFile::from_credentials(&creds("a"), 5);
                file.backend = BackendKind::Keyring;
                file.oauth.as_mut().unwrap().access_token = None;
                file.oauth.as_mut().unwrap().refresh_token = None;
                file.bitbucket = None;
                let text = format::render(&file);
                std::fs::write(store.auth_path(), &text).unwrap();
                let err = store.delete(&g).unwrap_err();
                assert!(matches!(err, StoreError::Keyring(_)), "{err:?}");
                assert_eq!(text_of(&store), text, "auth.conf untouched");
            },
        );
    }

    #[test]
    fn switching_backends_moves_the_secrets_both_ways_and_leaves_no_copy_behind() {
        in_child(
            "switching_backends_moves_the_secrets_both_ways_and_leaves_no_copy_behind",
            Bus::SecretService,
            || {
                let root = Root::new();
                let file = root.store(BackendKind::File);
                let keyring = root.store(BackendKind::Keyring);
                let g = guard(&file);

                assert_eq!(file.save(&creds("a"), &g).unwrap(), 1);
                assert!(
                    keyring_entry(&file).is_none(),
                    "the file backend uses no keyring"
                );

                // File -> keyring.
                keyring.preflight().expect("the keyring answers");
                let generation = keyring.save(&creds("b"), &g).unwrap();
                assert!(generation > 1, "{generation}");
                let disk = on_disk(&keyring);
                assert_eq!(disk.backend, BackendKind::Keyring);
                assert_eq!(disk.generation, generation);
                assert_no_secret_in_file(&keyring, "b");
                assert_no_secret_in_file(&keyring, "a");
                let entry = keyring_entry(&keyring).expect("the secrets are in the keyring");
                assert_eq!(entry["refresh_token"], "rt-b");
                assert_eq!(entry["bitbucket_token"], "bb-b");
                assert_eq!(entry["generation"], generation);
                let loaded = load(&keyring);
                assert_eq!(loaded.credentials, creds("b"));
                assert_eq!(loaded.backend, BackendKind::Keyring);
                assert_eq!(loaded.generation, generation);

                // The next keyring save is an ordinary one.
                assert_eq!(keyring.save(&creds("c"), &g).unwrap(), generation + 1);
                assert_eq!(keyring_entry(&keyring).unwrap()["refresh_token"], "rt-c");

                // Keyring -> file: the file holds the secrets, the keyring entry is removed.
                assert_eq!(file.save(&creds("d"), &g).unwrap(), generation + 2);
                assert!(
                    keyring_entry(&file).is_none(),
                    "the keyring copy was removed"
                );
                let disk = on_disk(&file);
                assert_eq!(disk.backend, BackendKind::File);
                assert!(text_of(&file).contains("rt-d"));
                assert_eq!(load(&file).credentials, creds("d"));
            },
        );
    }

    #[test]
    fn rewrite_keeps_the_keyring_generation_and_moves_the_secrets_when_the_backend_changed() {
        in_child(
            "rewrite_keeps_the_keyring_generation_and_moves_the_secrets_when_the_backend_changed",
            Bus::SecretService,
            || {
                let root = Root::new();
                let file = root.store(BackendKind::File);
                let keyring = root.store(BackendKind::Keyring);
                let g = guard(&file);
                assert_eq!(keyring.save(&creds("a"), &g).unwrap(), 1, "a first save");
                assert_eq!(keyring.save(&creds("b"), &g).unwrap(), 2);

                let loaded = load(&keyring);
                assert_eq!(keyring.rewrite(&loaded, &g).unwrap(), 2, "kept");
                assert_eq!(on_disk(&keyring).generation, 2);
                assert_eq!(keyring_entry(&keyring).unwrap()["generation"], 2);
                assert_eq!(load(&keyring).credentials, creds("b"));

                // `backend = "file"` configured since: the rewrite is a real save that moves the
                // secrets, with a new generation.
                assert_eq!(file.rewrite(&loaded, &g).unwrap(), 3);
                let disk = on_disk(&file);
                assert_eq!((disk.backend, disk.generation), (BackendKind::File, 3));
                assert!(
                    keyring_entry(&file).is_none(),
                    "the keyring copy was removed"
                );
                assert_eq!(load(&file).credentials, creds("b"));
            },
        );
    }

    #[test]
    fn delete_removes_the_keyring_entry_even_when_auth_conf_no_longer_points_at_it() {
        in_child(
            "delete_removes_the_keyring_entry_even_when_auth_conf_no_longer_points_at_it",
            Bus::SecretService,
            || {
                let root = Root::new();
                let keyring = root.store(BackendKind::Keyring);
                let g = guard(&keyring);

                // The ordinary case: auth.conf says keyring.
                keyring.save(&creds("a"), &g).unwrap();
                assert!(keyring_entry(&keyring).is_some());
                keyring.delete(&g).unwrap();
                assert!(keyring_entry(&keyring).is_none());
                assert!(!keyring.auth_path().exists());

                // A leftover entry that auth.conf does not point at (here: no auth.conf at all)
                // is cleaned up too when the keyring is configured.
                keyring.save(&creds("b"), &g).unwrap();
                std::fs::remove_file(keyring.auth_path()).unwrap();
                assert!(keyring_entry(&keyring).is_some());
                keyring.delete(&g).unwrap();
                assert!(
                    keyring_entry(&keyring).is_none(),
                    "the leftover entry is gone"
                );
            },
        );
    }
}
