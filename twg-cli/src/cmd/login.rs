//! `twg login`: the OAuth device flow (RFC 8628) or, with `--web` (or when the server has no
//! device endpoint), the authorization-code flow with PKCE through a loopback callback;
//! then site selection and saving.
//!
//! When twgd runs, the daemon performs the flow (`Login` stream) so the tokens never pass
//! through this process; otherwise the client does the same work directly, under the same
//! lock and atomic save. `--with-token` stores an API token read from stdin instead.
//!
//! In a web login this process listens on the redirect URI and opens the browser, and twgd
//! (when it runs) keeps the PKCE verifier and `state` and exchanges the code: the client
//! relays the callback URL over the owner-only socket. The listener is tied to the user's
//! terminal (Ctrl-C stops it, a pasted URL can replace it over ssh), and twgd never opens a
//! network port.
//!
//! How an API token is stored: in `[oauth]` with `token_type = "api_token"`
//! ([`twg_common::api_token::API_TOKEN_TYPE`]), no refresh token and `expires_at = 0`. The engine
//! therefore never tries to refresh it, `twg auth token` prints it as it is, and `twg logout`
//! removes it without an RFC 7009 call (API tokens are deleted on their own web page).

use crate::callback_listener::{CallbackListener, ListenError};
use crate::ctx::Ctx;
use crate::daemon_client::{self, RpcFailure};
use crate::report::CliError;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::login::{LoginFlow, Method, SiteChoice, WebLoginError, choose_site};
use twg_common::oauth::TokenSet;
use twg_common::oauth::authcode::Callback;
use twg_common::oauth::device::DeviceError;
use twg_common::rpc::pb;
use twg_common::secret::Secret;
use twg_common::store::{Credentials, OAuthCredentials, SiteInfo, UserInfo};

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Sign in with the authorization-code flow in a browser (for your own OAuth app, as
    /// Atlassian 3LO apps need), instead of the device code. Chosen automatically when the
    /// server has no device login.
    #[arg(long, conflicts_with = "with_token")]
    pub web: bool,
    /// Do not open a browser; just print the URL (and the code). With --web, paste the
    /// address the browser ended on if it runs on another machine.
    #[arg(long)]
    pub no_browser: bool,
    /// With --web: how long to wait for the browser's answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Choose this site (id, name or URL) instead of being asked.
    #[arg(long)]
    pub site: Option<String>,
    /// Re-enter every credential, the Bitbucket token included (asked for on a terminal;
    /// without one, the stored Bitbucket token is dropped).
    #[arg(long)]
    pub force: bool,
    /// Read an API token from stdin and store it instead of the OAuth login (for scripts).
    /// API tokens are not refreshed by twg.
    #[arg(long)]
    pub with_token: bool,
    /// With --with-token: the account's email (API tokens are used with it).
    #[arg(long, value_name = "EMAIL", requires = "with_token")]
    pub user: Option<String>,
}

/// What a successful login reports.
struct Done {
    user: String,
    site: Option<SiteInfo>,
    config_path: String,
    has_bitbucket_token: bool,
    via: &'static str,
    grant: String,
}

/// Why the daemon path did not finish.
enum DaemonLogin {
    /// twgd cannot do it (older build, gone before the flow started): log in directly.
    Fallback(String),
    Failed(CliError),
}

