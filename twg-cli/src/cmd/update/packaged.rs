//! Whether this twg was installed by a system package (the Debian package puts it in
//! `/usr/bin`). `twg update` then refuses: installing a second copy in `~/.local` would
//! shadow or be shadowed by the packaged one depending on `PATH`, and the package manager
//! could neither update nor remove it.

use std::path::{Path, PathBuf};

/// Directories only the system's package manager installs into. `/bin` is the same
/// directory on merged-/usr systems, where the kernel may report either path.
const PACKAGE_DIRS: &[&str] = &["/usr/bin", "/bin"];

/// The running executable's path when it lies in a package-managed directory.
pub fn running_from_package() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    is_package_path(&exe).then_some(exe)
}

pub fn is_package_path(exe: &Path) -> bool {
    exe.parent()
        .is_some_and(|dir| PACKAGE_DIRS.iter().any(|p| dir == Path::new(p)))
}

#[cfg(test)]
mod tests {
    use super::is_package_path;
    use std::path::Path;

    #[test]
    fn only_the_system_bin_directories_are_packaged() {
        assert!(is_package_path(Path::new("/usr/bin/twg")));
        assert!(is_package_path(Path::new("/bin/twg")));
        for own in [
            "/usr/local/bin/twg",
            "/home/a/.local/share/twg/versions/1.0.0/twg",
            "/home/a/.local/bin/twg",
            "/usr/bin/sub/twg",
            "/work/target/release/twg",
        ] {
            assert!(!is_package_path(Path::new(own)), "{own}");
        }
    }
}
