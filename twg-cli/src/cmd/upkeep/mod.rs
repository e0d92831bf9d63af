//! `twg upkeep enable|status|run|disable`.

pub mod enable;
pub mod run;
pub mod status;

use crate::ctx::Ctx;
use crate::report::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Install and start the service that keeps twgd alive (systemd/launchd/Task Scheduler).
    Enable(enable::EnableCmd),
    /// Show upkeep: running?, last and next pass, last refresh and update check, errors.
    Status(status::Cmd),
    /// Run one upkeep pass now.
    Run(run::Cmd),
    /// Stop and remove the service; credentials are kept.
    Disable(enable::DisableCmd),
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self {
            Cmd::Enable(c) => c.run(ctx).await,
            Cmd::Status(c) => c.run(ctx).await,
            Cmd::Run(c) => c.run(ctx).await,
            Cmd::Disable(c) => c.run(ctx).await,
        }
    }
}
