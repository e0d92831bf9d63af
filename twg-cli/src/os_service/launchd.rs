//! macOS: twgd as a LaunchAgent in `~/Library/LaunchAgents`, loaded into the GUI domain.

use super::{Disabled, Pending, ServiceError, ServiceSpec, run};
use std::path::PathBuf;

const LABEL: &str = "com.atlassian.twgd";

pub const GUIDANCE: &str = "Upkeep stays disabled: launchd refused the LaunchAgent.
Log in at the Mac itself (an ssh session has no GUI domain for `launchctl bootstrap gui/<uid>`),
then run `twg upkeep enable` again. Meanwhile start the daemon by hand with `twg daemon start`.";

fn plist_path() -> Result<PathBuf, ServiceError> {
    super::layout::home()
        .map(|h| {
            h.join("Library")
                .join("LaunchAgents")
                .join(format!("{LABEL}.plist"))
        })
        .ok_or(ServiceError::NoHome)
}

fn domain() -> String {
    format!("gui/{}", rustix::process::getuid().as_raw())
}

pub fn is_enabled() -> Result<bool, String> {
    Ok(plist_path().map_err(|e| e.to_string())?.is_file())
}

pub fn describe() -> Option<String> {
    let p = plist_path().ok()?;
    p.exists()
        .then(|| format!("LaunchAgent {LABEL} ({})", p.display()))
}

pub fn install(spec: &ServiceSpec) -> Result<Pending, ServiceError> {
    let path = plist_path()?;
    let dir = twg_common::atomic::parent_dir(&path).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|source| ServiceError::Write { path: dir, source })?;
    let previous = std::fs::read(&path).ok();
    let text = super::render::launchd_plist(&spec.daemon, &spec.env, &spec.log);
    twg_common::atomic::write_atomic(&path, text.as_bytes())?;
    Ok(Pending::new(path, previous))
}

pub fn activate(pending: &Pending) -> Result<(), ServiceError> {
    // A previous load of the same label must go first, or bootstrap fails with "in use".
    let _ = run("launchctl", &["bootout", &format!("{}/{LABEL}", domain())]);
    run(
        "launchctl",
        &["bootstrap", &domain(), &pending.file.to_string_lossy()],
    )
    .map(drop)
}

pub fn restart() -> Result<(), ServiceError> {
    run(
        "launchctl",
        &["kickstart", "-k", &format!("{}/{LABEL}", domain())],
    )
    .map(drop)
}

pub fn rolled_back(_had_previous: bool) {
    let _ = run("launchctl", &["bootout", &format!("{}/{LABEL}", domain())]);
}

pub fn disable() -> Result<Disabled, ServiceError> {
    let path = plist_path()?;
    if !path.exists() {
        return Ok(Disabled::NotInstalled);
    }
    let manager_error = run("launchctl", &["bootout", &format!("{}/{LABEL}", domain())]).err();
    std::fs::remove_file(&path).map_err(|source| ServiceError::Remove {
        path: path.clone(),
        source,
    })?;
    Ok(Disabled::Removed {
        files: vec![path],
        manager_error,
    })
}
