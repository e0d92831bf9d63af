//! The test/admin API under `/admin`: counters and the token-request log, fault injection,
//! approving device codes without a browser, live settings, and side-effect-free refresh-token
//! checks.

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::clients::{self, ConfidentialClient};
use crate::counters::Counters;
use crate::faults::FaultSpec;
use crate::settings::{Settings, Site};
use crate::state::{DeviceStatus, UserCodeError};
use crate::tokens;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/token-requests", get(token_requests))
        .route("/faults", get(faults).post(set_fault))
        .route("/approve", post(approve))
        .route("/deny", post(deny))
        .route("/expire-device-codes", post(expire_device_codes))
        .route("/config", get(config).post(update_config))
        .route("/check-refresh-token", post(check_refresh_token))
        .route("/grants", get(grants))
}

async fn counters(State(app): State<AppState>) -> Json<Counters> {
    Json(app.with(|s| s.counters))
}

/// Returns the counters as they were, so a test can read and reset in one atomic step. The
/// token-request log is emptied too: a reset is a test marking a fresh start.
async fn reset_counters(State(app): State<AppState>) -> Json<Counters> {
    Json(app.with(|s| {
        s.token_log.clear();
        std::mem::take(&mut s.counters)
    }))
}

/// `{"requests": [{seq, grant_type, client_id, client_auth, outcome}, …]}`, oldest first.
async fn token_requests(State(app): State<AppState>) -> Json<Value> {
    Json(app.with(|s| json!({ "requests": s.token_log.entries().collect::<Vec<_>>() })))
}

async fn faults(State(app): State<AppState>) -> Json<Value> {
    Json(app.with(|s| json!(s.faults.armed())))
}

