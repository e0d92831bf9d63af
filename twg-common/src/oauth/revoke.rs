//! Token revocation (RFC 7009).
//!
//! A plain form POST rather than `oauth2`'s revocation helper, which refuses non-HTTPS URLs
//! even on loopback. The URL itself was validated (https, or http on loopback only).

use super::client_auth::ClientAuth;
use super::error::{OAuthError, sanitize};
use super::http::{HttpClient, read_capped};
use crate::secret::Secret;

/// Which kind of token is being revoked (`token_type_hint`).
#[derive(Debug, Clone, Copy)]
pub enum Hint {
    AccessToken,
    RefreshToken,
}

/// Revokes one token. RFC 7009 §2.2: HTTP 200 means done (also for unknown tokens).
pub async fn revoke(
    http: &HttpClient,
    endpoint: &str,
    client: ClientAuth<'_>,
    token: &Secret,
    hint: Hint,
) -> Result<(), OAuthError> {
    let hint = match hint {
        Hint::AccessToken => "access_token",
        Hint::RefreshToken => "refresh_token",
    };
    client.check().map_err(OAuthError::Config)?;
    let resp = client
        .apply(
            http.reqwest()
                .post(endpoint)
                .header("accept", "application/json"),
            &[("token", token.expose()), ("token_type_hint", hint)],
        )
        .send()
        .await
        .map_err(|e| {
            OAuthError::Transient(format!(
                "revocation request to {endpoint} failed: {}",
                super::error::chain(&e)
            ))
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = read_capped(resp).await.unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match parsed["error"].as_str() {
        Some(code) => Err(OAuthError::from_code(
            code,
            parsed["error_description"].as_str().map(sanitize),
        )),
        None if status.is_server_error() => Err(OAuthError::Transient(format!(
            "{endpoint} answered HTTP {status}"
        ))),
        None => Err(OAuthError::Rejected {
            code: format!("http_{}", status.as_u16()),
            description: None,
        }),
    }
}
