//! twg against `oidc-provider` (a certified OAuth/OIDC server written by others): device
//! login completed in a real headless browser, refresh through twgd, logout with RFC 7009
//! revocation, and a reused (rotated-away) refresh token surfacing as exit 77; and the web
//! login (authorization code + PKCE) with a confidential client, its consent pages completed
//! in Chromium, its refreshes authenticated with the secret.

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
        Self::start_with(&[])
    }

    /// With extra environment (e.g. the confidential web client's `WEB_*` settings).
    fn start_with(vars: &[(&str, &str)]) -> Oidc {
        npm_ci_if_needed();
        let mut child = Command::new("node")
            .arg(conformance_dir().join("oidc-server.mjs"))
            .envs(vars.iter().copied())
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

    /// RFC 7662 introspection as a confidential client.
    fn active_as(&self, token: &str, client_id: &str, secret: &str) -> bool {
        let (status, body) = twg_e2e::http::form_basic(
            &format!("{}/token/introspection", self.issuer),
            &[("token", token)],
            client_id,
            secret,
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["active"].as_bool().unwrap()
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

/// A confidential client at oidc-provider, with one fixed loopback redirect URI.
struct WebApp {
    oidc: Oidc,
    env: Env,
    redirect: String,
    secret: &'static str,
}

const WEB_SECRET: &str = "s3cr:t/+% conformance";

fn web_app(method: &str) -> WebApp {
    let redirect = format!("http://127.0.0.1:{}/callback", twg_e2e::web::free_port());
    let oidc = Oidc::start_with(&[
        ("WEB_CLIENT_ID", "twg-web"),
        ("WEB_CLIENT_SECRET", WEB_SECRET),
        ("WEB_REDIRECT_URI", &redirect),
        ("WEB_AUTH_METHOD", method),
    ]);
    let mut env = Env::with_client(&oidc.issuer, "twg-web", "openid offline_access");
    env.unset("TWG_OAUTH_CLIENT_ID");
    twg_e2e::web::setup_oauth_app(&env, "twg-web", &redirect, WEB_SECRET);
    WebApp {
        oidc,
        env,
        redirect,
        secret: WEB_SECRET,
    }
}

/// `twg login --web`, consent given in headless Chromium.
fn web_login(app: &WebApp) -> Output {
    let login = twg_e2e::web::WebLogin::start(&app.env, &[]);
    assert_eq!(login.param("redirect_uri"), app.redirect);
    assert_eq!(login.param("code_challenge_method"), "S256");
    let b = twg_e2e::web::browser(&login.url, "approve");
    let out = login.finish(Duration::from_secs(60));
    assert_eq!(
        b.code,
        Some(0),
        "browser: {} {}\ntwg: {:?}",
        b.result,
        b.log,
        text(&out)
    );
    assert!(b.result.starts_with("REDIRECTED "), "{}", b.result);
    out
}

#[test]
fn web_login_with_a_confidential_client_then_refresh_rotation_and_logout() {
    let app = web_app("client_secret_basic");
    let env = &app.env;
    let mut daemon = env.start_daemon();
    let out = web_login(&app);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("✔ Authentication successful!"),
        "{stdout}"
    );
    assert!(
        env.daemon_log().contains("web login started"),
        "twgd ran the exchange"
    );
    let o = env.credentials().oauth.unwrap();
    assert_eq!(
        o.grant,
        Some(twg_common::store::LoginGrant::AuthorizationCode)
    );
    // The server's metadata lists only Basic for this client: twg follows it.
    assert_eq!(
        o.client_auth,
        twg_common::oauth::client_auth::AuthMethod::ClientSecretBasic
    );
    assert_eq!(o.client_secret.as_ref().unwrap().expose(), app.secret);
    let rt1 = env.refresh_token();
    assert!(
        o.scopes.iter().any(|s| s == "offline_access"),
        "{:?}",
        o.scopes
    );

    // oidc-provider refuses a refresh without the client's secret (401 invalid_client), so a
    // rotation proves twgd sent it.
    let out = env.twg(&["auth", "refresh", "--force", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{:?}", text(&out)));
    assert_eq!(v["refreshed"], true, "{v}");
    assert_eq!(v["via"], "daemon");
    let rt2 = env.refresh_token();
    assert_ne!(rt1, rt2);

    let out = env.twg(&["auth", "status"]);
    let status = text(&out).0;
    assert!(
        status.contains("Client:             twg-web (client_secret_basic)"),
        "{status}"
    );
    assert!(status.contains("Login method:       web"), "{status}");

    // The secret is in no output, log, argv or environment of the processes involved.
    let mut seen = vec![stdout, stderr, status, env.daemon_log()];
    for args in [
        &["auth", "status", "--json"][..],
        &["doctor", "--json"],
        &["doctor"],
        &["auth", "audit", "--json"],
    ] {
        let out = env.twg(args);
        let (o, e) = text(&out);
        seen.push(o);
        seen.push(e);
    }
    for proc_file in ["cmdline", "environ"] {
        let raw = std::fs::read(format!("/proc/{}/{proc_file}", daemon.pid())).unwrap();
        seen.push(String::from_utf8_lossy(&raw).into_owned());
    }
    for text in &seen {
        assert!(
            !text.contains(app.secret),
            "the client secret leaked: {text}"
        );
    }
    let perms = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(env.auth_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(perms, 0o600);

    // Logout revokes with the client's authentication; the app's settings stay for the next
    // login.
    let out = env.twg(&["logout"]);
    let (o, e) = text(&out);
    assert!(o.contains("✔ Revoked at the server"), "{o}\n{e}");
    assert!(!app.oidc.active_as(&rt2, "twg-web", app.secret));
    let kept = env.credentials();
    assert!(kept.oauth.is_none());
    assert_eq!(kept.oauth_app.unwrap().client_id, "twg-web");
    daemon.terminate();
}

#[test]
fn web_login_direct_with_client_secret_post_and_strict_rotation() {
    let app = web_app("client_secret_post");
    let env = &app.env;
    // No daemon: the client exchanges the code itself.
    let out = web_login(&app);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let o = env.credentials().oauth.unwrap();
    assert_eq!(
        o.client_auth,
        twg_common::oauth::client_auth::AuthMethod::ClientSecretPost
    );
    let old = std::fs::read(env.auth_path()).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Strict rotation: the rotated-away token, put back, revokes the grant; twg says so.
    std::fs::write(env.auth_path(), &old).unwrap();
    let out = env.twg(&["auth", "refresh", "--force"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("twg login"), "{err}");
    assert!(!err.contains(app.secret), "{err}");
}

#[test]
fn a_redirect_uri_the_client_did_not_register_is_refused_by_the_server_and_twg_times_out() {
    let app = web_app("client_secret_basic");
    let mut env = Env::with_client(&app.oidc.issuer, "twg-web", "openid offline_access");
    env.config_dir = app.env.config_dir.clone();
    env.vars = app.env.vars.clone();
    // Another port than the registered one: oidc-provider must not redirect there.
    let other = format!("http://127.0.0.1:{}/callback", twg_e2e::web::free_port());
    env.set("TWG_OAUTH_REDIRECT_URI", &other);
    let login = twg_e2e::web::WebLogin::start(&env, &["--timeout", "8"]);
    let b = twg_e2e::web::browser(&login.url, "approve");
    assert_eq!(
        b.code,
        Some(1),
        "an error page, no redirect: {} {}",
        b.result,
        b.log
    );
    let out = login.finish(Duration::from_secs(30));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("no answer reached") && err.contains("callback URL"),
        "{err}"
    );
    assert!(env.credentials().oauth.is_none(), "nothing saved");
    assert_eq!(
        twg_e2e::web::get_status(&other),
        None,
        "the listener is closed"
    );
}
