//! Grants and their tokens: refresh-token rotation, the reuse leeway, reuse detection and revocation.
//!
//! A grant is one user approval. It owns every access token issued under it and a chain of
//! refresh tokens of which exactly one is current. Using the current one rotates it. Using an
//! older one is tolerated for `reuse_leeway` after it was rotated (a client whose response got
//! lost must be able to retry) and treated as theft afterwards: the whole grant dies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::oauth_errors::OAuthError;
use crate::scope::{OFFLINE_ACCESS, Scope};
use crate::tokens;

/// Expired access tokens are swept once this many have piled up.
const ACCESS_SWEEP_THRESHOLD: usize = 10_000;

/// What a successful grant or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The grant the tokens belong to (an authorization code remembers it to revoke on replay).
    pub grant_id: u64,
    pub access_token: String,
    pub expires_in: Duration,
    pub refresh_token: Option<String>,
    pub scope: Scope,
}

/// Where a refresh token stands, as `/admin/check-refresh-token` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenState {
    Current,
    RotatedWithinLeeway,
    RotatedExpired,
    Revoked,
    Unknown,
}

impl RefreshTokenState {
    /// The token was already rotated: presenting it again is a reuse (within the leeway or not).
    pub fn spent(self) -> bool {
        matches!(self, Self::RotatedWithinLeeway | Self::RotatedExpired)
    }

    /// Whether a refresh with this token would succeed right now.
    pub fn usable(self) -> bool {
        matches!(self, Self::Current | Self::RotatedWithinLeeway)
    }
}

/// What a revocation request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Grant,
    AccessToken,
    /// RFC 7009 §2.2: unknown tokens are not an error.
    Unknown,
}

/// A live access token's facts, for Bearer checks and introspection.
#[derive(Debug, Clone)]
pub struct AccessTokenInfo {
    pub client_id: String,
    pub scope: Scope,
    pub expires_in: Duration,
}