impl From<CliError> for DaemonLogin {
    fn from(e: CliError) -> Self {
        DaemonLogin::Failed(e)
    }
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if self.with_token {
            return self.with_token(ctx).await;
        }
        let result = self.login(ctx).await?;
        if ctx.json {
            println!("{result}");
        }
        Ok(())
    }

    /// The OAuth login (device code or web). Prints the progress, and the result in text
    /// mode; returns the result as `--json` shows it, so `twg setup` can make it part of its
    /// own single JSON report.
    pub async fn login(self, ctx: &Ctx) -> Result<serde_json::Value, CliError> {
        let had_bitbucket = ctx
            .config()
            .ok()
            .and_then(|c| ctx.store(&c).load().ok().flatten())
            .is_some_and(|l| l.credentials.bitbucket_token.is_some());
        // Asked before the browser step, so the user is not interrupted after approving.
        let bitbucket = if self.force && std::io::stdin().is_terminal() {
            crate::cmd::bitbucket::prompt_bitbucket_token()?
        } else {
            None
        };
        let mut done = None;
        if let Ok(mut client) = daemon_client::connect(ctx).await?
            && same_version(ctx, &mut client).await
        {
            match self.via_daemon(ctx, client, bitbucket.as_ref()).await {
                Ok(d) => done = Some(d),
                Err(DaemonLogin::Failed(e)) => return Err(e),
                Err(DaemonLogin::Fallback(why)) => {
                    tracing::debug!(%why, "twgd cannot run the login; logging in directly");
                }
            }
        }
        let done = match done {
            Some(d) => d,
            None => self.direct(ctx, bitbucket).await?,
        };
        // After `--force` without a typed token, the old Bitbucket token is gone: say so.
        Ok(report(
            ctx,
            &done,
            self.force && had_bitbucket && !done.has_bitbucket_token,
        ))
    }

    /// The device flow inside twgd: print what it streams, answer its site question.
    async fn via_daemon(
        &self,
        ctx: &Ctx,
        mut client: twg_common::rpc::Client,
        bitbucket: Option<&Secret>,
    ) -> Result<Done, DaemonLogin> {
        let redirect_uri = ctx
            .config()
            .map(|c| c.oauth.redirect_uri.clone())
            .unwrap_or_default();
        let mut req = pb::LoginRequest {
            client: Some(ctx.client_info()),
            site: self.site.clone().unwrap_or_default(),
            force: self.force,
            bitbucket_token: bitbucket
                .map(|b| b.expose().to_string())
                .unwrap_or_default(),
            login_id: String::new(),
            method: if self.web {
                "web".into()
            } else {
                String::new()
            },
            redirect_uri,
            client_secret: twg_common::login::client_secret_from_env()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            callback_url: String::new(),
        };
        let mut started = false;
        let mut spinner = Spinner::new();
        loop {
            let mut stream = match client.login(req.clone()).await {
                Ok(s) => s.into_inner(),
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    return Err(DaemonLogin::Fallback(status.message().to_string()));
                }
                Err(status) => return Err(login_status(status, started)),
            };
            let next = loop {
                let ev = match stream.message().await {
                    Ok(Some(ev)) => ev,
                    Ok(None) => {
                        spinner.stop();
                        return Err(CliError::failure(
                            "twgd ended the login without a result; run `twg login` again",
                        )
                        .into());
                    }
                    Err(status) => {
                        spinner.stop();
                        return Err(login_status(status, started));
                    }
                };
                use pb::login_event::Event;
                match ev.event {
                    Some(Event::DeviceCode(_)) if self.web => {
                        // A twgd from before web logins ignores `method`: do it here instead.
                        spinner.stop();
                        return Err(DaemonLogin::Fallback(
                            "twgd does not know web logins".into(),
                        ));
                    }
                    Some(Event::Authorize(a)) => break Next::Callback(a),
                    Some(Event::DeviceCode(dc)) => {
                        started = true;
                        let complete = Some(dc.verification_uri_complete).filter(|u| !u.is_empty());
                        show_code(
                            &dc.user_code,
                            &dc.verification_uri,
                            complete,
                            self.no_browser,
                        );
                    }
                    Some(Event::Progress(p)) => spinner.set(&p.message),
                    Some(Event::ChooseSite(c)) => break Next::Site(c),
                    Some(Event::Done(d)) => {
                        spinner.stop();
                        return Ok(Done {
                            user: d.user,
                            site: d.site.map(|s| SiteInfo {
                                id: s.id,
                                name: s.name,
                                url: s.url,
                            }),
                            config_path: d.config_path,
                            has_bitbucket_token: d.has_bitbucket_token,
                            via: "daemon",
                            grant: d.grant,
                        });
                    }
                    None => {}
                }
            };
            spinner.stop();
            let choice = match next {
                Next::Site(c) => c,
                Next::Callback(a) => {
                    started = true;
                    let callback_url = self
                        .await_callback(&a.url, &a.redirect_uri, &a.client, Some(a.expires_at))
                        .await?;
                    req = pb::LoginRequest {
                        client: Some(ctx.client_info()),
                        site: self.site.clone().unwrap_or_default(),
                        force: self.force,
                        login_id: a.login_id,
                        callback_url,
                        ..Default::default()
                    };
                    continue;
                }
            };
            let sites: Vec<SiteInfo> = choice
                .sites
                .into_iter()
                .map(|s| SiteInfo {
                    id: s.id,
                    name: s.name,
                    url: s.url,
                })
                .collect();
            if !choice.unmatched.is_empty() {
                return Err(CliError::usage(format!(
                    "no site matches `{}`; available: {}. Run `twg login --site <one of them>`",
                    choice.unmatched,
                    list(&sites)
                ))
                .into());
            }
            let chosen = pick_site(sites, None)?.ok_or_else(|| {
                CliError::failure("twgd asked for a site but listed none; run `twg login` again")
            })?;
            req = pb::LoginRequest {
                client: Some(ctx.client_info()),
                site: [&chosen.id, &chosen.url, &chosen.name]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_default(),
                force: self.force,
                login_id: choice.login_id,
                ..Default::default()
            };
        }
    }

    /// Web login: listens on the redirect URI, sends the user to `url`, and returns the
    /// URL that reached the listener (or that the user pasted).
    async fn await_callback(
        &self,
        url: &str,
        redirect_uri: &str,
        client: &str,
        expires_at: Option<i64>,
    ) -> Result<String, CliError> {
        let listener = CallbackListener::bind(redirect_uri)
            .await
            .map_err(|e| CliError::new(ErrorCode::LoginSetup, e.to_string()))?;
        eprintln!("! Sign in and allow access in your browser (app {client}):");
        eprintln!("  {url}");
        eprintln!("  Waiting for the answer on {redirect_uri}");
        if !self.no_browser {
            if open_browser(url) {
                eprintln!("  (opening your browser)");
            } else {
                eprintln!("  (no browser could be opened; open the URL yourself)");
            }
        }
        let mut timeout = Duration::from_secs(self.timeout.max(1));
        if let Some(left) = expires_at
            .map(|at| at - twg_common::time::now_unix())
            .filter(|left| *left > 0)
        {
            // twgd forgets the login then: waiting longer could only end in "expired".
            timeout = timeout.min(Duration::from_secs(left as u64));
        }
        let state = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "state")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| {
                CliError::failure(
                    "the authorization URL has no `state`; run `twg login --web` again",
                )
            })?;
        let listen = listener.wait(timeout, &state);
        let pasted = async {
            if !std::io::stdin().is_terminal() {
                return std::future::pending().await;
            }
            eprintln!(
                "  If the browser runs on another machine, paste the address it ended on here:"
            );
            loop {
                match crate::prompt::read_line_async().await {
                    Some(l) if !l.trim().is_empty() => return l.trim().to_string(),
                    Some(_) => continue,
                    None => return std::future::pending().await,
                }
            }
        };
        let query = tokio::select! {
            r = listen => r.map_err(|e| match e {
                ListenError::TimedOut { .. } => {
                    CliError::new(ErrorCode::LoginExpired, e.to_string())
                }
                _ => CliError::new(ErrorCode::LoginFailed, e.to_string()),
            })?,
            pasted = pasted => return Ok(pasted),
        };
        let mut base = url::Url::parse(redirect_uri)
            .map_err(|e| CliError::failure(format!("bad redirect URI: {e}")))?;
        base.set_query(None);
        Ok(format!("{base}?{query}"))
    }

    /// The device flow in this process (twgd is not running).
    async fn direct(&self, ctx: &Ctx, bitbucket: Option<Secret>) -> Result<Done, CliError> {
        let config = ctx.config()?;
        let store = ctx.store(&config);
        let engine = twg_common::engine::Engine::new(store.clone(), config.clone());
        let http = engine.http()?.clone();
        let previous = store.load().ok().flatten().map(|l| l.credentials);
        let secret = twg_common::login::client_secret(
            &config.oauth.client_id,
            previous.as_ref(),
            twg_common::login::client_secret_from_env(),
        );
        let flow = if self.web {
            LoginFlow::web(&config, http, secret).await
        } else {
            LoginFlow::auto(&config, http, secret).await
        }
        .map_err(|e| {
            CliError::new(
                ErrorCode::LoginSetup,
                format!("cannot start the login: {e}; check the network and the OAuth settings"),
            )
        })?;
        let tokens = match flow.method() {
            Method::Web => self.direct_web(&flow, &config).await?,
            Method::Device => self.direct_device(&flow).await?,
        };
        if tokens.refresh_token.is_none() {
            eprintln!(
                "! The server issued no refresh token: you will need to log in again when the access token expires"
            );
        }
        let (user, sites) = flow.identify(&tokens).await;
        let site = match sites
            .map_err(|e| {
                CliError::failure(format!(
                    "cannot list your sites: {e}; run `twg login` again"
                ))
            })
            .and_then(|sites| pick_site(sites, self.site.as_deref()))
        {
            Ok(site) => site,
            Err(e) => {
                // Nothing will use these tokens: do not leave a live grant at the server.
                flow.revoke_unused(&tokens).await;
                return Err(e);
            }
        };
        let mut creds = flow.credentials(
            &tokens,
            user.clone(),
            site.clone(),
            previous.as_ref(),
            self.force,
        );
        if let Some(bb) = bitbucket {
            creds.bitbucket_token = Some(bb);
        }
        twg_common::login::save(&store, &creds)
            .await
            .map_err(|e| ctx.engine_error(e))?;
        Ok(Done {
            user: who(user.as_ref()),
            site,
            config_path: store.auth_path().display().to_string(),
            has_bitbucket_token: creds.bitbucket_token.is_some(),
            via: "direct",
            grant: creds
                .oauth
                .as_ref()
                .and_then(|o| o.grant)
                .map(|g| g.as_str().to_string())
                .unwrap_or_default(),
        })
    }

    /// The web login in this process: listen, send the browser, check, exchange.
    async fn direct_web(
        &self,
        flow: &LoginFlow,
        config: &twg_common::config::Config,
    ) -> Result<TokenSet, CliError> {
        let request = flow.authorize(&config.oauth.redirect_uri).map_err(|e| {
            CliError::new(
                ErrorCode::LoginSetup,
                format!("cannot start the web login: {e}"),
            )
        })?;
        let callback_url = self
            .await_callback(
                &request.url,
                &request.redirect_uri,
                &flow.client_label(),
                None,
            )
            .await?;
        let callback = Callback::from_url(&callback_url, &request.redirect_uri)
            .map_err(|e| CliError::from(WebLoginError::from(e)))?;
        flow.finish_web(&request, callback)
            .await
            .map_err(CliError::from)
    }

    /// The device flow in this process.
    async fn direct_device(&self, flow: &LoginFlow) -> Result<TokenSet, CliError> {
        let auth = flow.start().await.map_err(|e| {
            CliError::new(
                ErrorCode::LoginStart,
                format!("the device authorization request failed: {e}; run `twg login` again"),
            )
        })?;
        show_code(
            &auth.user_code,
            &auth.verification_uri,
            auth.verification_uri_complete.clone(),
            self.no_browser,
        );
        let mut spinner = Spinner::new();
        let handle = spinner.handle();
        let tokens: Result<TokenSet, DeviceError> = flow
            .wait(&auth, move |d| {
                handle.set(&format!(
                    "Waiting for approval (checking every {}s)",
                    d.as_secs()
                ))
            })
            .await;
        spinner.stop();
        tokens.map_err(CliError::from)
    }

    /// `--with-token`: store an API token read from stdin (or typed without echo).
    async fn with_token(&self, ctx: &Ctx) -> Result<(), CliError> {
        let (kind, page) = twg_common::api_token::api_token_page();
        let token = if std::io::stdin().is_terminal() {
            eprintln!("Create an {kind} at {page}");
            crate::prompt::secret(
                "API token",
                "or pipe it: `twg login --with-token < token.txt`",
            )?
        } else {
            crate::prompt::secret_from_stdin("the API token").map_err(|mut e| {
                e.message = format!("{}; create an {kind} at {page} and pipe it in", e.message);
                e
            })?
        };
        let config = ctx.config()?;
        let store = ctx.store(&config);
        let previous = store.load().ok().flatten().map(|l| l.credentials);
        let now = twg_common::time::now_unix();
        let site = pick_site(Vec::new(), self.site.as_deref())?;
        let user = self.user.as_ref().map(|email| UserInfo {
            name: email.clone(),
            email: email.clone(),
            account_id: String::new(),
        });
        let creds = Credentials {
            oauth: Some(OAuthCredentials {
                issuer: config.oauth.issuer.clone(),
                client_id: config.oauth.client_id.clone(),
                token_endpoint: config.oauth.token_endpoint.clone().unwrap_or_default(),
                revocation_endpoint: None,
                scopes: Vec::new(),
                access_token: token,
                token_type: twg_common::api_token::API_TOKEN_TYPE.into(),
                expires_at: 0,
                obtained_at: now,
                refresh_token: None,
                refresh_token_issued_at: 0,
                halted: None,
                client_secret: None,
                client_auth: Default::default(),
                grant: None,
            }),
            user,
            site,
            bitbucket_token: if self.force {
                None
            } else {
                previous.as_ref().and_then(|p| p.bitbucket_token.clone())
            },
            oauth_app: previous.and_then(|p| p.oauth_app),
        };
        twg_common::login::save(&store, &creds)
            .await
            .map_err(|e| ctx.engine_error(e))?;
        // A running twgd notices the new file by its changed stamp on the next request.
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"stored": "api_token", "config_path": store.auth_path().display().to_string()})
            );
        } else {
            println!(
                "✔ API token saved (twg does not refresh API tokens: replace it before it expires, at {page})"
            );
            println!("✔ Credentials saved to {}", store.auth_path().display());
        }
        Ok(())
    }
}

