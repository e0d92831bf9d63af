//! Settings for what agents reach through twgd without holding the refresh token: the
//! restricted agent socket (`[agent]`) and the auth-injecting API proxy (`[api]`) in
//! `config.toml`. Kept apart from `config.rs` so the access policy reads in one place.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The API the proxy forwards to unless `base_url` says otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.atlassian.com";
/// The largest request body the proxy forwards unless configured.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 10 * 1024 * 1024;
/// The most validity (`--min-valid`) the agent socket promises unless configured: enough
/// for any single API call, short enough that an agent cannot make twgd rotate at will.
pub const DEFAULT_AGENT_MAX_MIN_VALID: u64 = 300;

/// `[api]` in `config.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Serve the auth-injecting proxy on `api.sock` (default false).
    pub proxy: Option<bool>,
    /// Where requests go (default [`DEFAULT_API_BASE`]); must be that or the login's site.
    pub base_url: Option<String>,
    /// Forward only GET, HEAD and OPTIONS.
    pub read_only: Option<bool>,
    /// The largest request body forwarded (default [`DEFAULT_MAX_REQUEST_BYTES`]).
    pub max_request_bytes: Option<u64>,
}

/// `[agent]` in `config.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// The largest `--min-valid` the agent socket serves (default
    /// [`DEFAULT_AGENT_MAX_MIN_VALID`]).
    pub max_min_valid_seconds: Option<u64>,
}

/// The resolved proxy settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSettings {
    pub proxy: bool,
    /// Without a trailing slash, so a request path appends to it.
    pub base_url: String,
    pub read_only: bool,
    pub max_request_bytes: u64,
}

/// The resolved agent-socket settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    pub max_min_valid_seconds: u64,
}

impl AgentSection {
    pub fn resolve(&self) -> AgentSettings {
        AgentSettings {
            max_min_valid_seconds: self
                .max_min_valid_seconds
                .unwrap_or(DEFAULT_AGENT_MAX_MIN_VALID),
        }
    }
}

impl ApiSection {
    /// Validates the section; `config_path` names the file in errors.
    pub fn resolve(&self, config_path: &Path) -> Result<ApiSettings, ConfigError> {
        let origin = config_path.display().to_string();
        let base = self
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_API_BASE)
            .trim_end_matches('/')
            .to_string();
        crate::config::validate_url("api.base_url", &base, &origin)?;
        let parsed = url::Url::parse(&base).map_err(|_| ConfigError::BadUrl {
            what: "api.base_url",
            url: base.clone(),
            origin: origin.clone(),
        })?;
        // A query or fragment would end up in the middle of every forwarded URL.
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(ConfigError::Invalid {
                path: config_path.to_path_buf(),
                detail: "api.base_url must be a plain URL without user, query or fragment, \
                         such as https://api.atlassian.com"
                    .into(),
            });
        }
        if self.max_request_bytes == Some(0) {
            return Err(ConfigError::Invalid {
                path: config_path.to_path_buf(),
                detail: "api.max_request_bytes must be at least 1".into(),
            });
        }
        Ok(ApiSettings {
            proxy: self.proxy.unwrap_or(false),
            base_url: base,
            read_only: self.read_only.unwrap_or(false),
            max_request_bytes: self.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
        })
    }
}

impl ApiSettings {
    /// True when the token may be sent to `base_url`: Atlassian's API, or the site the
    /// login chose. Anything else would hand the user's token to a server they never
    /// logged in to, so a typo or an edited `config.toml` cannot exfiltrate it.
    pub fn allowed(&self, site_url: Option<&str>) -> bool {
        crate::config::same_origin(&self.base_url, DEFAULT_API_BASE)
            || site_url.is_some_and(|site| crate::config::same_origin(&self.base_url, site))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(toml_text: &str) -> Result<ApiSettings, ConfigError> {
        let section: ApiSection = toml::from_str(toml_text).unwrap();
        section.resolve(Path::new("/r/config.toml"))
    }

    #[test]
    fn defaults_keep_the_proxy_off() {
        let a = api("").unwrap();
        assert!(!a.proxy);
        assert!(!a.read_only);
        assert_eq!(a.base_url, DEFAULT_API_BASE);
        assert_eq!(a.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
        assert_eq!(
            AgentSection::default().resolve().max_min_valid_seconds,
            DEFAULT_AGENT_MAX_MIN_VALID
        );
    }

    #[test]
    fn only_atlassian_and_the_login_site_are_allowed() {
        let a = api("base_url = \"https://acme.atlassian.net/\"").unwrap();
        assert_eq!(a.base_url, "https://acme.atlassian.net");
        assert!(!a.allowed(None));
        assert!(!a.allowed(Some("https://other.atlassian.net")));
        assert!(a.allowed(Some("https://acme.atlassian.net")));
        assert!(api("").unwrap().allowed(None));
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(api("base_url = \"http://api.example.com\"").is_err());
        assert!(api("base_url = \"https://api.example.com/?x=1\"").is_err());
        assert!(api("base_url = \"https://u:p@api.example.com\"").is_err());
        assert!(api("max_request_bytes = 0").is_err());
    }
}
