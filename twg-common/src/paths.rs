//! Where twg keeps things: the config root, the daemon socket, state, and private directories.
//!
//! Config root: `TWG_CONFIG_DIR`, else `$XDG_CONFIG_HOME/twg`, else `~/.config/twg`
//! (`%APPDATA%\twg` on Windows). Socket: `TWG_SOCKET`, else `$XDG_RUNTIME_DIR/twg/twgd.sock`,
//! else `~/.cache/twg/run/twgd.sock` (a directory no other user can create first). The
//! agent socket (`agent.sock`) and the API proxy (`api.sock`) sit beside it.

use std::path::{Path, PathBuf};

/// Errors about the directories twg keeps private.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error(
        "cannot find your home directory; set TWG_CONFIG_DIR to choose where twg keeps its files"
    )]
    NoHome,
    #[error("cannot create directory {path}: {source}; check the permissions of its parent")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot inspect {path}: {source}")]
    Inspect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is a symbolic link; twg refuses to use it for private files. Remove it and retry"
    )]
    Symlink { path: PathBuf },
    #[error("{path} is not a directory; move it away and retry")]
    NotADirectory { path: PathBuf },
    #[error(
        "{path} belongs to uid {owner}, not to you (uid {expected}); remove it or set another location"
    )]
    WrongOwner {
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error(
        "{path} has mode {mode:o} and could not be restricted to 0700: {source}; run `chmod 700 {path}`"
    )]
    InsecureMode {
        path: PathBuf,
        mode: u32,
        source: std::io::Error,
    },
}

/// Directories a process was told on its command line, which win over the environment:
/// Task Scheduler starts twgd with no environment of the client's, so the task passes
/// them as twgd's arguments instead.
#[derive(Debug, Default, Clone)]
pub struct Pinned {
    pub config_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

static PINNED: std::sync::OnceLock<Pinned> = std::sync::OnceLock::new();

/// Pins the config and state directories for this process (once, at start-up).
pub fn pin(dirs: Pinned) {
    let _ = PINNED.set(dirs);
}

fn pinned_config() -> Option<PathBuf> {
    PINNED.get().and_then(|p| p.config_dir.clone())
}

/// The config root (where `auth.conf` and `config.toml` live).
pub fn config_root() -> Result<PathBuf, PathError> {
    if let Some(dir) = pinned_config() {
        return Ok(dir);
    }
    if let Some(dir) = env_path("TWG_CONFIG_DIR") {
        return Ok(dir);
    }
    #[cfg(windows)]
    {
        if let Some(appdata) = env_path("APPDATA") {
            return Ok(appdata.join("twg"));
        }
    }
    if let Some(xdg) = env_path("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("twg"));
    }
    dirs::home_dir()
        .map(|h| h.join(".config").join("twg"))
        .ok_or(PathError::NoHome)
}

/// `auth.conf` inside the config root.
pub fn auth_file(root: &Path) -> PathBuf {
    root.join("auth.conf")
}

/// The lock file beside `auth.conf` that serialises every credential write.
pub fn auth_lock_file(root: &Path) -> PathBuf {
    root.join("auth.conf.lock")
}

/// `config.toml` inside the config root.
pub fn config_file(root: &Path) -> PathBuf {
    root.join("config.toml")
}

/// The admin API key file, kept apart from user credentials.
pub fn admin_file(root: &Path) -> PathBuf {
    root.join("admin.conf")
}

/// Non-secret upkeep state.
pub fn upkeep_file(root: &Path) -> PathBuf {
    root.join("upkeep.json")
}

/// State directory (audit log): `TWG_STATE_DIR`, else `<config root>/state` when
/// `TWG_CONFIG_DIR` is set, else `$XDG_STATE_HOME/twg`, else `~/.local/state/twg`.
pub fn state_dir() -> Result<PathBuf, PathError> {
    if let Some(dir) = PINNED.get().and_then(|p| p.state_dir.clone()) {
        return Ok(dir);
    }
    if let Some(dir) = env_path("TWG_STATE_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = pinned_config() {
        return Ok(dir.join("state"));
    }
    if let Some(dir) = env_path("TWG_CONFIG_DIR") {
        return Ok(dir.join("state"));
    }
    #[cfg(windows)]
    {
        if let Some(local) = env_path("LOCALAPPDATA") {
            return Ok(local.join("twg").join("state"));
        }
    }
    if let Some(xdg) = env_path("XDG_STATE_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("twg"));
    }
    dirs::home_dir()
        .map(|h| h.join(".local").join("state").join("twg"))
        .ok_or(PathError::NoHome)
}

/// The daemon's socket path (a named pipe name on Windows).
pub fn socket_path() -> Result<PathBuf, PathError> {
    if let Some(sock) = env_path("TWG_SOCKET") {
        return Ok(sock);
    }
    Ok(runtime_dir()?.join("twgd.sock"))
}

/// The restricted agent socket: `TWG_AGENT_SOCKET`, else `agent.sock` beside the daemon's
/// main socket (so it shares that socket's verified 0700 directory).
pub fn agent_socket_path(main_socket: &Path) -> PathBuf {
    env_path("TWG_AGENT_SOCKET").unwrap_or_else(|| main_socket.with_file_name("agent.sock"))
}

/// The API proxy's socket: `TWG_API_SOCKET`, else `api.sock` beside the main socket.
pub fn api_socket_path(main_socket: &Path) -> PathBuf {
    env_path("TWG_API_SOCKET").unwrap_or_else(|| main_socket.with_file_name("api.sock"))
}

/// The pidfile that keeps `twgd` single-instance; it sits beside the socket.
pub fn pid_file(socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".pid");
    socket.with_file_name(name)
}

