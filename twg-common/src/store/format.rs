//! The `auth.conf` file format, version 1 (TOML).
//!
//! ```toml
//! # twg credentials. Written by twg; keep private (mode 0600).
//! version = 1            # format version; a newer twg may write a higher one
//! generation = 7         # incremented on every save
//! backend = "file"       # or "keyring": secrets then live in the OS keyring, not here
//!
//! [oauth]
//! issuer = "https://auth.atlassian.com"
//! client_id = "..."
//! token_endpoint = "https://auth.atlassian.com/oauth/token"
//! revocation_endpoint = "https://auth.atlassian.com/oauth/revoke"
//! scopes = ["read:me", "offline_access"]
//! access_token = "..."   # absent with the keyring backend
//! token_type = "Bearer"
//! expires_at = 1795996800        # Unix seconds
//! obtained_at = 1795993200
//! refresh_token = "..."  # absent with the keyring backend
//! refresh_token_issued_at = 1795993200
//! client_secret = "..."  # confidential clients (`twg login --web`); absent with the keyring
//! client_auth = "client_secret_post"   # or client_secret_basic; absent for public clients
//! grant = "authorization_code"         # or "device"
//!
//! [user]
//! name = "Ada"
//! email = "ada@example.com"
//! account_id = "..."
//!
//! [site]
//! id = "..."
//! name = "acme"
//! url = "https://acme.atlassian.net"
//!
//! [bitbucket]
//! token = "..."          # absent with the keyring backend
//!
//! [oauth_app]            # `twg setup oauth-app`: the app the next `twg login --web` uses
//! client_id = "..."
//! client_secret = "..."  # absent with the keyring backend
//! ```

use crate::config::BackendKind;
use crate::oauth::client_auth::AuthMethod;
use crate::secret::Secret;
use crate::store::{Credentials, LoginGrant, OAuthApp, OAuthCredentials, SiteInfo, UserInfo};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const FORMAT_VERSION: u32 = 2;
/// Version 1 is still written when nothing needs version 2, so a twg from before version 2
/// keeps working with device logins. Version 2 adds a confidential client's secret and
/// `[oauth_app]`: a twg that would ignore them (and refresh as a public client, or drop them
/// on its next save) must refuse the file instead, asking to be upgraded.
const VERSION_WITHOUT_CLIENT_SECRETS: u32 = 1;

const HEADER: &str = "# twg credentials. Written by twg; do not edit while twgd runs. Keep private (0600).\n# Format: see `twg_common::store::format` or the README.\n";

/// A file that is not a valid `auth.conf`.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{path} is corrupt ({detail}). It was left untouched: move it away and run `twg login`"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} has format version {found}, but this twg understands up to {FORMAT_VERSION}; upgrade twg (`twg update`)"
    )]
    UnknownVersion { path: PathBuf, found: u32 },
}

/// The on-disk shape. Secrets are optional because the keyring backend keeps them elsewhere.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthFile {
    pub version: u32,
    pub generation: u64,
    #[serde(default)]
    pub backend: BackendKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<BitbucketSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_app: Option<OAuthAppSection>,
}

/// `[oauth_app]`: the app registered by `twg setup oauth-app`.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OAuthAppSection {
    pub client_id: String,
    /// Absent with the keyring backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OAuthSection {
    pub issuer: String,
    pub client_id: String,
    pub token_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub obtained_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub refresh_token_issued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<crate::store::Halt>,
    /// Absent with the keyring backend and for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "is_public")]
    pub client_auth: AuthMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<LoginGrant>,
}

fn is_public(m: &AuthMethod) -> bool {
    *m == AuthMethod::None
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BitbucketSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// With the keyring backend: a token is stored there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_keyring: bool,
}

fn bearer() -> String {
    "Bearer".into()
}

/// Parses `auth.conf`, checking the version first so a newer format gets the right error.
pub fn parse(path: &std::path::Path, text: &str) -> Result<AuthFile, FormatError> {
    crate::versioned::parse(text, FORMAT_VERSION).map_err(|e| match e {
        crate::versioned::VersionedError::Corrupt(detail) => FormatError::Corrupt {
            path: path.into(),
            detail,
        },
        crate::versioned::VersionedError::Newer(found) => FormatError::UnknownVersion {
            path: path.into(),
            found,
        },
    })
}

/// Renders `auth.conf`.
pub fn render(file: &AuthFile) -> String {
    let body = toml::to_string(file).expect("auth.conf types always serialise");
    format!("{HEADER}{body}")
}

impl AuthFile {
    /// The file form of `credentials`, with secrets inline (file backend).
    pub fn from_credentials(c: &Credentials, generation: u64) -> Self {
        AuthFile {
            version: if c.oauth_app.is_some()
                || c.oauth
                    .as_ref()
                    .is_some_and(|o| o.client_secret.is_some() || o.client_auth != AuthMethod::None)
            {
                FORMAT_VERSION
            } else {
                VERSION_WITHOUT_CLIENT_SECRETS
            },
            generation,
            backend: BackendKind::File,
            oauth: c.oauth.as_ref().map(|o| OAuthSection {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                token_endpoint: o.token_endpoint.clone(),
                revocation_endpoint: o.revocation_endpoint.clone(),
                scopes: o.scopes.clone(),
                access_token: Some(o.access_token.clone()),
                token_type: o.token_type.clone(),
                expires_at: o.expires_at,
                obtained_at: o.obtained_at,
                refresh_token: o.refresh_token.clone(),
                refresh_token_issued_at: o.refresh_token_issued_at,
                halted: o.halted.clone(),
                client_secret: o.client_secret.clone(),
                client_auth: o.client_auth,
                grant: o.grant,
            }),
            user: c.user.clone(),
            site: c.site.clone(),
            bitbucket: c.bitbucket_token.as_ref().map(|t| BitbucketSection {
                token: Some(t.clone()),
                in_keyring: false,
            }),
            oauth_app: c.oauth_app.as_ref().map(|a| OAuthAppSection {
                client_id: a.client_id.clone(),
                client_secret: Some(a.client_secret.clone()),
            }),
        }
    }

