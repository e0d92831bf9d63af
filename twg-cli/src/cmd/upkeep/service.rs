//! `twg upkeep enable|disable` (being built).

use crate::ctx::Ctx;
use crate::report::CliError;

#[derive(Debug, clap::Args)]
pub struct EnableCmd {}

#[derive(Debug, clap::Args)]
pub struct DisableCmd {}

impl EnableCmd {
    pub async fn run(self, _ctx: &Ctx) -> Result<(), CliError> {
        Err(CliError::failure("`twg upkeep enable` is not available in this build yet"))
    }
}

impl DisableCmd {
    pub async fn run(self, _ctx: &Ctx) -> Result<(), CliError> {
        Err(CliError::failure("`twg upkeep disable` is not available in this build yet"))
    }
}
