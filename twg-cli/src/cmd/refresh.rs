//! `twg auth refresh [--force]`: refresh now if due; `--force` always rotates.

use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::report::CliError;
use twg_common::engine::{Need, Outcome};
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;
use twg_common::time::relative;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Rotate the tokens even if the access token is still fresh.
    #[arg(long)]
    pub force: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if let Some(env) = crate::envmode::from_env()? {
            return Err(CliError::usage(format!(
                "{} is set, so there is nothing to refresh: environment tokens are used as they are (unset it to refresh twg's own login)",
                env.kind.variable()
            )));
        }
        let (refreshed, expires_at, via) = self.refresh(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"refreshed": refreshed, "expires_at": expires_at, "via": via})
            );
        } else if refreshed {
            println!(
                "✔ Access token refreshed; it expires {}",
                relative(expires_at)
            );
        } else {
            println!(
                "✔ Access token is fresh (expires {}); nothing to do. Use --force to rotate anyway",
                relative(expires_at)
            );
        }
        Ok(())
    }

    async fn refresh(&self, ctx: &Ctx) -> Result<(bool, i64, &'static str), CliError> {
        let req = pb::RefreshRequest {
            client: Some(ctx.client_info()),
            force: self.force,
        };
        if let Reply::Answered(r) =
            daemon_client::ask(ctx, |mut c| async move { c.refresh(req).await }).await?
        {
            return Ok((r.refreshed, r.expires_at, "daemon"));
        }
        let engine = ctx.engine()?;
        // Finish a save that is waiting in a recovery record first (the message of every
        // failed save points here).
        if let Err(e) = engine.flush().await {
            eprintln!("twg: warning: the waiting credentials still cannot be saved: {e}");
        }
        let r = engine
            .ensure(Need {
                min_valid: None,
                force: self.force,
            })
            .await
            .map_err(|e| ctx.engine_error(e))?;
        if r.outcome != Outcome::StaleButValid
            && let Some(w) = &r.warning
        {
            eprintln!("twg: warning: {w}");
        } else if let Some(w) = &r.warning {
            return Err(CliError::new(
                ErrorCode::Temporary,
                format!(
                    "the refresh failed ({w}); the current token is still valid until {}",
                    twg_common::time::format_unix(r.oauth().expires_at)
                ),
            ));
        }
        Ok((
            r.outcome == Outcome::Refreshed,
            r.oauth().expires_at,
            "direct",
        ))
    }
}
