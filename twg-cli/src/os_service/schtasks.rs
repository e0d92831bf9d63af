//! Windows: twgd as a per-user Task Scheduler task started at logon.

use super::{Disabled, Pending, ServiceError, ServiceSpec, run};
use std::path::PathBuf;

const TASK: &str = "twgd";

pub const GUIDANCE: &str = "Upkeep stays disabled: Task Scheduler refused the task.
Run `twg upkeep enable` from your own interactive session (not a service account), or ask an
administrator to allow per-user scheduled tasks. Meanwhile start the daemon with `twg daemon start`.";

/// A copy of the task definition kept beside twg's state, so uninstall can list it.
fn xml_path() -> Result<PathBuf, ServiceError> {
    twg_common::paths::state_dir()
        .map(|d| d.join("twgd-task.xml"))
        .map_err(|_| ServiceError::NoHome)
}

pub fn is_enabled() -> Result<bool, String> {
    match run("schtasks", &["/Query", "/TN", TASK]) {
        Ok(_) => Ok(true),
        Err(ServiceError::Manager { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

pub fn describe() -> Option<String> {
    is_enabled()
        .ok()
        .filter(|e| *e)
        .map(|_| format!("scheduled task \\{TASK}"))
}

pub fn install(spec: &ServiceSpec) -> Result<Pending, ServiceError> {
    let path = xml_path()?;
    let dir = twg_common::atomic::parent_dir(&path).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|source| ServiceError::Write { path: dir, source })?;
    let previous = std::fs::read(&path).ok();
    let user = match (std::env::var("USERDOMAIN"), std::env::var("USERNAME")) {
        (Ok(d), Ok(u)) => format!("{d}\\{u}"),
        (_, Ok(u)) => u,
        _ => {
            return Err(ServiceError::Unsupported(
                "USERNAME is not set; run from a normal login session",
            ));
        }
    };
    let text = super::render::task_xml(&spec.daemon, &spec.task_arguments(), &user);
    let bytes = super::render::task_xml_bytes(&text);
    twg_common::atomic::write_atomic(&path, &bytes)?;
    Ok(Pending::new(path, previous))
}

pub fn activate(pending: &Pending) -> Result<(), ServiceError> {
    run(
        "schtasks",
        &[
            "/Create",
            "/TN",
            TASK,
            "/XML",
            &pending.file.to_string_lossy(),
            "/F",
        ],
    )?;
    run("schtasks", &["/Run", "/TN", TASK]).map(drop)
}

/// The caller stops twgd through its Shutdown call first (so it saves); `/End` here only
/// ends a twgd that did not answer it.
pub fn restart() -> Result<(), ServiceError> {
    let _ = run("schtasks", &["/End", "/TN", TASK]);
    run("schtasks", &["/Run", "/TN", TASK]).map(drop)
}

pub fn rolled_back(had_previous: bool) {
    if !had_previous {
        let _ = run("schtasks", &["/Delete", "/TN", TASK, "/F"]);
    }
}

pub fn disable() -> Result<Disabled, ServiceError> {
    if !is_enabled().unwrap_or(false) {
        return Ok(Disabled::NotInstalled);
    }
    // `upkeep_service::disable` has already stopped twgd through its Shutdown call (which
    // saves); `/End` only kills one that did not answer.
    let _ = run("schtasks", &["/End", "/TN", TASK]);
    let manager_error = run("schtasks", &["/Delete", "/TN", TASK, "/F"]).err();
    let mut files = Vec::new();
    if let Ok(p) = xml_path()
        && std::fs::remove_file(&p).is_ok()
    {
        files.push(p);
    }
    Ok(Disabled::Removed {
        files,
        manager_error,
    })
}
