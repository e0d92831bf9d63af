//! Injected failures for testing client resilience: error statuses, HTML from a "proxy",
//! truncated JSON, hangs, delays, and responses lost after the server already acted.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::conn::ConnHandle;
use crate::oauth_errors::error_response;
use crate::responses::no_store_body;
use crate::tokens;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    #[default]
    Token,
    Device,
    Revoke,
    Resources,
    Userinfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    None,
    Status,
    Html,
    Truncated,
    Hang,
    Delay,
    DropAfterRotate,
    /// Acts on the request (a refresh rotates), then answers 200 with truncated JSON.
    TruncatedAfterRotate,
    /// Acts on the request, then answers 200 with an HTML page (a proxy's error page).
    HtmlAfterRotate,
}

/// The body of `POST /admin/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default)]
    pub endpoint: Endpoint,
    pub mode: Mode,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub delay_ms: u64,
    /// Requests to affect before the fault clears itself; 0 means until set to `none`.
    #[serde(default)]
    pub count: u32,
}

fn default_status() -> u16 {
    503
}

/// An armed fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub mode: Mode,
    pub status: u16,
    pub delay_ms: u64,
    /// Requests still to affect; `None` until cleared by hand.
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Faults {
    armed: BTreeMap<Endpoint, Fault>,
}

impl Faults {
    pub fn set(&mut self, spec: &FaultSpec) -> Result<(), String> {
        if spec.mode == Mode::Status && !(200..=599).contains(&spec.status) {
            return Err(format!(
                "status {} cannot be a final HTTP response; use 200..=599",
                spec.status
            ));
        }
        if spec.mode == Mode::None {
            self.armed.remove(&spec.endpoint);
        } else {
            let fault = Fault {
                mode: spec.mode,
                status: spec.status,
                delay_ms: spec.delay_ms,
                remaining: (spec.count > 0).then_some(spec.count),
            };
            self.armed.insert(spec.endpoint, fault);
        }
        Ok(())
    }

    /// The fault for one request to `endpoint`, counting it against `count`.
    pub fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let fault = self.armed.get_mut(&endpoint)?;
        let taken = *fault;
        if let Some(remaining) = &mut fault.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.armed.remove(&endpoint);
            }
        }
        Some(taken)
    }

    pub fn armed(&self) -> &BTreeMap<Endpoint, Fault> {
        &self.armed
    }
}

/// Serves one request under its fault. `serve` does the real work synchronously (it takes the
/// state lock itself), which is why it can run after a delay or before a dropped connection.
pub async fn serve_with(
    app: &AppState,
    endpoint: Endpoint,
    fault: Option<Fault>,
    conn: &ConnHandle,
    serve: impl FnOnce() -> Response,
) -> Response {
    let Some(fault) = fault else {
        return serve();
    };
    tracing::info!(?endpoint, mode = ?fault.mode, "injecting fault");
    match fault.mode {
        Mode::None => serve(),
        Mode::Status => status_response(fault.status),
        Mode::Html => html_response(),
        Mode::Truncated => truncated_response(endpoint),
        Mode::Hang => {
            // Held until the client gives up (hyper then drops this future) or the server stops.
            app.shutdown_requested().await;
            shutting_down()
        }
        Mode::Delay => {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(fault.delay_ms)) => serve(),
                () = app.shutdown_requested() => shutting_down(),
            }
        }
        Mode::DropAfterRotate => {
            let response = serve();
            conn.drop_connection();
            response
        }
        Mode::TruncatedAfterRotate => {
            drop(serve());
            truncated_response(endpoint)
        }
        Mode::HtmlAfterRotate => {
            let _ = serve();
            let mut r = html_response();
            *r.status_mut() = StatusCode::OK;
            r
        }
    }
}

fn status_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = if status == StatusCode::SERVICE_UNAVAILABLE {
        "temporarily_unavailable"
    } else {
        "server_error"
    };
    error_response(
        status,
        code,
        &format!("injected fault: HTTP {}", status.as_u16()),
    )
}

/// What a reverse proxy in front of a dead upstream typically returns.
fn html_response() -> Response {
    let body = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
                <body><h1>502 Bad Gateway</h1><p>The upstream server is unavailable.</p>\
                <hr><address>dev-proxy</address></body></html>\n";
    no_store_body(
        StatusCode::BAD_GATEWAY,
        "text/html; charset=utf-8",
        body.to_owned(),
    )
}

/// A 200 whose JSON stops mid-value, as when a connection is cut behind a buffering proxy.
fn truncated_response(endpoint: Endpoint) -> Response {
    let body = match endpoint {
        Endpoint::Token => format!(
            "{{\"access_token\": \"{}",
            &tokens::random_secret("at_")[..20]
        ),
        Endpoint::Device => format!(
            "{{\"device_code\": \"{}",
            &tokens::random_secret("dc_")[..20]
        ),
        Endpoint::Revoke => "{\"error\": \"serv".to_owned(),
        Endpoint::Resources => "[{\"id\": \"site-".to_owned(),
        Endpoint::Userinfo => "{\"sub\": \"dev-".to_owned(),
    };
    no_store_body(StatusCode::OK, "application/json", body)
}

fn shutting_down() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the server is shutting down",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: Mode, count: u32) -> FaultSpec {
        FaultSpec {
            endpoint: Endpoint::Token,
            mode,
            status: 503,
            delay_ms: 0,
            count,
        }
    }

    #[test]
    fn counted_faults_clear_themselves() {
        let mut faults = Faults::default();
        faults.set(&spec(Mode::Html, 2)).unwrap();
        assert_eq!(faults.take(Endpoint::Revoke), None);
        assert_eq!(faults.take(Endpoint::Token).unwrap().mode, Mode::Html);
        assert_eq!(faults.take(Endpoint::Token).unwrap().mode, Mode::Html);
        assert_eq!(faults.take(Endpoint::Token), None);
    }

    #[test]
    fn uncounted_faults_stay_until_none() {
        let mut faults = Faults::default();
        faults.set(&spec(Mode::Hang, 0)).unwrap();
        for _ in 0..5 {
            assert!(faults.take(Endpoint::Token).is_some());
        }
        faults.set(&spec(Mode::None, 0)).unwrap();
        assert_eq!(faults.take(Endpoint::Token), None);
    }

    #[test]
    fn rejects_informational_status() {
        let mut faults = Faults::default();
        let mut bad = spec(Mode::Status, 0);
        bad.status = 101;
        assert!(faults.set(&bad).is_err());
    }

    #[test]
    fn spec_defaults_and_unknown_fields() {
        let spec: FaultSpec = serde_json::from_str(r#"{"mode":"status"}"#).unwrap();
        assert_eq!(
            (spec.endpoint, spec.status, spec.count),
            (Endpoint::Token, 503, 0)
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"mode":"hang","cuont":1}"#).is_err());
    }
}
