//! Linux: twgd as a systemd user unit in `$XDG_CONFIG_HOME/systemd/user/twgd.service`.

use super::{Disabled, Pending, ServiceError, ServiceSpec, run};
use std::path::PathBuf;

const UNIT: &str = "twgd.service";

pub const GUIDANCE: &str = "Upkeep stays disabled: your systemd user instance is not reachable.
To fix it, either:
  • log in through a real session (a desktop or ssh login; shells from `su` or `sudo -u`
    have no user bus), or
  • run `loginctl enable-linger $USER` (may need an administrator) so your user manager
    runs without a login,
then check that `systemctl --user status` works and run `twg upkeep enable` again.
Meanwhile start the daemon by hand with `twg daemon start` (twg also works without it).";

/// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user` (where systemd looks).
fn unit_dir() -> Result<PathBuf, ServiceError> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Ok(x.join("systemd").join("user"));
    }
    super::layout::home()
        .map(|h| h.join(".config").join("systemd").join("user"))
        .ok_or(ServiceError::NoHome)
}

fn unit_path() -> Result<PathBuf, ServiceError> {
    Ok(unit_dir()?.join(UNIT))
}

/// The symlink `systemctl enable` creates (from `WantedBy=default.target`).
fn wants_link() -> Result<PathBuf, ServiceError> {
    Ok(unit_dir()?.join("default.target.wants").join(UNIT))
}

fn systemctl(args: &[&str]) -> Result<String, ServiceError> {
    let mut all = vec!["--user"];
    all.extend_from_slice(args);
    run("systemctl", &all)
}

pub fn is_enabled() -> Result<bool, String> {
    let unit = unit_path().map_err(|e| e.to_string())?;
    let wants = wants_link().map_err(|e| e.to_string())?;
    Ok(unit.is_file() && std::fs::symlink_metadata(wants).is_ok())
}

pub fn describe() -> Option<String> {
    let unit = unit_path().ok()?;
    unit.exists()
        .then(|| format!("systemd user service {UNIT} ({})", unit.display()))
}

pub fn install(spec: &ServiceSpec) -> Result<Pending, ServiceError> {
    let dir = unit_dir()?;
    let path = dir.join(UNIT);
    std::fs::create_dir_all(&dir).map_err(|source| ServiceError::Write {
        path: dir.clone(),
        source,
    })?;
    let previous = std::fs::read(&path).ok();
    let text = super::render::systemd_unit(&spec.daemon, &spec.env);
    twg_common::atomic::write_atomic(&path, text.as_bytes())?;
    let pending = Pending::new(path, previous);
    // The first contact with the user manager: without one this fails, and dropping
    // `pending` takes the unit file away again.
    systemctl(&["daemon-reload"])?;
    Ok(pending)
}

pub fn activate(_pending: &Pending) -> Result<(), ServiceError> {
    systemctl(&["enable", "--now", UNIT]).map(drop)
}

pub fn restart() -> Result<(), ServiceError> {
    systemctl(&["daemon-reload"])?;
    systemctl(&["restart", UNIT]).map(drop)
}

pub fn rolled_back(had_previous: bool) {
    if !had_previous {
        // `enable` may have linked the unit before `start` failed.
        let _ = systemctl(&["disable", "--now", UNIT]);
        if let Ok(w) = wants_link() {
            let _ = std::fs::remove_file(w);
        }
    }
    let _ = systemctl(&["daemon-reload"]);
}

pub fn disable() -> Result<Disabled, ServiceError> {
    let unit = unit_path()?;
    let wants = wants_link()?;
    let wants_exists = std::fs::symlink_metadata(&wants).is_ok();
    if !unit.exists() && !wants_exists {
        return Ok(Disabled::NotInstalled);
    }
    // Stop and unlink through systemd first; if it is unreachable the files still go, so
    // the service cannot come back at the next login.
    let manager_error = systemctl(&["disable", "--now", UNIT]).err();
    let mut files = Vec::new();
    for path in [wants, unit] {
        match std::fs::remove_file(&path) {
            Ok(()) => files.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ServiceError::Remove { path, source }),
        }
    }
    if manager_error.is_none() {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(Disabled::Removed {
        files,
        manager_error,
    })
}
