//! Hands a command to the full CLI, `twg-cli` in this binary's directory, with the same
//! arguments (`argv[0]` included, so its messages still say `twg`) and the same environment.
//! On Unix the front becomes the full CLI (`execve`: same pid, signals and exit code); on
//! Windows, which has no exec, it runs it and passes its exit code through.
//!
//! Why beside `current_exe()` and not on PATH: the two binaries are one program split in
//! two and must be the same build; every install (`target/release`, the Debian package's
//! `/usr/bin`, `twg update`'s version directories) keeps them side by side, and
//! `current_exe()` resolves the launcher symlinks to the real directory.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use twg_common::error_code::ErrorCode;

/// The full CLI's file name: the name of the crate that builds it, so cargo's output, the
/// package and the release archive all say the same; not a name users are meant to type.
pub const FULL_CLI: &str = if cfg!(windows) {
    "twg-cli.exe"
} else {
    "twg-cli"
};

/// Runs the full CLI in this process's place; returns only when it cannot be run.
pub fn to_full_cli(args: &[OsString]) -> ExitCode {
    let path = match full_cli_path() {
        Ok(p) => p,
        Err(e) => return cannot_run(args, &PathBuf::from(FULL_CLI), &e),
    };
    let arg0 = args.first().cloned().unwrap_or_else(|| "twg".into());
    let rest = args.get(1..).unwrap_or_default();
    let mut cmd = Command::new(&path);
    cmd.args(rest);
    match run(cmd, arg0) {
        Ok(code) => code,
        Err(e) => cannot_run(args, &path, &e),
    }
}

/// `twg-cli` in the directory of this executable (links resolved).
fn full_cli_path() -> std::io::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or_else(|| std::io::Error::other("the executable has no directory"))?;
    Ok(dir.join(FULL_CLI))
}

#[cfg(unix)]
fn run(mut cmd: Command, arg0: OsString) -> std::io::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    // Returns only on failure; std resets SIGPIPE and the signal mask before the exec.
    Err(cmd.arg0(arg0).exec())
}

#[cfg(not(unix))]
fn run(mut cmd: Command, _arg0: OsString) -> std::io::Result<ExitCode> {
    // Ctrl-C reaches both processes (one console); the full CLI decides what it means, and
    // this one only waits for it.
    let status = cmd.status()?;
    match status.code() {
        // Windows exit codes are 32-bit; `ExitCode` holds only a byte.
        Some(code) => std::process::exit(code),
        None => Ok(ExitCode::FAILURE),
    }
}

/// The full CLI is missing or cannot be run: the install is broken, so say how to repair it.
/// Exit 1 (`FAILURE`), as the JSON envelope when the command line asked for JSON.
fn cannot_run(args: &[OsString], path: &std::path::Path, e: &std::io::Error) -> ExitCode {
    let message = format!(
        "cannot run {} ({e}), which runs every twg command but `auth token`: this twg is \
         installed incompletely; reinstall twg (the Debian package, `twg update` from a working \
         copy, or `cargo build --release` to get both twg and twg-cli)",
        path.display()
    );
    let code = ErrorCode::Failure;
    if wants_json(args) {
        eprintln!(
            "{}",
            twg_common::hot_path::error_envelope(code, &message, None)
        );
    } else {
        eprintln!("twg: {message}");
    }
    ExitCode::from(code.exit() as u8)
}

/// `--json` or `--output json` anywhere on the command line (as the full CLI's usage errors).
fn wants_json(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--json" || a == "--output=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--output" && w[1] == "json")
}
