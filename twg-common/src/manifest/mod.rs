//! The release manifest: what the newest twg is on each channel, and where to download it.
//!
//! Shared by upkeep (which only *checks* and notifies) and `twg update` (which downloads,
//! verifies and installs). Nothing here downloads a binary. This module is the format;
//! [`fetch`] gets it over HTTP, [`version`] orders versions, [`target`] names this build.
//!
//! # Where it lives
//! Default: [`DEFAULT_MANIFEST_URL`] (`https://twg.atlassian.com/releases/manifest.json`).
//! `config.toml` can change it and the channel:
//! ```toml
//! [update]
//! manifest_url = "https://mirror.example.com/twg/manifest.json"
//! channel = "beta"      # default "stable"
//! check = false         # turn off upkeep's daily update check (`twg update` still works)
//! ```
//! `TWG_UPDATE_MANIFEST_URL` overrides the URL (tests, mirrors). The URL must be https;
//! plain http is accepted only for loopback hosts. Redirects are not followed.
//!
//! # Format (schema 1)
//! ```json
//! {
//!   "schema": 1,
//!   "channels": {
//!     "stable": {
//!       "version": "1.2.3",
//!       "released_at": "2026-03-01T12:00:00Z",
//!       "notes_url": "https://twg.atlassian.com/releases/1.2.3",
//!       "assets": {
//!         "x86_64-unknown-linux-gnu": {
//!           "url": "https://twg.atlassian.com/releases/1.2.3/twg-x86_64-unknown-linux-gnu.tar.gz",
//!           "sha256": "<64 lowercase hex digits>",
//!           "size": 4812345,
//!           "minisig": "untrusted comment: …\nRU…\ntrusted comment: twg 1.2.3 x86_64-unknown-linux-gnu\n…\n"
//!         }
//!       }
//!     },
//!     "beta": { "version": "1.3.0-beta.1", "assets": {} }
//!   }
//! }
//! ```
//! - `schema` is required. A manifest with a higher schema is refused with a message asking
//!   the user to reinstall twg by hand (an old client must never misread a new format).
//! - `version` is SemVer 2.0 (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`, optional leading `v`).
//! - `released_at` and `notes_url` are optional, informational.
//! - `assets` is keyed by Rust target triple (see [`current_target`]); an asset names an
//!   https URL (loopback http allowed), the SHA-256 of the file as lowercase hex, and its
//!   size in bytes. A channel may omit targets; `twg update` then says there is no build for
//!   this platform. Unknown fields are ignored, so the format can grow within schema 1.

mod fetch;
mod target;
mod version;

pub use fetch::{CheckResult, check, fetch};
pub use target::current_target;
pub use version::{PACKAGE_VERSION, Version, VersionError};

use crate::config::{Config, ConfigError, validate_url};
use crate::oauth::http::{HttpSetupError, TransportError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Atlassian-hosted manifest used when neither config.toml nor the environment names one.
pub const DEFAULT_MANIFEST_URL: &str = "https://twg.atlassian.com/releases/manifest.json";
/// The channel used when config.toml does not name one.
pub const DEFAULT_CHANNEL: &str = "stable";
/// The manifest schema this build understands.
pub const SCHEMA: u32 = 1;

/// Why the manifest could not be fetched or used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Http(#[from] HttpSetupError),
    #[error(
        "cannot fetch the release manifest {url}: {source}. Check your network or proxy, or set [update] manifest_url in config.toml"
    )]
    Fetch { url: String, source: TransportError },
    #[error(
        "the release manifest {url} answered HTTP {status}. Retry later, or set [update] manifest_url in config.toml"
    )]
    Status { url: String, status: u16 },
    #[error(
        "the release manifest {url} is not valid: {detail}. Retry later; if it persists, report it to the twg maintainers"
    )]
    Invalid { url: String, detail: String },
    #[error(
        "the release manifest {url} uses schema {schema}, which this twg ({current}) cannot read. Download the latest twg by hand from {url}"
    )]
    UnsupportedSchema {
        url: String,
        schema: u32,
        current: &'static str,
    },
    #[error(
        "the release manifest {url} has no channel `{channel}` (available: {available}). Fix [update] channel in config.toml"
    )]
    NoChannel {
        url: String,
        channel: String,
        available: String,
    },
}

