//! The authorization server's memory: settings, device codes and grants. Pure and synchronous:
//! every time-dependent operation takes `now`, so tests can drive the clock.

mod device_codes;
mod grants;
#[cfg(test)]
mod tests;

use std::time::Instant;

pub use device_codes::{
    ApprovedRequest, DeviceCodes, DeviceStatus, NewDeviceCode, PendingRequest, SLOW_DOWN_STEP,
    UserCodeError,
};
pub use grants::{
    AccessTokenInfo, GrantSummary, Grants, GrantsSummary, IssuedTokens, RefreshTokenInfo,
    RefreshTokenState, Revoked,
};

use crate::oauth_errors::OAuthError;
use crate::scope::Scope;
use crate::settings::Settings;

#[derive(Debug, Default)]
pub struct Idp {
    pub settings: Settings,
    pub devices: DeviceCodes,
    pub grants: Grants,
}

impl Idp {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// Public-client authentication (RFC 6749 §2.3, §3.2.1): the client_id must be sent and known.
    pub fn authenticate_client(&self, client_id: Option<&str>) -> Result<String, OAuthError> {
        let Some(client_id) = client_id else {
            return Err(OAuthError::InvalidClient(
                "the client_id parameter is missing; public clients must send it".to_owned(),
            ));
        };
        if self.settings.client_ids.iter().any(|c| c == client_id) {
            Ok(client_id.to_owned())
        } else {
            Err(OAuthError::InvalidClient(format!(
                "unknown client_id {client_id}; start the server with --client-id {client_id}"
            )))
        }
    }

    pub fn start_device_authorization(
        &mut self,
        client_id: &str,
        scope: Scope,
        now: Instant,
    ) -> NewDeviceCode {
        let settings = &self.settings;
        self.devices.create(
            client_id,
            scope,
            settings.device_code_ttl,
            settings.interval,
            settings.auto_approve,
            now,
        )
    }

    /// The device_code grant: a poll that, once the user approved, starts a grant.
    pub fn poll_device_code(
        &mut self,
        device_code: &str,
        client_id: &str,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthError> {
        let approved = self.devices.poll(device_code, client_id, now)?;
        Ok(self.grants.create(
            &approved.client_id,
            approved.scope,
            self.settings.access_token_ttl,
            now,
        ))
    }

    pub fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        scope: Option<Scope>,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthError> {
        self.grants.refresh(
            refresh_token,
            client_id,
            scope,
            self.settings.access_token_ttl,
            self.settings.reuse_leeway,
            now,
        )
    }

    pub fn refresh_state(&self, refresh_token: &str, now: Instant) -> RefreshTokenState {
        self.grants
            .refresh_state(refresh_token, self.settings.reuse_leeway, now)
    }
}
