//! The token endpoint (RFC 6749 §3.2, §5, §6; RFC 8628 §3.4/§3.5): `POST /oauth/token`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::conn::ConnHandle;
use crate::faults::{self, Endpoint};
use crate::form::{self, FormParams};
use crate::oauth_errors::OAuthError;
use crate::responses::no_store_json;
use crate::scope::Scope;
use crate::state::IssuedTokens;
use crate::tokens;

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";

pub async fn token(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form::parse(&headers, &body);
    let grant_type = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("grant_type"))
        .map(str::to_owned);
    let presented = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("refresh_token"))
        .map(str::to_owned);
    let fault = app.with(|s| {
        s.counters.token_requests += 1;
        match grant_type.as_deref() {
            Some(REFRESH_TOKEN_GRANT) => {
                s.counters.refresh_requests += 1;
                if let Some(token) = &presented
                    && s.idp.refresh_state(token, Instant::now()).spent()
                {
                    s.counters.spent_refresh_requests += 1;
                }
            }
            Some(DEVICE_CODE_GRANT) => s.counters.device_token_polls += 1,
            _ => {}
        }
        s.faults.take(Endpoint::Token)
    });
    faults::serve_with(&app, Endpoint::Token, fault, &conn, || {
        match params.and_then(|params| exchange(&app, &headers, &params)) {
            Ok(issued) => token_response(issued),
            Err(err) => err.into_response(),
        }
    })
    .await
}

fn exchange(
    app: &AppState,
    headers: &HeaderMap,
    params: &FormParams,
) -> Result<IssuedTokens, OAuthError> {
    let grant_type = params.require("grant_type")?;
    let presented_client = form::client_id(headers, params)?;
    let now = Instant::now();
    match grant_type {
        DEVICE_CODE_GRANT => {
            let device_code = params.require("device_code")?;
            let result = app.with(|s| {
                let client_id = s.idp.authenticate_client(presented_client.as_deref())?;
                s.idp.poll_device_code(device_code, &client_id, now)
            });
            log_outcome(grant_type, device_code, &result);
            result
        }
        REFRESH_TOKEN_GRANT => {
            let refresh_token = params.require("refresh_token")?;
            let scope = params.get("scope").map(Scope::parse).transpose()?;
            let result = app.with(|s| {
                let client_id = s.idp.authenticate_client(presented_client.as_deref())?;
                s.idp.refresh(refresh_token, &client_id, scope, now)
            });
            log_outcome(grant_type, refresh_token, &result);
            result
        }
        other => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other} is not supported; use {DEVICE_CODE_GRANT} or {REFRESH_TOKEN_GRANT}"
        ))),
    }
}

/// Logs fingerprints only: the values are live credentials.
fn log_outcome(grant_type: &str, presented: &str, result: &Result<IssuedTokens, OAuthError>) {
    let presented = tokens::fingerprint(presented);
    match result {
        Ok(issued) => tracing::info!(
            grant_type,
            presented,
            access_token = %tokens::fingerprint(&issued.access_token),
            refresh_token = %issued.refresh_token.as_deref().map(tokens::fingerprint).unwrap_or_default(),
            "tokens issued"
        ),
        // Polling produces a steady stream of these; only real failures deserve info level.
        Err(OAuthError::AuthorizationPending) => {
            tracing::debug!(grant_type, presented, "authorization pending")
        }
        Err(err) => tracing::info!(grant_type, presented, error = %err, "token request refused"),
    }
}

/// RFC 6749 §5.1.
fn token_response(issued: IssuedTokens) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in.as_secs(),
        "scope": issued.scope.to_string(),
    });
    if let Some(refresh_token) = issued.refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    no_store_json(StatusCode::OK, body)
}
