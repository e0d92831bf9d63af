//! Device authorizations (RFC 8628): codes waiting for the user, their polling pace and their fate.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::oauth_errors::OAuthError;
use crate::scope::Scope;
use crate::tokens;

/// RFC 8628 §3.5: every `slow_down` adds this to the interval "for this and all subsequent requests".
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Expired codes are kept this long so a late poll still learns `expired_token`, not `invalid_grant`.
const RETAIN_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// Tokens were issued; the code can never be exchanged again.
    Consumed,
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Consumed => "used",
        })
    }
}

/// Why a user code typed into the verification page (or the admin API) cannot be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserCodeError {
    #[error("this code is not known; check it against the one on your device and try again")]
    Unknown,
    #[error("this code has expired; start the login again on your device")]
    Expired,
    #[error("this code was already {0}; start the login again on your device if needed")]
    Settled(DeviceStatus),
}

#[derive(Debug)]
struct Entry {
    user_code: String,
    client_id: String,
    scope: Scope,
    expires_at: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    status: DeviceStatus,
}

/// What the device authorization endpoint hands back.
#[derive(Debug, Clone)]
pub struct NewDeviceCode {
    pub device_code: String,
    /// Canonical form, without the dash.
    pub user_code: String,
    pub expires_in: Duration,
    pub interval: Duration,
}

/// A pending request as the verification page shows it to the user.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub user_code: String,
    pub client_id: String,
    pub scope: Scope,
}

/// An approved code that was just exchanged: what the new grant covers.
#[derive(Debug, Clone)]
pub struct ApprovedRequest {
    pub client_id: String,
    pub scope: Scope,
}

#[derive(Debug, Default)]
pub struct DeviceCodes {
    by_device_code: HashMap<String, Entry>,
    /// Canonical user code → device code.
    by_user_code: HashMap<String, String>,
}

impl DeviceCodes {
    pub fn create(
        &mut self,
        client_id: &str,
        scope: Scope,
        ttl: Duration,
        interval: Duration,
        auto_approve: bool,
        now: Instant,
    ) -> NewDeviceCode {
        self.prune(now);
        let device_code = tokens::random_secret("dc_");
        let user_code = loop {
            let candidate = tokens::random_user_code();
            if !self.by_user_code.contains_key(&candidate) {
                break candidate;
            }
        };
        let status = if auto_approve {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Pending
        };
        self.by_user_code
            .insert(user_code.clone(), device_code.clone());
        self.by_device_code.insert(
            device_code.clone(),
            Entry {
                user_code: user_code.clone(),
                client_id: client_id.to_owned(),
                scope,
                expires_at: now + ttl,
                interval,
                last_poll: None,
                status,
            },
        );
        NewDeviceCode {
            device_code,
            user_code,
            expires_in: ttl,
            interval,
        }
    }

    /// One token-endpoint poll (RFC 8628 §3.4/§3.5). On success the code is consumed.
    pub fn poll(
        &mut self,
        device_code: &str,
        client_id: &str,
        now: Instant,
    ) -> Result<ApprovedRequest, OAuthError> {
        let Some(entry) = self.by_device_code.get_mut(device_code) else {
            return Err(OAuthError::InvalidGrant(
                "unknown device_code; start a new device authorization".to_owned(),
            ));
        };
        if entry.client_id != client_id {
            return Err(OAuthError::InvalidGrant(
                "the device_code was issued to another client".to_owned(),
            ));
        }
        let expired = now >= entry.expires_at;
        let previous_poll = entry.last_poll.replace(now);
        match entry.status {
            DeviceStatus::Consumed => Err(OAuthError::InvalidGrant(
                "the device_code was already exchanged for tokens".to_owned(),
            )),
            _ if expired => Err(OAuthError::ExpiredToken),
            DeviceStatus::Denied => Err(OAuthError::AccessDenied),
            DeviceStatus::Pending => {
                // Pace is measured between polls, not from issuance: a client may poll once
                // right away, which is what most real servers tolerate.
                if let Some(previous) = previous_poll
                    && now.saturating_duration_since(previous) < entry.interval
                {
                    entry.interval += SLOW_DOWN_STEP;
                    return Err(OAuthError::SlowDown);
                }
                Err(OAuthError::AuthorizationPending)
            }
            DeviceStatus::Approved => {
                entry.status = DeviceStatus::Consumed;
                Ok(ApprovedRequest {
                    client_id: entry.client_id.clone(),
                    scope: entry.scope.clone(),
                })
            }
        }
    }

    /// The request behind a user code, if the user can still approve or deny it.
    pub fn pending_request(
        &self,
        user_code: &str,
        now: Instant,
    ) -> Result<PendingRequest, UserCodeError> {
        let entry = self.open_entry(user_code, now)?;
        Ok(PendingRequest {
            user_code: entry.user_code.clone(),
            client_id: entry.client_id.clone(),
            scope: entry.scope.clone(),
        })
    }

    /// Records the user's decision; returns the new status.
    pub fn decide(
        &mut self,
        user_code: &str,
        approve: bool,
        now: Instant,
    ) -> Result<DeviceStatus, UserCodeError> {
        self.open_entry(user_code, now)?;
        let entry = self
            .by_user_code
            .get(user_code)
            .and_then(|dc| self.by_device_code.get_mut(dc))
            .ok_or(UserCodeError::Unknown)?;
        entry.status = if approve {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Denied
        };
        Ok(entry.status)
    }

    /// Makes every code that is not yet exchanged expire now; returns how many changed.
    pub fn expire_all(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        for entry in self.by_device_code.values_mut() {
            if entry.status != DeviceStatus::Consumed && entry.expires_at > now {
                entry.expires_at = now;
                expired += 1;
            }
        }
        expired
    }

    pub fn pending_count(&self, now: Instant) -> usize {
        self.by_device_code
            .values()
            .filter(|e| e.status == DeviceStatus::Pending && now < e.expires_at)
            .count()
    }

    /// The current polling interval of a code (it grows with every `slow_down`).
    pub fn interval(&self, device_code: &str) -> Option<Duration> {
        self.by_device_code.get(device_code).map(|e| e.interval)
    }

    fn open_entry(&self, user_code: &str, now: Instant) -> Result<&Entry, UserCodeError> {
        let entry = self
            .by_user_code
            .get(user_code)
            .and_then(|dc| self.by_device_code.get(dc))
            .ok_or(UserCodeError::Unknown)?;
        if entry.status == DeviceStatus::Consumed {
            return Err(UserCodeError::Settled(entry.status));
        }
        if now >= entry.expires_at {
            return Err(UserCodeError::Expired);
        }
        if entry.status != DeviceStatus::Pending {
            return Err(UserCodeError::Settled(entry.status));
        }
        Ok(entry)
    }

    fn prune(&mut self, now: Instant) {
        let by_user_code = &mut self.by_user_code;
        self.by_device_code.retain(|_, entry| {
            let keep = now < entry.expires_at + RETAIN_AFTER_EXPIRY;
            if !keep {
                by_user_code.remove(&entry.user_code);
            }
            keep
        });
    }
}
