//! `twg auth token`: print a valid access token and nothing else.

use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::envmode;
use crate::report::CliError;
use twg_common::engine::Need;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// The token must stay valid for at least this many seconds [default: 60, or a quarter
    /// of the token's lifetime when the server issues tokens shorter than 4 minutes].
    /// More than 90% of the server's token lifetime is refused (exit 1) instead of
    /// rotating on every call.
    #[arg(long, value_name = "SECS")]
    pub min_valid: Option<u64>,
}

/// The token and where it came from (also what `twg exec` hands its child).
pub struct Token {
    pub access_token: String,
    expires_at: i64,
    token_type: String,
    pub site: String,
    /// The site's cloud id; empty when unknown (env mode, no site, an older twgd).
    pub cloud_id: String,
    source: &'static str,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let token = self.fetch(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                twg_common::hot_path::token_json(
                    &token.access_token,
                    token.expires_at,
                    &token.token_type,
                    &token.site,
                    token.source,
                )
            );
        } else {
            println!("{}", token.access_token);
        }
        Ok(())
    }

    /// Gets a token the one way every command does: env mode, else twgd, else the engine.
    pub async fn fetch(&self, ctx: &Ctx) -> Result<Token, CliError> {
        if let Some(env) = envmode::from_env()? {
            if env.kind == envmode::EnvKind::Delegated {
                check_delegated(&env, self.min_valid)?;
            }
            return Ok(Token {
                access_token: env.token.expose().to_string(),
                expires_at: env.expires_at.unwrap_or(0),
                token_type: "Bearer".into(),
                site: env.site.unwrap_or_default(),
                cloud_id: env.cloud_id.unwrap_or_default(),
                source: env.kind.source(),
            });
        }
        let req = pb::GetTokenRequest {
            client: Some(ctx.client_info()),
            min_valid_seconds: self.min_valid,
        };
        match daemon_client::ask(ctx, |mut c| async move { c.get_token(req).await }).await? {
            Reply::Answered(r) => {
                return Ok(Token {
                    access_token: r.access_token,
                    expires_at: r.expires_at,
                    token_type: r.token_type,
                    site: r.site,
                    cloud_id: r.cloud_id,
                    source: "daemon",
                });
            }
            Reply::NotRunning(why) | Reply::NotResponding(why) => {
                tracing::debug!(%why, "twgd unreachable; refreshing directly");
            }
        }
        let engine = ctx.engine()?;
        let r = engine
            .ensure(Need {
                min_valid: self.min_valid.map(|s| s.min(86_400 * 366) as i64),
                force: false,
            })
            .await
            .map_err(|e| ctx.engine_error(e))?;
        if let Some(w) = &r.warning {
            eprintln!("twg: warning: {w}");
        }
        let stored_site = r.loaded.credentials.site.as_ref();
        let site = stored_site
            .map(twg_common::store::SiteInfo::label)
            .unwrap_or_default();
        let cloud_id = stored_site.map(|s| s.id.clone()).unwrap_or_default();
        let o = r.oauth();
        Ok(Token {
            access_token: o.access_token.expose().to_string(),
            expires_at: o.expires_at,
            token_type: o.token_type.clone(),
            site,
            cloud_id,
            source: "direct",
        })
    }
}

/// A delegated token is never refreshed, so an expired one (by its JWT `exp`, when it has
/// one) is an error naming who must act, not a token that the server will refuse. Without
/// `--min-valid`, a token that is still valid is served however short its life: the
/// application that owns it decides when to renew it.
fn check_delegated(env: &envmode::EnvCredentials, min_valid: Option<u64>) -> Result<(), CliError> {
    let Some(exp) = env.expires_at else {
        return Ok(());
    };
    let left = exp - twg_common::time::now_unix();
    let need = min_valid.map_or(0, |s| s.min(i64::MAX as u64) as i64);
    if left > need {
        return Ok(());
    }
    let when = if left <= 0 {
        format!("expired {}", twg_common::time::relative(exp))
    } else {
        format!(
            "expires {}, within --min-valid {need}s",
            twg_common::time::relative(exp)
        )
    };
    Err(CliError::new(
        ErrorCode::DelegatedExpired,
        format!(
            "the delegated token in TWG_OAUTH_ACCESS_TOKEN {when}; twg never refreshes a \
             delegated token: the application that set it must provide a fresh one (or unset \
             TWG_OAUTH_ACCESS_TOKEN to use twg's own login)"
        ),
    ))
}
