//! `twg upkeep status` (being built).

use crate::ctx::Ctx;
use crate::report::CliError;

#[derive(Debug, clap::Args)]
pub struct Cmd {}

impl Cmd {
    pub async fn run(self, _ctx: &Ctx) -> Result<(), CliError> {
        Err(CliError::failure("`twg upkeep status` is not available in this build yet"))
    }
}
