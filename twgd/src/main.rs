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

    /// Write the man page `twgd.1` into DIR and exit (used by the packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    write_man: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = args.write_man {
        return write_man(&dir);
    }
    twgd::logging::init();
    let code = twgd::launch::main(args.socket);
    ExitCode::from(code as u8)
}

/// The man page from the same clap definition as the command line, so they cannot disagree.
fn write_man(dir: &std::path::Path) -> ExitCode {
    use clap::CommandFactory;
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::Man::new(Args::command()).generate_to(dir));
    match written {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "twgd: cannot write the man page into {}: {e}; choose a writable directory",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
