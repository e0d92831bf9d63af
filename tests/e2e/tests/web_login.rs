//! `twg login --web` against the dev authorization server: the authorization-code flow with
//! PKCE for a confidential client, through twgd and directly. The consent page is completed
//! in headless Chromium or answered over HTTP; attacks are delivered to twg's loopback
//! listener as a hostile local process would (a forged `state`, a code minted for another
//! PKCE challenge), and every failure must leave nothing saved.

use std::time::Duration;
use twg_e2e::web::{WebLogin, browser, consent_over_http, free_port, get_status, url_param};
use twg_e2e::{Env, Idp, text};

const SECRET: &str = "dev:s3cr/t+%web";

/// A dev server with one confidential client and its registered redirect URI.
struct App {
    idp: Idp,
    redirect: String,
}

fn app() -> App {
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let idp = Idp::start(&[
        "--confidential-client",
        &format!("twg-web:{SECRET}:{redirect}"),
    ]);
    App { idp, redirect }
}

/// An environment for the app; `setup oauth-app` stores its id, callback URL and secret.
fn env_with_app(app: &App) -> Env {
    let mut env = Env::new(&app.idp.url);
    env.unset("TWG_OAUTH_CLIENT_ID");
    setup_app(&env, app);
    env
}

fn setup_app(env: &Env, app: &App) {
    twg_e2e::web::setup_oauth_app(env, "twg-web", &app.redirect, SECRET);
}

/// The token endpoint's log: (grant_type, client_auth, outcome) per request.
fn token_log(idp: &Idp) -> Vec<(String, String, String)> {
    idp.get("/admin/token-requests")["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("null").to_string();
            (s("grant_type"), s("client_auth"), s("outcome"))
        })
        .collect()
}

fn nothing_saved(env: &Env) {
    let saved = std::fs::read_to_string(env.auth_path()).unwrap_or_default();
    assert!(
        !saved.contains("[oauth]\n"),
        "no login may be saved:\n{saved}"
    );
}

#[test]
fn web_login_through_twgd_in_chromium_and_every_refresh_carries_the_secret() {
    let app = app();
    let env = env_with_app(&app);
    let mut daemon = env.start_daemon();
    let login = WebLogin::start(&env, &[]);
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", "twg-web"),
        ("code_challenge_method", "S256"),
        ("prompt", "consent"),
        ("redirect_uri", app.redirect.as_str()),
    ] {
        assert_eq!(login.param(k), v, "{}", login.url);
    }
    assert!(login.param("scope").contains("offline_access"));
    assert!(url_param(&login.url, "client_secret").is_none());
    let b = browser(&login.url, "approve");
    let out = login.finish(Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert_eq!(b.code, Some(0), "browser: {} {}\n{stderr}", b.result, b.log);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("✔ Authentication successful!"),
        "{stdout}"
    );
    assert!(
        env.daemon_log().contains("web login started"),
        "twgd ran it"
    );
    let o = env.credentials().oauth.unwrap();
    assert_eq!(
        o.grant,
        Some(twg_common::store::LoginGrant::AuthorizationCode)
    );
    assert_eq!(o.client_secret.as_ref().unwrap().expose(), SECRET);
    assert_eq!(
        token_log(&app.idp),
        vec![(
            "authorization_code".into(),
            "client_secret_basic".into(),
            "issued".into()
        )]
    );

    // twgd's refresh authenticates as the app (the server would answer invalid_client).
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    env.make_stale();
    let out = env.twg(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let log = token_log(&app.idp);
    let refreshes: Vec<_> = log.iter().filter(|r| r.0 == "refresh_token").collect();
    assert_eq!(refreshes.len(), 2, "{log:?}");
    for r in refreshes {
        assert_eq!(
            (r.1.as_str(), r.2.as_str()),
            ("client_secret_basic", "issued")
        );
    }

    // Status and doctor name the client and the flow, never the secret.
    let status = text(&env.twg(&["auth", "status"])).0;
    assert!(
        status.contains("Client:             twg-web (client_secret_basic)"),
        "{status}"
    );
    assert!(status.contains("Login method:       web (authorization code with PKCE)"));
    let mut seen = vec![stdout, stderr, status, env.daemon_log()];
    for args in [&["auth", "status", "--json"][..], &["doctor", "--json"]] {
        let (o, e) = text(&env.twg(args));
        seen.extend([o, e]);
    }
    for f in ["cmdline", "environ"] {
        seen.push(
            String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/{f}", daemon.pid())).unwrap())
                .into_owned(),
        );
    }
    for t in &seen {
        assert!(!t.contains(SECRET), "the secret leaked: {t}");
    }
    daemon.terminate();
}

