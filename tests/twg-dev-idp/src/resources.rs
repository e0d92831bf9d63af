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
            Err(refused) => return refused.into_response(),
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
        if let Err(refused) = authorize_bearer(&app, &headers) {
            return refused.into_response();
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

/// Why a Bearer request was refused (RFC 6750 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerRefusal {
    /// No credentials: §3.1 says the challenge carries no error code then.
    Missing,
    Invalid,
}

fn authorize_bearer(app: &AppState, headers: &HeaderMap) -> Result<AccessTokenInfo, BearerRefusal> {
    let token = bearer_token(headers).ok_or(BearerRefusal::Missing)?;
    let now = Instant::now();
    app.with(|s| s.idp.grants.access_token(token, now))
        .ok_or(BearerRefusal::Invalid)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl IntoResponse for BearerRefusal {
    fn into_response(self) -> Response {
        let (challenge, body) = match self {
            Self::Invalid => (
                "Bearer realm=\"twg-dev-idp\", error=\"invalid_token\", \
                 error_description=\"the access token is unknown, expired or revoked\"",
                json!({
                    "error": "invalid_token",
                    "error_description": "the access token is unknown, expired or revoked",
                }),
            ),
            Self::Missing => (
                "Bearer realm=\"twg-dev-idp\"",
                json!({
                    "error": "unauthorized",
                    "error_description": "send Authorization: Bearer <access token>",
                }),
            ),
        };
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            )],
            Json(body),
        )
            .into_response()
    }
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
