//! Token introspection (RFC 7662): `POST /oauth/introspect`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::oauth_errors::OAuthError;
use crate::responses::no_store_json;
use crate::{client_auth, form};

pub async fn introspect(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    app.with(|s| s.counters.introspections += 1);
    match describe(&app, &headers, &body) {
        Ok(body) => no_store_json(StatusCode::OK, body),
        Err(err) => err.into_response(),
    }
}

fn describe(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = form::parse(headers, body)?;
    let token = params.require("token")?;
    let now = Instant::now();
    let credentials = client_auth::credentials(headers, &params)?;
    app.with(|s| {
        // RFC 7662 §2.1 wants the caller authenticated. Tests may also ask anonymously, but a
        // client that does identify itself must do so properly (a confidential one with its
        // secret).
        if credentials.client_id.is_some() {
            s.idp.authenticate_client(&credentials)?;
        }
        let sub = s.idp.settings.user.account_id();
        if let Some(info) = s.idp.grants.access_token(token, now) {
            return Ok(json!({
                "active": true,
                "token_type": "Bearer",
                "scope": info.scope.to_string(),
                "client_id": info.client_id,
                "sub": sub,
                "username": s.idp.settings.user.email,
                "exp": unix_time_in(info.expires_in),
            }));
        }
        let leeway = s.idp.settings.reuse_leeway;
        if let Some(info) = s.idp.grants.refresh_token_info(token, leeway, now) {
            return Ok(json!({
                "active": true,
                "scope": info.scope.to_string(),
                "client_id": info.client_id,
                "sub": sub,
                "username": s.idp.settings.user.email,
                // Non-standard, but it tells a test whether this token is the current one.
                "refresh_token_state": info.state,
            }));
        }
        // RFC 7662 §2.2: nothing about an inactive token is disclosed.
        Ok(json!({ "active": false }))
    })
}

fn unix_time_in(delay: Duration) -> u64 {
    (SystemTime::now() + delay)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