impl ManifestError {
    /// A network failure or a server error: retrying later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ManifestError::Fetch { .. } | ManifestError::Status { status: 500.., .. }
        )
    }
}

/// Where and whether to check, resolved from the effective [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSettings {
    pub manifest_url: String,
    pub channel: String,
    /// `false` when `[update] check = false`: upkeep skips its daily check.
    pub check: bool,
}

impl UpdateSettings {
    /// Applies defaults and validates the URL (https, or http on loopback).
    pub fn from_config(config: &Config) -> Result<Self, ManifestError> {
        let manifest_url = config
            .update
            .manifest_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_MANIFEST_URL.to_string());
        let origin = format!(
            "[update] manifest_url in {} or TWG_UPDATE_MANIFEST_URL",
            crate::paths::config_file(&config.root).display()
        );
        validate_url("release manifest URL", &manifest_url, &origin)?;
        let channel = config
            .update
            .channel
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_CHANNEL.to_string());
        Ok(Self {
            manifest_url,
            channel,
            check: config.update.check.unwrap_or(true),
        })
    }
}

/// The whole manifest document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub channels: BTreeMap<String, Release>,
}

/// The newest release on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_url: Option<String>,
    #[serde(default)]
    pub assets: BTreeMap<String, Asset>,
}

/// One downloadable build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub url: String,
    /// Lowercase hex SHA-256 of the file at `url`.
    pub sha256: String,
    pub size: u64,
    /// The minisign signature of the file (the whole `.minisig` text), made with twg's
    /// release key and the trusted comment `twg <version> <target>`. `twg update` refuses an
    /// asset without a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minisig: Option<String>,
}

impl Manifest {
    /// Parses and validates a manifest body; `url` only names the source in errors.
    pub fn parse(url: &str, body: &[u8]) -> Result<Self, ManifestError> {
        let invalid = |detail: String| ManifestError::Invalid {
            url: url.to_string(),
            detail,
        };
        // Read the schema first, so a future format is reported as such, not as "invalid".
        #[derive(Deserialize)]
        struct Head {
            schema: Option<u32>,
        }
        let head: Head = serde_json::from_slice(body).map_err(|e| {
            invalid(format!(
                "not JSON ({}; {})",
                e,
                crate::oauth::error::body_summary(body)
            ))
        })?;
        match head.schema {
            None => return Err(invalid("missing `schema`".into())),
            Some(SCHEMA) => {}
            Some(schema) => {
                return Err(ManifestError::UnsupportedSchema {
                    url: url.to_string(),
                    schema,
                    current: PACKAGE_VERSION,
                });
            }
        }
        let manifest: Manifest =
            serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
        for (name, release) in &manifest.channels {
            Version::parse(&release.version).map_err(|e| {
                invalid(format!(
                    "channel `{name}`: version `{}`: {e}",
                    release.version
                ))
            })?;
            for (target, asset) in &release.assets {
                let bad_hash = asset.sha256.len() != 64
                    || !asset
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if bad_hash {
                    return Err(invalid(format!(
                        "channel `{name}`, target `{target}`: sha256 must be 64 lowercase hex digits"
                    )));
                }
                validate_url("release asset URL", &asset.url, url)
                    .map_err(|e| invalid(format!("channel `{name}`, target `{target}`: {e}")))?;
            }
        }
        Ok(manifest)
    }

