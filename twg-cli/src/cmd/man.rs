//! `twg __man DIR` (hidden): writes the man pages, `twg.1` and one `twg-<subcommand>.1` per
//! subcommand, from the clap definition. The Debian package runs it at packaging time
//! (`scripts/package-deb.sh`); twgd has its own (`twgd --write-man DIR`), so the client
//! never links the daemon to document it.

use crate::ctx::Ctx;
use crate::report::CliError;
use clap::CommandFactory;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Directory to write the pages into (created if missing).
    pub dir: PathBuf,
}

impl Cmd {
    pub async fn run(self, _ctx: &Ctx) -> Result<(), CliError> {
        let fail = |e: std::io::Error| {
            CliError::failure(format!(
                "cannot write the man pages into {}: {e}; choose a writable directory",
                self.dir.display()
            ))
        };
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        clap_mangen::generate_to(crate::cli::Cli::command(), &self.dir).map_err(fail)
    }
}
