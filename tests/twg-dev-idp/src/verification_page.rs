//! The user-facing verification pages (RFC 8628 §3.3): plain HTML forms at `/device` that a
//! headless browser can complete without JavaScript.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::AppState;
use crate::form;
use crate::html::{escape, page};
use crate::state::{DeviceStatus, PendingRequest, UserCodeError};
use crate::tokens;

// Element ids and attribute order match what the project's browser tests look for verbatim;
// buttons inside a form submit by default, so no `type` is needed.

/// `GET /device` shows the code entry form; `GET /device?user_code=…` the consent form.
pub async fn show(State(app): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let typed = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "user_code")
            .map(|(_, value)| value.into_owned())
    });
    let Some(typed) = typed.filter(|t| !t.trim().is_empty()) else {
        return page(StatusCode::OK, &entry_form(None));
    };
    let Some(user_code) = tokens::normalize_user_code(&typed) else {
        return page(
            StatusCode::BAD_REQUEST,
            &entry_form(Some(&UserCodeError::Unknown.to_string())),
        );
    };
    let now = Instant::now();
    match app.with(|s| s.idp.devices.pending_request(&user_code, now)) {
        Ok(request) => page(StatusCode::OK, &consent_form(&request)),
        Err(err) => page(StatusCode::BAD_REQUEST, &entry_form(Some(&err.to_string()))),
    }
}

/// `POST /device` records the decision and shows "Approved" or "Denied".
pub async fn decide(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(params) = form::parse_body(&body) else {
        return page(
            StatusCode::BAD_REQUEST,
            &entry_form(Some("the form could not be read")),
        );
    };
    let approve = match params.get("action") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                &entry_form(Some("choose Approve or Deny")),
            );
        }
    };
    let Some(user_code) = params
        .get("user_code")
        .and_then(tokens::normalize_user_code)
    else {
        return page(
            StatusCode::BAD_REQUEST,
            &entry_form(Some(&UserCodeError::Unknown.to_string())),
        );
    };
    let now = Instant::now();
    match app.with(|s| s.idp.devices.decide(&user_code, approve, now)) {
        Ok(status) => {
            tracing::info!(user_code, ?status, "user decided in the browser");
            page(StatusCode::OK, &result_page(status))
        }
        Err(err) => page(StatusCode::BAD_REQUEST, &entry_form(Some(&err.to_string()))),
    }
}

fn entry_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p id=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "<h1>Connect a device</h1>\n{error}\
         <p>Enter the code shown on your device.</p>\n\
         <form method=\"get\" action=\"/device\">\n\
         <label for=\"user_code\">Code</label>\n\
         <input id=\"user_code\" name=\"user_code\">\n\
         <button id=\"continue\">Continue</button>\n\
         </form>\n"
    )
}

fn consent_form(request: &PendingRequest) -> String {
    let code = tokens::display_user_code(&request.user_code);
    let scopes: String = request
        .scope
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    format!(
        "<h1>Approve this device?</h1>\n\
         <p>Code: <strong id=\"shown_code\">{code}</strong></p>\n\
         <p>Application: <strong id=\"client_id\">{client}</strong></p>\n\
         <p>It asks for:</p>\n<ul id=\"scopes\">{scopes}</ul>\n\
         <p>Only approve if this code matches the one on your device.</p>\n\
         <form method=\"post\" action=\"/device\">\n\
         <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\n\
         <button id=\"approve\" name=\"action\" value=\"approve\">Approve</button>\n\
         <button id=\"deny\" name=\"action\" value=\"deny\">Deny</button>\n\
         </form>\n",
        client = escape(&request.client_id),
    )
}

fn result_page(status: DeviceStatus) -> String {
    let (headline, detail) = if status == DeviceStatus::Approved {
        ("Approved", "Your device is now connected.")
    } else {
        ("Denied", "The device was not given access.")
    };
    format!(
        "<h1 id=\"result\">{headline}</h1>\n<p>{detail} You can close this window \
         and return to your device.</p>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_ids_browsers_look_for() {
        let entry = entry_form(None);
        assert!(entry.contains("<input id=\"user_code\" name=\"user_code\">"));
        assert!(entry.contains("<button id=\"continue\">"));
        let request = PendingRequest {
            user_code: "BCDFGHJK".to_owned(),
            client_id: "<script>".to_owned(),
            scope: crate::scope::Scope::parse("read:me offline_access").unwrap(),
        };
        let consent = consent_form(&request);
        assert!(consent.contains("BCDF-GHJK"));
        assert!(consent.contains("&lt;script&gt;"));
        assert!(consent.contains("<button id=\"approve\" name=\"action\" value=\"approve\">"));
        assert!(consent.contains("<button id=\"deny\" name=\"action\" value=\"deny\">"));
        assert!(result_page(DeviceStatus::Denied).contains("Denied"));
    }
}
