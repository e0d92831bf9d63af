//! The authorization endpoint (RFC 6749 §4.1.1–§4.1.2, RFC 9207): `GET /authorize` shows a
//! consent page, `POST /authorize` takes the answer and sends the browser back to the client
//! with a code or an error, always naming this server in `iss`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::authorization_request::{self, Refusal};
use crate::consent_page;
use crate::form;
use crate::html::page;
use crate::oauth_errors::OAuthError;
use crate::state::{Consent, ConsentError};
use crate::tokens;

/// `GET /authorize?response_type=code&client_id=…&redirect_uri=…&code_challenge=…&…`
pub async fn show(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let now = Instant::now();
    let outcome = app.with(|s| {
        s.counters.authorization_requests += 1;
        let request =
            authorization_request::validate(query.as_deref().unwrap_or(""), &s.idp.settings)?;
        let request_id = s.idp.start_authorization(request.clone(), now);
        Ok((request_id, request))
    });
    match outcome {
        Ok((request_id, request)) => {
            tracing::info!(
                client_id = request.client_id,
                scope = %request.scope,
                request = %tokens::fingerprint(&request_id),
                "authorization request awaits consent"
            );
            page(
                StatusCode::OK,
                &consent_page::consent(&request_id, &request),
            )
        }
        Err(Refusal::ToUser(error)) => {
            tracing::info!(%error, "authorization request refused without a redirect");
            page(StatusCode::BAD_REQUEST, &consent_page::refusal(&error))
        }
        Err(Refusal::ToClient {
            redirect_uri,
            state,
            error,
        }) => {
            tracing::info!(%error, "authorization request refused");
            redirect_error(&app, &redirect_uri, state.as_deref(), &error)
        }
    }
}

/// `POST /authorize` with `request_id=…&decision=approve|deny` (what the consent form sends).
pub async fn decide(State(app): State<AppState>, body: Bytes) -> Response {
    let stale = |message: &str| page(StatusCode::BAD_REQUEST, &consent_page::stale(message));
    let Ok(params) = form::parse_body(&body) else {
        return stale("the form could not be read");
    };
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return stale("choose Approve or Deny"),
    };
    let Some(request_id) = params.get("request_id") else {
        return stale(&ConsentError::Unknown.to_string());
    };
    let now = Instant::now();
    match app.with(|s| s.idp.decide_authorization(request_id, approve, now)) {
        Ok(Consent::Approved { code, request }) => {
            tracing::info!(
                client_id = request.client_id,
                code = %tokens::fingerprint(&code),
                "authorization approved"
            );
            let mut params = vec![("code", code.as_str())];
            params.extend(request.state.as_deref().map(|state| ("state", state)));
            params.push(("iss", app.issuer()));
            redirect(&request.redirect_uri, &params)
        }
        Ok(Consent::Denied { request }) => {
            tracing::info!(client_id = request.client_id, "authorization denied");
            redirect_error(
                &app,
                &request.redirect_uri,
                request.state.as_deref(),
                &OAuthError::AccessDenied,
            )
        }
        Err(err) => stale(&err.to_string()),
    }
}

/// RFC 6749 §4.1.2.1's error redirect, with RFC 9207's `iss`.
fn redirect_error(
    app: &AppState,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let description = error.description();
    let mut params = vec![
        ("error", error.code()),
        ("error_description", description.as_str()),
    ];
    params.extend(state.map(|state| ("state", state)));
    params.push(("iss", app.issuer()));
    redirect(redirect_uri, &params)
}

/// 303, so the browser follows with a GET whatever method brought it here (RFC 9700 §4.11).
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    // Registered URIs were parsed when they were registered, so this only fails on a bug.
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &consent_page::stale("the registered redirect URI cannot be parsed"),
        );
    };
    location.query_pairs_mut().extend_pairs(params);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}
