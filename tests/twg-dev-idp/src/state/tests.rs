//! Unit tests of the pure device-flow and rotation logic, on a hand-driven clock.

use std::time::{Duration, Instant};

use super::*;
use crate::clients::{AuthMethod, ClientCredentials, ClientSecret};
use crate::settings::DEFAULT_CLIENT_ID;

const CLIENT: &str = DEFAULT_CLIENT_ID;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn idp() -> Idp {
    Idp::new(Settings::default())
}

fn offline_scope() -> Scope {
    Scope::parse("read:me read:jira-work offline_access").unwrap()
}

/// Runs a device flow to completion and returns the first tokens.
fn approved_tokens(idp: &mut Idp, t0: Instant) -> IssuedTokens {
    let code = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    idp.devices.decide(&code.user_code, true, t0).unwrap();
    idp.poll_device_code(&code.device_code, CLIENT, t0).unwrap()
}

#[test]
fn device_flow_pending_then_tokens_then_consumed() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    assert_eq!(code.interval, secs(5));
    assert_eq!(
        idp.poll_device_code(&code.device_code, CLIENT, t0)
            .unwrap_err(),
        OAuthError::AuthorizationPending
    );
    let pending = idp.devices.pending_request(&code.user_code, t0).unwrap();
    assert_eq!(pending.client_id, CLIENT);
    assert_eq!(
        idp.devices.decide(&code.user_code, true, t0 + secs(3)),
        Ok(DeviceStatus::Approved)
    );
    let tokens = idp
        .poll_device_code(&code.device_code, CLIENT, t0 + secs(6))
        .unwrap();
    assert!(tokens.access_token.starts_with("at_"));
    assert!(tokens.refresh_token.unwrap().starts_with("rt_"));
    assert_eq!(tokens.expires_in, secs(3600));
    assert!(matches!(
        idp.poll_device_code(&code.device_code, CLIENT, t0 + secs(12)),
        Err(OAuthError::InvalidGrant(_))
    ));
    assert_eq!(
        idp.devices.decide(&code.user_code, true, t0 + secs(13)),
        Err(UserCodeError::Settled(DeviceStatus::Consumed))
    );
}

#[test]
fn no_refresh_token_without_offline_access() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = idp.start_device_authorization(CLIENT, Scope::parse("read:me").unwrap(), t0);
    idp.devices.decide(&code.user_code, true, t0).unwrap();
    let tokens = idp.poll_device_code(&code.device_code, CLIENT, t0).unwrap();
    assert!(tokens.refresh_token.is_none());
}

#[test]
fn slow_down_grows_the_interval_by_five_seconds_each_time() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    let dc = code.device_code.as_str();
    // The first poll has nothing to be compared with.
    assert_eq!(
        idp.poll_device_code(dc, CLIENT, t0).unwrap_err(),
        OAuthError::AuthorizationPending
    );
    // 4 s < 5 s: too fast.
    assert_eq!(
        idp.poll_device_code(dc, CLIENT, t0 + secs(4)).unwrap_err(),
        OAuthError::SlowDown
    );
    assert_eq!(idp.devices.interval(dc), Some(secs(10)));
    // 9 s after the last poll is fine under 5 s but not under the new 10 s.
    assert_eq!(
        idp.poll_device_code(dc, CLIENT, t0 + secs(13)).unwrap_err(),
        OAuthError::SlowDown
    );
    assert_eq!(idp.devices.interval(dc), Some(secs(15)));
    assert_eq!(
        idp.poll_device_code(dc, CLIENT, t0 + secs(28)).unwrap_err(),
        OAuthError::AuthorizationPending
    );
    assert_eq!(idp.devices.interval(dc), Some(secs(15)));
}

#[test]
fn denied_expired_and_wrong_client() {
    let mut idp = idp();
    let t0 = Instant::now();
    let denied = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    idp.devices.decide(&denied.user_code, false, t0).unwrap();
    assert_eq!(
        idp.poll_device_code(&denied.device_code, CLIENT, t0)
            .unwrap_err(),
        OAuthError::AccessDenied
    );

    let late = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    assert_eq!(
        idp.poll_device_code(&late.device_code, CLIENT, t0 + secs(600))
            .unwrap_err(),
        OAuthError::ExpiredToken
    );
    assert_eq!(
        idp.devices.decide(&late.user_code, true, t0 + secs(600)),
        Err(UserCodeError::Expired)
    );

    let other = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    assert!(matches!(
        idp.poll_device_code(&other.device_code, "someone-else", t0),
        Err(OAuthError::InvalidGrant(_))
    ));
    // At t0+1 none of the three has reached its own expiry, so all three are cut short.
    assert_eq!(idp.devices.expire_all(t0 + secs(1)), 3);
    assert_eq!(
        idp.devices.expire_all(t0 + secs(1)),
        0,
        "already expired codes stay put"
    );
    assert_eq!(
        idp.poll_device_code(&other.device_code, CLIENT, t0 + secs(2))
            .unwrap_err(),
        OAuthError::ExpiredToken
    );
}

