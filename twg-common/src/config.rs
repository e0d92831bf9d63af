//! `config.toml` in the config root, plus the environment overrides for development and CI.
//!
//! Defaults are Atlassian's endpoints and twg's client id. `TWG_OAUTH_ISSUER` switches to
//! any standards-conforming server (endpoints from its RFC 8414 / OpenID discovery
//! document); `TWG_OAUTH_CLIENT_ID` and `TWG_OAUTH_SCOPES` (space-separated) override the rest.
//!
//! Why one long file: every setting, its default, its environment override and its
//! validation sit together, so a key cannot be documented in one place and read in another.
//! The last quarter is unit tests.

use crate::oauth::client_auth::AuthMethod;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const ATLASSIAN_ISSUER: &str = "https://auth.atlassian.com";
/// Only a build for Atlassian's first-party client (`TWG_BUILD_CLIENT_ID`) uses it: Atlassian
/// documents no device grant for other clients.
pub const ATLASSIAN_DEVICE_ENDPOINT: &str = "https://auth.atlassian.com/oauth/device/code";
/// The 3LO authorization endpoint (authorization-code grant).
pub const ATLASSIAN_AUTHORIZATION_ENDPOINT: &str = "https://auth.atlassian.com/authorize";
/// Atlassian's 3LO apps ask for tokens for this audience.
pub const ATLASSIAN_AUDIENCE: &str = "api.atlassian.com";
/// The callback URL `twg login --web` listens on unless configured; enter exactly this in
/// the app's settings in the developer console.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:8976/callback";
pub const ATLASSIAN_TOKEN_ENDPOINT: &str = "https://auth.atlassian.com/oauth/token";
pub const ATLASSIAN_REVOCATION_ENDPOINT: &str = "https://auth.atlassian.com/oauth/revoke";
pub const ATLASSIAN_RESOURCES_ENDPOINT: &str =
    "https://api.atlassian.com/oauth/token/accessible-resources";
pub const ATLASSIAN_USERINFO_ENDPOINT: &str = "https://api.atlassian.com/me";
/// The client id baked in at build time (`TWG_BUILD_CLIENT_ID`), if any.
pub const BUILD_CLIENT_ID: Option<&str> = option_env!("TWG_BUILD_CLIENT_ID");
/// The client id used when none is configured: the build's, else twg's public id (which
/// only a server that registered it knows; Atlassian does not).
pub const DEFAULT_CLIENT_ID: &str = match BUILD_CLIENT_ID {
    Some(id) => id,
    None => "twg-cli",
};
pub const DEFAULT_SCOPES: &[&str] = &["read:me", "read:account", "offline_access"];

/// Problems with `config.toml` or the environment overrides.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {detail}. Fix it or move it away (twg then uses its defaults)")]
    Invalid { path: PathBuf, detail: String },
    #[error(
        "{what} `{url}` must use https (plain http is allowed only for loopback addresses); fix {origin}"
    )]
    InsecureUrl {
        what: &'static str,
        url: String,
        origin: String,
    },
    #[error("{what} `{url}` is not a valid URL; fix {origin}")]
    BadUrl {
        what: &'static str,
        url: String,
        origin: String,
    },
}

/// The file's shape. Every key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub oauth: OAuthSection,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub credentials: CredentialsSection,
    #[serde(default)]
    pub update: UpdateSection,
    #[serde(default)]
    pub daemon: DaemonSection,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub device_authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub resources_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    /// Where `twg login --web` sends the browser (authorization-code grant).
    pub authorization_endpoint: Option<String>,
    /// The callback URL registered for the app; `twg login --web` listens on it (loopback
    /// http with an explicit port). Default [`DEFAULT_REDIRECT_URI`].
    pub redirect_uri: Option<String>,
    /// Sent as `audience` with the authorization request (Atlassian: `api.atlassian.com`).
    pub audience: Option<String>,
    /// How a confidential client proves its secret: `client_secret_basic` or
    /// `client_secret_post`. Default: what the server's metadata allows, Basic first.
    pub token_endpoint_auth_method: Option<String>,
    /// The server accepts a refresh token again for a short time after rotating it (Atlassian
    /// documents 10 minutes). Only then does twg retry a refresh whose answer was lost.
    /// Default: true for Atlassian's issuer, false for any other.
    pub reuse_leeway: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Extra PEM CA bundle to trust (TLS-inspecting proxies). `SSL_CERT_FILE` also works.
    pub ca_file: Option<PathBuf>,
    /// Whole-request timeout in seconds (default 30).
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    File,
    Keyring,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::File => "file",
            BackendKind::Keyring => "keyring",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialsSection {
    /// `file` (default) or `keyring`. There is never a silent fallback between them.
    pub backend: Option<BackendKind>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    pub manifest_url: Option<String>,
    pub channel: Option<String>,
    /// Set to false to turn off the daily update check.
    pub check: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// How long a socket-activated twgd waits without requests before it exits (`"30m"`,
    /// `"2h"`; `"0"` or `"off"` never). Default [`DEFAULT_IDLE_EXIT`].
    pub idle_exit: Option<String>,
}