/// True when twgd is this build. Another version may not know this login (a web login, an
/// app's client secret it would drop): then log in directly and say to restart twgd, which
/// refuses credentials newer than it understands rather than refreshing them wrongly.
async fn same_version(ctx: &Ctx, client: &mut twg_common::rpc::Client) -> bool {
    let status = client
        .status(daemon_client::quick(pb::StatusRequest {
            client: Some(ctx.client_info()),
        }))
        .await;
    match status {
        Ok(r) if r.get_ref().package_version == env!("CARGO_PKG_VERSION") => true,
        Ok(r) => {
            eprintln!(
                "! twgd {} is running, but this is twg {}: logging in directly. Restart twgd so it uses this login: \
                 `twg daemon stop && twg daemon start`",
                r.get_ref().package_version,
                env!("CARGO_PKG_VERSION")
            );
            false
        }
        // A daemon that cannot answer Status will not run a login either.
        Err(_) => false,
    }
}

/// What twgd's login stream asks of the client next.
enum Next {
    Site(pb::SiteChoice),
    Callback(pb::Authorize),
}

/// "Name (email)", or whatever part of it the server gave.
fn who(user: Option<&UserInfo>) -> String {
    match user {
        Some(u) if !u.name.is_empty() && !u.email.is_empty() && u.name != u.email => {
            format!("{} ({})", u.name, u.email)
        }
        Some(u) if !u.name.is_empty() => u.name.clone(),
        Some(u) => u.email.clone(),
        None => String::new(),
    }
}