#[test]
fn auto_approve_issues_on_first_poll() {
    let mut idp = idp();
    idp.settings.auto_approve = true;
    let t0 = Instant::now();
    let code = idp.start_device_authorization(CLIENT, offline_scope(), t0);
    assert!(idp.poll_device_code(&code.device_code, CLIENT, t0).is_ok());
}

#[test]
fn rotation_makes_a_new_current_token_and_keeps_the_old_one_within_leeway() {
    let mut idp = idp();
    let t0 = Instant::now();
    let rt1 = approved_tokens(&mut idp, t0).refresh_token.unwrap();
    assert_eq!(idp.refresh_state(&rt1, t0), RefreshTokenState::Current);

    let second = idp.refresh(&rt1, CLIENT, None, t0 + secs(10)).unwrap();
    let rt2 = second.refresh_token.unwrap();
    assert_ne!(rt1, rt2);
    assert_eq!(
        idp.refresh_state(&rt2, t0 + secs(10)),
        RefreshTokenState::Current
    );
    assert_eq!(
        idp.refresh_state(&rt1, t0 + secs(10)),
        RefreshTokenState::RotatedWithinLeeway
    );

    // The response carrying rt2 was "lost": rt1 still works inside the leeway and yields rt3.
    let rt3 = idp
        .refresh(&rt1, CLIENT, None, t0 + secs(300))
        .unwrap()
        .refresh_token
        .unwrap();
    assert_eq!(
        idp.refresh_state(&rt3, t0 + secs(300)),
        RefreshTokenState::Current
    );
    assert_eq!(
        idp.refresh_state(&rt2, t0 + secs(300)),
        RefreshTokenState::RotatedWithinLeeway
    );
    // rt1's leeway counts from its first rotation (t0+10), not from its reuse.
    assert_eq!(
        idp.refresh_state(&rt1, t0 + secs(610)),
        RefreshTokenState::RotatedExpired
    );
    assert_eq!(
        idp.refresh_state(&rt2, t0 + secs(610)),
        RefreshTokenState::RotatedWithinLeeway
    );
    // Checking never spends or revokes anything.
    assert_eq!(
        idp.refresh_state(&rt3, t0 + secs(610)),
        RefreshTokenState::Current
    );
}

