//! The platform service that keeps twgd alive: a systemd user unit on Linux, a LaunchAgent
//! on macOS, a Task Scheduler task on Windows — one API over all three.
//!
//! Enabling is two steps so a failure leaves nothing behind: [`install`] writes the service
//! file and returns a [`Pending`] guard; [`activate`] hands it to the service manager. If
//! anything fails before [`Pending::commit`], dropping the guard restores the previous file
//! (or removes the new one), so `is_enabled` never reports a service that is not there.

pub mod layout;
pub mod render;

#[cfg(target_os = "linux")]
mod systemd;
#[cfg(target_os = "linux")]
use systemd as platform;

#[cfg(target_os = "macos")]
mod launchd;
#[cfg(target_os = "macos")]
use launchd as platform;

#[cfg(windows)]
mod schtasks;
#[cfg(windows)]
use schtasks as platform;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
use unsupported as platform;

use std::path::PathBuf;

/// What the service runs.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The twgd to run: the stable launcher when the install layout exists.
    pub daemon: PathBuf,
    /// The twg the upkeep timer runs (systemd), chosen the same way.
    pub client: PathBuf,
    /// The socket the client uses; the service manager listens on it where it can.
    pub socket: PathBuf,
    /// Variables pinning the paths the client uses, so both sides agree on the socket.
    pub env: Vec<(String, String)>,
    /// Where the daemon's stderr goes on platforms without a journal.
    pub log: PathBuf,
    /// The config and state directories the client uses (also in `env`), for service
    /// managers that take arguments, not an environment (Task Scheduler).
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl ServiceSpec {
    /// twgd's arguments where the service cannot carry an environment.
    pub fn task_arguments(&self) -> Vec<String> {
        render::task_arguments(&self.socket, &self.config_dir, &self.state_dir, &self.log)
    }
}

/// A service-manager operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot find your home directory; set HOME and retry")]
    NoHome,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    #[cfg_attr(windows, allow(dead_code))]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Manager {
        command: String,
        status: String,
        stderr: String,
    },
    /// Built on Windows and platforms without a service manager.
    #[cfg_attr(any(target_os = "linux", target_os = "macos"), allow(dead_code))]
    #[error("{0}")]
    Unsupported(&'static str),
}

impl From<twg_common::atomic::AtomicWriteError> for ServiceError {
    fn from(e: twg_common::atomic::AtomicWriteError) -> Self {
        let twg_common::atomic::AtomicWriteError::Write { path, source } = e;
        ServiceError::Write { path, source }
    }
}

/// Whether the service is installed and enabled (checked from its files, so it works even
/// when the service manager itself is unreachable).
pub fn is_enabled() -> Result<bool, String> {
    platform::is_enabled()
}

/// A short description of the service and where its file lives, for listings.
pub fn describe() -> Option<String> {
    platform::describe()
}

/// What to do when the service manager is unreachable or refused.
pub fn repair_guidance() -> &'static str {
    platform::GUIDANCE
}

/// Writes the service file. Nothing is started yet; drop the guard to undo.
pub fn install(spec: &ServiceSpec) -> Result<Pending, ServiceError> {
    platform::install(spec)
}

/// Enables and starts the installed service.
pub fn activate(pending: &Pending) -> Result<(), ServiceError> {
    platform::activate(pending)
}

/// Restarts the running service (after an update).
pub fn restart() -> Result<(), ServiceError> {
    platform::restart()
}

/// What `disable` did.
#[derive(Debug)]
pub enum Disabled {
    /// Nothing was installed.
    NotInstalled,
    /// The files are gone. `manager_error` is set when the service manager could not be told
    /// (a twgd it started may still run until the next logout; stop it with `twg daemon stop`).
    Removed {
        files: Vec<PathBuf>,
        manager_error: Option<ServiceError>,
    },
}

/// Stops the service and removes its files. Credentials are not touched.
pub fn disable() -> Result<Disabled, ServiceError> {
    platform::disable()
}

/// Installed but not yet committed service files; dropping it undoes the install.
#[derive(Debug)]
pub struct Pending {
    /// The main file written (the twgd unit, plist, or task XML).
    pub file: PathBuf,
    previous: Option<Vec<u8>>,
    /// Files written beside it (systemd: the socket and the upkeep timer), with what they
    /// replaced.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    others: Vec<(PathBuf, Option<Vec<u8>>)>,
    armed: bool,
}

impl Pending {
    fn new(file: PathBuf, previous: Option<Vec<u8>>) -> Self {
        Self {
            file,
            previous,
            others: Vec::new(),
            armed: true,
        }
    }

    /// Writes one more file, to be undone with the rest.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn write_other(&mut self, path: PathBuf, text: &str) -> Result<(), ServiceError> {
        let previous = std::fs::read(&path).ok();
        twg_common::atomic::write_atomic(&path, text.as_bytes())?;
        self.others.push((path, previous));
        Ok(())
    }

    /// Keeps the service.
    pub fn commit(mut self) {
        self.armed = false;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let main = std::iter::once((&self.file, &self.previous));
        for (path, previous) in main.chain(self.others.iter().map(|(p, b)| (p, b))) {
            match previous {
                Some(bytes) => {
                    let _ = twg_common::atomic::write_atomic(path, bytes);
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        platform::rolled_back(self.previous.is_some());
    }
}

/// Runs a service-manager command, capturing its real stderr for the report.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", windows)),
    allow(dead_code)
)]
fn run(program: &str, args: &[&str]) -> Result<String, ServiceError> {
    let command = format!("{program} {}", args.join(" "));
    let out = twg_common::child_env::scrub(&mut std::process::Command::new(program))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ServiceError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(ServiceError::Manager {
        command,
        status: out.status.to_string(),
        stderr,
    })
}
