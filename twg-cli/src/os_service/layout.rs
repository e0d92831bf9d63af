//! The install layout that `twg update` maintains, so the service can name one stable path.
//!
//! ```text
//! <install>/versions/<version>/{twg,twg-cli,twgd}   one directory per installed version
//! <install>/current -> versions/<version>   relative symlink, switched with one rename
//! <bin>/twg  -> <install>/current/twg       launchers on PATH (symlinks)
//! <bin>/twgd -> <install>/current/twgd
//! ```
//! `<install>` is `TWG_INSTALL_DIR`, else `$XDG_DATA_HOME/twg`, else `~/.local/share/twg`
//! (`%LOCALAPPDATA%\Programs\twg` on Windows). `<bin>` is `TWG_BIN_DIR`, else `~/.local/bin`.
//! The service runs `<install>/current/twgd`, so an update never edits the unit file.
//! `twg-cli` (the full CLI) needs no launcher: the front finds it beside itself, in the
//! version directory its launcher resolves to.

use std::path::{Path, PathBuf};

/// Where twg installs itself.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
}

/// The executable file name of `name` on this platform.
pub fn exe(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The user's home directory, from the environment the shell gave us.
pub fn home() -> Option<PathBuf> {
    if cfg!(windows) {
        env_path("USERPROFILE")
    } else {
        env_path("HOME")
    }
    .filter(|p| p.is_absolute())
}

impl Layout {
    /// The layout for this user; `None` without a home directory and without overrides.
    pub fn resolve() -> Option<Layout> {
        let root = env_path("TWG_INSTALL_DIR").or_else(default_root)?;
        let bin_dir =
            env_path("TWG_BIN_DIR").or_else(|| home().map(|h| h.join(".local").join("bin")))?;
        Some(Layout { root, bin_dir })
    }

    pub fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.versions_dir().join(version)
    }

    /// The `current` symlink.
    pub fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }

    /// The stable path of a binary through `current` (what the service and launchers use).
    pub fn stable(&self, name: &str) -> PathBuf {
        self.current_link().join(exe(name))
    }

    /// The version `current` points at, if the layout is installed.
    pub fn current_version(&self) -> Option<String> {
        let target = std::fs::read_link(self.current_link()).ok()?;
        let name = target.file_name()?.to_str()?.to_string();
        self.version_dir(&name).is_dir().then_some(name)
    }

    /// Installed version directories (names), unsorted.
    pub fn installed_versions(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.versions_dir()) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    /// The launcher symlinks on PATH and what each should point at.
    pub fn launchers(&self) -> Vec<(PathBuf, PathBuf)> {
        ["twg", "twgd"]
            .iter()
            .map(|n| (self.bin_dir.join(exe(n)), self.stable(n)))
            .collect()
    }

    /// True when `path` is one of our launchers (a symlink into this layout).
    pub fn is_our_launcher(&self, path: &Path) -> bool {
        std::fs::read_link(path)
            .map(|t| t.starts_with(&self.root))
            .unwrap_or(false)
    }
}

#[cfg(windows)]
fn default_root() -> Option<PathBuf> {
    env_path("LOCALAPPDATA").map(|d| d.join("Programs").join("twg"))
}

#[cfg(not(windows))]
fn default_root() -> Option<PathBuf> {
    if let Some(xdg) = env_path("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("twg"));
    }
    home().map(|h| h.join(".local").join("share").join("twg"))
}

/// Points `link` at `target` atomically: a new symlink beside it, then one rename over it.
/// Readers see the old or the new target, never a missing link.
#[cfg(unix)]
pub fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let dir = twg_common::atomic::parent_dir(link);
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        link.file_name().and_then(|n| n.to_str()).unwrap_or("link"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, link) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    twg_common::atomic::sync_dir(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn current_switches_atomically_and_reports_its_version() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout {
            root: tmp.path().join("install"),
            bin_dir: tmp.path().join("bin"),
        };
        for v in ["1.0.0", "1.1.0"] {
            std::fs::create_dir_all(layout.version_dir(v)).unwrap();
            std::fs::write(layout.version_dir(v).join("twgd"), v).unwrap();
        }
        assert_eq!(layout.current_version(), None);
        replace_symlink(Path::new("versions/1.0.0"), &layout.current_link()).unwrap();
        assert_eq!(layout.current_version().as_deref(), Some("1.0.0"));
        replace_symlink(Path::new("versions/1.1.0"), &layout.current_link()).unwrap();
        assert_eq!(layout.current_version().as_deref(), Some("1.1.0"));
        assert_eq!(
            std::fs::read_to_string(layout.stable("twgd")).unwrap(),
            "1.1.0"
        );
        let mut versions = layout.installed_versions();
        versions.sort();
        assert_eq!(versions, ["1.0.0", "1.1.0"]);
        let names: Vec<_> = std::fs::read_dir(&layout.root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp links left: {names:?}");
    }
}
