//! twg against `oidc-provider` (a certified OAuth/OIDC server written by others): device
//! login completed in a real headless browser, refresh through twgd, logout with RFC 7009
//! revocation, and a reused (rotated-away) refresh token surfacing as exit 77.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use twg_e2e::{Env, Proc, text};

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

fn npm_ci_if_needed() {
    let dir = conformance_dir();
    if dir.join("node_modules/oidc-provider").exists()
        && dir.join("node_modules/playwright-core").exists()
    {
        return;
    }
    let st = Command::new("npm")
        .arg("ci")
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the conformance tests (`npm ci` in tests/conformance)");
    assert!(st.success(), "`npm ci` in tests/conformance failed");
}

/// A running `oidc-server.mjs`.
struct Oidc {
    _proc: Proc,
    issuer: String,
}

impl Oidc {
    fn start() -> Oidc {
        npm_ci_if_needed();
        let mut child = Command::new("node")
            .arg(conformance_dir().join("oidc-server.mjs"))
            .env("OIDC_QUIET", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node is needed for the conformance tests");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("OIDC_ISSUER line");
        let issuer = line
            .trim()
            .strip_prefix("OIDC_ISSUER=")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Oidc {
            _proc: Proc { child },
            issuer,
        }
    }

    fn env(&self) -> Env {
        Env::with_client(&self.issuer, "twg-conformance", "openid offline_access")
    }

    /// RFC 7662 introspection: is this token still active at the server?
    fn active(&self, token: &str) -> bool {
        let (status, body) = twg_e2e::http::form(
            &format!("{}/token/introspection", self.issuer),
            &[("token", token), ("client_id", "twg-conformance")],
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["active"].as_bool().unwrap()
    }
}

/// `twg login --no-browser`, with the verification page completed in headless Chromium.
fn browser_login(env: &Env) -> Output {
    let mut child = env
        .twg_cmd(&["login", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twg login");
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let (mut code, mut uri, mut seen) = (None, None, String::new());
    while code.is_none() || uri.is_none() {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "no code printed:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(c) = line.split("one-time code:").nth(1) {
            code = Some(c.trim().to_string());
        }
        if let Some(u) = line.split("Then open:").nth(1) {
            uri = Some(u.trim().to_string());
        }
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let out = Command::new("node")
        .arg(conformance_dir().join("approve-device.mjs"))
        .args([uri.unwrap().as_str(), code.unwrap().as_str(), "approve"])
        .output()
        .expect("node");
    assert!(
        out.status.success() && text(&out).0.trim_end().ends_with("APPROVED"),
        "browser approval failed: {:?}",
        text(&out)
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "twg login failed: {:?}\n{seen}",
        text(&out)
    );
    out
}

#[test]
fn login_refresh_through_twgd_and_logout_with_revocation() {
    let oidc = Oidc::start();
    let env = oidc.env();
    let _daemon = env.start_daemon();
    let out = browser_login(&env);
    let stdout = text(&out).0;
    assert!(
        stdout.starts_with("✔ Authentication successful!\n✔ Authenticated as "),
        "{stdout}"
    );
    assert!(stdout.ends_with(&format!(
        "✔ Credentials saved to {}\n",
        env.auth_path().display()
    )));
    assert!(
        env.daemon_log().contains("device login started"),
        "the daemon ran the flow"
    );
    let creds = env.credentials();
    assert!(creds.site.is_none(), "oidc-provider lists no sites");
    let o = creds.oauth.unwrap();
    assert!(
        o.scopes.iter().any(|s| s == "offline_access"),
        "{:?}",
        o.scopes
    );
    assert!(o.revocation_endpoint.is_some());
    let (at1, rt1) = (env.access_token(), env.refresh_token());
    assert!(oidc.active(&rt1));

    // Refresh through twgd: the tokens rotate and the daemon serves the new access token.
    let out = env.twg(&["auth", "refresh", "--force", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{:?}", text(&out)));
    assert_eq!(v["via"], "daemon");
    assert_eq!(v["refreshed"], true);
    let (at2, rt2) = (env.access_token(), env.refresh_token());
    assert_ne!(at1, at2);
    assert_ne!(rt1, rt2);
    let out = env.twg(&["auth", "token"]);
    assert_eq!(text(&out).0.trim(), at2);

    // Logout: revoked at oidc-provider, removed here, the daemon forgets.
    let saved = std::fs::read(env.auth_path()).unwrap();
    let out = env.twg(&["logout"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("✔ Revoked at the server"),
        "{stdout}\n{stderr}"
    );
    assert!(!env.auth_path().exists());
    assert!(!oidc.active(&rt2), "the refresh token is revoked");
    assert!(!oidc.active(&at2), "the access token is revoked");
    assert_eq!(env.twg(&["auth", "token"]).status.code(), Some(77));
    // The revoked refresh token, put back, fails: exit 77 and "run `twg login`".
    std::fs::write(env.auth_path(), &saved).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("twg login"), "{err}");
}

#[test]
fn a_reused_refresh_token_is_exit_77() {
    let oidc = Oidc::start();
    let env = oidc.env();
    browser_login(&env);
    let old = std::fs::read(env.auth_path()).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Put back the file holding the rotated-away refresh token.
    std::fs::write(env.auth_path(), &old).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("session expired") && err.contains("twg login"),
        "{err}"
    );
    // oidc-provider revoked the whole grant on reuse (its documented behaviour).
    assert!(!oidc.active(&env.refresh_token()));
}
