//! Linux: twgd as systemd user units in `$XDG_CONFIG_HOME/systemd/user/`: `twgd.socket`
//! (systemd listens and starts twgd on the first connection), `twgd.service`, and the
//! upkeep timer (`twg-upkeep.timer` running `twg-upkeep.service`) that keeps credentials
//! fresh while twgd is not running.

use super::{Disabled, Pending, ServiceError, ServiceSpec, run};
use std::path::PathBuf;

const UNIT: &str = "twgd.service";
const SOCKET: &str = "twgd.socket";
const UPKEEP_SERVICE: &str = "twg-upkeep.service";
const UPKEEP_TIMER: &str = "twg-upkeep.timer";
/// What `enable --now` starts: the socket before the service that needs it.
const ENABLED: [&str; 3] = [SOCKET, UNIT, UPKEEP_TIMER];
/// Every file installed, with the target whose `.wants` holds its enable link (if any).
const FILES: [(&str, Option<&str>); 4] = [
    (SOCKET, Some("sockets.target")),
    (UNIT, Some("default.target")),
    (UPKEEP_SERVICE, None),
    (UPKEEP_TIMER, Some("timers.target")),
];

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

/// Every unit file and enable link twg may have installed (older versions: the service
/// and its link only).
fn installed_paths() -> Result<Vec<PathBuf>, ServiceError> {
    let dir = unit_dir()?;
    let mut paths = Vec::new();
    for (unit, target) in FILES {
        if let Some(t) = target {
            paths.push(dir.join(format!("{t}.wants")).join(unit));
        }
        paths.push(dir.join(unit));
    }
    Ok(paths)
}

/// The units of [`ENABLED`] whose files exist, for `systemctl disable`.
fn present_units() -> Vec<&'static str> {
    let Ok(dir) = unit_dir() else {
        return Vec::new();
    };
    ENABLED
        .into_iter()
        .filter(|u| dir.join(u).exists())
        .collect()
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
    let dir = unit_dir().ok()?;
    unit.exists().then(|| {
        let units = FILES
            .iter()
            .map(|(u, _)| *u)
            .filter(|u| dir.join(u).exists())
            .collect::<Vec<_>>()
            .join(", ");
        format!("systemd user units {units} ({})", dir.display())
    })
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
    let mut pending = Pending::new(path, previous);
    pending.write_other(
        dir.join(SOCKET),
        &super::render::systemd_socket(&spec.socket),
    )?;
    pending.write_other(
        dir.join(UPKEEP_SERVICE),
        &super::render::upkeep_service(&spec.client, &spec.env),
    )?;
    pending.write_other(dir.join(UPKEEP_TIMER), super::render::UPKEEP_TIMER)?;
    // The first contact with the user manager: without one this fails, and dropping
    // `pending` takes the unit file away again.
    systemctl(&["daemon-reload"])?;
    Ok(pending)
}

pub fn activate(_pending: &Pending) -> Result<(), ServiceError> {
    let mut args = vec!["enable", "--now"];
    args.extend(ENABLED);
    systemctl(&args).map(drop)
}

pub fn restart() -> Result<(), ServiceError> {
    systemctl(&["daemon-reload"])?;
    // The old twgd goes first: it may have bound the socket path itself (an install from
    // before the socket unit), and the socket unit must not start beside it.
    systemctl(&["stop", UNIT])?;
    let mut args = vec!["enable", "--now"];
    args.extend(ENABLED);
    systemctl(&args).map(drop)
}

pub fn rolled_back(had_previous: bool) {
    if !had_previous {
        // `enable` may have linked the units before `start` failed.
        let mut args = vec!["disable", "--now"];
        args.extend(ENABLED);
        let _ = systemctl(&args);
        for path in installed_paths().unwrap_or_default() {
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let _ = systemctl(&["daemon-reload"]);
}

pub fn disable() -> Result<Disabled, ServiceError> {
    let paths = installed_paths()?;
    if !paths.iter().any(|p| std::fs::symlink_metadata(p).is_ok()) {
        return Ok(Disabled::NotInstalled);
    }
    // Stop and unlink through systemd first (the socket too, or its next connection would
    // start twgd again); if it is unreachable the files still go, so nothing comes back at
    // the next login.
    let mut args = vec!["disable", "--now"];
    args.extend(present_units());
    let manager_error = if args.len() > 2 {
        systemctl(&args).err()
    } else {
        None
    };
    // A pass the timer started may be running.
    let _ = systemctl(&["stop", UPKEEP_SERVICE]);
    let mut files = Vec::new();
    for path in paths {
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
