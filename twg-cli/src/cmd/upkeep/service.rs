//! `twg upkeep enable|disable`: install or remove the platform service that keeps twgd alive.

use crate::ctx::Ctx;
use crate::report::CliError;
use crate::service::{self, Disabled, ServiceError, ServiceSpec, layout::Layout};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;

#[derive(Debug, clap::Args)]
pub struct EnableCmd {
    /// Print the service file that would be installed, and change nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, clap::Args)]
pub struct DisableCmd {}

/// Non-secret variables the service inherits from the enabling shell, so the daemon talks
/// to the same servers the client does (secrets such as TWG_TOKEN are never copied).
const PASS_THROUGH: &[&str] = &[
    "TWG_OAUTH_ISSUER",
    "TWG_OAUTH_CLIENT_ID",
    "TWG_OAUTH_SCOPES",
    "TWG_UPDATE_MANIFEST_URL",
    "TWG_INSTALL_DIR",
    "SSL_CERT_FILE",
    "TWG_LOG",
];

impl EnableCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if self.print {
            let spec = spec(ctx)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({ "daemon": spec.daemon, "service_file": rendered(&spec) })
                );
            } else {
                print!("{}", rendered(&spec));
            }
            return Ok(());
        }
        let summary = enable(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "enabled": true, "service": summary.service, "daemon": summary.daemon, "pid": summary.pid })
            );
        } else {
            println!("✔ Upkeep enabled: {}", summary.service);
            println!(
                "✔ twgd is running (pid {}) from {}",
                summary.pid,
                summary.daemon.display()
            );
            if let Some(note) = summary.note {
                println!("! {note}");
            }
        }
        Ok(())
    }
}

impl DisableCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let report = disable(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "enabled": false, "removed": report.removed, "warning": report.warning })
            );
            return Ok(());
        }
        if report.removed.is_empty() && report.warning.is_none() {
            println!("Upkeep is not enabled; nothing to do.");
            return Ok(());
        }
        for f in &report.removed {
            println!("✔ Removed {}", f.display());
        }
        if let Some(w) = &report.warning {
            println!("! {w}");
        }
        println!("✔ Upkeep disabled; your credentials are kept (`twg logout` removes them).");
        Ok(())
    }
}

/// The daemon the service should run, and why.
fn service_daemon() -> Result<(PathBuf, Option<String>), CliError> {
    let layout = Layout::resolve();
    if std::env::var_os("TWG_DAEMON_BIN").is_none()
        && let Some(l) = &layout
        && l.stable("twgd").is_file()
    {
        return Ok((l.stable("twgd"), None));
    }
    let bin = crate::cmd::daemon::daemon_binary();
    if !bin.is_file() {
        return Err(CliError::failure(format!(
            "cannot find twgd (looked for {}); install twg with `twg update`, or put twgd beside twg",
            bin.display()
        )));
    }
    let bin = std::path::absolute(&bin).unwrap_or(bin);
    let note = layout.map(|l| {
        format!(
            "the service runs {} directly; `twg update` installs into {} and re-points it at the stable launcher",
            bin.display(),
            l.root.display()
        )
    });
    Ok((bin, note))
}

/// What the service runs, with the paths the client uses pinned in its environment.
pub fn spec(ctx: &Ctx) -> Result<ServiceSpec, CliError> {
    let (daemon, _) = service_daemon()?;
    let state = twg_common::paths::state_dir()?;
    let mut env = vec![
        (
            "TWG_SOCKET".to_string(),
            ctx.socket()?.display().to_string(),
        ),
        (
            "TWG_CONFIG_DIR".to_string(),
            ctx.root()?.display().to_string(),
        ),
        ("TWG_STATE_DIR".to_string(), state.display().to_string()),
    ];
    for key in PASS_THROUGH {
        if let Some(v) = std::env::var(key).ok().filter(|v| !v.is_empty()) {
            env.push((key.to_string(), v));
        }
    }
    Ok(ServiceSpec {
        daemon,
        env,
        log: state.join("twgd.log"),
    })
}

fn rendered(spec: &ServiceSpec) -> String {
    if cfg!(target_os = "macos") {
        service::render::launchd_plist(&spec.daemon, &spec.env, &spec.log)
    } else if cfg!(windows) {
        service::render::task_xml(&spec.daemon, &std::env::var("USERNAME").unwrap_or_default())
    } else {
        service::render::systemd_unit(&spec.daemon, &spec.env)
    }
}

/// What a successful enable set up.
#[derive(Debug)]
pub struct Enabled {
    pub service: String,
    pub daemon: PathBuf,
    pub pid: u32,
    pub note: Option<String>,
}