#[test]
fn the_secret_from_the_environment_reaches_twgd_only_through_the_socket_and_post_is_honoured() {
    let app = app();
    let mut env = Env::new(&app.idp.url);
    env.set("TWG_OAUTH_CLIENT_ID", "twg-web");
    env.set("TWG_OAUTH_REDIRECT_URI", &app.redirect);
    std::fs::create_dir_all(&env.config_dir).unwrap();
    std::fs::write(
        env.config_dir.join("config.toml"),
        "[oauth]\ntoken_endpoint_auth_method = \"client_secret_post\"\n",
    )
    .unwrap();
    // twgd starts without the secret in its environment.
    let _daemon = env.start_daemon();
    env.set("TWG_OAUTH_CLIENT_SECRET", SECRET);
    let login = WebLogin::start(&env, &[]);
    let location = consent_over_http(&login.url, "approve");
    assert!(location.starts_with(&app.redirect), "{location}");
    assert_eq!(get_status(&location), Some(200), "the listener answered");
    let out = login.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    env.unset("TWG_OAUTH_CLIENT_SECRET");
    let out = env.twg(&["auth", "refresh", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let auths: Vec<_> = token_log(&app.idp)
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(
        auths,
        vec![
            ("authorization_code".into(), "client_secret_post".into()),
            ("refresh_token".into(), "client_secret_post".into())
        ]
    );
    let o = env.credentials().oauth.unwrap();
    assert_eq!(
        o.client_auth,
        twg_common::oauth::client_auth::AuthMethod::ClientSecretPost
    );
}

#[test]
fn a_forged_state_is_refused_cannot_end_the_login_and_is_never_exchanged() {
    let app = app();
    let env = env_with_app(&app);
    let _daemon = env.start_daemon();
    // A local process (or any web page, through the browser) races the browser to the
    // listener with a code of its choosing: refused, and the login keeps waiting.
    let login = WebLogin::start(&env, &["--timeout", "4"]);
    let forged = format!("{}?code=attacker-code&state=forged", app.redirect);
    assert_eq!(get_status(&forged), Some(400));
    assert_eq!(
        get_status(&format!("{}?code=attacker-code", app.redirect)),
        Some(400)
    );
    let out = login.finish(Duration::from_secs(30));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("Refused a request") && err.contains("2 request(s) with the wrong `state`"),
        "{err}"
    );
    assert!(err.contains("Nothing was saved"), "{err}");
    assert!(token_log(&app.idp).is_empty(), "no code was exchanged");
    nothing_saved(&env);

    // The real answer after a forged one still completes the login.
    let login = WebLogin::start(&env, &[]);
    assert_eq!(get_status(&forged), Some(400));
    let location = consent_over_http(&login.url, "approve");
    assert_eq!(get_status(&location), Some(200));
    let out = login.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let log = token_log(&app.idp);
    assert_eq!(log.len(), 1, "only the real code was exchanged: {log:?}");
}

#[test]
fn a_code_minted_for_another_pkce_challenge_is_refused_and_nothing_is_saved() {
    let app = app();
    let env = env_with_app(&app);
    let _daemon = env.start_daemon();
    let login = WebLogin::start(&env, &[]);
    // The attacker runs its own authorization request (its own verifier), gets a real code,
    // and injects it into twg's login with twg's state (authorization code injection).
    let challenge = twg_common::oauth::authcode::challenge_of(
        "attacker-verifier-0123456789abcdefghijklmnopqrstuvwxyz",
    );
    let enc = twg_e2e::http::urlencode;
    let attacker = format!(
        "{}/authorize?response_type=code&client_id=twg-web&redirect_uri={}&scope=read%3Ame%20offline_access&state=a&code_challenge={challenge}&code_challenge_method=S256",
        app.idp.url,
        enc(&app.redirect)
    );
    let location = consent_over_http(&attacker, "approve");
    let code = url_param(&location, "code").expect("a code");
    let injected = format!(
        "{}?code={}&state={}&iss={}",
        app.redirect,
        enc(&code),
        enc(&login.param("state")),
        enc(&app.idp.url)
    );
    assert_eq!(get_status(&injected), Some(200));
    let out = login.finish(Duration::from_secs(30));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused the code") && err.contains("invalid_grant"),
        "{err}"
    );
    assert_eq!(
        token_log(&app.idp),
        vec![(
            "authorization_code".into(),
            "client_secret_basic".into(),
            "invalid_grant".into()
        )]
    );
    nothing_saved(&env);
}

