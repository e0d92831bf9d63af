//! The refresh-token grant (RFC 6749 §6) through the `oauth2` crate.

use super::TokenSet;
use super::error::OAuthError;
use super::http::HttpClient;
use crate::secret::Secret;

/// Spends `refresh_token` at `token_endpoint`. The caller must have passed the persistence
/// preflight and hold the credential lock.
pub async fn refresh(
    http: &HttpClient,
    client_id: &str,
    token_endpoint: &str,
    refresh_token: &Secret,
) -> Result<TokenSet, OAuthError> {
    let token_url = oauth2::TokenUrl::new(token_endpoint.to_string())
        .map_err(|e| OAuthError::Config(format!("bad token endpoint {token_endpoint}: {e}")))?;
    let client = oauth2::basic::BasicClient::new(oauth2::ClientId::new(client_id.to_string()))
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_token_uri(token_url);
    let rt = oauth2::RefreshToken::new(refresh_token.expose().to_string());
    let resp = client
        .exchange_refresh_token(&rt)
        .request_async(&http.oauth2())
        .await
        .map_err(|e| OAuthError::from_request(token_endpoint, e))?;
    let set = TokenSet::from_oauth2(&resp);
    if set.access_token.is_empty() {
        return Err(OAuthError::Transient(format!(
            "{token_endpoint} returned an empty access token"
        )));
    }
    Ok(set)
}