/// A service-manager failure as a report with the repair guidance.
pub fn enable_error(e: ServiceError) -> CliError {
    let mut err = CliError::new(
        ErrorCode::UpkeepEnableFailed,
        format!("cannot enable upkeep: {e}"),
    );
    let guidance = match e {
        ServiceError::Write { .. } | ServiceError::NoHome => {
            "Upkeep stays disabled. Fix the problem above and run `twg upkeep enable` again; meanwhile `twg daemon start` runs the daemon by hand."
        }
        _ => service::repair_guidance(),
    };
    err.text = Some(guidance.to_string());
    err.detail = Some(serde_json::json!({ "guidance": guidance }));
    err
}

/// Installs, activates and checks the service. On any failure nothing stays installed.
pub async fn enable(ctx: &Ctx) -> Result<Enabled, CliError> {
    let (_, note) = service_daemon()?;
    let spec = spec(ctx)?;
    twg_common::paths::ensure_private_dir(&twg_common::paths::state_dir()?)?;
    let pending = service::install(&spec).map_err(enable_error)?;
    // A twgd started by hand holds the socket; the service's twgd would exit "already
    // running". Stop it so the service owns the daemon from now on.
    let was_running = stop_daemon(ctx).await?;
    if let Err(e) = service::activate(&pending) {
        drop(pending);
        if was_running {
            // Leave the user as we found them: a daemon running by hand.
            let _ = crate::cmd::daemon::spawn_and_wait(ctx).await;
        }
        return Err(enable_error(e));
    }
    let Some(status) = wait_for_daemon(ctx, Duration::from_secs(10)).await else {
        drop(pending);
        let mut err = CliError::new(
            ErrorCode::UpkeepEnableFailed,
            "the service started but twgd did not answer within 10 s, so upkeep was disabled again",
        );
        err.text = Some(format!(
            "See why twgd failed: `journalctl --user -u twgd` (Linux) or {}; then run `twg upkeep enable` again.",
            spec.log.display()
        ));
        return Err(err);
    };
    let service = service::describe().unwrap_or_else(|| pending.file.display().to_string());
    pending.commit();
    Ok(Enabled {
        service,
        daemon: spec.daemon,
        pid: status.pid,
        note,
    })
}

/// What `disable` removed.
#[derive(Debug, Default)]
pub struct DisableReport {
    pub removed: Vec<PathBuf>,
    pub warning: Option<String>,
}

/// Stops and removes the service; credentials stay.
pub async fn disable(ctx: &Ctx) -> Result<DisableReport, CliError> {
    let outcome = service::disable().map_err(|e| {
        CliError::failure(format!(
            "cannot disable upkeep: {e}; remove the file named above by hand and retry"
        ))
    })?;
    match outcome {
        Disabled::NotInstalled => Ok(DisableReport::default()),
        Disabled::Removed {
            files,
            manager_error,
        } => {
            let warning = match manager_error {
                None => None,
                Some(e) => {
                    // The manager could not stop it; make sure no service-started twgd lingers.
                    let stopped = stop_daemon(ctx).await.unwrap_or(false);
                    Some(format!(
                        "the service manager could not be told ({e}); the service files were removed{}",
                        if stopped {
                            " and the running twgd was stopped"
                        } else {
                            ""
                        }
                    ))
                }
            };
            Ok(DisableReport {
                removed: files,
                warning,
            })
        }
    }
}

/// Asks a running twgd to exit and waits for its socket to go; `Ok(true)` if one ran.
pub async fn stop_daemon(ctx: &Ctx) -> Result<bool, CliError> {
    let Ok(mut client) = crate::daemon_client::connect(ctx).await? else {
        return Ok(false);
    };
    match client
        .shutdown(pb::ShutdownRequest {
            client: Some(ctx.client_info()),
        })
        .await
    {
        Ok(r) => {
            let unsaved = r.into_inner().unsaved;
            if !unsaved.is_empty() {
                eprintln!("twg: warning: {unsaved}");
            }
        }
        Err(_) => return Ok(false),
    }
    let socket = ctx.socket()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(true)
}

/// Polls until twgd answers a status request, or gives up after `timeout`.
pub async fn wait_for_daemon(ctx: &Ctx, timeout: Duration) -> Option<pb::StatusResponse> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Ok(mut client)) = crate::daemon_client::connect(ctx).await
            && let Ok(r) = client
                .status(pb::StatusRequest {
                    client: Some(ctx.client_info()),
                })
                .await
        {
            return Some(r.into_inner());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
