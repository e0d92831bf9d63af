//! The protected resources behind Bearer tokens (RFC 6750): Atlassian's accessible-resources
//! list, and the user's profile at `/userinfo` and `/me`.

use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::conn::ConnHandle;
use crate::faults::{self, Endpoint};
use crate::state::AccessTokenInfo;

/// Scopes about the login itself rather than about a site; Atlassian does not list them per site.
const NON_RESOURCE_SCOPES: &[&str] = &["offline_access", "openid", "profile", "email"];

pub async fn accessible_resources(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
) -> Response {
    let fault = app.with(|s| {
        s.counters.resources_requests += 1;
        s.faults.take(Endpoint::Resources)
    });
    faults::serve_with(&app, Endpoint::Resources, fault, &conn, || {
        let info = match authorize_bearer(&app, &headers) {
            Ok(info) => info,
            Err(challenge) => return challenge,
        };
        let scopes: Vec<&str> = info
            .scope
            .iter()
            .filter(|s| !NON_RESOURCE_SCOPES.contains(s))
            .collect();
        let sites = app.with(|s| s.idp.settings.sites.clone());
        let body: Vec<_> = sites
            .iter()
            .map(|site| {
                json!({
                    "id": site.id,
                    "name": site.name,
                    "url": site.url,
                    "scopes": scopes,
                    "avatarUrl": "",
                })
            })
            .collect();
        Json(body).into_response()
    })
    .await
}

pub async fn userinfo(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
) -> Response {
    let fault = app.with(|s| {
        s.counters.userinfo_requests += 1;
        s.faults.take(Endpoint::Userinfo)
    });
    faults::serve_with(&app, Endpoint::Userinfo, fault, &conn, || {
        if let Err(challenge) = authorize_bearer(&app, &headers) {
            return challenge;
        }
        let user = app.with(|s| s.idp.settings.user.clone());
        let account_id = user.account_id();
        Json(json!({
            "sub": account_id,
            "account_id": account_id,
            "name": user.name,
            "email": user.email,
        }))
        .into_response()
    })
    .await
}

/// Checks `Authorization: Bearer …`; the error is the RFC 6750 §3 challenge to send back.
fn authorize_bearer(app: &AppState, headers: &HeaderMap) -> Result<AccessTokenInfo, Response> {
    let Some(token) = bearer_token(headers) else {
        // RFC 6750 §3.1: a request without credentials gets a challenge but no error code.
        return Err(challenge(None));
    };
    let now = Instant::now();
    app.with(|s| s.idp.grants.access_token(token, now))
        .ok_or_else(|| challenge(Some("the access token is unknown, expired or revoked")))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn challenge(invalid_token: Option<&str>) -> Response {
    let (header_value, body) = match invalid_token {
        Some(description) => (
            format!(
                "Bearer realm=\"twg-dev-idp\", error=\"invalid_token\", error_description=\"{description}\""
            ),
            json!({ "error": "invalid_token", "error_description": description }),
        ),
        None => (
            "Bearer realm=\"twg-dev-idp\"".to_owned(),
            json!({ "error": "unauthorized", "error_description": "send Authorization: Bearer <access token>" }),
        ),
    };
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&header_value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_requires_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer at_x"),
        );
        assert_eq!(bearer_token(&headers), Some("at_x"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
