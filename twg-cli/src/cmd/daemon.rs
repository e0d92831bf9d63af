//! `twg daemon start|stop|status`: run twgd detached, stop it, or ask how it is.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use twg_common::error_code::ErrorCode;
use twg_common::exit;
use twg_common::rpc::pb;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Start twgd in the background; returns once its socket answers.
    Start,
    /// Ask twgd to exit gracefully.
    Stop,
    /// Show whether twgd runs, its version, pid and socket.
    Status,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self {
            Cmd::Start => start(ctx).await,
            Cmd::Stop => stop(ctx).await,
            Cmd::Status => status(ctx).await,
        }
    }
}

async fn query(ctx: &Ctx) -> Result<Option<pb::StatusResponse>, CliError> {
    let Ok(mut client) = crate::daemon_client::connect(ctx).await? else {
        return Ok(None);
    };
    match client
        .status(crate::daemon_client::quick(pb::StatusRequest {
            client: Some(ctx.client_info()),
        }))
        .await
    {
        Ok(r) => Ok(Some(r.into_inner())),
        // Connected but silent: a stopped or hung twgd must not read as "not running" (a
        // second one would be started beside it).
        Err(status) => Err(crate::daemon_client::rpc_error(status).into_error()),
    }
}

/// The twgd binary: `TWG_DAEMON_BIN`, else beside this `twg`, else on PATH.
pub fn daemon_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TWG_DAEMON_BIN") {
        return PathBuf::from(p);
    }
    let name = if cfg!(windows) { "twgd.exe" } else { "twgd" };
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Starts twgd detached and waits until it answers; `Ok(pid)`.
pub async fn spawn_and_wait(ctx: &Ctx) -> Result<u32, CliError> {
    let state = twg_common::paths::state_dir()?;
    twg_common::paths::ensure_private_dir(&state)?;
    let log_path = state.join("twgd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| {
            CliError::failure(format!(
                "cannot open the daemon log {}: {e}",
                log_path.display()
            ))
        })?;
    let bin = daemon_binary();
    let mut cmd = std::process::Command::new(&bin);
    // twgd serves stored OAuth credentials only; env-mode secrets must not reach it.
    twg_common::child_env::scrub(&mut cmd);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    #[cfg(unix)]
    {
        // Its own process group: closing the terminal or Ctrl-C does not reach the daemon.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| {
        CliError::new(
            ErrorCode::DaemonSpawn,
            format!(
                "cannot start {}: {e}; install twgd beside twg or set TWG_DAEMON_BIN",
                bin.display()
            ),
        )
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = query(ctx).await.ok().flatten() {
            return Ok(s.pid);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let code = status.code().unwrap_or(-1);
            if code == exit::ALREADY_RUNNING
                && let Some(s) = query(ctx).await?
            {
                return Ok(s.pid);
            }
            return Err(CliError::new(
                ErrorCode::DaemonSpawn,
                format!(
                    "twgd exited with code {code} at start-up; see {}",
                    log_path.display()
                ),
            ));
        }
        if Instant::now() > deadline {
            return Err(CliError::new(
                ErrorCode::DaemonSpawn,
                format!(
                    "twgd did not answer within 10 s; see {}",
                    log_path.display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start(ctx: &Ctx) -> Result<(), CliError> {
    if let Some(s) = query(ctx).await? {
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"started": false, "running": true, "pid": s.pid, "socket": s.socket_path})
            );
        } else {
            println!(
                "twgd is already running (pid {}, socket {})",
                s.pid, s.socket_path
            );
        }
        return Ok(());
    }
    let pid = spawn_and_wait(ctx).await?;
    let socket = ctx.socket()?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"started": true, "running": true, "pid": pid, "socket": socket})
        );
    } else {
        println!("✔ twgd started (pid {pid}, socket {})", socket.display());
    }
    Ok(())
}

async fn stop(ctx: &Ctx) -> Result<(), CliError> {
    let Ok(mut client) = crate::daemon_client::connect(ctx).await? else {
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"stopped": false, "running": false})
            );
        } else {
            println!("twgd is not running");
        }
        return Ok(());
    };
    let answer = client
        .shutdown(pb::ShutdownRequest {
            client: Some(ctx.client_info()),
        })
        .await
        .map_err(|e| crate::daemon_client::rpc_error(e).into_error())?
        .into_inner();
    if !answer.unsaved.is_empty() {
        eprintln!("twg: warning: {}", answer.unsaved);
    }
    let socket = ctx.socket()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if socket.exists() {
        return Err(CliError::failure(format!(
            "twgd accepted the stop request but still had {} after 10 s; check `twg daemon status` \
             and its log in the state directory, or end it with `kill` (its pid is in {})",
            socket.display(),
            twg_common::paths::pid_file(&socket).display()
        )));
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"stopped": true, "running": false, "unsaved": Some(&answer.unsaved).filter(|u| !u.is_empty())})
        );
    } else if answer.unsaved.is_empty() {
        println!("✔ twgd stopped");
    } else {
        println!("✔ twgd stopped; the credentials it could not save are kept as described above");
    }
    Ok(())
}

async fn status(ctx: &Ctx) -> Result<(), CliError> {
    match query(ctx).await? {
        Some(s) => {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "running": true, "version": s.package_version, "protocol_version": s.protocol_version,
                        "pid": s.pid, "uptime_seconds": s.uptime_seconds, "socket": s.socket_path,
                    })
                );
            } else {
                println!(
                    "twgd {} running: pid {}, up {}s, protocol {}, socket {}",
                    s.package_version, s.pid, s.uptime_seconds, s.protocol_version, s.socket_path
                );
            }
            if s.protocol_version != twg_common::rpc::PROTOCOL_VERSION {
                return Err(CliError::new(
                    ErrorCode::ProtocolMismatch,
                    "the running twgd speaks another protocol; run `twg daemon stop && twg daemon start`",
                ));
            }
            Ok(())
        }
        None => {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"running": false, "socket": ctx.socket()?})
                );
            }
            Err(CliError::new(
                ErrorCode::DaemonNotRunning,
                format!(
                    "twgd is not running (socket {}); start it with `twg daemon start`",
                    ctx.socket()?.display()
                ),
            ))
        }
    }
}
