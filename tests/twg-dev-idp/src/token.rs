//! The token endpoint (RFC 6749 §3.2, §4.1.3, §5, §6; RFC 7636 §4.5; RFC 8628 §3.4/§3.5):
//! `POST /oauth/token`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{AppState, Shared};
use crate::client_auth;
use crate::clients::{AuthMethod, ClientCredentials};
use crate::conn::ConnHandle;
use crate::faults::{self, Endpoint};
use crate::form::{self, FormParams};
use crate::oauth_errors::OAuthError;
use crate::responses::no_store_json;
use crate::scope::Scope;
use crate::state::IssuedTokens;
use crate::tokens;

pub const AUTHORIZATION_CODE_GRANT: &str = "authorization_code";
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";

pub async fn token(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form::parse(&headers, &body);
    let credentials = params
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|params| client_auth::credentials(&headers, params));
    let (seq, fault) = app.with(|s| {
        let params = params.as_ref().ok();
        let credentials = credentials.as_ref().ok();
        count(s, params, credentials);
        let seq = s.token_log.start(
            params.and_then(|p| p.get("grant_type")).map(str::to_owned),
            credentials.and_then(|c| c.client_id.clone()),
            credentials.map(|c| c.method),
        );
        (seq, s.faults.take(Endpoint::Token))
    });
    faults::serve_with(&app, Endpoint::Token, fault, &conn, || {
        let result = params.and_then(|params| exchange(&app, &params, &credentials?));
        let outcome = match &result {
            Ok(_) => "issued",
            Err(err) => err.code(),
        };
        app.with(|s| s.token_log.finish(seq, outcome));
        match result {
            Ok(issued) => token_response(issued),
            Err(err) => err.into_response(),
        }
    })
    .await
}

/// Counts a request as it arrives, before any fault can swallow it.
fn count(s: &mut Shared, params: Option<&FormParams>, credentials: Option<&ClientCredentials>) {
    s.counters.token_requests += 1;
    match credentials.map(|c| c.method) {
        Some(AuthMethod::ClientSecretBasic) => s.counters.client_secret_basic_requests += 1,
        Some(AuthMethod::ClientSecretPost) => s.counters.client_secret_post_requests += 1,
        Some(AuthMethod::None) | None => {}
    }
    match params.and_then(|p| p.get("grant_type")) {
        Some(REFRESH_TOKEN_GRANT) => {
            s.counters.refresh_requests += 1;
            if let Some(token) = params.and_then(|p| p.get("refresh_token"))
                && s.idp.refresh_state(token, Instant::now()).spent()
            {
                s.counters.spent_refresh_requests += 1;
            }
        }
        Some(DEVICE_CODE_GRANT) => s.counters.device_token_polls += 1,
        Some(AUTHORIZATION_CODE_GRANT) => s.counters.authorization_code_requests += 1,
        _ => {}
    }
}

fn exchange(
    app: &AppState,
    params: &FormParams,
    credentials: &ClientCredentials,
) -> Result<IssuedTokens, OAuthError> {
    let grant_type = params.require("grant_type")?;
    let now = Instant::now();
    match grant_type {
        AUTHORIZATION_CODE_GRANT => {
            let code = params.require("code")?;
            // Always required here, because /authorize always requires it.
            let redirect_uri = params.require("redirect_uri")?;
            let code_verifier = params.get("code_verifier");
            let result = app.with(|s| {
                let client_id = s.idp.authenticate_client(credentials)?;
                s.idp
                    .exchange_code(code, &client_id, redirect_uri, code_verifier, now)
            });
            log_outcome(grant_type, code, &result);
            result
        }
        DEVICE_CODE_GRANT => {
            let device_code = params.require("device_code")?;
            let result = app.with(|s| {
                let client_id = s.idp.authenticate_client(credentials)?;
                s.idp.poll_device_code(device_code, &client_id, now)
            });
            log_outcome(grant_type, device_code, &result);
            result
        }
        REFRESH_TOKEN_GRANT => {
            let refresh_token = params.require("refresh_token")?;
            let scope = params.get("scope").map(Scope::parse).transpose()?;
            let result = app.with(|s| {
                let client_id = s.idp.authenticate_client(credentials)?;
                s.idp.refresh(refresh_token, &client_id, scope, now)
            });
            log_outcome(grant_type, refresh_token, &result);
            result
        }
        other => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other} is not supported; use {AUTHORIZATION_CODE_GRANT}, \
             {DEVICE_CODE_GRANT} or {REFRESH_TOKEN_GRANT}"
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
