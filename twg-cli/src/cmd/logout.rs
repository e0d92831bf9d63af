//! `twg logout`: revoke the tokens at the server (RFC 7009) and remove them locally, even
//! when revocation fails. Through twgd when it runs (so it drops its cache), directly
//! otherwise, under the credential lock either way.
//!
//! Like `gh auth logout`, the account's OAuth credentials (tokens, user, site) go. The
//! Bitbucket token stays unless `--all`: twg cannot revoke it, it was set up on its own
//! (`twg setup bitbucket`), and `twg login` keeps it too. The command says which happened.

use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::report::CliError;
use twg_common::logout::{LogoutOutcome, Revocation};
use twg_common::rpc::pb;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Also remove the stored Bitbucket token (it is kept by default).
    #[arg(long)]
    pub all: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let (out, via) = match self.via_daemon(ctx).await? {
            Some(out) => (out, "daemon"),
            None => (self.direct(ctx).await?, "direct"),
        };
        let path = ctx
            .config()
            .map(|c| ctx.store(&c).auth_path().display().to_string())
            .unwrap_or_default();
        report(ctx, &out, via, &path);
        Ok(())
    }

    /// `Ok(None)` when twgd is not running (or too old to log out): do it directly.
    async fn via_daemon(&self, ctx: &Ctx) -> Result<Option<LogoutOutcome>, CliError> {
        let req = pb::LogoutRequest {
            client: Some(ctx.client_info()),
            all: self.all,
        };
        // Nothing was changed by a daemon that vanished; the lock makes doing it here safe.
        let Reply::Answered(r) =
            daemon_client::ask(ctx, |mut c| async move { c.logout(req).await }).await?
        else {
            return Ok(None);
        };
        let revocation = if r.revoked {
            Revocation::Revoked
        } else if !r.revoke_error.is_empty() {
            Revocation::Failed(r.revoke_error)
        } else {
            Revocation::Skipped(r.revoke_skipped)
        };
        Ok(Some(LogoutOutcome {
            was_logged_in: r.was_logged_in,
            revocation,
            removed: r.removed,
            bitbucket_kept: r.bitbucket_kept,
            bitbucket_removed: r.bitbucket_removed,
        }))
    }

    async fn direct(&self, ctx: &Ctx) -> Result<LogoutOutcome, CliError> {
        let engine = ctx.engine()?;
        let http = engine.http()?;
        twg_common::logout::logout(engine.store(), http, self.all)
            .await
            .map_err(|e| ctx.engine_error(e))
    }
}

fn report(ctx: &Ctx, out: &LogoutOutcome, via: &str, path: &str) {
    if ctx.json {
        let (revoked, error, skipped) = match &out.revocation {
            Revocation::Revoked => (true, None, None),
            Revocation::Failed(e) => (false, Some(e.clone()), None),
            Revocation::Skipped(s) => (false, None, Some(s.clone())),
        };
        println!(
            "{}",
            serde_json::json!({
                "was_logged_in": out.was_logged_in,
                "revoked": revoked,
                "revoke_error": error,
                "revoke_skipped": skipped,
                "removed": out.removed,
                "bitbucket_kept": out.bitbucket_kept,
                "bitbucket_removed": out.bitbucket_removed,
                "via": via,
            })
        );
        return;
    }
    if !out.was_logged_in {
        eprintln!("! Not logged in: there were no OAuth credentials to remove");
    } else {
        match &out.revocation {
            Revocation::Revoked => println!("✔ Revoked at the server"),
            Revocation::Failed(e) => {
                eprintln!("! Could not revoke: {e}; the tokens were removed locally anyway")
            }
            Revocation::Skipped(why) if why.contains("API token") => eprintln!(
                "! Not revoked: API tokens cannot be revoked by twg; delete it at {} (it was removed locally)",
                twg_common::api_token::api_token_page().1
            ),
            Revocation::Skipped(why) => {
                eprintln!("! Not revoked at the server ({why}); the tokens were removed locally")
            }
        }
        println!("✔ Removed the OAuth credentials from {path}");
    }
    if out.bitbucket_kept {
        eprintln!(
            "! Kept the Bitbucket token (twg cannot revoke it); `twg logout --all` removes it too"
        );
    }
    if out.bitbucket_removed {
        println!("✔ Removed the Bitbucket token (revoke it in Bitbucket if it may have leaked)");
    }
    if std::env::var_os("TWG_TOKEN").is_some() {
        eprintln!("! TWG_TOKEN is set in this environment and still takes effect; unset it too");
    }
}
