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

    /// Config directory, where auth.conf lives (default: $TWG_CONFIG_DIR, else the
    /// platform's config directory). Service managers that pass no environment (Task
    /// Scheduler) name it here.
    #[arg(long, value_name = "DIR")]
    config_dir: Option<std::path::PathBuf>,

    /// State directory, for the audit log (default: $TWG_STATE_DIR, else `state` in the
    /// config directory given here or by TWG_CONFIG_DIR, else the platform's).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,

    /// Append the log to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    log: Option<std::path::PathBuf>,

    /// Windows: close the console window Task Scheduler opened for twgd (stop it with
    /// `twg daemon stop`). Ignored elsewhere.
    #[arg(long)]
    no_console: bool,

    /// Write the man page `twgd.1` into DIR and exit (used by the packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    write_man: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = args.write_man {
        return write_man(&dir);
    }
    for (flag, dir) in [
        ("--config-dir", &args.config_dir),
        ("--state-dir", &args.state_dir),
        ("--log", &args.log),
        ("--socket", &args.socket),
    ] {
        if let Some(d) = dir.as_ref().filter(|d| !d.is_absolute()) {
            eprintln!(
                "twgd: {flag} {} is not an absolute path; give the full path",
                d.display()
            );
            return ExitCode::from(twg_common::exit::CONFIG as u8);
        }
    }
    twg_common::paths::pin(twg_common::paths::Pinned {
        config_dir: args.config_dir,
        state_dir: args.state_dir,
    });
    if args.no_console {
        twgd::launch::detach_console();
    }
    if let Err(e) = twgd::logging::init(args.log.as_deref()) {
        eprintln!("twgd: {e}");
        return ExitCode::from(twg_common::exit::CONFIG as u8);
    }
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
