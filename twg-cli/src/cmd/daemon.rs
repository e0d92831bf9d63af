//! `twg daemon start|stop|status`: run twgd detached, stop it, or ask how it is.

use crate::ctx::Ctx;
use crate::daemon_client::{self, spawn_and_wait};
use crate::report::CliError;
use twg_common::error_code::ErrorCode;

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

async fn start(ctx: &Ctx) -> Result<(), CliError> {
    if let Some(s) = daemon_client::status(ctx).await? {
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
    let Some(stopped) = daemon_client::stop(ctx).await? else {
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
    let unsaved = Some(&stopped.unsaved).filter(|u| !u.is_empty());
    if let Some(u) = unsaved {
        eprintln!("twg: warning: {u}");
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"stopped": true, "running": false, "pid": stopped.pid, "unsaved": unsaved})
        );
    } else if unsaved.is_none() {
        println!("✔ twgd stopped (pid {})", stopped.pid);
    } else {
        println!(
            "✔ twgd stopped (pid {}); the credentials it could not save are kept as described above",
            stopped.pid
        );
    }
    Ok(())
}

async fn status(ctx: &Ctx) -> Result<(), CliError> {
    match daemon_client::status(ctx).await? {
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
