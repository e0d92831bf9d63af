//! The device authorization grant (RFC 8628) through the `oauth2` crate.

use super::TokenSet;
use super::discovery::Endpoints;
use super::error::OAuthError;
use super::http::HttpClient;
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
    #[error(transparent)]
    OAuth(#[from] OAuthError),
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
    Ok(
        oauth2::basic::BasicClient::new(oauth2::ClientId::new(client_id.to_string()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_device_authorization_url(
                oauth2::DeviceAuthorizationUrl::new(endpoints.device_authorization.clone())
                    .map_err(|e| bad("device authorization endpoint", e))?,
            )
            .set_token_uri(
                oauth2::TokenUrl::new(endpoints.token.clone())
                    .map_err(|e| bad("token endpoint", e))?,
            ),
    )
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
        .map_err(|e| OAuthError::from_request(&endpoints.device_authorization, e))?;
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
    loop {
        let remaining = auth.expires_in.saturating_sub(auth.started.elapsed());
        if remaining.is_zero() {
            return Err(DeviceError::Expired);
        }
        let result = c
            .exchange_device_access_token(&auth.inner)
            .set_max_backoff_interval(Duration::from_secs(30))
            .request_async(
                &http.oauth2(),
                move |d| {
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
                    let pause = (auth.interval * 2).max(Duration::from_secs(5));
                    on_wait(pause);
                    tokio::time::sleep(pause.min(remaining)).await;
                }
                other => return Err(DeviceError::OAuth(other)),
            },
        }
    }
}
