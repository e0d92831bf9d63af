//! `twg upkeep run`: one upkeep pass now, through twgd when it runs, otherwise the same
//! pass in this process (refresh if due soon, update check, notification, state save).

use super::status::Report;
use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::report::CliError;
use twg_common::rpc::pb;

#[derive(Debug, clap::Args)]
pub struct Cmd {}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let req = pb::RunUpkeepRequest {
            client: Some(ctx.client_info()),
        };
        let why_local =
            match daemon_client::ask(ctx, |mut c| async move { c.run_upkeep(req).await }).await? {
                Reply::Answered(r) => {
                    Report::new(ctx, r, None)?.print(ctx);
                    return Ok(());
                }
                Reply::NotRunning(_) => "twgd is not running".to_string(),
                Reply::NotResponding(why) => format!("twgd stopped answering ({why})"),
            };
        let engine = ctx.engine()?;
        let opts = twg_upkeep::PassOptions {
            by: "twg upkeep run",
            next_run_at: None,
        };
        let state = twg_upkeep::run(&engine, &crate::notify::DesktopTool, opts)
            .await
            .map_err(|e| CliError::failure(e.to_string()))?;
        let status = twg_upkeep::status::to_proto(&state, false, 0);
        let note = format!("{why_local}; ran the upkeep pass in this process");
        Report::new(ctx, status, Some(note))?.print(ctx);
        Ok(())
    }
}
