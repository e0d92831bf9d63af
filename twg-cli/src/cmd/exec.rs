//! `twg exec -- CMD ARGS…`: runs a command with an access token in its environment, and
//! only in its environment (never exported to the calling shell, never in argv).
//!
//! On Unix twg replaces itself with the command (`execve`), once the token is in hand.
//! Tools like `aws-vault exec` spawn a child and stay alive because they keep serving
//! credentials to it; twg has nothing left to do once the token is fetched, so the
//! command simply takes over twg's process: same pid, same process group and terminal,
//! so every signal (Ctrl-C, SIGTERM from a supervisor, SIGWINCH…) and the exit status,
//! including death by a signal, are the command's own with no forwarding code that could
//! miss one. Windows has no `execve`: there twg spawns, waits and exits with the code.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::ffi::{OsStr, OsString};
use std::process::Command;
use twg_common::error_code::ErrorCode;
use twg_common::platform::Platform;

/// The access token, for the child only.
pub const TOKEN_VAR: &str = "TWG_OAUTH_ACCESS_TOKEN";
/// The token's site (its URL, else its name).
pub const SITE_VAR: &str = "TWG_SITE";
/// The site's cloud id (for `https://api.atlassian.com/ex/<product>/<cloud id>/…`).
pub const CLOUD_ID_VAR: &str = "TWG_CLOUD_ID";

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// The token must stay valid for at least this many seconds when the command starts
    /// (same default and cap as `twg auth token --min-valid`). A command that runs longer
    /// than the token lives runs `twg auth token` again.
    #[arg(long, value_name = "SECS")]
    pub min_valid: Option<u64>,
    /// The command and its arguments, after `--` (searched on PATH like a shell does).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(CliError::usage(
                "name the command to run: `twg exec -- COMMAND [ARGS…]`",
            ));
        };
        // The token first: when it cannot be had, the command does not run at all, and twg
        // exits with the code `twg auth token` would have.
        let token = crate::cmd::token::Cmd {
            min_valid: self.min_valid,
        }
        .fetch(ctx)
        .await?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        twg_common::child_env::scrub_twg_secrets(&mut cmd);
        cmd.env(TOKEN_VAR, &token.access_token);
        // An unknown value is removed rather than inherited, so the child never sees a site
        // that does not belong to its token.
        for (name, value) in [(SITE_VAR, &token.site), (CLOUD_ID_VAR, &token.cloud_id)] {
            if value.is_empty() {
                cmd.env_remove(name);
            } else {
                cmd.env(name, value);
            }
        }
        drop(token);
        platform::run(cmd, program).await
    }
}

/// Why the command could not be started, with a shell's exit code: 127 when it does not
/// exist, 126 when it exists but cannot be run.
fn launch_error(program: &OsStr, e: std::io::Error) -> CliError {
    let name = program.to_string_lossy();
    let p = Platform::CURRENT;
    if e.kind() == std::io::ErrorKind::NotFound {
        return CliError::new(
            ErrorCode::ExecNotFound,
            format!(
                "cannot run `{name}`: command not found ({e}); check its name and your PATH, or give \
                 its full path{}",
                not_found_note(p)
            ),
        );
    }
    CliError::new(
        ErrorCode::ExecNotExecutable,
        format!(
            "cannot run `{name}`: {e}; {}",
            not_runnable_fix(p, e.kind() == std::io::ErrorKind::PermissionDenied)
        ),
    )
}

/// On Unix a script's `#!` line names a program that must exist too.
fn not_found_note(p: Platform) -> &'static str {
    match p {
        Platform::Linux | Platform::MacOs => " (a script's `#!` interpreter must exist too)",
        Platform::Windows => {
            " (a script runs through its interpreter: `twg exec -- cmd /c SCRIPT.cmd`)"
        }
    }
}

/// What to do when the program exists but the system would not start it.
fn not_runnable_fix(p: Platform, permission_denied: bool) -> &'static str {
    match (p, permission_denied) {
        (Platform::Linux | Platform::MacOs, true) => {
            "make it executable (`chmod +x`), or run it through its interpreter (`twg exec -- sh SCRIPT`)"
        }
        (Platform::Linux | Platform::MacOs, false) => {
            "check that it is a program for this system, or run it through its interpreter \
             (`twg exec -- sh SCRIPT`)"
        }
        // Windows starts only executables; scripts go through their interpreter.
        (Platform::Windows, _) => {
            "check that it is a Windows program (.exe), or run it through its interpreter \
             (`twg exec -- cmd /c SCRIPT.cmd`, `twg exec -- powershell -File SCRIPT.ps1`)"
        }
    }
}

#[cfg(unix)]
mod platform {
    use super::*;

    /// Becomes the command (see the module comment); returns only when that failed.
    pub async fn run(mut cmd: Command, program: &OsStr) -> Result<(), CliError> {
        use std::os::unix::process::CommandExt;
        // Every descriptor twg opened (the daemon socket, the config files) is close-on-exec,
        // and std restores the signal mask and SIGPIPE's default before `execve`.
        let e = cmd.exec();
        Err(launch_error(program, e))
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    /// Spawns the command, waits for it, and exits with its code.
    pub async fn run(mut cmd: Command, program: &OsStr) -> Result<(), CliError> {
        let mut child = cmd.spawn().map_err(|e| launch_error(program, e))?;
        // Ctrl+C reaches every process on the console: the command decides what it means,
        // and twg keeps waiting to pass on its exit code.
        tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|e| CliError::failure(format!("waiting for the command failed: {e}")))?
            .map_err(|e| CliError::failure(format!("waiting for the command failed: {e}")))?;
        std::process::exit(status.code().unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_advice_fits_the_platform() {
        for p in [Platform::Linux, Platform::MacOs] {
            assert!(not_runnable_fix(p, true).starts_with("make it executable (`chmod +x`)"));
            assert!(not_runnable_fix(p, false).contains("`twg exec -- sh SCRIPT`"));
            assert!(not_found_note(p).contains("`#!`"));
        }
        let w = Platform::Windows;
        for denied in [true, false] {
            let fix = not_runnable_fix(w, denied);
            assert!(fix.contains("`twg exec -- cmd /c SCRIPT.cmd`"), "{fix}");
            assert!(!fix.contains("chmod") && !fix.contains(" sh "), "{fix}");
        }
        assert!(!not_found_note(w).contains("#!"));
    }
}