/// A socket-activated twgd exits after this long without requests.
pub const DEFAULT_IDLE_EXIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// `idle_exit` as a duration; `None` turns idle exit off.
fn parse_idle_exit(raw: &str) -> Result<Option<std::time::Duration>, String> {
    match raw.trim() {
        "0" | "off" | "never" => Ok(None),
        t => match humantime::parse_duration(t) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(format!(
                "daemon.idle_exit `{t}` is not a duration ({e}); write it like \"30m\" or \"2h\", or \"off\""
            )),
        },
    }
}

/// The effective configuration: file + environment + defaults, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub oauth: OAuthSettings,
    /// See [`OAuthSection::reuse_leeway`].
    pub reuse_leeway: bool,
    pub ca_file: Option<PathBuf>,
    pub timeout: std::time::Duration,
    pub backend: BackendKind,
    pub update: UpdateSection,
    /// See [`DaemonSection::idle_exit`]; `None`: never.
    pub idle_exit: Option<std::time::Duration>,
}

/// Where OAuth requests go.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSettings {
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Endpoints not given explicitly are discovered from the issuer's metadata.
    pub device_authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub resources_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub authorization_endpoint: Option<String>,
    /// The configured callback URL, or [`DEFAULT_REDIRECT_URI`].
    pub redirect_uri: String,
    pub audience: Option<String>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// False when `client_id` is only the built-in default (nobody configured one).
    pub client_id_configured: bool,
}

impl OAuthSettings {
    fn atlassian() -> Self {
        Self {
            issuer: ATLASSIAN_ISSUER.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            device_authorization_endpoint: BUILD_CLIENT_ID
                .map(|_| ATLASSIAN_DEVICE_ENDPOINT.to_string()),
            token_endpoint: Some(ATLASSIAN_TOKEN_ENDPOINT.into()),
            revocation_endpoint: Some(ATLASSIAN_REVOCATION_ENDPOINT.into()),
            resources_endpoint: Some(ATLASSIAN_RESOURCES_ENDPOINT.into()),
            userinfo_endpoint: Some(ATLASSIAN_USERINFO_ENDPOINT.into()),
            authorization_endpoint: Some(ATLASSIAN_AUTHORIZATION_ENDPOINT.into()),
            redirect_uri: DEFAULT_REDIRECT_URI.into(),
            audience: Some(ATLASSIAN_AUDIENCE.into()),
            // Atlassian documents the secret in the request body.
            token_endpoint_auth_method: Some(AuthMethod::ClientSecretPost),
            client_id_configured: BUILD_CLIENT_ID.is_some(),
        }
    }

    /// True when every endpoint needed for login is known without discovery.
    pub fn is_complete(&self) -> bool {
        self.token_endpoint.is_some()
            && (self.device_authorization_endpoint.is_some()
                || self.authorization_endpoint.is_some())
    }

    /// True for Atlassian's own issuer (its defaults and quirks apply).
    pub fn is_atlassian(&self) -> bool {
        same_origin(&self.issuer, ATLASSIAN_ISSUER)
    }
}

