//! `twg admin auth login|status|logout` (being built).

use crate::ctx::Ctx;
use crate::report::CliError;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {}

impl Cmd {
    pub async fn run(self, _ctx: &Ctx) -> Result<(), CliError> {
        match self {}
    }
}
