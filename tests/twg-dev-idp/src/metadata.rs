//! RFC 8414 authorization server metadata (served at both well-known paths) and the
//! `/authorize` stub that tells browser-flow clients this server only does the device grant.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::oauth_errors::OAuthError;
use crate::token::DEVICE_CODE_GRANT;

pub const SCOPES_SUPPORTED: &[&str] = &[
    "offline_access",
    "openid",
    "profile",
    "email",
    "read:me",
    "read:account",
    "read:jira-work",
    "read:jira-user",
    "write:jira-work",
];

pub async fn metadata(State(app): State<AppState>) -> Json<Value> {
    Json(document(app.issuer()))
}

pub fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device/code"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        // Non-standard: where Atlassian lists the sites a token can reach.
        "accessible_resources_endpoint": format!("{issuer}/oauth/token/accessible-resources"),
        "grant_types_supported": [DEVICE_CODE_GRANT, "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": SCOPES_SUPPORTED,
        "subject_types_supported": ["public"],
    })
}

/// Browser redirects would need a redirect_uri to report errors to; this server has none to
/// trust, so it answers directly (RFC 6749 §4.1.2.1 allows that when the redirect is unusable).
pub async fn authorize() -> Response {
    OAuthError::UnsupportedResponseType(
        "this server only supports the device authorization grant (RFC 8628); \
         use the device_authorization_endpoint"
            .to_owned(),
    )
    .into_response()
}
