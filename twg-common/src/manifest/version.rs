//! Release versions: SemVer 2.0 (the `semver` crate), ordered by precedence.

use std::fmt;

/// The version of the running twg (all workspace crates share one version).
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A SemVer 2.0 version, ordered by precedence (semver.org §11). Build metadata is dropped
/// at parse time, so the derived order is exactly precedence: `semver::Version` alone would
/// also order by build metadata, which the spec says to ignore.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(semver::Version);

/// A string that is not a SemVer version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SemVer version (expected MAJOR.MINOR.PATCH[-PRE][+BUILD]): {0}")]
pub struct VersionError(pub String);

impl Version {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, with an optional leading `v` (release tags
    /// are often written that way) and surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut v = semver::Version::parse(s).map_err(|e| VersionError(format!("{s} ({e})")))?;
        v.build = semver::BuildMetadata::EMPTY;
        Ok(Self(v))
    }

    /// The running build's version.
    pub fn current() -> Self {
        Self::parse(PACKAGE_VERSION).expect("CARGO_PKG_VERSION is SemVer")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn semver_precedence_matches_the_spec_example() {
        // semver.org §11: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta
        // < 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "1.10.0",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("v1.2.3+build.7").cmp(&v("1.2.3")), Ordering::Equal);
        assert_eq!(v("1.2.3-rc.1").to_string(), "1.2.3-rc.1");
    }

    #[test]
    fn rejects_non_semver() {
        for bad in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.x.3",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3-01",
            "",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}
