//! RFC 6749 §5.2 error responses, plus RFC 8628 §3.5's device-flow codes: JSON, never cached.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::responses::no_store_json;

/// An OAuth error; the `String` is the human-readable `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    #[error("authorization_pending")]
    AuthorizationPending,
    #[error("slow_down")]
    SlowDown,
    #[error("access_denied")]
    AccessDenied,
    #[error("expired_token")]
    ExpiredToken,
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::InvalidScope(d)
            | Self::UnsupportedGrantType(d)
            | Self::UnsupportedResponseType(d) => d.clone(),
            Self::AuthorizationPending => {
                "the user has not yet approved or denied the request; keep polling".to_owned()
            }
            Self::SlowDown => {
                "polling too fast; the interval for this device code grew by 5 seconds".to_owned()
            }
            Self::AccessDenied => "the user denied the authorization request".to_owned(),
            Self::ExpiredToken => {
                "the device code has expired; start a new device authorization".to_owned()
            }
        }
    }

    /// RFC 6749 §5.2: 400 for everything except a failed client authentication.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = error_response(self.status(), self.code(), &self.description());
        // RFC 6749 §5.2: a 401 must name the authentication scheme the server accepts.
        if matches!(self, Self::InvalidClient(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"twg-dev-idp\""),
            );
        }
        response
    }
}

/// An RFC 6749 error body with any status (fault injection needs 5xx ones too).
pub fn error_response(status: StatusCode, code: &str, description: &str) -> Response {
    no_store_json(
        status,
        json!({ "error": code, "error_description": description_chars(description) }),
    )
}

/// RFC 6749 §5.2 limits `error_description` to printable ASCII without `"` and `\`; strict
/// clients reject anything else, so swap the rest out rather than trust every caller.
fn description_chars(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_made_rfc_safe() {
        assert_eq!(description_chars("a \"b\" \\ é"), "a 'b' / ?");
    }

    #[test]
    fn invalid_client_is_401_others_400() {
        assert_eq!(
            OAuthError::InvalidClient(String::new()).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(OAuthError::SlowDown.status(), StatusCode::BAD_REQUEST);
    }
}
