//! The upkeep service: what `twg upkeep enable` installs into the OS service manager (the
//! twgd to run and the paths pinned in its environment), and the enable and disable
//! sequences that `twg upkeep`, `twg update` and `twg uninstall` share. The platform
//! details are in [`crate::os_service`].

use crate::ctx::Ctx;
use crate::os_service::{self, Disabled, ServiceError, ServiceSpec, layout::Layout};
use crate::report::CliError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::platform::Platform;

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

/// The daemon the service should run, and why.
fn service_daemon() -> Result<(PathBuf, Option<String>), CliError> {
    let layout = Layout::resolve();
    if std::env::var_os("TWG_DAEMON_BIN").is_none()
        && let Some(l) = &layout
        && l.stable("twgd").is_file()
    {
        return Ok((l.stable("twgd"), None));
    }
    let bin = crate::daemon_client::daemon_binary();
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

/// The twg the upkeep timer runs: the stable launcher beside a stable twgd, else this one.
fn service_client(daemon: &std::path::Path) -> Result<PathBuf, CliError> {
    if let Some(l) = Layout::resolve()
        && daemon == l.stable("twgd")
    {
        return Ok(l.stable("twg"));
    }
    crate::path_check::front().map_err(|e| {
        CliError::failure(format!(
            "cannot tell where this twg is ({e}); run it by its full path and retry"
        ))
    })
}

/// What the service runs, with the paths the client uses pinned in its environment.
pub fn spec(ctx: &Ctx) -> Result<ServiceSpec, CliError> {
    let (daemon, _) = service_daemon()?;
    let client = service_client(&daemon)?;
    let socket = ctx.socket()?;
    let state = twg_common::paths::state_dir()?;
    let root = ctx.root()?;
    let mut env = vec![
        ("TWG_SOCKET".to_string(), socket.display().to_string()),
        ("TWG_CONFIG_DIR".to_string(), root.display().to_string()),
        ("TWG_STATE_DIR".to_string(), state.display().to_string()),
    ];
    for key in PASS_THROUGH {
        if let Some(v) = std::env::var(key).ok().filter(|v| !v.is_empty()) {
            env.push((key.to_string(), v));
        }
    }
    Ok(ServiceSpec {
        daemon,
        client,
        socket,
        env,
        log: state.join("twgd.log"),
        config_dir: root,
        state_dir: state,
    })
}

/// The main service file `enable` installs (systemd: `twgd.service`).
pub fn rendered(spec: &ServiceSpec) -> String {
    rendered_files(spec).remove(0).1
}

/// Every file `enable` installs, by name, the main one first.
pub fn rendered_files(spec: &ServiceSpec) -> Vec<(&'static str, String)> {
    use os_service::render;
    if cfg!(target_os = "macos") {
        vec![(
            "com.atlassian.twgd.plist",
            render::launchd_plist(&spec.daemon, &spec.env, &spec.log),
        )]
    } else if cfg!(windows) {
        vec![(
            "twgd-task.xml",
            render::task_xml(
                &spec.daemon,
                &spec.task_arguments(),
                &std::env::var("USERNAME").unwrap_or_default(),
            ),
        )]
    } else {
        vec![
            (
                "twgd.service",
                render::systemd_unit(&spec.daemon, &spec.env),
            ),
            ("twgd.socket", render::systemd_socket(&spec.socket)),
            (
                "twg-upkeep.service",
                render::upkeep_service(&spec.client, &spec.env),
            ),
            ("twg-upkeep.timer", render::UPKEEP_TIMER.to_string()),
        ]
    }
}

/// Where to read why the service's twgd failed: systemd keeps its stderr in the journal,
/// launchd appends it to the plist's `StandardErrorPath`, and Task Scheduler keeps none.
fn why_twgd_failed(p: Platform, daemon: &Path, log: &Path) -> String {
    match p {
        Platform::Linux => "See why twgd failed: `journalctl --user -u twgd`".to_string(),
        Platform::MacOs => format!("See why twgd failed in {}", log.display()),
        Platform::Windows => format!(
            "See why twgd failed: run `{}` in a terminal, where it prints its errors",
            daemon.display()
        ),
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
        _ => os_service::repair_guidance(),
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
    let pending = os_service::install(&spec).map_err(enable_error)?;
    // A twgd started by hand holds the socket; the service's twgd would exit "already
    // running". Stop it so the service owns the daemon from now on.
    let was_running = crate::daemon_client::stop_and_warn(ctx).await?;
    if let Err(e) = os_service::activate(&pending) {
        drop(pending);
        if was_running {
            // Leave the user as we found them: a daemon running by hand.
            let _ = crate::daemon_client::spawn_and_wait(ctx).await;
        }
        return Err(enable_error(e));
    }
    let Some(status) =
        crate::daemon_client::wait_until_answering(ctx, Duration::from_secs(10)).await
    else {
        drop(pending);
        let mut err = CliError::new(
            ErrorCode::UpkeepEnableFailed,
            "the service started but twgd did not answer within 10 s, so upkeep was disabled again",
        );
        err.text = Some(format!(
            "{}; then run `twg upkeep enable` again.",
            why_twgd_failed(Platform::CURRENT, &spec.daemon, &spec.log)
        ));
        return Err(err);
    };
    let service = os_service::describe().unwrap_or_else(|| pending.file.display().to_string());
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
    // Task Scheduler can only kill the task's twgd (`schtasks /End`), which loses a rotated
    // token not yet saved: ask twgd to stop itself first, which saves and exits.
    if cfg!(windows) && os_service::is_enabled().unwrap_or(false) {
        crate::daemon_client::stop_and_warn(ctx).await?;
    }
    let outcome = os_service::disable().map_err(|e| {
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
                    let stopped = crate::daemon_client::stop_and_warn(ctx)
                        .await
                        .unwrap_or(false);
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

/// Re-renders the installed service (it may still name a twgd outside the install layout)
/// and restarts it, so the new twgd runs: what `twg update` does when upkeep is enabled.
pub fn reinstall_and_restart(ctx: &Ctx) -> Result<(), String> {
    let spec = spec(ctx).map_err(|e| e.message)?;
    os_service::install(&spec)
        .map_err(|e| e.to_string())?
        .commit();
    os_service::restart().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_where_each_service_manager_keeps_twgds_errors() {
        let daemon = Path::new("/opt/twg/twgd");
        let log = Path::new("/Users/u/.local/state/twg/twgd.log");
        assert_eq!(
            why_twgd_failed(Platform::Linux, daemon, log),
            "See why twgd failed: `journalctl --user -u twgd`"
        );
        assert_eq!(
            why_twgd_failed(Platform::MacOs, daemon, log),
            "See why twgd failed in /Users/u/.local/state/twg/twgd.log"
        );
        assert_eq!(
            why_twgd_failed(Platform::Windows, daemon, log),
            "See why twgd failed: run `/opt/twg/twgd` in a terminal, where it prints its errors"
        );
    }
}
