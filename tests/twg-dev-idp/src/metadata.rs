//! RFC 8414 authorization server metadata, served at both well-known paths.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::pkce;
use crate::token::{AUTHORIZATION_CODE_GRANT, DEVICE_CODE_GRANT, REFRESH_TOKEN_GRANT};

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

/// Client authentication methods, the same at the token, revocation and introspection endpoints.
pub const AUTH_METHODS_SUPPORTED: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

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
        "grant_types_supported": [AUTHORIZATION_CODE_GRANT, DEVICE_CODE_GRANT, REFRESH_TOKEN_GRANT],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": [pkce::S256],
        // RFC 9207: every authorization response carries `iss`, so clients can detect mix-ups.
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": AUTH_METHODS_SUPPORTED,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS_SUPPORTED,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS_SUPPORTED,
        "scopes_supported": SCOPES_SUPPORTED,
        "subject_types_supported": ["public"],
    })
}
