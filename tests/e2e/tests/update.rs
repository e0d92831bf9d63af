//! `twg update` against a real HTTP release server on 127.0.0.1 serving a real build
//! (the built twg and twgd in a .tar.gz), with success, checksum mismatch, truncated
//! downloads and "already up to date".

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use twg_e2e::{Env, bin, text};

/// How the server answers one path.
#[derive(Debug, Clone)]
struct Route {
    body: Vec<u8>,
    /// `Some(n)`: send `Content-Length: n` (may differ from the body); `None`: no length,
    /// the body ends when the connection closes.
    length: Option<usize>,
}

/// A tiny HTTP/1.1 server whose routes the test can change between runs.
#[derive(Debug, Clone)]
struct Server {
    url: String,
    routes: Arc<Mutex<BTreeMap<String, Route>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<BTreeMap<String, Route>>> = Arc::default();
        let r = routes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                let route = r.lock().unwrap().get(&path).cloned();
                let _ = match route {
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                    Some(route) => {
                        let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_string();
                        if let Some(n) = route.length {
                            head.push_str(&format!("Content-Length: {n}\r\n"));
                        }
                        head.push_str("\r\n");
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|()| stream.write_all(&route.body))
                    }
                };
                let _ = stream.flush();
                // Dropping the stream closes it: a short body is a truncated download.
            }
        });
        Server { url, routes }
    }

    fn route(&self, path: &str, body: Vec<u8>, length: Option<usize>) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Route { body, length });
    }

    /// Publishes a manifest whose stable channel is `version` with `asset` for this target,
    /// signed with the test release key (which the suite's build trusts).
    fn publish(&self, version: &str, sha256: &str, archive: &[u8]) {
        let sig = sign(archive, version, twg_common::manifest::current_target());
        self.publish_with(version, sha256, archive.len(), Some(&sig));
    }

    fn publish_with(&self, version: &str, sha256: &str, size: usize, minisig: Option<&str>) {
        let manifest = serde_json::json!({
            "schema": 1,
            "channels": {
                "stable": {
                    "version": version,
                    "assets": {
                        twg_common::manifest::current_target(): {
                            "url": format!("{}/twg.tar.gz", self.url),
                            "sha256": sha256,
                            "size": size,
                            "minisig": minisig,
                        }
                    }
                }
            }
        });
        self.route("/manifest.json", manifest.to_string().into_bytes(), None);
    }
}

/// The suite's build trusts `tests/data/release-test.pub` (`TWG_RELEASE_PUBKEY`, set by
/// `scripts/test.sh` at build time); this signs like the release process does.
fn sign(archive: &[u8], version: &str, target: &str) -> String {
    assert!(
        option_env!("TWG_RELEASE_PUBKEY").is_some(),
        "build with TWG_RELEASE_PUBKEY=$(cat tests/data/release-test.pub), as scripts/test.sh does"
    );
    sign_with(
        include_str!("../../data/release-test.key"),
        archive,
        &format!("twg {version} {target}"),
    )
}

fn sign_with(secret_key_box: &str, archive: &[u8], comment: &str) -> String {
    let sk = minisign::SecretKey::from_bytes(&hex::decode(secret_key_box.trim()).unwrap()).unwrap();
    minisign::sign(
        None,
        &sk,
        std::io::Cursor::new(archive),
        Some(comment),
        None,
    )
    .unwrap()
    .to_string()
}

/// The binaries of a release: the front `twg`, the full CLI `twg-cli` it hands commands to,
/// and `twgd`.
const RELEASED: [&str; 3] = ["twg", "twg-cli", "twgd"];

/// A release archive holding the built `twg`, `twg-cli` and `twgd` (debug info stripped: a
/// debug build is 200 MB, and the test is about the update, not about gzip speed). The
/// staged copies in `<dir>/stage` are what the installed files must equal.
fn release_archive(dir: &Path) -> Vec<u8> {
    archive_of(dir, "stage", &RELEASED)
}