impl OAuthSettings {
    /// Another issuer: its endpoints come from its discovery document unless given
    /// explicitly, and Atlassian's audience and client authentication no longer apply.
    fn for_issuer(self, issuer: String) -> Self {
        if same_origin(&issuer, ATLASSIAN_ISSUER) {
            // Atlassian named explicitly: its endpoints and 3LO defaults, the app kept.
            return Self {
                issuer,
                client_id: self.client_id,
                scopes: self.scopes,
                redirect_uri: self.redirect_uri,
                client_id_configured: self.client_id_configured,
                ..Self::atlassian()
            };
        }
        Self {
            issuer,
            device_authorization_endpoint: None,
            token_endpoint: None,
            revocation_endpoint: None,
            resources_endpoint: None,
            userinfo_endpoint: None,
            authorization_endpoint: None,
            audience: None,
            token_endpoint_auth_method: None,
            ..self
        }
    }
}

impl ConfigFile {
    /// Reads `config.toml`; a missing file is the empty config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            detail: toml_error_detail(&text, &e),
        })
    }
}

/// A TOML error as "line N: message", without echoing the offending source line (which
/// could hold a secret in credential files).
pub fn toml_error_detail(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            // Counted on bytes: a span that is not on a char boundary must not panic.
            let end = span.start.min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

impl Config {
    /// Loads `config.toml` from `root` and applies the process environment.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let file = ConfigFile::load(&crate::paths::config_file(root))?;
        Self::resolve(root, file, &|k| std::env::var(k).ok())
    }

    /// Combines the file with an environment lookup (injectable for tests).
    pub fn resolve(
        root: &Path,
        file: ConfigFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let cfg_path = crate::paths::config_file(root).display().to_string();
        let mut oauth = OAuthSettings::atlassian();
        let o = file.oauth;
        let auth_method_from_file = o.token_endpoint_auth_method.is_some();
        let audience_from_file = o.audience.is_some();
        if let Some(issuer) = o.issuer {
            // A custom issuer: its endpoints come from discovery unless given explicitly.
            oauth = oauth.for_issuer(issuer);
        }
        macro_rules! take {
            ($field:ident) => {
                if let Some(v) = o.$field {
                    oauth.$field = Some(v);
                }
            };
        }
        take!(device_authorization_endpoint);
        take!(token_endpoint);
        take!(revocation_endpoint);
        take!(resources_endpoint);
        take!(userinfo_endpoint);
        take!(authorization_endpoint);
        take!(audience);
        if let Some(uri) = o.redirect_uri {
            oauth.redirect_uri = uri;
        }
        if let Some(m) = &o.token_endpoint_auth_method {
            oauth.token_endpoint_auth_method =
                Some(AuthMethod::parse(m).ok_or_else(|| ConfigError::Invalid {
                    path: crate::paths::config_file(root),
                    detail: format!(
                        "oauth.token_endpoint_auth_method `{m}` is not one of client_secret_basic, client_secret_post, none"
                    ),
                })?);
        }
        if let Some(id) = o.client_id {
            oauth.client_id = id;
            oauth.client_id_configured = true;
        }
        if let Some(scopes) = o.scopes {
            oauth.scopes = scopes;
        }
        let origin = |field: &str, from_env: bool| {
            if from_env {
                format!("the environment variable {field}")
            } else {
                cfg_path.clone()
            }
        };
        let mut issuer_from_env = false;
        if let Some(issuer) = env("TWG_OAUTH_ISSUER") {
            issuer_from_env = true;
            // Endpoints come from the new issuer's discovery; how the client authenticates
            // and the audience stay as the file says (they describe the app, not the server).
            let (method, audience) = (oauth.token_endpoint_auth_method, oauth.audience.clone());
            oauth = oauth.for_issuer(issuer.trim_end_matches('/').to_string());
            if auth_method_from_file {
                oauth.token_endpoint_auth_method = method;
            }
            if audience_from_file {
                oauth.audience = audience;
            }
        }
        if let Some(id) = env("TWG_OAUTH_CLIENT_ID") {
            oauth.client_id = id.trim().to_string();
            oauth.client_id_configured = true;
        }
        if let Some(uri) = env("TWG_OAUTH_REDIRECT_URI") {
            oauth.redirect_uri = uri.trim().to_string();
        }
        if let Some(scopes) = env("TWG_OAUTH_SCOPES") {
            oauth.scopes = scopes.split_whitespace().map(str::to_string).collect();
        }
        validate_url(
            "OAuth issuer",
            &oauth.issuer,
            &origin("TWG_OAUTH_ISSUER", issuer_from_env),
        )?;
        for (what, url) in [
            (
                "device authorization endpoint",
                &oauth.device_authorization_endpoint,
            ),
            ("token endpoint", &oauth.token_endpoint),
            ("revocation endpoint", &oauth.revocation_endpoint),
            ("resources endpoint", &oauth.resources_endpoint),
            ("userinfo endpoint", &oauth.userinfo_endpoint),
            ("authorization endpoint", &oauth.authorization_endpoint),
        ] {
            if let Some(url) = url {
                validate_url(what, url, &origin("", false))?;
            }
        }
        let mut update = file.update;
        if let Some(url) = env("TWG_UPDATE_MANIFEST_URL") {
            update.manifest_url = Some(url);
        }
        let reuse_leeway = match env("TWG_OAUTH_REUSE_LEEWAY").as_deref().map(str::trim) {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    path: crate::paths::config_file(root),
                    detail: "TWG_OAUTH_REUSE_LEEWAY must be true or false".into(),
                });
            }
            None => o
                .reuse_leeway
                .unwrap_or(same_origin(&oauth.issuer, ATLASSIAN_ISSUER)),
        };
        let idle_exit = match file.daemon.idle_exit.as_deref() {
            None => Some(DEFAULT_IDLE_EXIT),
            Some(raw) => parse_idle_exit(raw).map_err(|detail| ConfigError::Invalid {
                path: crate::paths::config_file(root),
                detail,
            })?,
        };
        let ca_file = env("SSL_CERT_FILE")
            .map(PathBuf::from)
            .or(file.network.ca_file);
        Ok(Self {
            root: root.to_path_buf(),
            oauth,
            reuse_leeway,
            ca_file,
            timeout: std::time::Duration::from_secs(match file.network.timeout_seconds {
                None => 30,
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        path: crate::paths::config_file(root),
                        detail: "network.timeout_seconds must be at least 1".into(),
                    });
                }
                Some(secs) => secs,
            }),
            backend: file.credentials.backend.unwrap_or_default(),
            update,
            idle_exit,
        })
    }
}

