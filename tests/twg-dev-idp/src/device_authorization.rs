//! The device authorization endpoint (RFC 8628 §3.1/§3.2): `POST /oauth/device/code`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::conn::ConnHandle;
use crate::faults::{self, Endpoint};
use crate::oauth_errors::OAuthError;
use crate::responses::no_store_json;
use crate::scope::Scope;
use crate::tokens;
use crate::{client_auth, form};

/// Used when the client sends no `scope` (RFC 8628 makes it optional). It has no
/// `offline_access`, so such a client gets no refresh token, as with real servers.
pub const DEFAULT_SCOPE: &str = "read:me";

pub async fn device_authorization(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.with(|s| {
        s.counters.device_authorizations += 1;
        s.faults.take(Endpoint::Device)
    });
    faults::serve_with(&app, Endpoint::Device, fault, &conn, || {
        authorize_device(&app, &headers, &body).unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

fn authorize_device(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = form::parse(headers, body)?;
    let now = Instant::now();
    let credentials = client_auth::credentials(headers, &params)?;
    let (client_id, code) = app.with(|s| -> Result<_, OAuthError> {
        let client_id = s.idp.authenticate_client(&credentials)?;
        let scope = Scope::parse(params.get("scope").unwrap_or(DEFAULT_SCOPE))?;
        let code = s.idp.start_device_authorization(&client_id, scope, now);
        Ok((client_id, code))
    })?;
    let user_code = tokens::display_user_code(&code.user_code);
    tracing::info!(
        client_id,
        user_code,
        device_code = %tokens::fingerprint(&code.device_code),
        "device authorization started"
    );
    let verification_uri = format!("{}/device", app.issuer());
    // The user code is letters and a dash only, so it needs no percent-encoding.
    let verification_uri_complete = format!("{verification_uri}?user_code={user_code}");
    Ok(no_store_json(
        StatusCode::OK,
        json!({
            "device_code": code.device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": verification_uri_complete,
            "expires_in": code.expires_in.as_secs(),
            "interval": code.interval.as_secs(),
        }),
    ))
}
