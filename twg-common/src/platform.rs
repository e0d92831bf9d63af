//! Which operating system a piece of advice is for, so every message names the tools of the
//! system twg runs on (`fuser` and `secret-tool` mean nothing on a Mac). Messages take a
//! [`Platform`] rather than reading `cfg!` themselves, so one test run checks the wording
//! for all three.

/// The operating systems twg gives advice for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux and the other Unixes (the same command-line tools, mostly).
    Linux,
    MacOs,
    Windows,
}

impl Platform {
    /// The platform this build runs on.
    pub const CURRENT: Platform = if cfg!(target_os = "macos") {
        Platform::MacOs
    } else if cfg!(windows) {
        Platform::Windows
    } else {
        Platform::Linux
    };
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn current_matches_the_build_target() {
        let expected = if cfg!(target_os = "macos") {
            Platform::MacOs
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Linux
        };
        assert_eq!(Platform::CURRENT, expected);
    }
}