/// https everywhere; plain http only for loopback hosts (development servers).
pub fn validate_url(what: &'static str, raw: &str, origin: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(raw).map_err(|_| ConfigError::BadUrl {
        what,
        url: raw.into(),
        origin: origin.into(),
    })?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(ConfigError::InsecureUrl {
            what,
            url: raw.into(),
            origin: origin.into(),
        }),
    }
}

/// The origin (scheme, host, port) of a URL, for pinning endpoints to their issuer.
pub fn origin_of(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// True when both URLs parse and share scheme, host and port.
pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin_of(a), origin_of(b)), (Some(x), Some(y)) if x == y)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_are_atlassian() {
        let c = Config::resolve(Path::new("/r"), ConfigFile::default(), &env_of(&[])).unwrap();
        assert_eq!(c.oauth.issuer, ATLASSIAN_ISSUER);
        assert!(c.oauth.is_complete());
        assert_eq!(c.backend, BackendKind::File);
    }

    #[test]
    fn atlassian_defaults_are_the_3lo_web_login() {
        let c = Config::resolve(Path::new("/r"), ConfigFile::default(), &env_of(&[])).unwrap();
        let o = &c.oauth;
        assert_eq!(
            o.authorization_endpoint.as_deref(),
            Some(ATLASSIAN_AUTHORIZATION_ENDPOINT)
        );
        assert_eq!(o.audience.as_deref(), Some(ATLASSIAN_AUDIENCE));
        assert_eq!(
            o.token_endpoint_auth_method,
            Some(AuthMethod::ClientSecretPost)
        );
        assert_eq!(o.redirect_uri, DEFAULT_REDIRECT_URI);
        if BUILD_CLIENT_ID.is_none() {
            // Atlassian documents no device grant for third-party apps: no guessed endpoint.
            assert_eq!(o.device_authorization_endpoint, None);
            assert!(!o.client_id_configured);
        }
    }

    #[test]
    fn the_app_settings_come_from_the_file_and_the_environment() {
        let file: ConfigFile = toml::from_str(
            "[oauth]\nclient_id = \"app\"\nredirect_uri = \"http://127.0.0.1:9999/cb\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n",
        )
        .unwrap();
        let c = Config::resolve(Path::new("/r"), file.clone(), &env_of(&[])).unwrap();
        assert!(c.oauth.client_id_configured);
        assert_eq!(c.oauth.client_id, "app");
        assert_eq!(c.oauth.redirect_uri, "http://127.0.0.1:9999/cb");
        assert_eq!(
            c.oauth.token_endpoint_auth_method,
            Some(AuthMethod::ClientSecretBasic)
        );
        let c = Config::resolve(
            Path::new("/r"),
            file,
            &env_of(&[("TWG_OAUTH_REDIRECT_URI", "http://localhost:1234/x")]),
        )
        .unwrap();
        assert_eq!(c.oauth.redirect_uri, "http://localhost:1234/x");
        let bad: ConfigFile =
            toml::from_str("[oauth]\ntoken_endpoint_auth_method = \"private_key_jwt\"\n").unwrap();
        let err = Config::resolve(Path::new("/r"), bad, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("client_secret_basic"), "{err}");
    }

    #[test]
    fn another_issuer_drops_atlassians_audience_and_client_authentication() {
        let c = Config::resolve(
            Path::new("/r"),
            ConfigFile::default(),
            &env_of(&[("TWG_OAUTH_ISSUER", "http://127.0.0.1:9")]),
        )
        .unwrap();
        assert_eq!(c.oauth.audience, None);
        assert_eq!(c.oauth.authorization_endpoint, None);
        assert_eq!(c.oauth.token_endpoint_auth_method, None);
    }

    #[test]
    fn env_issuer_clears_endpoints_for_discovery() {
        let c = Config::resolve(
            Path::new("/r"),
            ConfigFile::default(),
            &env_of(&[
                ("TWG_OAUTH_ISSUER", "http://127.0.0.1:9/"),
                ("TWG_OAUTH_CLIENT_ID", "cli"),
                ("TWG_OAUTH_SCOPES", "openid  offline_access"),
            ]),
        )
        .unwrap();
        assert_eq!(c.oauth.issuer, "http://127.0.0.1:9");
        assert_eq!(c.oauth.token_endpoint, None);
        assert_eq!(c.oauth.client_id, "cli");
        assert_eq!(c.oauth.scopes, vec!["openid", "offline_access"]);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:1",
            "https://x.example",
        ] {
            validate_url("t", ok, "o").unwrap();
        }
        for bad in ["http://example.com", "http://10.0.0.1", "ftp://127.0.0.1"] {
            assert!(matches!(
                validate_url("t", bad, "o"),
                Err(ConfigError::InsecureUrl { .. })
            ));
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[oauth]\nissuer = \"https://a\"\ntypo = 1\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn idle_exit_defaults_to_thirty_minutes_and_can_be_turned_off() {
        let load = |text: &str| {
            let file: ConfigFile = toml::from_str(text).unwrap();
            Config::resolve(Path::new("/r"), file, &|_| None).map(|c| c.idle_exit)
        };
        assert_eq!(load("").unwrap(), Some(DEFAULT_IDLE_EXIT));
        assert_eq!(
            load("[daemon]\nidle_exit = \"2h 5m\"").unwrap(),
            Some(std::time::Duration::from_secs(7500))
        );
        for off in ["0", "off", "never", "0s"] {
            assert_eq!(
                load(&format!("[daemon]\nidle_exit = \"{off}\"")).unwrap(),
                None
            );
        }
        let err = load("[daemon]\nidle_exit = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("daemon.idle_exit") && err.contains("30m"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_timeout_is_rejected() {
        let mut file = ConfigFile::default();
        file.network.timeout_seconds = Some(0);
        let err = Config::resolve(Path::new("/r"), file, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("timeout_seconds"), "{err}");
    }

    #[test]
    fn config_file_round_trips() {
        let text = "[oauth]\nissuer = \"https://id.example\"\nscopes = [\"a\", \"b\"]\n\n[credentials]\nbackend = \"keyring\"\n";
        let parsed: ConfigFile = toml::from_str(text).unwrap();
        assert_eq!(parsed.credentials.backend, Some(BackendKind::Keyring));
        let again: ConfigFile = toml::from_str(&toml::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
    }
}
