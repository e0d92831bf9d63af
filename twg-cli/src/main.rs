//! `twg`: asks twgd for a fresh token, or does the same work itself when twgd is down.

mod callback_listener;
mod cli;
mod cmd;
mod config_edit;
mod ctx;
mod daemon_client;
mod envmode;
mod fast_args;
mod notify;
mod os_service;
mod path_check;
// Release signatures are checked by `twg update`, which installs in place on Unix only.
#[cfg(unix)]
mod release_signature;
mod report;
mod ui;
mod upkeep_service;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match fast_args::parse(&args).map_or_else(cli::Cli::try_parse, Ok) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &args),
    };
    let json = match cli.json_output() {
        Ok(json) => json,
        Err(why) => {
            let code = report::CliError::usage(why).print(true);
            return ExitCode::from(code as u8);
        }
    };
    let ctx = ctx::Ctx::new(json);
    if std::env::var_os("TWG_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("TWG_LOG"))
            .with_writer(std::io::stderr)
            .try_init();
    }
    // A current-thread runtime: the client makes one request; no thread pool to start.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("twg: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(cli.command.run(&ctx));
    let code = match result {
        Ok(()) => 0,
        Err(e) => e.print(ctx.json),
    };
    ExitCode::from(code as u8)
}

/// A command line clap refused. With `--json` or `--output json` anywhere on it, the refusal
/// is the JSON error envelope like every other error, so a script that asked for JSON can
/// parse it; help and `--version` (which clap also reports this way) print as usual.
fn usage_error(e: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let json = args.iter().any(|a| a == "--json" || a == "--output=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--output" && w[1] == "json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let message = rendered.trim().trim_start_matches("error: ");
    let code = report::CliError::usage(message).print(true);
    ExitCode::from(code as u8)
}
