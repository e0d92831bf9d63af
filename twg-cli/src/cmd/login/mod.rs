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

use crate::ctx::Ctx;
use crate::daemon_client;
use crate::report::CliError;
use daemon::same_version;
use std::io::IsTerminal;
use twg_common::store::SiteInfo;

mod api_token;
mod daemon;
mod direct;
mod site;

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
    /// Re-enter every credential, the Bitbucket token included (asked for on a terminal,
    /// as it is whenever none is stored; without a terminal, the stored one is dropped).
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
pub(super) struct Done {
    user: String,
    site: Option<SiteInfo>,
    config_path: String,
    has_bitbucket_token: bool,
    via: &'static str,
    grant: String,
}

/// Why the daemon path did not finish.
pub(super) enum DaemonLogin {
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
        // Asked before the browser step, so the user is not interrupted after approving; on a
        // terminal only (a script is never asked), and only when there is none to keep or
        // `--force` asks to re-enter everything.
        let bitbucket = if (self.force || !had_bitbucket) && std::io::stdin().is_terminal() {
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
