//! `twgd`: the per-user credential daemon. Runs in the foreground (what service managers
//! want) and logs to stderr; `twg daemon start` detaches it.

use clap::Parser;
use std::process::ExitCode;

/// The twg credential daemon. It owns your OAuth credentials, keeps the access token
/// fresh and serves it to `twg` over a socket only you can use.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Socket path (default: $TWG_SOCKET, else $XDG_RUNTIME_DIR/twg/twgd.sock, else a
    /// private directory under the temp dir).
    #[arg(long)]
    socket: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    twgd::logging::init();
    let code = twgd::launch::main(args.socket);
    ExitCode::from(code as u8)
}
