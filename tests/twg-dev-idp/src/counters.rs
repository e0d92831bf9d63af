//! Request counters that tests read through `/admin/counters` (faulted requests count too).

use serde::Serialize;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Every POST /oauth/token, whatever its grant type or outcome.
    pub token_requests: u64,
    /// POST /oauth/token with grant_type=refresh_token.
    pub refresh_requests: u64,
    /// POST /oauth/token with the device_code grant type.
    pub device_token_polls: u64,
    /// POST /oauth/token with grant_type=authorization_code.
    pub authorization_code_requests: u64,
    /// POST /oauth/token requests that sent a client secret in an HTTP Basic header.
    pub client_secret_basic_requests: u64,
    /// POST /oauth/token requests that sent a client secret in the body.
    pub client_secret_post_requests: u64,
    /// GET /authorize, valid or not.
    pub authorization_requests: u64,
    /// POST /oauth/device/code.
    pub device_authorizations: u64,
    pub revocations: u64,
    pub introspections: u64,
    pub resources_requests: u64,
    /// GET /userinfo and GET /me.
    pub userinfo_requests: u64,
    /// Refresh requests that presented a refresh token already rotated or revoked: what a
    /// client must never send (a strict server revokes the whole grant on the first one).
    pub spent_refresh_requests: u64,
}