    /// Back to credentials (secrets as found in the file).
    pub fn into_credentials(self) -> Credentials {
        Credentials {
            oauth: self.oauth.map(|o| OAuthCredentials {
                issuer: o.issuer,
                client_id: o.client_id,
                token_endpoint: o.token_endpoint,
                revocation_endpoint: o.revocation_endpoint,
                scopes: o.scopes,
                access_token: o.access_token.unwrap_or_default(),
                token_type: o.token_type,
                expires_at: o.expires_at,
                obtained_at: o.obtained_at,
                refresh_token: o.refresh_token,
                refresh_token_issued_at: o.refresh_token_issued_at,
                halted: o.halted,
                client_secret: o.client_secret,
                client_auth: o.client_auth,
                grant: o.grant,
            }),
            user: self.user,
            site: self.site,
            bitbucket_token: self.bitbucket.and_then(|b| b.token),
            oauth_app: self.oauth_app.map(|a| OAuthApp {
                client_id: a.client_id,
                client_secret: a.client_secret.unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const EXACT: &str = r#"# twg credentials. Written by twg; do not edit while twgd runs. Keep private (0600).
# Format: see `twg_common::store::format` or the README.
version = 1
generation = 3
backend = "file"

[oauth]
issuer = "https://auth.example"
client_id = "cid"
token_endpoint = "https://auth.example/oauth/token"
revocation_endpoint = "https://auth.example/oauth/revoke"
scopes = ["read:me", "offline_access"]
access_token = "at"
token_type = "Bearer"
expires_at = 200
obtained_at = 100
refresh_token = "rt"
refresh_token_issued_at = 100

[site]
id = "s1"
name = "acme"
url = "https://acme.example"

[bitbucket]
token = "bb"
"#;

    #[test]
    fn exact_round_trip() {
        let parsed = parse(Path::new("auth.conf"), EXACT).unwrap();
        assert_eq!(render(&parsed), EXACT);
        let creds = parsed.into_credentials();
        assert_eq!(creds.bitbucket_token.as_ref().unwrap().expose(), "bb");
        assert_eq!(render(&AuthFile::from_credentials(&creds, 3)), EXACT);
    }

    #[test]
    fn a_client_secret_needs_version_2_and_nothing_else_does() {
        let parsed = parse(Path::new("auth.conf"), EXACT).unwrap();
        let mut creds = parsed.into_credentials();
        assert_eq!(AuthFile::from_credentials(&creds, 3).version, 1);
        creds.oauth.as_mut().unwrap().grant = Some(LoginGrant::AuthorizationCode);
        assert_eq!(AuthFile::from_credentials(&creds, 3).version, 1);
        let o = creds.oauth.as_mut().unwrap();
        o.client_secret = Some(Secret::new("cs"));
        o.client_auth = AuthMethod::ClientSecretBasic;
        let file = AuthFile::from_credentials(&creds, 3);
        assert_eq!(file.version, 2);
        let text = render(&file);
        let back = parse(Path::new("auth.conf"), &text)
            .unwrap()
            .into_credentials();
        assert_eq!(back, creds);
        // A confidential login whose secret is gone (lost keyring entry) is still version 2.
        let o = creds.oauth.as_mut().unwrap();
        o.client_secret = None;
        assert_eq!(AuthFile::from_credentials(&creds, 3).version, 2);
        creds.oauth = None;
        creds.oauth_app = Some(OAuthApp {
            client_id: "app".into(),
            client_secret: Secret::new("s"),
        });
        assert_eq!(AuthFile::from_credentials(&creds, 3).version, 2);
        // A twg that only knows version 1 refuses the file instead of dropping the secret:
        // the same check this build applies to a version above its own.
        let err = crate::versioned::parse::<AuthFile>(&text, 1).unwrap_err();
        assert!(matches!(err, crate::versioned::VersionedError::Newer(2)));
    }

    #[test]
    fn a_missing_token_type_reads_as_bearer() {
        let text = EXACT.replace("token_type = \"Bearer\"\n", "");
        let creds = parse(Path::new("auth.conf"), &text)
            .unwrap()
            .into_credentials();
        assert_eq!(creds.oauth.unwrap().token_type, "Bearer");
    }

    #[test]
    fn newer_version_is_named() {
        let err = parse(Path::new("/x/auth.conf"), "version = 9\ngeneration = 1\n").unwrap_err();
        assert!(matches!(err, FormatError::UnknownVersion { found: 9, .. }));
        assert!(err.to_string().contains("/x/auth.conf"));
    }

    #[test]
    fn corrupt_file_error_never_echoes_the_content() {
        let text =
            "version = 1\ngeneration = 1\n[oauth]\naccess_token = \"SECRET-VALUE\" garbage\n";
        let err = parse(Path::new("auth.conf"), text).unwrap_err().to_string();
        assert!(!err.contains("SECRET-VALUE"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("twg login"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_corrupt_not_a_panic() {
        let err = parse(Path::new("auth.conf"), "\u{0}\u{1}binary{{").unwrap_err();
        assert!(matches!(err, FormatError::Corrupt { .. }));
    }
}