/// An archive of the built binaries `names`, staged in `<dir>/<stage>`.
fn archive_of(dir: &Path, stage: &str, names: &[&str]) -> Vec<u8> {
    let stage = dir.join(stage);
    std::fs::create_dir_all(&stage).unwrap();
    for &name in names {
        let status = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(stage.join(name))
            .arg(bin(name))
            .status()
            .expect("strip (binutils) is installed");
        assert!(status.success(), "strip {name}");
    }
    let archive = stage.join("twg.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .args(names)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(archive).unwrap()
}

fn sha256(bytes: &[u8], dir: &Path) -> String {
    let f = dir.join("hash-me");
    std::fs::write(&f, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&f).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Every path under `root` with its kind and content (file bytes, link target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        let v = if meta.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(p).unwrap().display())
        } else if meta.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
            "dir".to_string()
        } else {
            let bytes = std::fs::read(p).unwrap();
            format!(
                "file {} {}",
                bytes.len(),
                bytes
                    .iter()
                    .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
            )
        };
        out.insert(p.to_path_buf(), v);
    }
    walk(root, &mut out);
    out
}

struct Setup {
    env: Env,
    server: Server,
    archive: Vec<u8>,
    sha: String,
    install: PathBuf,
    bin_dir: PathBuf,
}

fn setup() -> Setup {
    let server = Server::start();
    let mut env = Env::new("http://127.0.0.1:9");
    env.set(
        "TWG_UPDATE_MANIFEST_URL",
        &format!("{}/manifest.json", server.url),
    );
    let archive = release_archive(env.dir.path());
    let sha = sha256(&archive, env.dir.path());
    server.route("/twg.tar.gz", archive.clone(), Some(archive.len()));
    let install = env.home.join(".local/share/twg");
    let bin_dir = env.home.join(".local/bin");
    Setup {
        env,
        server,
        archive,
        sha,
        install,
        bin_dir,
    }
}

fn update(env: &Env) -> (bool, String, String) {
    let out = env.twg(&["update"]);
    let (o, e) = text(&out);
    (out.status.success(), o, e)
}

fn running_version() -> String {
    let out = Command::new(bin("twg")).arg("--version").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn update_installs_beside_the_old_version_and_restarts_the_daemon() {
    let s = setup();
    let daemon = s.env.start_daemon();
    // The update restarts twgd detached from the test; stop it even if an assert fails.
    let _stop = StopDaemon(&s.env);
    let old_pid = daemon.pid();
    s.server.publish("9.9.9", &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    let v1 = s.install.join("versions/9.9.9");
    for name in RELEASED {
        let installed = std::fs::read(v1.join(name)).unwrap();
        let released = std::fs::read(s.env.dir.path().join("stage").join(name)).unwrap();
        assert!(installed == released, "{name} is installed byte for byte");
    }
    assert_eq!(
        std::fs::read_link(s.install.join("current")).unwrap(),
        Path::new("versions/9.9.9")
    );
    assert_eq!(
        std::fs::read_link(s.bin_dir.join("twg")).unwrap(),
        s.install.join("current/twg")
    );
    assert_eq!(
        std::fs::read_link(s.bin_dir.join("twgd")).unwrap(),
        s.install.join("current/twgd")
    );
    assert!(
        out.contains("is not on your PATH"),
        "PATH advice expected:\n{out}"
    );

    // The daemon now runs the installed twgd, not the one the test started.
    let status = s.env.twg(&["--json", "daemon", "status"]);
    let (o, e) = text(&status);
    assert!(status.status.success(), "{o}\n{e}");
    let st: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    let new_pid = st["pid"].as_u64().unwrap() as u32;
    assert_ne!(new_pid, old_pid, "twgd was restarted");
    let exe = std::fs::read_link(format!("/proc/{new_pid}/exe")).unwrap();
    assert_eq!(
        exe,
        v1.join("twgd"),
        "the restarted twgd runs from the new version"
    );

    // A second release: the previous one is kept for rollback.
    s.server.publish("9.9.10", &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Previous version 9.9.9 kept"), "{out}");
    assert!(v1.join("twgd").is_file(), "old version kept");
    assert_eq!(
        std::fs::read_link(s.install.join("current")).unwrap(),
        Path::new("versions/9.9.10")
    );
    let launched = launcher_version(&s);
    assert!(
        launched.status.success(),
        "the launcher runs the installed twg"
    );

    // Same manifest again: up to date, nothing touched.
    let before = snapshot(&s.install);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(before, snapshot(&s.install));
}

/// `twg --version` through the launcher in the bin directory (the front, then its full CLI).
fn launcher_version(s: &Setup) -> std::process::Output {
    s.env
        .command(s.bin_dir.join("twg"))
        .arg("--version")
        .output()
        .unwrap()
}

struct StopDaemon<'a>(&'a Env);

impl Drop for StopDaemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.twg(&["daemon", "stop"]);
    }
}