/// A usable refresh token's facts, for introspection.
#[derive(Debug, Clone)]
pub struct RefreshTokenInfo {
    pub client_id: String,
    pub scope: Scope,
    pub state: RefreshTokenState,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantSummary {
    pub id: u64,
    pub client_id: String,
    pub scope: String,
    pub revoked: bool,
    pub refresh_tokens_issued: usize,
    pub live_access_tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantsSummary {
    pub live_grants: usize,
    pub revoked_grants: usize,
    pub grants: Vec<GrantSummary>,
}

#[derive(Debug)]
struct Grant {
    client_id: String,
    scope: Scope,
    revoked: bool,
    current_refresh: Option<String>,
    refresh_issued: usize,
}

#[derive(Debug)]
struct RefreshRecord {
    grant: u64,
    /// `None` while the token is the grant's current one.
    rotated_at: Option<Instant>,
}

#[derive(Debug)]
struct AccessRecord {
    grant: u64,
    scope: Scope,
    expires_at: Instant,
    revoked: bool,
}

#[derive(Debug, Default)]
pub struct Grants {
    next_id: u64,
    grants: HashMap<u64, Grant>,
    refresh: HashMap<String, RefreshRecord>,
    access: HashMap<String, AccessRecord>,
}

impl Grants {
    /// Starts a grant for an approved request. A refresh token comes only with `offline_access`.
    pub fn create(
        &mut self,
        client_id: &str,
        scope: Scope,
        access_ttl: Duration,
        now: Instant,
    ) -> IssuedTokens {
        self.next_id += 1;
        let id = self.next_id;
        self.grants.insert(
            id,
            Grant {
                client_id: client_id.to_owned(),
                scope: scope.clone(),
                revoked: false,
                current_refresh: None,
                refresh_issued: 0,
            },
        );
        let refresh_token = scope
            .contains(OFFLINE_ACCESS)
            .then(|| self.rotate_refresh(id, now));
        let access_token = self.issue_access(id, scope.clone(), access_ttl, now);
        IssuedTokens {
            grant_id: id,
            access_token,
            expires_in: access_ttl,
            refresh_token,
            scope,
        }
    }

    /// The refresh_token grant (RFC 6749 §6) with rotation and reuse detection.
    pub fn refresh(
        &mut self,
        token: &str,
        client_id: &str,
        requested_scope: Option<Scope>,
        access_ttl: Duration,
        reuse_leeway: Duration,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthError> {
        let unknown = || OAuthError::InvalidGrant("unknown refresh token".to_owned());
        let record = self.refresh.get(token).ok_or_else(unknown)?;
        let (grant_id, rotated_at) = (record.grant, record.rotated_at);
        let grant = self.grants.get(&grant_id).ok_or_else(unknown)?;
        if grant.revoked {
            return Err(OAuthError::InvalidGrant(
                "the refresh token has been revoked; log in again".to_owned(),
            ));
        }
        // Checked before reuse detection so one client cannot get another's grant revoked.
        if grant.client_id != client_id {
            return Err(OAuthError::InvalidGrant(
                "the refresh token was issued to another client".to_owned(),
            ));
        }
        if let Some(rotated_at) = rotated_at {
            let age = now.saturating_duration_since(rotated_at);
            if age >= reuse_leeway {
                self.revoke_grant(grant_id);
                return Err(OAuthError::InvalidGrant(format!(
                    "refresh token reused {}s after it was rotated, beyond the {}s leeway; \
                     the whole grant has been revoked, log in again",
                    age.as_secs(),
                    reuse_leeway.as_secs()
                )));
            }
        }
        let scope = match requested_scope {
            Some(requested) if !requested.is_empty() => {
                if !requested.is_subset_of(&grant.scope) {
                    return Err(OAuthError::InvalidScope(
                        "the requested scope exceeds the scope originally granted".to_owned(),
                    ));
                }
                requested
            }
            _ => grant.scope.clone(),
        };
        let refresh_token = self.rotate_refresh(grant_id, now);
        let access_token = self.issue_access(grant_id, scope.clone(), access_ttl, now);
        Ok(IssuedTokens {
            grant_id,
            access_token,
            expires_in: access_ttl,
            refresh_token: Some(refresh_token),
            scope,
        })
    }

    /// Where a refresh token stands, without spending it or triggering reuse detection.
    pub fn refresh_state(
        &self,
        token: &str,
        reuse_leeway: Duration,
        now: Instant,
    ) -> RefreshTokenState {
        let Some(record) = self.refresh.get(token) else {
            return RefreshTokenState::Unknown;
        };
        match self.grants.get(&record.grant) {
            Some(grant) if !grant.revoked => {}
            _ => return RefreshTokenState::Revoked,
        }
        match record.rotated_at {
            None => RefreshTokenState::Current,
            Some(at) if now.saturating_duration_since(at) < reuse_leeway => {
                RefreshTokenState::RotatedWithinLeeway
            }
            Some(_) => RefreshTokenState::RotatedExpired,
        }
    }

    /// A usable refresh token's facts; `None` if a refresh with it would fail.
    pub fn refresh_token_info(
        &self,
        token: &str,
        reuse_leeway: Duration,
        now: Instant,
    ) -> Option<RefreshTokenInfo> {
        let state = self.refresh_state(token, reuse_leeway, now);
        if !state.usable() {
            return None;
        }
        let grant = self.grants.get(&self.refresh.get(token)?.grant)?;
        Some(RefreshTokenInfo {
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            state,
        })
    }

    /// A live access token's facts; `None` if unknown, expired or revoked.
    pub fn access_token(&self, token: &str, now: Instant) -> Option<AccessTokenInfo> {
        let record = self.access.get(token)?;
        let grant = self.grants.get(&record.grant)?;
        if record.revoked || grant.revoked || now >= record.expires_at {
            return None;
        }
        Some(AccessTokenInfo {
            client_id: grant.client_id.clone(),
            scope: record.scope.clone(),
            expires_in: record.expires_at.saturating_duration_since(now),
        })
    }

    /// RFC 7009: a refresh token (current or not) takes its whole grant down, as §2.1 suggests;
    /// an access token goes alone.
    pub fn revoke(&mut self, token: &str, client_id: &str) -> Result<Revoked, OAuthError> {
        if let Some(grant_id) = self.refresh.get(token).map(|r| r.grant) {
            self.check_owner(grant_id, client_id)?;
            self.revoke_grant(grant_id);
            return Ok(Revoked::Grant);
        }
        if let Some(grant_id) = self.access.get(token).map(|r| r.grant) {
            self.check_owner(grant_id, client_id)?;
            if let Some(record) = self.access.get_mut(token) {
                record.revoked = true;
            }
            return Ok(Revoked::AccessToken);
        }
        Ok(Revoked::Unknown)
    }

    pub fn summary(&self, now: Instant) -> GrantsSummary {
        let mut grants: Vec<GrantSummary> = self
            .grants
            .iter()
            .map(|(id, grant)| GrantSummary {
                id: *id,
                client_id: grant.client_id.clone(),
                scope: grant.scope.to_string(),
                revoked: grant.revoked,
                refresh_tokens_issued: grant.refresh_issued,
                live_access_tokens: self
                    .access
                    .values()
                    .filter(|a| {
                        a.grant == *id && !a.revoked && !grant.revoked && now < a.expires_at
                    })
                    .count(),
            })
            .collect();
        grants.sort_by_key(|g| g.id);
        let revoked_grants = grants.iter().filter(|g| g.revoked).count();
        GrantsSummary {
            live_grants: grants.len() - revoked_grants,
            revoked_grants,
            grants,
        }
    }

    fn check_owner(&self, grant_id: u64, client_id: &str) -> Result<(), OAuthError> {
        match self.grants.get(&grant_id) {
            Some(grant) if grant.client_id != client_id => Err(OAuthError::InvalidGrant(
                "the token was issued to another client".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// Takes a grant down with every token issued under it.
    pub fn revoke_grant(&mut self, grant_id: u64) {
        if let Some(grant) = self.grants.get_mut(&grant_id) {
            grant.revoked = true;
            grant.current_refresh = None;
        }
    }

    /// Issues a new current refresh token; the previous current one starts its leeway now.
    fn rotate_refresh(&mut self, grant_id: u64, now: Instant) -> String {
        let token = tokens::random_secret("rt_");
        if let Some(grant) = self.grants.get_mut(&grant_id) {
            if let Some(previous) = grant.current_refresh.replace(token.clone())
                && let Some(record) = self.refresh.get_mut(&previous)
            {
                // A token reused within its leeway is already rotated; its clock keeps running
                // from the first rotation so the leeway cannot be extended by reuse.
                record.rotated_at.get_or_insert(now);
            }
            grant.refresh_issued += 1;
        }
        self.refresh.insert(
            token.clone(),
            RefreshRecord {
                grant: grant_id,
                rotated_at: None,
            },
        );
        token
    }

    fn issue_access(&mut self, grant_id: u64, scope: Scope, ttl: Duration, now: Instant) -> String {
        if self.access.len() >= ACCESS_SWEEP_THRESHOLD {
            self.access.retain(|_, record| now < record.expires_at);
        }
        let token = tokens::random_secret("at_");
        self.access.insert(
            token.clone(),
            AccessRecord {
                grant: grant_id,
                scope,
                expires_at: now + ttl,
                revoked: false,
            },
        );
        token
    }
}