/// Per-user runtime directory for the socket: `$XDG_RUNTIME_DIR/twg`, else
/// `<cache>/twg/run` under the user's home (`~/.cache`, or `~/Library/Caches` on macOS).
/// Not the shared temp directory: there another user could create the directory first
/// and plant a socket (ssh without a PAM session, `su`, cron and containers often lack
/// `XDG_RUNTIME_DIR`). Only without a home does it fall back to a temp directory, see
/// [`temp_fallback`].
pub fn runtime_dir() -> Result<PathBuf, PathError> {
    if let Some(xdg) = env_path("XDG_RUNTIME_DIR").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("twg"));
    }
    if let Some(cache) = dirs::cache_dir().filter(|p| p.is_absolute()) {
        return Ok(cache.join("twg").join("run"));
    }
    #[cfg(unix)]
    {
        let uid = rustix::process::geteuid().as_raw();
        Ok(temp_fallback(env_path("TMPDIR"), user_temp_dir, uid))
    }
    #[cfg(not(unix))]
    {
        Ok(std::env::temp_dir().join("twg"))
    }
}

/// `<tmp>/twg-<uid>`, verified for owner and mode before use. `<tmp>` is `TMPDIR` when set;
/// without it (ssh and sudo on macOS drop it) the user's own temp directory when the system
/// has one (macOS: `/var/folders/…/T`, mode 0700, so no other user can create the directory
/// first), and only then the shared `/tmp`. Not `std::env::temp_dir`: its fallback is
/// documented as subject to change, and when it fails it quietly returns `/tmp`.
#[cfg(unix)]
fn temp_fallback(
    tmpdir: Option<PathBuf>,
    user_temp: impl FnOnce() -> Option<PathBuf>,
    uid: u32,
) -> PathBuf {
    tmpdir
        .filter(|p| p.is_absolute())
        .or_else(user_temp)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join(format!("twg-{uid}"))
}

/// The per-user temporary directory of the system, where it has one.
#[cfg(target_os = "macos")]
fn user_temp_dir() -> Option<PathBuf> {
    crate::darwin::user_temp_dir()
}

#[cfg(all(unix, not(target_os = "macos")))]
fn user_temp_dir() -> Option<PathBuf> {
    None
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Creates `dir` (and parents) if needed, then verifies that it is a real directory owned
/// by the current user with no group or other permissions. An existing directory of ours
/// with a looser mode is tightened to 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PathError> {
    create_private(dir)?;
    verify_private(dir)
}

#[cfg(unix)]
fn create_private(dir: &Path) -> Result<(), PathError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(PathError::Create {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> Result<(), PathError> {
    std::fs::create_dir_all(dir).map_err(|source| PathError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

/// Verifies owner, type and mode of an existing private directory (see [`ensure_private_dir`]).
#[cfg(unix)]
pub fn verify_private(dir: &Path) -> Result<(), PathError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir).map_err(|source| PathError::Inspect {
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(PathError::Symlink {
            path: dir.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(PathError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(PathError::WrongOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            expected: me,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| PathError::InsecureMode {
                path: dir.to_path_buf(),
                mode,
                source,
            },
        )?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn verify_private(_dir: &Path) -> Result<(), PathError> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_0700_and_tightens_loose_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn refuses_symlinks_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            ensure_private_dir(&link),
            Err(PathError::Symlink { .. })
        ));
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            ensure_private_dir(&file),
            Err(PathError::NotADirectory { .. })
        ));
    }

    #[test]
    fn agent_and_api_sockets_sit_beside_the_main_socket() {
        if std::env::var_os("TWG_AGENT_SOCKET").is_none() {
            assert_eq!(
                agent_socket_path(Path::new("/run/u/twg/twgd.sock")),
                PathBuf::from("/run/u/twg/agent.sock")
            );
        }
        if std::env::var_os("TWG_API_SOCKET").is_none() {
            assert_eq!(
                api_socket_path(Path::new("/run/u/twg/twgd.sock")),
                PathBuf::from("/run/u/twg/api.sock")
            );
        }
    }

    #[test]
    fn temp_fallback_prefers_tmpdir_then_the_users_own_temp_then_tmp() {
        let user_temp = || Some(PathBuf::from("/var/folders/zz/abc_123/T/"));
        // ssh or sudo on macOS: no TMPDIR, so the per-user directory, never the shared /tmp.
        assert_eq!(
            temp_fallback(None, user_temp, 501),
            PathBuf::from("/var/folders/zz/abc_123/T/twg-501")
        );
        assert_eq!(
            temp_fallback(Some(PathBuf::from("/private/t")), user_temp, 501),
            PathBuf::from("/private/t/twg-501")
        );
        // A relative TMPDIR would move with the working directory.
        assert_eq!(
            temp_fallback(Some(PathBuf::from("rel")), user_temp, 501),
            PathBuf::from("/var/folders/zz/abc_123/T/twg-501")
        );
        // Linux, or confstr failed: the shared /tmp, whose twg-<uid> is verified before use.
        assert_eq!(
            temp_fallback(None, || None, 1000),
            PathBuf::from("/tmp/twg-1000")
        );
    }

    #[test]
    fn pid_file_sits_beside_the_socket() {
        assert_eq!(
            pid_file(Path::new("/run/u/twg/twgd.sock")),
            PathBuf::from("/run/u/twg/twgd.sock.pid")
        );
    }
}
