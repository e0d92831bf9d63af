//! A login run in this process when twgd is not running (or is another version): the
//! device flow or the web flow with its loopback callback, under the same lock and atomic
//! save as twgd's.

use super::site::pick_site;
use super::{Cmd, Done};
use crate::callback_listener::{CallbackListener, ListenError};
use crate::ctx::Ctx;
use crate::report::CliError;
use crate::ui::spinner::Spinner;
use std::io::IsTerminal;
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::login::{LoginFlow, Method, WebLoginError};
use twg_common::oauth::TokenSet;
use twg_common::oauth::authcode::Callback;
use twg_common::oauth::device::DeviceError;
use twg_common::secret::Secret;
use twg_common::store::UserInfo;

impl Cmd {
    /// Web login: listens on the redirect URI, sends the user to `url`, and returns the
    /// URL that reached the listener (or that the user pasted).
    pub(super) async fn await_callback(
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
                match crate::ui::prompt::read_line_async().await {
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
    pub(super) async fn direct(
        &self,
        ctx: &Ctx,
        bitbucket: Option<Secret>,
    ) -> Result<Done, CliError> {
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
            user: user.as_ref().map(UserInfo::label).unwrap_or_default(),
            site,
            config_path: store.auth_path().display().to_string(),
            has_bitbucket_token: creds.bitbucket_token.is_some(),
            via: "direct",
            grant: creds
                .oauth
                .as_ref()
                .map(|o| o.grant_name().to_string())
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
        let spinner = Spinner::new();
        let handle = spinner.clone();
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
}

/// Prints the code and URL (the code first: the page asks for it), and opens the browser.
/// Never fails: without a browser the user opens the URL by hand.
pub(super) fn show_code(user_code: &str, uri: &str, complete: Option<String>, no_browser: bool) {
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
