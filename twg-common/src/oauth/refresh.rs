//! The refresh-token grant (RFC 6749 §6), with every failure classified by whether the
//! server may have rotated the token.
//!
//! Hand-written rather than through `oauth2`: that crate turns every unreadable answer into
//! one error, but twg must tell "never reached the server" (safe to retry) from "reached it,
//! answer lost" (the refresh token may be spent; a strict server revokes the grant on reuse).

use super::TokenSet;
use super::client_auth::ClientAuth;
use super::error::{OAuthError, chain};
use super::http::{HttpClient, read_capped};
use crate::secret::Secret;

/// Spends `refresh_token` at `token_endpoint`. The caller must have proven the save that
/// follows and hold the credential lock.
pub async fn refresh(
    http: &HttpClient,
    client: ClientAuth<'_>,
    token_endpoint: &str,
    refresh_token: &Secret,
) -> Result<TokenSet, OAuthError> {
    token_request(
        http,
        client,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ],
    )
    .await
}

/// One token-endpoint request (RFC 6749 §3.2) with `form` and the client's authentication,
/// its answer classified by whether the request may have been acted on.
pub async fn token_request(
    http: &HttpClient,
    client: ClientAuth<'_>,
    token_endpoint: &str,
    form: &[(&str, &str)],
) -> Result<TokenSet, OAuthError> {
    let url = url::Url::parse(token_endpoint)
        .map_err(|e| OAuthError::Config(format!("bad token endpoint {token_endpoint}: {e}")))?;
    client.check().map_err(OAuthError::Config)?;
    let resp = client
        .apply(
            http.reqwest()
                .post(url)
                .header(reqwest::header::ACCEPT, "application/json"),
            form,
        )
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        // A connect error (refused, DNS, TLS handshake) means the request never left.
        Err(e) if e.is_connect() => {
            return Err(OAuthError::Transient(format!(
                "could not connect to {token_endpoint}: {}",
                chain(&e)
            )));
        }
        Err(e) if e.is_builder() => {
            return Err(OAuthError::Config(format!(
                "cannot build the request to {token_endpoint}: {}",
                chain(&e)
            )));
        }
        Err(e) => {
            return Err(OAuthError::AnswerLost(format!(
                "the request reached {token_endpoint} but no answer arrived ({})",
                what(&e)
            )));
        }
    };
    let status = resp.status();
    let body = read_capped(resp).await;
    if status.is_success() {
        let body = body.map_err(|e| {
            OAuthError::AnswerLost(format!(
                "{token_endpoint} answered {status} but the body could not be read ({e})"
            ))
        })?;
        return super::token_response::parse(&body, crate::time::now_unix()).map_err(|d| {
            OAuthError::AnswerLost(format!(
                "{token_endpoint} answered {status} but not with a usable token response ({d})"
            ))
        });
    }
    let body = body.unwrap_or_default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(code) = v.get("error").and_then(|c| c.as_str())
    {
        let desc = v
            .get("error_description")
            .and_then(|d| d.as_str())
            .map(str::to_string);
        return Err(OAuthError::from_code(code, desc));
    }
    // No RFC 6749 error object: the status says whether retrying can help. None of these
    // carries tokens, so the refresh token was not rotated.
    let summary = super::error::body_summary(&body);
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(OAuthError::Transient(format!(
            "{token_endpoint} answered {status} ({summary})"
        )))
    } else {
        Err(OAuthError::Rejected {
            code: format!("HTTP {}", status.as_u16()),
            description: Some(summary),
        })
    }
}

fn what(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else {
        "connection lost"
    };
    format!("{kind}: {}", chain(e))
}