#[test]
fn a_denied_consent_is_exit_77_and_nothing_is_saved() {
    let app = app();
    let env = env_with_app(&app);
    // Direct: no daemon.
    let login = WebLogin::start(&env, &[]);
    let b = browser(&login.url, "deny");
    let out = login.finish(Duration::from_secs(60));
    let (_, err) = text(&out);
    assert_eq!(b.code, Some(0), "{} {}\n{err}", b.result, b.log);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("declined"), "{err}");
    assert!(token_log(&app.idp).is_empty());
    nothing_saved(&env);
}

/// Listening sockets on `port` from /proc/net/tcp{,6}: their local addresses, hex.
fn listeners_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let table = std::fs::read_to_string(f).unwrap_or_default();
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let (addr, p) = local.split_once(':').unwrap();
            if *state == "0A" && u16::from_str_radix(p, 16).unwrap() == port {
                found.push(addr.to_string());
            }
        }
    }
    found
}

#[test]
fn the_listener_binds_loopback_only_ignores_stray_requests_and_closes_after_the_callback() {
    let app = app();
    let env = env_with_app(&app);
    let login = WebLogin::start(&env, &[]);
    let port: u16 = app
        .redirect
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let bound = listeners_on(port);
    assert_eq!(bound, vec!["0100007F".to_string()], "127.0.0.1 only");
    let origin = app.redirect.trim_end_matches("/callback");
    assert_eq!(get_status(&format!("{origin}/favicon.ico")), Some(404));
    let location = consent_over_http(&login.url, "approve");
    assert_eq!(get_status(&location), Some(200));
    let out = login.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(listeners_on(port).is_empty(), "closed after one callback");
    assert_eq!(get_status(&location), None);

    // A redirect URI that is not loopback is refused before anything is bound or sent.
    let mut env2 = Env::new(&app.idp.url);
    env2.set("TWG_OAUTH_CLIENT_ID", "twg-web");
    env2.set("TWG_OAUTH_CLIENT_SECRET", SECRET);
    env2.set(
        "TWG_OAUTH_REDIRECT_URI",
        &format!("http://0.0.0.0:{port}/callback"),
    );
    app.idp.reset_counters();
    let out = env2.twg(&["login", "--web", "--no-browser"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(app.idp.counters()["authorization_requests"], 0);
}

#[test]
fn a_login_nobody_answers_times_out_with_a_clear_error() {
    let app = app();
    let env = env_with_app(&app);
    let login = WebLogin::start(&env, &["--timeout", "2"]);
    let out = login.finish(Duration::from_secs(30));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("no answer reached") && err.contains("twg login --web"),
        "{err}"
    );
    nothing_saved(&env);
}

#[test]
fn setup_oauth_app_keeps_the_config_file_and_never_takes_the_secret_from_argv() {
    let app = app();
    let mut env = Env::new(&app.idp.url);
    env.unset("TWG_OAUTH_CLIENT_ID");
    std::fs::create_dir_all(&env.config_dir).unwrap();
    let config = env.config_dir.join("config.toml");
    std::fs::write(
        &config,
        "# my settings\n[network]\ntimeout_seconds = 20 # slow proxy\n",
    )
    .unwrap();
    // No terminal and no --with-secret: refused, nothing written.
    let out = env.twg(&["setup", "oauth-app", "--client-id", "twg-web"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--with-secret"), "{err}");
    // There is no flag that takes the secret in argv.
    let out = env.twg(&[
        "setup",
        "oauth-app",
        "--client-id",
        "x",
        "--client-secret",
        SECRET,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!env.auth_path().exists());

    setup_app(&env, &app);
    let text_now = std::fs::read_to_string(&config).unwrap();
    assert!(
        text_now.contains("# my settings") && text_now.contains("# slow proxy"),
        "{text_now}"
    );
    assert!(text_now.contains("client_id = \"twg-web\""), "{text_now}");
    assert!(
        text_now.contains(&format!("redirect_uri = \"{}\"", app.redirect)),
        "{text_now}"
    );
    let app_creds = env.credentials().oauth_app.unwrap();
    assert_eq!(app_creds.client_secret.expose(), SECRET);
    let perms = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(env.auth_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(perms, 0o600);

    // The app survives a login and a logout; `logout --all` removes it.
    let login = WebLogin::start(&env, &[]);
    let location = consent_over_http(&login.url, "approve");
    get_status(&location);
    assert_eq!(login.finish(Duration::from_secs(30)).status.code(), Some(0));
    assert_eq!(env.twg(&["logout"]).status.code(), Some(0));
    assert!(env.credentials().oauth_app.is_some());
    assert_eq!(env.twg(&["logout", "--all"]).status.code(), Some(0));
    assert!(!env.auth_path().exists());
}

#[test]
fn atlassian_without_a_registered_app_says_how_to_register_one_and_sends_nothing() {
    let mut env = Env::new("http://127.0.0.1:9");
    for k in [
        "TWG_OAUTH_ISSUER",
        "TWG_OAUTH_CLIENT_ID",
        "TWG_OAUTH_SCOPES",
    ] {
        env.unset(k);
    }
    // Proxies pointing nowhere: any request to Atlassian would fail differently.
    env.set("HTTPS_PROXY", "http://127.0.0.1:9");
    let out = env.twg(&["login", "--no-browser"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no OAuth app is configured") && err.contains("twg setup oauth-app"),
        "{err}"
    );
    // An app id without its secret: Atlassian's 3LO apps are confidential.
    env.set("TWG_OAUTH_CLIENT_ID", "my-3lo-app");
    let out = env.twg(&["login", "--web", "--no-browser"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no client secret") && err.contains("TWG_OAUTH_CLIENT_SECRET"),
        "{err}"
    );
}

#[test]
fn a_token_endpoint_off_the_issuers_origin_never_receives_the_code_or_the_secret() {
    let app = app();
    let mut env = env_with_app(&app);
    // The issuer in config.toml, so the file's token endpoint is not replaced by discovery.
    env.unset("TWG_OAUTH_ISSUER");
    // A second listener stands in for an attacker's host; it counts connections.
    let decoy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    decoy.set_nonblocking(true).unwrap();
    let decoy_url = format!("http://{}/oauth/token", decoy.local_addr().unwrap());
    let config = env.config_dir.join("config.toml");
    let mut text_now = std::fs::read_to_string(&config).unwrap();
    text_now = text_now.replace(
        "[oauth]",
        &format!("[oauth]\ntoken_endpoint = \"{decoy_url}\""),
    );
    std::fs::write(&config, text_now).unwrap();
    let out = env.twg(&["login", "--web", "--no-browser"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not on the issuer's origin"), "{err}");
    assert!(decoy.accept().is_err(), "nothing reached the decoy");
    assert_eq!(app.idp.counters()["authorization_requests"], 0);
    nothing_saved(&env);
}
