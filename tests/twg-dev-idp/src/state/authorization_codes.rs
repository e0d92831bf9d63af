//! Authorization requests waiting for the user's consent, and the codes an approval turns into
//! (RFC 6749 §4.1, RFC 7636): single use, short-lived, and bound to the client, the redirect
//! URI, the scope and the PKCE challenge of the request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::oauth_errors::OAuthError;
use crate::pkce;
use crate::scope::Scope;
use crate::tokens;

/// How long a consent page stays answerable: long enough for a person, short enough to prune.
pub const CONSENT_TTL: Duration = Duration::from_secs(600);

/// Spent and expired codes are kept this long so a replay is recognised as one (and revokes
/// what the code started) rather than looking like a code this server never issued.
const RETAIN_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

/// A validated authorization request, as the consent page shows it and the code remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scope,
    /// Echoed back to the client untouched; `None` if it sent none.
    pub state: Option<String>,
    /// Always S256: the only method `/authorize` lets through.
    pub code_challenge: String,
}

/// Why a consent decision cannot be acted on. There is nowhere trustworthy to redirect to, so
/// these are shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error(
        "this authorization request is unknown or was already answered; \
         start the login again in the application"
    )]
    Unknown,
    #[error("this authorization request has expired; start the login again in the application")]
    Expired,
}

/// The user's answer, with the request it answers (its redirect URI and state are needed to
/// send the answer back).
#[derive(Debug, Clone)]
pub enum Consent {
    Approved {
        code: String,
        request: AuthorizationRequest,
    },
    Denied {
        request: AuthorizationRequest,
    },
}

/// Why a code could not be exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemError {
    /// The code was already exchanged; RFC 6749 §4.1.2 says the grant it started should die.
    Reused {
        grant: Option<u64>,
    },
    Refused(OAuthError),
}

#[derive(Debug)]
struct Pending {
    request: AuthorizationRequest,
    expires_at: Instant,
}

#[derive(Debug)]
struct Code {
    request: AuthorizationRequest,
    expires_at: Instant,
    redeemed: bool,
    /// The grant the first exchange started, to revoke on a replay.
    grant: Option<u64>,
}

#[derive(Debug, Default)]
pub struct AuthorizationCodes {
    /// Request id (the consent form's hidden field) → request.
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Code>,
}

impl AuthorizationCodes {
    /// Parks a validated request until the user answers; returns the id the consent form posts.
    pub fn start(&mut self, request: AuthorizationRequest, now: Instant) -> String {
        self.prune(now);
        // Unguessable, so it also serves as the consent form's CSRF token.
        let id = tokens::random_secret("ar_");
        self.pending.insert(
            id.clone(),
            Pending {
                request,
                expires_at: now + CONSENT_TTL,
            },
        );
        id
    }

    pub fn pending_request(
        &self,
        request_id: &str,
        now: Instant,
    ) -> Result<&AuthorizationRequest, ConsentError> {
        let pending = self.pending.get(request_id).ok_or(ConsentError::Unknown)?;
        if now >= pending.expires_at {
            return Err(ConsentError::Expired);
        }
        Ok(&pending.request)
    }

    /// Records the user's answer; a request can be answered once. Approval mints a code.
    pub fn decide(
        &mut self,
        request_id: &str,
        approve: bool,
        code_ttl: Duration,
        now: Instant,
    ) -> Result<Consent, ConsentError> {
        let pending = self
            .pending
            .remove(request_id)
            .ok_or(ConsentError::Unknown)?;
        if now >= pending.expires_at {
            return Err(ConsentError::Expired);
        }
        if !approve {
            return Ok(Consent::Denied {
                request: pending.request,
            });
        }
        let code = tokens::random_secret("ac_");
        self.codes.insert(
            code.clone(),
            Code {
                request: pending.request.clone(),
                expires_at: now + code_ttl,
                redeemed: false,
                grant: None,
            },
        );
        Ok(Consent::Approved {
            code,
            request: pending.request,
        })
    }

    /// The authorization_code grant's checks (RFC 6749 §4.1.3, RFC 7636 §4.6). On success the
    /// code is spent and the request it was issued for comes back.
    pub fn redeem(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: Instant,
    ) -> Result<AuthorizationRequest, RedeemError> {
        let refuse = |description: &str| {
            Err(RedeemError::Refused(OAuthError::InvalidGrant(
                description.to_owned(),
            )))
        };
        let Some(entry) = self.codes.get_mut(code) else {
            return refuse("unknown authorization code; start the login again");
        };
        // Checked before reuse so one client cannot get another's grant revoked.
        if entry.request.client_id != client_id {
            return refuse("the authorization code was issued to another client");
        }
        if entry.redeemed {
            return Err(RedeemError::Reused { grant: entry.grant });
        }
        if now >= entry.expires_at {
            return refuse("the authorization code has expired; start the login again");
        }
        if entry.request.redirect_uri != redirect_uri {
            return refuse(
                "redirect_uri does not match the one in the authorization request; \
                 send exactly the same value",
            );
        }
        let Some(verifier) = code_verifier else {
            return refuse("the code_verifier parameter is missing; PKCE is required");
        };
        if !pkce::verify(verifier, &entry.request.code_challenge) {
            return refuse(
                "the code_verifier does not match the code_challenge (S256) \
                 of the authorization request",
            );
        }
        entry.redeemed = true;
        Ok(entry.request.clone())
    }

    /// Remembers which grant a code started, so a replay of the code can take it down.
    pub fn record_grant(&mut self, code: &str, grant: u64) {
        if let Some(entry) = self.codes.get_mut(code) {
            entry.grant = Some(grant);
        }
    }

    pub fn pending_count(&self, now: Instant) -> usize {
        self.pending.values().filter(|p| now < p.expires_at).count()
    }

    fn prune(&mut self, now: Instant) {
        self.pending.retain(|_, p| now < p.expires_at);
        self.codes
            .retain(|_, c| now < c.expires_at + RETAIN_AFTER_EXPIRY);
    }
}