#[test]
fn reuse_after_leeway_revokes_the_whole_grant() {
    let mut idp = idp();
    let t0 = Instant::now();
    let first = approved_tokens(&mut idp, t0);
    let rt1 = first.refresh_token.unwrap();
    let second = idp.refresh(&rt1, CLIENT, None, t0).unwrap();
    let rt2 = second.refresh_token.unwrap();
    assert!(
        idp.grants
            .access_token(&second.access_token, t0 + secs(1))
            .is_some()
    );

    let err = idp.refresh(&rt1, CLIENT, None, t0 + secs(600)).unwrap_err();
    assert!(matches!(err, OAuthError::InvalidGrant(_)));
    assert_eq!(
        idp.refresh_state(&rt2, t0 + secs(600)),
        RefreshTokenState::Revoked
    );
    assert!(matches!(
        idp.refresh(&rt2, CLIENT, None, t0 + secs(601)),
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(
        idp.grants
            .access_token(&first.access_token, t0 + secs(601))
            .is_none()
    );
    assert!(
        idp.grants
            .access_token(&second.access_token, t0 + secs(601))
            .is_none()
    );
    let summary = idp.grants.summary(t0 + secs(601));
    assert_eq!((summary.live_grants, summary.revoked_grants), (0, 1));
}

#[test]
fn zero_leeway_rejects_any_reuse() {
    let mut idp = idp();
    idp.settings.reuse_leeway = Duration::ZERO;
    let t0 = Instant::now();
    let rt1 = approved_tokens(&mut idp, t0).refresh_token.unwrap();
    idp.refresh(&rt1, CLIENT, None, t0).unwrap();
    assert!(idp.refresh(&rt1, CLIENT, None, t0).is_err());
}

#[test]
fn wrong_client_cannot_refresh_or_get_the_grant_revoked() {
    let mut idp = idp();
    let t0 = Instant::now();
    let rt1 = approved_tokens(&mut idp, t0).refresh_token.unwrap();
    let rt2 = idp
        .refresh(&rt1, CLIENT, None, t0)
        .unwrap()
        .refresh_token
        .unwrap();
    assert!(matches!(
        idp.refresh(&rt1, "intruder", None, t0 + secs(9999)),
        Err(OAuthError::InvalidGrant(_))
    ));
    assert_eq!(
        idp.refresh_state(&rt2, t0 + secs(9999)),
        RefreshTokenState::Current
    );
    assert!(idp.grants.revoke(&rt2, "intruder").is_err());
    assert_eq!(idp.refresh_state(&rt2, t0), RefreshTokenState::Current);
}

#[test]
fn refresh_scope_may_narrow_but_not_widen() {
    let mut idp = idp();
    let t0 = Instant::now();
    let rt1 = approved_tokens(&mut idp, t0).refresh_token.unwrap();
    let narrowed = idp
        .refresh(&rt1, CLIENT, Some(Scope::parse("read:me").unwrap()), t0)
        .unwrap();
    assert_eq!(narrowed.scope.to_string(), "read:me");
    let rt2 = narrowed.refresh_token.unwrap();
    assert!(matches!(
        idp.refresh(
            &rt2,
            CLIENT,
            Some(Scope::parse("write:everything").unwrap()),
            t0
        ),
        Err(OAuthError::InvalidScope(_))
    ));
    // A refused scope does not rotate the token.
    assert_eq!(idp.refresh_state(&rt2, t0), RefreshTokenState::Current);
}

#[test]
fn revocation_of_refresh_kills_grant_of_access_kills_only_itself() {
    let mut idp = idp();
    let t0 = Instant::now();
    let first = approved_tokens(&mut idp, t0);
    let rt1 = first.refresh_token.unwrap();
    let second = idp.refresh(&rt1, CLIENT, None, t0).unwrap();

    assert_eq!(
        idp.grants.revoke(&first.access_token, CLIENT),
        Ok(Revoked::AccessToken)
    );
    assert!(idp.grants.access_token(&first.access_token, t0).is_none());
    assert!(idp.grants.access_token(&second.access_token, t0).is_some());
    assert_eq!(idp.grants.revoke("at_nope", CLIENT), Ok(Revoked::Unknown));

    assert_eq!(idp.grants.revoke(&rt1, CLIENT), Ok(Revoked::Grant));
    assert!(idp.grants.access_token(&second.access_token, t0).is_none());
    let rt2 = second.refresh_token.unwrap();
    assert_eq!(idp.refresh_state(&rt2, t0), RefreshTokenState::Revoked);
    assert_eq!(idp.refresh_state("rt_nope", t0), RefreshTokenState::Unknown);
}

#[test]
fn access_tokens_expire() {
    let mut idp = idp();
    idp.settings.access_token_ttl = secs(60);
    let t0 = Instant::now();
    let tokens = approved_tokens(&mut idp, t0);
    let info = idp
        .grants
        .access_token(&tokens.access_token, t0 + secs(59))
        .unwrap();
    assert_eq!(info.expires_in, secs(1));
    assert!(
        idp.grants
            .access_token(&tokens.access_token, t0 + secs(60))
            .is_none()
    );
}

#[test]
fn public_client_authentication() {
    let idp = idp();
    let presented = |id: Option<&str>, secret: Option<&str>| ClientCredentials {
        client_id: id.map(str::to_owned),
        secret: secret.map(ClientSecret::new),
        method: AuthMethod::None,
    };
    assert_eq!(
        idp.authenticate_client(&presented(Some(CLIENT), None))
            .unwrap(),
        CLIENT
    );
    for refused in [
        presented(None, None),
        presented(Some("stranger"), None),
        presented(Some(CLIENT), Some("a secret")),
    ] {
        assert!(matches!(
            idp.authenticate_client(&refused),
            Err(OAuthError::InvalidClient(_))
        ));
    }
}
