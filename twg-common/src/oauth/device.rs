//! The device authorization grant (RFC 8628) through the `oauth2` crate.

use super::TokenSet;
use super::discovery::Endpoints;
use super::error::OAuthError;
use super::http::HttpClient;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a device login ended without tokens.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("the login was denied in the browser (access_denied); run `twg login` again to retry")]
    AccessDenied,
    #[error(
        "the code expired before it was approved (expired_token); run `twg login` again and approve within the time shown"
    )]
    Expired,
    #[error("login failed: {0}; run `twg login` again")]
    OAuth(#[from] OAuthError),
}

impl DeviceError {
    /// The code twgd and the direct login both report.
    pub fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode;
        match self {
            DeviceError::AccessDenied => ErrorCode::LoginDenied,
            DeviceError::Expired => ErrorCode::LoginExpired,
            DeviceError::OAuth(e) if e.is_transient() => ErrorCode::Temporary,
            DeviceError::OAuth(_) => ErrorCode::LoginFailed,
        }
    }
}

/// What the user must see: where to go and which code to enter.
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    pub expires_in: Duration,
    pub interval: Duration,
    started: std::time::Instant,
    inner: oauth2::StandardDeviceAuthorizationResponse,
}

fn client(
    endpoints: &Endpoints,
    client_id: &str,
) -> Result<
    oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    OAuthError,
> {
    let bad = |what: &str, e: url::ParseError| OAuthError::Config(format!("bad {what}: {e}"));
    let device = device_endpoint(endpoints)?;
    Ok(
        oauth2::basic::BasicClient::new(oauth2::ClientId::new(client_id.to_string()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_device_authorization_url(
                oauth2::DeviceAuthorizationUrl::new(device.to_string())
                    .map_err(|e| bad("device authorization endpoint", e))?,
            )
            .set_token_uri(
                oauth2::TokenUrl::new(endpoints.token.clone())
                    .map_err(|e| bad("token endpoint", e))?,
            ),
    )
}

/// The device authorization endpoint, or the error that says how to log in instead.
pub fn device_endpoint(endpoints: &Endpoints) -> Result<&str, OAuthError> {
    endpoints.device_authorization.as_deref().ok_or_else(|| {
        OAuthError::Config(format!(
            "{} offers no device login (RFC 8628); use `twg login --web`",
            endpoints.issuer
        ))
    })
}

/// Step 1: ask for a device code and user code.
pub async fn start(
    http: &HttpClient,
    endpoints: &Endpoints,
    client_id: &str,
    scopes: &[String],
) -> Result<DeviceAuthorization, OAuthError> {
    let c = client(endpoints, client_id)?;
    let inner: oauth2::StandardDeviceAuthorizationResponse = c
        .exchange_device_code()
        .add_scopes(scopes.iter().map(|s| oauth2::Scope::new(s.clone())))
        .request_async(&http.oauth2())
        .await
        .map_err(|e| OAuthError::from_request(device_endpoint(endpoints).unwrap_or_default(), e))?;
    Ok(DeviceAuthorization {
        verification_uri: inner.verification_uri().to_string(),
        verification_uri_complete: inner
            .verification_uri_complete()
            .map(|u| u.secret().to_string()),
        user_code: inner.user_code().secret().to_string(),
        expires_in: inner.expires_in(),
        interval: inner.interval(),
        started: std::time::Instant::now(),
        inner,
    })
}

/// Step 2: poll until approved, denied or expired. `on_wait` is called before each pause
/// with the current interval (it grows by 5 s on `slow_down`).
pub async fn poll(
    http: &HttpClient,
    endpoints: &Endpoints,
    client_id: &str,
    auth: &DeviceAuthorization,
    on_wait: impl Fn(Duration) + Send + Sync,
) -> Result<TokenSet, DeviceError> {
    let c = client(endpoints, client_id)?;
    let on_wait = &on_wait;
    // The interval oauth2 last waited: RFC 8628 §3.5 makes a `slow_down` increase binding
    // for all later requests, so a restart after a transient failure must not fall back to
    // the server's first interval.
    let interval = AtomicU64::new(auth.interval.as_secs());
    let interval = &interval;
    loop {
        let remaining = auth.expires_in.saturating_sub(auth.started.elapsed());
        if remaining.is_zero() {
            return Err(DeviceError::Expired);
        }
        let current = Duration::from_secs(interval.load(Ordering::Relaxed));
        let inner = with_interval(&auth.inner, current);
        let result = c
            .exchange_device_access_token(&inner)
            // Never below the interval the server asked for (the cap would otherwise undercut
            // it after a few `slow_down`s).
            .set_max_backoff_interval(Duration::from_secs(30).max(current * 2))
            .request_async(
                &http.oauth2(),
                move |d| {
                    interval.store(d.as_secs(), Ordering::Relaxed);
                    on_wait(d);
                    tokio::time::sleep(d)
                },
                Some(remaining),
            )
            .await;
        match result {
            Ok(resp) => return Ok(TokenSet::from_oauth2(&resp)),
            Err(e) => match OAuthError::from_request(&endpoints.token, e) {
                OAuthError::Rejected { code, .. } if code == "access_denied" => {
                    return Err(DeviceError::AccessDenied);
                }
                OAuthError::Rejected { code, .. } if code == "expired_token" => {
                    return Err(DeviceError::Expired);
                }
                // A 5xx, an HTML page from a proxy or `temporarily_unavailable` is not the end
                // of the login: back off and keep polling until the code expires.
                OAuthError::Transient(msg) => {
                    tracing::warn!(error = %msg, "device poll failed; retrying");
                    let current = Duration::from_secs(interval.load(Ordering::Relaxed));
                    let pause = (current * 2).max(Duration::from_secs(5));
                    on_wait(pause);
                    tokio::time::sleep(pause.min(remaining)).await;
                }
                other => return Err(DeviceError::OAuth(other)),
            },
        }
    }
}

/// `resp` with its polling interval raised to `interval` (oauth2 starts every poll loop
/// from the response's own interval and offers no setter).
fn with_interval(
    resp: &oauth2::StandardDeviceAuthorizationResponse,
    interval: Duration,
) -> oauth2::StandardDeviceAuthorizationResponse {
    if interval <= resp.interval() {
        return resp.clone();
    }
    let Ok(mut value) = serde_json::to_value(resp) else {
        return resp.clone();
    };
    if let Some(obj) = value.as_object_mut() {
        obj.insert("interval".into(), interval.as_secs().into());
    }
    serde_json::from_value(value).unwrap_or_else(|_| resp.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_interval_survives_a_restart_and_is_never_lowered() {
        let resp: oauth2::StandardDeviceAuthorizationResponse = serde_json::from_str(
            r#"{"device_code":"dc","user_code":"UC","verification_uri":"https://x.example/d","expires_in":600,"interval":5}"#,
        )
        .unwrap();
        let raised = with_interval(&resp, Duration::from_secs(15));
        assert_eq!(raised.interval(), Duration::from_secs(15));
        assert_eq!(raised.device_code().secret(), "dc");
        assert_eq!(raised.expires_in(), Duration::from_secs(600));
        assert_eq!(
            with_interval(&resp, Duration::from_secs(1)).interval(),
            Duration::from_secs(5)
        );
    }
}
