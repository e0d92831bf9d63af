//! twg-dev-idp: binds 127.0.0.1, announces its URL on stdout and serves until SIGTERM or SIGINT.

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use twg_dev_idp::{cli::Args, launch};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // stdout carries only the URL line that tests parse, so every log goes to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Test harnesses capture stderr into files, where colour codes are only noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    match launch::launch(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut message = format!("twg-dev-idp: {err}");
            let mut source = err.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