/// Prints a successful login in text mode; returns it as `--json` shows it.
fn report(ctx: &Ctx, done: &Done, bitbucket_dropped: bool) -> serde_json::Value {
    let who = if done.user.is_empty() {
        "the approved account".to_string()
    } else {
        done.user.clone()
    };
    let result = serde_json::json!({
        "user": who,
        "site": done.site.as_ref().map(|s| serde_json::json!({"id": s.id, "name": s.name, "url": s.url})),
        "config_path": done.config_path,
        "has_bitbucket_token": done.has_bitbucket_token,
        "via": done.via,
        "grant": done.grant,
    });
    if ctx.json {
        return result;
    }
    println!("✔ Authentication successful!");
    println!("✔ Authenticated as {who}");
    println!("✔ Credentials saved to {}", done.config_path);
    if let Some(s) = &done.site {
        eprintln!("  Site: {} {}", s.name, s.url);
    }
    if bitbucket_dropped {
        eprintln!(
            "! --force removed the stored Bitbucket token; set a new one with `twg setup bitbucket`"
        );
    }
    result
}

/// Prints the code and URL (the code first: the page asks for it), and opens the browser.
/// Never fails: without a browser the user opens the URL by hand.
fn show_code(user_code: &str, uri: &str, complete: Option<String>, no_browser: bool) {
    eprintln!("! First copy your one-time code: {user_code}");
    eprintln!("  Then open: {uri}");
    if no_browser {
        return;
    }
    let target = complete.unwrap_or_else(|| uri.to_string());
    if open_browser(&target) {
        eprintln!("  (opening your browser)");
    } else {
        eprintln!("  (no browser could be opened; open the URL yourself)");
    }
}

