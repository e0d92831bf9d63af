//! The authorization server's memory: settings, device codes, authorization codes and grants.
//! Pure and synchronous: every time-dependent operation takes `now`, so tests can drive the clock.

mod authorization_codes;
#[cfg(test)]
mod code_flow_tests;
mod device_codes;
mod grants;
#[cfg(test)]
mod tests;

use std::time::Instant;

pub use authorization_codes::{
    AuthorizationCodes, AuthorizationRequest, CONSENT_TTL, Consent, ConsentError, RedeemError,
};
pub use device_codes::{
    ApprovedRequest, DeviceCodes, DeviceStatus, NewDeviceCode, PendingRequest, SLOW_DOWN_STEP,
    UserCodeError,
};
pub use grants::{
    AccessTokenInfo, GrantSummary, Grants, GrantsSummary, IssuedTokens, RefreshTokenInfo,
    RefreshTokenState, Revoked,
};

use crate::clients::ClientCredentials;
use crate::oauth_errors::OAuthError;
use crate::scope::Scope;
use crate::settings::Settings;

#[derive(Debug, Default)]
pub struct Idp {
    pub settings: Settings,
    pub devices: DeviceCodes,
    pub codes: AuthorizationCodes,
    pub grants: Grants,
}

impl Idp {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// Client authentication (RFC 6749 §2.3, §3.2.1): public clients send a known client_id and
    /// no secret; confidential ones must prove their secret. Returns the authenticated id.
    pub fn authenticate_client(&self, presented: &ClientCredentials) -> Result<String, OAuthError> {
        let Some(client_id) = presented.client_id.as_deref() else {
            return Err(OAuthError::InvalidClient(
                "the client is not identified; public clients send client_id, confidential \
                 ones authenticate with client_secret_basic or client_secret_post"
                    .to_owned(),
            ));
        };
        if let Some(client) = self.settings.confidential_client(client_id) {
            return match &presented.secret {
                Some(secret) if client.client_secret.matches(secret) => Ok(client_id.to_owned()),
                Some(_) => Err(OAuthError::InvalidClient(format!(
                    "wrong client secret for client {client_id}"
                ))),
                None => Err(OAuthError::InvalidClient(format!(
                    "client {client_id} is confidential; authenticate with its secret \
                     (client_secret_basic or client_secret_post)"
                ))),
            };
        }
        if !self.settings.is_public_client(client_id) {
            return Err(OAuthError::InvalidClient(format!(
                "unknown client_id {client_id}; start the server with --client-id {client_id} \
                 or --confidential-client {client_id}:SECRET:REDIRECT_URI"
            )));
        }
        if presented.secret.is_some() {
            return Err(OAuthError::InvalidClient(format!(
                "client {client_id} is a public client and has no secret; send no client secret"
            )));
        }
        Ok(client_id.to_owned())
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

    /// Parks a validated authorization request until the user answers the consent page.
    pub fn start_authorization(&mut self, request: AuthorizationRequest, now: Instant) -> String {
        self.codes.start(request, now)
    }

    pub fn decide_authorization(
        &mut self,
        request_id: &str,
        approve: bool,
        now: Instant,
    ) -> Result<Consent, ConsentError> {
        self.codes
            .decide(request_id, approve, self.settings.auth_code_ttl, now)
    }

    /// The authorization_code grant: a code, once, for a grant like the device grant's. A
    /// replayed code is refused and takes down the grant its first exchange started.
    pub fn exchange_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthError> {
        match self
            .codes
            .redeem(code, client_id, redirect_uri, code_verifier, now)
        {
            Ok(request) => {
                let issued = self.grants.create(
                    &request.client_id,
                    request.scope,
                    self.settings.access_token_ttl,
                    now,
                );
                self.codes.record_grant(code, issued.grant_id);
                Ok(issued)
            }
            Err(RedeemError::Reused { grant }) => {
                if let Some(grant) = grant {
                    self.grants.revoke_grant(grant);
                }
                Err(OAuthError::InvalidGrant(
                    "the authorization code was already used; every token issued from it has \
                     been revoked, start the login again"
                        .to_owned(),
                ))
            }
            Err(RedeemError::Refused(err)) => Err(err),
        }
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
