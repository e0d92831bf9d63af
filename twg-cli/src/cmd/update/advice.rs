//! The update summary's hints, in the commands of the platform's own tools: GNU `mv -T`
//! does not exist on macOS, whose BSD `ln -h` replaces a symlink to a directory instead.

use std::path::Path;
use twg_common::platform::Platform;

/// How to point `current` back at `versions/<prev>` by hand.
pub(super) fn rollback(p: Platform, root: &Path, prev: &str) -> String {
    let root = root.display();
    match p {
        Platform::Linux => format!(
            "ln -s versions/{prev} {root}/current.new && mv -T {root}/current.new {root}/current, then `twg daemon stop`"
        ),
        // `-h`: replace the link itself rather than create one inside the directory it names.
        Platform::MacOs => {
            format!("ln -sfh versions/{prev} {root}/current, then `twg daemon stop`")
        }
        // `twg update` does not install on Windows yet, so there is no link to switch.
        Platform::Windows => {
            format!("install twg {prev} from its release by hand, then `twg daemon stop`")
        }
    }
}

/// How to put `bin` on `PATH` for good.
pub(super) fn add_to_path(p: Platform, bin: &Path) -> String {
    match p {
        Platform::Linux | Platform::MacOs => format!(
            "e.g. `export PATH=\"{}:$PATH\"` in your shell profile",
            bin.display()
        ),
        // Not `setx PATH`: it cuts PATH at 1024 characters and copies the system entries in.
        Platform::Windows => {
            "to your user Path, under \"Edit environment variables for your account\"".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_uses_each_platforms_link_tools() {
        let root = Path::new("/home/u/.local/share/twg");
        assert_eq!(
            rollback(Platform::Linux, root, "1.2.0"),
            "ln -s versions/1.2.0 /home/u/.local/share/twg/current.new && mv -T /home/u/.local/share/twg/current.new /home/u/.local/share/twg/current, then `twg daemon stop`"
        );
        assert_eq!(
            rollback(Platform::MacOs, root, "1.2.0"),
            "ln -sfh versions/1.2.0 /home/u/.local/share/twg/current, then `twg daemon stop`"
        );
        assert_eq!(
            rollback(Platform::Windows, root, "1.2.0"),
            "install twg 1.2.0 from its release by hand, then `twg daemon stop`"
        );
    }

    #[test]
    fn path_advice_uses_each_platforms_shell() {
        let bin = Path::new("/home/u/.local/bin");
        for p in [Platform::Linux, Platform::MacOs] {
            assert_eq!(
                add_to_path(p, bin),
                "e.g. `export PATH=\"/home/u/.local/bin:$PATH\"` in your shell profile"
            );
        }
        let w = add_to_path(Platform::Windows, bin);
        assert!(
            w.contains("Edit environment variables for your account"),
            "{w}"
        );
        assert!(!w.contains("export") && !w.contains("setx"), "{w}");
    }
}