/// Opens `url` with the first opener that starts, with secrets scrubbed from its
/// environment (a browser inherits everything, and a CI shell may hold `TWG_TOKEN`).
fn open_browser(url: &str) -> bool {
    open::commands(url).into_iter().any(|mut cmd| {
        twg_common::child_env::scrub(&mut cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// A login error from twgd as the user should see it.
fn login_status(status: tonic::Status, started: bool) -> DaemonLogin {
    match daemon_client::rpc_error(status) {
        RpcFailure::Answered(e) => DaemonLogin::Failed(e),
        // Before a code was shown, nothing is lost by starting over directly.
        RpcFailure::Unreachable(why) if !started => DaemonLogin::Fallback(why),
        RpcFailure::Unreachable(why) => DaemonLogin::Failed(CliError::new(
            ErrorCode::DaemonGone,
            format!("twgd stopped during the login ({why}); run `twg login` again"),
        )),
    }
}

/// Chooses the site: `--site`, the only one, or a prompt when there are several.
pub fn pick_site(sites: Vec<SiteInfo>, wanted: Option<&str>) -> Result<Option<SiteInfo>, CliError> {
    match choose_site(sites, wanted) {
        SiteChoice::Chosen(s) => Ok(Some(s)),
        SiteChoice::NoSites => Ok(None),
        SiteChoice::NotFound { wanted, available } => Err(CliError::usage(format!(
            "no site matches `{wanted}`; available: {}. Run `twg login --site <one of them>`",
            list(&available)
        ))),
        SiteChoice::Ask(sites) => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(format!(
                    "several sites are available and stdin is not a terminal, so twg cannot ask; \
                     run `twg login --site <site>` with one of: {}",
                    list(&sites)
                )));
            }
            eprintln!("? Choose a site:");
            for (i, s) in sites.iter().enumerate() {
                eprintln!("  {}) {} {}", i + 1, s.name, s.url);
            }
            loop {
                eprint!("Site number [1-{}]: ", sites.len());
                let _ = std::io::stderr().flush();
                let Some(line) = crate::prompt::read_line() else {
                    return Err(CliError::usage(
                        "no site chosen; run `twg login --site <site>`",
                    ));
                };
                if let Ok(n) = line.trim().parse::<usize>()
                    && (1..=sites.len()).contains(&n)
                {
                    return Ok(Some(sites[n - 1].clone()));
                }
            }
        }
    }
}

fn list(sites: &[SiteInfo]) -> String {
    sites
        .iter()
        .map(|s| format!("{} ({})", s.name, s.url))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "Waiting for approval" on stderr: an animated spinner on a terminal; otherwise one line
/// per change of message (so logs show when `slow_down` lengthened the interval).
struct Spinner {
    shared: SpinnerHandle,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct SpinnerHandle {
    message: Arc<Mutex<(String, bool)>>,
    tty: bool,
}

impl SpinnerHandle {
    fn set(&self, message: &str) {
        let mut m = self.message.lock().expect("spinner lock");
        if m.0 == message {
            return;
        }
        m.0 = message.to_string();
        if !self.tty {
            eprintln!("  {message}");
        }
    }
}

impl Spinner {
    fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        let shared = SpinnerHandle {
            message: Arc::new(Mutex::new((String::new(), false))),
            tty,
        };
        let task = tty.then(|| {
            let s = shared.clone();
            tokio::spawn(async move {
                const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
                let mut i = 0usize;
                loop {
                    {
                        let mut m = s.message.lock().expect("spinner lock");
                        if !m.0.is_empty() {
                            eprint!("\r\x1b[2K{} {}", FRAMES[i % FRAMES.len()], m.0);
                            let _ = std::io::stderr().flush();
                            m.1 = true;
                        }
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        });
        Self { shared, task }
    }

    fn handle(&self) -> SpinnerHandle {
        self.shared.clone()
    }

    fn set(&mut self, message: &str) {
        self.shared.set(message);
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let drawn = self.shared.message.lock().map(|m| m.1).unwrap_or(false);
            if drawn {
                eprint!("\r\x1b[2K");
                let _ = std::io::stderr().flush();
            }
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}
