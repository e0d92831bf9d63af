//! OAuth 2.1 client side: HTTP client, discovery (RFC 8414), refresh (RFC 6749 §6), the
//! device flow (RFC 8628), revocation (RFC 7009), and the accessible-resources lookup.

pub mod authcode;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod error;
pub mod http;
pub mod refresh;
pub mod resources;
pub mod revoke;
pub mod token_response;

pub use error::OAuthError;

use crate::secret::Secret;

/// A successful token response, secrets wrapped.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub scopes: Option<Vec<String>>,
    /// Unix seconds when the answer arrived: lifetimes count from here, not from when the
    /// tokens were finally saved (a login can wait at a prompt for minutes).
    pub obtained_at: i64,
}

impl TokenSet {
    fn from_oauth2<T>(t: &T) -> Self
    where
        T: oauth2::TokenResponse,
    {
        Self {
            access_token: Secret::new(t.access_token().secret().clone()),
            token_type: token_type_name(t.token_type()),
            expires_in: t.expires_in().map(|d| d.as_secs()),
            refresh_token: t.refresh_token().map(|r| Secret::new(r.secret().clone())),
            scopes: t
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str().to_string()).collect()),
            obtained_at: crate::time::now_unix(),
        }
    }
}

fn token_type_name<T: oauth2::TokenType>(t: &T) -> String {
    // BasicTokenType's serialised form is the wire value ("bearer"); present it canonically.
    let raw = serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "bearer".into());
    if raw.eq_ignore_ascii_case("bearer") {
        "Bearer".into()
    } else {
        raw
    }
}
