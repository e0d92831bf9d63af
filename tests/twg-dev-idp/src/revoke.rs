//! Token revocation (RFC 7009): `POST /oauth/revoke`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::conn::ConnHandle;
use crate::faults::{self, Endpoint};
use crate::oauth_errors::OAuthError;
use crate::responses::no_store_body;
use crate::tokens;
use crate::{client_auth, form};

pub async fn revoke(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.with(|s| {
        s.counters.revocations += 1;
        s.faults.take(Endpoint::Revoke)
    });
    faults::serve_with(&app, Endpoint::Revoke, fault, &conn, || {
        match revoke_token(&app, &headers, &body) {
            // RFC 7009 §2.2: the body is ignored by clients; an empty one is conventional.
            Ok(()) => no_store_body(StatusCode::OK, "text/plain; charset=utf-8", String::new()),
            Err(err) => err.into_response(),
        }
    })
    .await
}

fn revoke_token(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = form::parse(headers, body)?;
    let token = params.require("token")?;
    // RFC 7009 §2.1: the hint only speeds up the lookup, and an unknown hint may be ignored;
    // this server searches both kinds anyway.
    let hint = params.get("token_type_hint").unwrap_or("none");
    let credentials = client_auth::credentials(headers, &params)?;
    let revoked = app.with(|s| {
        let client_id = s.idp.authenticate_client(&credentials)?;
        s.idp.grants.revoke(token, &client_id)
    })?;
    tracing::info!(token = %tokens::fingerprint(token), hint, ?revoked, "revocation");
    Ok(())
}