#[test]
fn a_checksum_mismatch_or_truncated_download_changes_nothing() {
    let s = setup();
    s.server.publish("9.9.9", &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    let before = (snapshot(&s.install), snapshot(&s.bin_dir));

    // Same size, other bytes: the hash gives it away.
    let mut corrupt = s.archive.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    s.server
        .route("/twg.tar.gz", corrupt, Some(s.archive.len()));
    s.server.publish("9.9.10", &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(!ok, "a corrupt download must fail:\n{out}");
    assert!(
        err.contains("SHA-256") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(before, (snapshot(&s.install), snapshot(&s.bin_dir)));

    // Truncated three ways: short body under a full Content-Length, an honest but short
    // Content-Length, and no length at all.
    let half = s.archive[..s.archive.len() / 2].to_vec();
    for (length, what) in [
        (Some(s.archive.len()), "short body"),
        (Some(half.len()), "short Content-Length"),
        (None, "no Content-Length"),
    ] {
        s.server.route("/twg.tar.gz", half.clone(), length);
        let (ok, out, err) = update(&s.env);
        assert!(!ok, "{what}: a truncated download must fail:\n{out}");
        assert!(err.contains("nothing was changed"), "{what}: {err}");
        assert_eq!(
            before,
            (snapshot(&s.install), snapshot(&s.bin_dir)),
            "{what}"
        );
    }
}

/// A release whose front would have no full CLI beside it is refused before anything is
/// switched: it could answer `twg auth token` and nothing else.
#[test]
fn a_release_without_the_full_cli_is_refused_and_changes_nothing() {
    let s = setup();
    s.server.publish("9.9.9", &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    let before = (snapshot(&s.install), snapshot(&s.bin_dir));
    let partial = archive_of(s.env.dir.path(), "partial", &["twg", "twgd"]);
    let sha = sha256(&partial, s.env.dir.path());
    s.server
        .route("/twg.tar.gz", partial.clone(), Some(partial.len()));
    s.server.publish("9.9.10", &sha, &partial);
    let (ok, out, err) = update(&s.env);
    assert!(!ok, "an archive without twg-cli must fail:\n{out}");
    assert!(
        err.contains("has no `twg-cli`") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(before, (snapshot(&s.install), snapshot(&s.bin_dir)));
    let launched = launcher_version(&s);
    assert!(
        launched.status.success(),
        "the installed front still hands over to its full CLI: {:?}",
        text(&launched)
    );
}

#[test]
fn already_up_to_date_installs_nothing() {
    let s = setup();
    s.server.publish(&running_version(), &s.sha, &s.archive);
    let (ok, out, err) = update(&s.env);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("up to date"), "{out}");
    assert!(!s.install.exists(), "nothing installed");
    assert!(!s.bin_dir.exists(), "no launchers");
}

/// An attacker who can edit `[update] manifest_url` (or the environment) controls the
/// manifest, hence the SHA-256: only the release key's signature is trusted, and nothing
/// from a refused archive is installed or run.
#[test]
fn an_unsigned_or_wrongly_signed_release_is_never_run_or_installed() {
    let s = setup();
    // The archive runs a marker when executed: it must never be.
    let marker = s.env.dir.path().join("ran");
    let evil_dir = s.env.dir.path().join("evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    for name in ["twg", "twg-cli", "twgd"] {
        let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
        let p = evil_dir.join(name);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let evil = evil_dir.join("evil.tar.gz");
    let ok = Command::new("tar")
        .arg("czf")
        .arg(&evil)
        .arg("-C")
        .arg(&evil_dir)
        .args(["twg", "twg-cli", "twgd"])
        .status()
        .unwrap();
    assert!(ok.success());
    let evil = std::fs::read(&evil).unwrap();
    let evil_sha = sha256(&evil, s.env.dir.path());
    s.server
        .route("/twg.tar.gz", evil.clone(), Some(evil.len()));
    let target = twg_common::manifest::current_target();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("unsigned", None),
        (
            "signed by another key",
            Some(sign_with_other(&evil, target)),
        ),
        (
            "a good signature of another release",
            Some(sign(&evil, "0.0.1", target)),
        ),
    ];
    for (what, sig) in cases {
        s.server
            .publish_with("9.9.9", &evil_sha, evil.len(), sig.as_deref());
        let (ok, out, err) = update(&s.env);
        assert!(!ok, "{what}: must be refused:\n{out}");
        assert!(
            err.contains("refusing the download") && err.contains("nothing was installed or run"),
            "{what}: {err}"
        );
        assert!(!marker.exists(), "{what}: the downloaded program was run");
        let versions = s.install.join("versions");
        let installed: Vec<_> = std::fs::read_dir(&versions)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(installed.is_empty(), "{what}: installed {installed:?}");
        assert!(snapshot(&s.bin_dir).is_empty(), "{what}: launchers written");
    }
}

/// A signature by a key twg does not trust (generated here, never committed anywhere).
fn sign_with_other(archive: &[u8], target: &str) -> String {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    minisign::sign(
        None,
        &kp.sk,
        std::io::Cursor::new(archive),
        Some(&format!("twg 9.9.9 {target}")),
        None,
    )
    .unwrap()
    .to_string()
}

/// A real TLS handshake with a private CA: refused without it, accepted with
/// `SSL_CERT_FILE` or `[network] ca_file` (the corporate-proxy case).
#[test]
fn an_extra_ca_bundle_is_trusted_in_a_real_tls_handshake() {
    let env_dir = tempfile::tempdir().unwrap();
    let d = env_dir.path();
    twg_e2e::tls::make_ca(d, "ca");
    twg_e2e::tls::make_server_cert(d);
    let manifest = serde_json::json!({
        "schema": 1,
        "channels": {"stable": {"version": running_version(), "assets": {}}}
    });
    std::fs::write(d.join("manifest.json"), manifest.to_string()).unwrap();
    let server = twg_e2e::tls::serve_dir(d);
    let mut env = Env::new("http://127.0.0.1:9");
    env.set(
        "TWG_UPDATE_MANIFEST_URL",
        &format!("https://127.0.0.1:{}/manifest.json", server.port),
    );
    // Without the CA: the handshake fails and says so.
    let (ok, out, err) = update(&env);
    assert!(!ok, "an unknown CA must be refused: {out}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // With SSL_CERT_FILE: the handshake completes.
    env.set("SSL_CERT_FILE", &d.join("ca.pem").display().to_string());
    let (ok, out, err) = update(&env);
    assert!(ok && out.contains("up to date"), "{out}\n{err}");
    // With [network] ca_file instead.
    env.unset("SSL_CERT_FILE");
    std::fs::create_dir_all(&env.config_dir).unwrap();
    std::fs::write(
        env.config_dir.join("config.toml"),
        format!("[network]\nca_file = \"{}\"\n", d.join("ca.pem").display()),
    )
    .unwrap();
    let (ok, out, err) = update(&env);
    assert!(ok && out.contains("up to date"), "{out}\n{err}");
}
