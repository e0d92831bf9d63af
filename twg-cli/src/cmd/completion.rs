//! `twg completion SHELL`: the shell completion script, generated from the same clap
//! definition the binary parses with, so it can never list a command twg does not have.

use crate::ctx::Ctx;
use crate::report::CliError;
use clap::CommandFactory;
use std::io::Write;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Load it for the current shell, e.g. `source <(twg completion bash)`, \
or save it where your shell looks for completions (the Debian package installs them there)."
)]
pub struct Cmd {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let mut cli = crate::cli::Cli::command();
        // Rendered into memory first: clap_complete writes with `expect`, and a closed pipe
        // (`twg completion bash | head`) must be an error message, not a panic.
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut cli, "twg", &mut script);
        if ctx.json {
            // Every command's `--json` output is one JSON document, this one included.
            let doc = serde_json::json!({
                "shell": self.shell.to_string(),
                "script": String::from_utf8_lossy(&script),
            });
            script = format!("{doc}\n").into_bytes();
        }
        std::io::stdout().write_all(&script).map_err(|e| {
            CliError::failure(format!(
                "cannot write the completion script: {e}; \
                 redirect it to a file, e.g. `twg completion {} > twg.completion`",
                self.shell
            ))
        })
    }
}