async fn set_fault(State(app): State<AppState>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse_json(&body) {
        Ok(spec) => spec,
        Err(err) => return err.into_response(),
    };
    match app.with(|s| s.faults.set(&spec).map(|()| json!(s.faults.armed()))) {
        Ok(armed) => {
            tracing::info!(endpoint = ?spec.endpoint, mode = ?spec.mode, count = spec.count, "fault set");
            Json(armed).into_response()
        }
        Err(description) => AdminError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            description,
        }
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCodeBody {
    user_code: String,
}

async fn approve(State(app): State<AppState>, body: Bytes) -> Response {
    decide(&app, &body, true)
}

async fn deny(State(app): State<AppState>, body: Bytes) -> Response {
    decide(&app, &body, false)
}

fn decide(app: &AppState, body: &[u8], approve: bool) -> Response {
    let request: UserCodeBody = match parse_json(body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let Some(user_code) = tokens::normalize_user_code(&request.user_code) else {
        return user_code_error(UserCodeError::Unknown);
    };
    let now = Instant::now();
    match app.with(|s| s.idp.devices.decide(&user_code, approve, now)) {
        Ok(status) => {
            tracing::info!(user_code, ?status, "decided through the admin API");
            Json(json!({
                "user_code": tokens::display_user_code(&user_code),
                "status": status,
            }))
            .into_response()
        }
        Err(err) => user_code_error(err),
    }
}

fn user_code_error(err: UserCodeError) -> Response {
    let (status, code) = match err {
        UserCodeError::Unknown => (StatusCode::NOT_FOUND, "unknown_user_code"),
        UserCodeError::Expired => (StatusCode::GONE, "expired_token"),
        UserCodeError::Settled(DeviceStatus::Consumed) => (StatusCode::CONFLICT, "already_used"),
        UserCodeError::Settled(_) => (StatusCode::CONFLICT, "already_decided"),
    };
    AdminError {
        status,
        code,
        description: err.to_string(),
    }
    .into_response()
}

async fn expire_device_codes(State(app): State<AppState>) -> Json<Value> {
    let now = Instant::now();
    let expired = app.with(|s| s.idp.devices.expire_all(now));
    Json(json!({ "expired": expired }))
}

/// The body of `POST /admin/config`; every field is optional. Durations are whole seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigUpdate {
    access_token_ttl: Option<u64>,
    reuse_leeway: Option<u64>,
    /// Applies to device codes issued from now on.
    interval: Option<u64>,
    device_code_ttl: Option<u64>,
    /// Applies to codes issued from now on.
    auth_code_ttl: Option<u64>,
    auto_approve: Option<bool>,
    sites: Option<Vec<Site>>,
    /// Replaces the whole list; `[{"client_id", "client_secret", "redirect_uri"}]`.
    confidential_clients: Option<Vec<ConfidentialClient>>,
}

async fn config(State(app): State<AppState>) -> Json<Value> {
    Json(app.with(|s| config_json(&s.idp.settings)))
}

async fn update_config(State(app): State<AppState>, body: Bytes) -> Response {
    let update: ConfigUpdate = match parse_json(&body) {
        Ok(update) => update,
        Err(err) => return err.into_response(),
    };
    if let Some(sites) = &update.sites
        && let Some(err) = sites.iter().find_map(|site| site.validate().err())
    {
        return AdminError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            description: err.to_string(),
        }
        .into_response();
    }
    if let Some(clients) = &update.confidential_clients
        && let Err(err) = clients
            .iter()
            .try_for_each(ConfidentialClient::validate)
            .and_then(|()| clients::check_unique(clients))
    {
        return AdminError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            description: err.to_string(),
        }
        .into_response();
    }
    let applied = app.with(|s| {
        let settings = &mut s.idp.settings;
        if let Some(secs) = update.access_token_ttl {
            settings.access_token_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = update.reuse_leeway {
            settings.reuse_leeway = Duration::from_secs(secs);
        }
        if let Some(secs) = update.interval {
            settings.interval = Duration::from_secs(secs);
        }
        if let Some(secs) = update.device_code_ttl {
            settings.device_code_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = update.auth_code_ttl {
            settings.auth_code_ttl = Duration::from_secs(secs);
        }
        if let Some(auto_approve) = update.auto_approve {
            settings.auto_approve = auto_approve;
        }
        if let Some(sites) = update.sites {
            settings.sites = sites;
        }
        if let Some(clients) = update.confidential_clients {
            settings.confidential_clients = clients;
        }
        config_json(settings)
    });
    tracing::info!(config = %applied, "settings changed");
    Json(applied).into_response()
}

/// Secrets are left out: this is logged on every change.
fn config_json(settings: &Settings) -> Value {
    let confidential: Vec<Value> = settings
        .confidential_clients
        .iter()
        .map(|c| json!({ "client_id": c.client_id, "redirect_uri": c.redirect_uri }))
        .collect();
    json!({
        "access_token_ttl": settings.access_token_ttl.as_secs(),
        "reuse_leeway": settings.reuse_leeway.as_secs(),
        "interval": settings.interval.as_secs(),
        "device_code_ttl": settings.device_code_ttl.as_secs(),
        "auth_code_ttl": settings.auth_code_ttl.as_secs(),
        "auto_approve": settings.auto_approve,
        "client_ids": settings.client_ids,
        "confidential_clients": confidential,
        "sites": settings.sites,
        "user": {
            "name": settings.user.name,
            "email": settings.user.email,
            "account_id": settings.user.account_id(),
        },
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn check_refresh_token(State(app): State<AppState>, body: Bytes) -> Response {
    let request: TokenBody = match parse_json(&body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let now = Instant::now();
    let state = app.with(|s| s.idp.refresh_state(&request.token, now));
    Json(json!({ "state": state, "usable": state.usable() })).into_response()
}

async fn grants(State(app): State<AppState>) -> Json<Value> {
    let now = Instant::now();
    Json(app.with(|s| {
        let mut summary = json!(s.idp.grants.summary(now));
        summary["pending_device_codes"] = s.idp.devices.pending_count(now).into();
        summary["pending_authorization_requests"] = s.idp.codes.pending_count(now).into();
        summary
    }))
}

/// Like axum's `Json` extractor, but a bad body gets a JSON error naming the problem, which is
/// what a failing test wants to print.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|err| AdminError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
        description: format!("the JSON body could not be read: {err}"),
    })
}

/// An admin API error: `{"error": code, "error_description": …}` with a fitting status.
#[derive(Debug)]
struct AdminError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "error_description": self.description })),
        )
            .into_response()
    }
}
