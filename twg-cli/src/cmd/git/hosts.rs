//! The origins the git helper answers for, and the username it answers with.
//!
//! An origin is scheme, host and port (`https://bitbucket.org`, `http://127.0.0.1:8080`),
//! compared exactly: the token goes only where the user said Bitbucket is. Bitbucket Cloud
//! is always one; self-hosted ones (`twg setup git --host`) live in config.toml under
//! `[git] hosts`. Plain http is allowed only for loopback addresses, as everywhere in twg.

use crate::report::CliError;
use std::path::Path;
use twg_common::config::ConfigFile;
use twg_common::error_code::ErrorCode;

/// Bitbucket Cloud, always answered for.
pub const BITBUCKET_CLOUD: &str = "https://bitbucket.org";

/// The username Bitbucket accepts with an API token for git over HTTPS whatever the
/// account's Bitbucket username is (Atlassian: "Using API tokens", static username).
/// Your own Bitbucket username works too (`twg setup git --username`); the Atlassian
/// account email, which the REST API takes, is not what git operations expect.
pub const DEFAULT_USERNAME: &str = "x-bitbucket-api-token-auth";

/// A normalised origin: `scheme://host[:port]`, without a default port or a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// What a user typed: a host name (`git.example.com`, `git.example.com:8443`: https),
    /// or an origin URL (`https://git.example.com`, `http://127.0.0.1:7990`).
    pub fn parse_user(raw: &str) -> Result<Origin, String> {
        let raw = raw.trim();
        let url_text = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("https://{raw}")
        };
        let bad = || {
            format!(
                "`{raw}` is not a host name or an origin URL; give `HOST`, `HOST:PORT` or \
                 `https://HOST[:PORT]` (no path)"
            )
        };
        let url = url::Url::parse(&url_text).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(bad());
        }
        twg_common::config::validate_url("the git host", &url_text, "--host").map_err(|_| {
            format!(
                "`{raw}` uses plain http, which would send your Bitbucket token unencrypted; \
                 use https (plain http is allowed only for loopback addresses)"
            )
        })?;
        Ok(Origin(url.origin().ascii_serialization()))
    }

    /// The origin of a request from git (`protocol=` and `host=`, the host with its port
    /// when the URL had one). `None` for anything that is not plainly an http(s) origin.
    pub fn from_git(protocol: &str, host: &str) -> Option<Origin> {
        if !matches!(protocol, "http" | "https")
            || host.is_empty()
            || host.contains(['/', '@', '?', '#', '\\'])
        {
            return None;
        }
        let url = url::Url::parse(&format!("{protocol}://{host}/")).ok()?;
        url.host_str()?;
        Some(Origin(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_cloud(&self) -> bool {
        self.0 == BITBUCKET_CLOUD
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The helper's settings from config.toml.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// Bitbucket Cloud first, then the configured origins.
    pub hosts: Vec<Origin>,
    pub username: String,
}

impl GitSettings {
    /// Reads `[git]` from `config.toml` in `root`. A stored origin that no longer parses is
    /// an invalid configuration (exit 78), never silently dropped or widened.
    pub fn load(root: &Path) -> Result<GitSettings, CliError> {
        let path = twg_common::paths::config_file(root);
        let file = ConfigFile::load(&path)?;
        let mut hosts = vec![Origin(BITBUCKET_CLOUD.into())];
        for raw in file.git.hosts.unwrap_or_default() {
            let origin = Origin::parse_user(&raw).map_err(|why| {
                CliError::new(
                    ErrorCode::ConfigInvalid,
                    format!(
                        "{}: git.hosts: {why}; fix it, or remove it with `twg setup git --remove --host {raw}`",
                        path.display()
                    ),
                )
            })?;
            if !hosts.contains(&origin) {
                hosts.push(origin);
            }
        }
        let username = file
            .git
            .username
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_USERNAME.into());
        Ok(GitSettings { hosts, username })
    }

    pub fn answers_for(&self, origin: &Origin) -> bool {
        self.hosts.contains(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(raw: &str) -> Result<String, String> {
        Origin::parse_user(raw).map(|o| o.0)
    }

    #[test]
    fn user_input_becomes_an_origin() {
        assert_eq!(user("bitbucket.org").unwrap(), "https://bitbucket.org");
        assert_eq!(
            user("https://BitBucket.org/").unwrap(),
            "https://bitbucket.org"
        );
        assert_eq!(
            user("https://bitbucket.org:443").unwrap(),
            "https://bitbucket.org"
        );
        assert_eq!(user("git.corp:8443").unwrap(), "https://git.corp:8443");
        assert_eq!(
            user("http://127.0.0.1:7990").unwrap(),
            "http://127.0.0.1:7990"
        );
        assert_eq!(
            user("http://localhost:7990").unwrap(),
            "http://localhost:7990"
        );
    }

    #[test]
    fn plain_http_paths_and_credentials_are_refused() {
        assert!(user("http://git.corp").unwrap_err().contains("plain http"));
        for bad in [
            "https://git.corp/scm",
            "https://u:p@git.corp",
            "ssh://git.corp",
            "https://git.corp?x=1",
            "",
        ] {
            assert!(user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_requests_match_only_the_exact_origin() {
        let cloud = Origin(BITBUCKET_CLOUD.into());
        assert_eq!(
            Origin::from_git("https", "bitbucket.org"),
            Some(cloud.clone())
        );
        assert_eq!(
            Origin::from_git("https", "bitbucket.org:443"),
            Some(cloud.clone())
        );
        assert_eq!(
            Origin::from_git("https", "BITBUCKET.ORG"),
            Some(cloud.clone())
        );
        for (protocol, host) in [
            ("http", "bitbucket.org"),
            ("https", "bitbucket.org:8443"),
            ("https", "bitbucket.org.evil.test"),
            ("https", "evil.test/bitbucket.org"),
            ("https", "bitbucket.org@evil.test"),
            ("ssh", "bitbucket.org"),
            ("https", ""),
        ] {
            assert_ne!(
                Origin::from_git(protocol, host),
                Some(cloud.clone()),
                "{protocol}://{host}"
            );
        }
    }
}