    /// The release on `channel`.
    pub fn release(&self, url: &str, channel: &str) -> Result<&Release, ManifestError> {
        self.channels
            .get(channel)
            .ok_or_else(|| ManifestError::NoChannel {
                url: url.to_string(),
                channel: channel.to_string(),
                available: self
                    .channels
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Release {
    /// The parsed version (validated by [`Manifest::parse`]).
    pub fn parsed_version(&self) -> Version {
        Version::parse(&self.version).expect("validated by Manifest::parse")
    }

    /// True when this release is newer than `current`.
    pub fn is_newer_than(&self, current: &Version) -> bool {
        self.parsed_version() > *current
    }

    /// The build for `target` (usually [`current_target`]).
    pub fn asset_for(&self, target: &str) -> Option<&Asset> {
        self.assets.get(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    const SAMPLE: &str = r#"{
      "schema": 1,
      "future_field": true,
      "channels": {
        "stable": {
          "version": "1.2.3",
          "released_at": "2026-03-01T12:00:00Z",
          "notes_url": "https://twg.atlassian.com/releases/1.2.3",
          "assets": {
            "x86_64-unknown-linux-gnu": {
              "url": "https://twg.atlassian.com/releases/1.2.3/twg-x86_64-unknown-linux-gnu.tar.gz",
              "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
              "size": 4812345
            }
          }
        },
        "beta": { "version": "1.3.0-beta.1" }
      }
    }"#;

    #[test]
    fn parses_the_documented_format() {
        let m = Manifest::parse("u", SAMPLE.as_bytes()).unwrap();
        let stable = m.release("u", "stable").unwrap();
        assert_eq!(stable.version, "1.2.3");
        assert_eq!(
            stable.asset_for("x86_64-unknown-linux-gnu").unwrap().size,
            4812345
        );
        assert!(stable.is_newer_than(&v("1.2.2")));
        assert!(!stable.is_newer_than(&v("1.2.3")));
        let beta = m.release("u", "beta").unwrap();
        assert!(beta.assets.is_empty());
        assert!(beta.is_newer_than(&v("1.2.3")));
        let err = m.release("u", "nightly").unwrap_err().to_string();
        assert!(err.contains("beta, stable"), "{err}");
        // Round trip through our own serializer keeps everything we model.
        let again = Manifest::parse("u", &serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn refuses_future_schema_bad_hashes_and_insecure_urls() {
        let future = r#"{"schema":2,"channels":{}}"#;
        assert!(matches!(
            Manifest::parse("u", future.as_bytes()),
            Err(ManifestError::UnsupportedSchema { schema: 2, .. })
        ));
        let bad_hash = SAMPLE.replace("9f86d0", "XYZ");
        assert!(Manifest::parse("u", bad_hash.as_bytes()).is_err());
        let http = SAMPLE.replace(
            "https://twg.atlassian.com/releases/1.2.3/twg",
            "http://example.com/twg",
        );
        let err = Manifest::parse("u", http.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("https"), "{err}");
        let html = Manifest::parse("u", b"<html>proxy login</html>").unwrap_err();
        assert!(html.to_string().contains("HTML page"), "{html}");
        assert!(Manifest::parse("u", br#"{"channels":{}}"#).is_err());
    }

    #[test]
    fn settings_default_to_atlassian_stable() {
        let root = std::path::Path::new("/r");
        let c = Config::resolve(root, Default::default(), &|_| None).unwrap();
        let s = UpdateSettings::from_config(&c).unwrap();
        assert_eq!(s.manifest_url, DEFAULT_MANIFEST_URL);
        assert_eq!(s.channel, DEFAULT_CHANNEL);
        assert!(s.check);
        let c = Config::resolve(root, Default::default(), &|k| {
            (k == "TWG_UPDATE_MANIFEST_URL").then(|| "http://example.com/m.json".to_string())
        })
        .unwrap();
        assert!(UpdateSettings::from_config(&c).is_err());
    }

    #[test]
    fn current_version_parses_and_target_is_known_here() {
        Version::current();
        assert_ne!(current_target(), "unsupported");
    }
}
