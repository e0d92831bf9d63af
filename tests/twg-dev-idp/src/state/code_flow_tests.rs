//! Unit tests of confidential-client authentication and the authorization-code grant, on a
//! hand-driven clock.

use std::time::{Duration, Instant};

use super::*;
use crate::clients::{AuthMethod, ClientCredentials, ClientSecret, ConfidentialClient};

const CONF: &str = "conf";
const SECRET: &str = "s3cr:t/+%";
const REDIRECT: &str = "http://127.0.0.1:9/cb";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn idp() -> Idp {
    let client: ConfidentialClient = format!("{CONF}:{SECRET}:{REDIRECT}").parse().unwrap();
    Idp::new(Settings {
        confidential_clients: vec![client],
        ..Settings::default()
    })
}

fn request(scope: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: CONF.to_owned(),
        redirect_uri: REDIRECT.to_owned(),
        scope: Scope::parse(scope).unwrap(),
        state: Some("st".to_owned()),
        code_challenge: CHALLENGE.to_owned(),
    }
}

/// Consent given at `t0`; returns the code.
fn approved_code(idp: &mut Idp, scope: &str, t0: Instant) -> String {
    let id = idp.start_authorization(request(scope), t0);
    match idp.decide_authorization(&id, true, t0).unwrap() {
        Consent::Approved { code, request } => {
            assert_eq!(request.state.as_deref(), Some("st"));
            code
        }
        Consent::Denied { .. } => panic!("approved, not denied"),
    }
}

fn exchange(
    idp: &mut Idp,
    code: &str,
    verifier: Option<&str>,
    at: Instant,
) -> Result<IssuedTokens, OAuthError> {
    idp.exchange_code(code, CONF, REDIRECT, verifier, at)
}

#[test]
fn confidential_clients_must_prove_their_secret() {
    let idp = idp();
    let presented = |secret: Option<&str>, method| ClientCredentials {
        client_id: Some(CONF.to_owned()),
        secret: secret.map(ClientSecret::new),
        method,
    };
    for method in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
        assert_eq!(
            idp.authenticate_client(&presented(Some(SECRET), method))
                .unwrap(),
            CONF
        );
    }
    for refused in [
        presented(None, AuthMethod::None),
        presented(Some("s3cr:t/+"), AuthMethod::ClientSecretPost),
        presented(Some(""), AuthMethod::ClientSecretBasic),
    ] {
        assert!(matches!(
            idp.authenticate_client(&refused),
            Err(OAuthError::InvalidClient(_))
        ));
    }
}

#[test]
fn an_id_registered_both_ways_is_confidential() {
    let mut idp = idp();
    idp.settings.client_ids.push(CONF.to_owned());
    let public_style = ClientCredentials {
        client_id: Some(CONF.to_owned()),
        ..ClientCredentials::default()
    };
    assert!(idp.authenticate_client(&public_style).is_err());
}

#[test]
fn a_code_buys_one_grant_with_a_rotating_refresh_token() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = approved_code(&mut idp, "read:me offline_access", t0);
    assert!(code.starts_with("ac_"));
    let tokens = exchange(&mut idp, &code, Some(VERIFIER), t0 + secs(1)).unwrap();
    assert_eq!(tokens.scope.to_string(), "read:me offline_access");
    let info = idp.grants.access_token(&tokens.access_token, t0).unwrap();
    assert_eq!(info.client_id, CONF);
    let rt1 = tokens.refresh_token.unwrap();
    let rotated = idp.refresh(&rt1, CONF, None, t0 + secs(2)).unwrap();
    assert_ne!(rotated.refresh_token.as_deref(), Some(rt1.as_str()));
    assert_eq!(
        idp.refresh_state(&rt1, t0 + secs(2)),
        RefreshTokenState::RotatedWithinLeeway
    );
    // Same offline_access rule as the device grant.
    let online = approved_code(&mut idp, "read:me", t0);
    let online = exchange(&mut idp, &online, Some(VERIFIER), t0).unwrap();
    assert!(online.refresh_token.is_none());
}

#[test]
fn a_replayed_code_is_refused_and_revokes_what_it_bought() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = approved_code(&mut idp, "read:me offline_access", t0);
    let first = exchange(&mut idp, &code, Some(VERIFIER), t0).unwrap();
    let rt = first.refresh_token.clone().unwrap();
    let refreshed = idp.refresh(&rt, CONF, None, t0).unwrap();

    let err = exchange(&mut idp, &code, Some(VERIFIER), t0 + secs(1)).unwrap_err();
    assert!(
        matches!(err, OAuthError::InvalidGrant(ref d) if d.contains("revoked")),
        "{err}"
    );
    assert!(idp.grants.access_token(&first.access_token, t0).is_none());
    assert!(
        idp.grants
            .access_token(&refreshed.access_token, t0)
            .is_none()
    );
    assert_eq!(idp.refresh_state(&rt, t0), RefreshTokenState::Revoked);
    // Replaying an expired spent code still counts as a replay, not as an unknown code.
    assert!(matches!(
        exchange(&mut idp, &code, Some(VERIFIER), t0 + secs(3600)),
        Err(OAuthError::InvalidGrant(ref d)) if d.contains("already used")
    ));
}

#[test]
fn pkce_redirect_uri_client_and_expiry_are_checked() {
    let mut idp = idp();
    let t0 = Instant::now();
    let code = approved_code(&mut idp, "read:me", t0);
    let wrong_verifier = VERIFIER.replace('d', "e");
    for (verifier, redirect) in [
        (None, REDIRECT),
        (Some(wrong_verifier.as_str()), REDIRECT),
        (Some("short"), REDIRECT),
        (Some(VERIFIER), "http://127.0.0.1:9/cb/"),
    ] {
        assert!(matches!(
            idp.exchange_code(&code, CONF, redirect, verifier, t0),
            Err(OAuthError::InvalidGrant(_))
        ));
    }
    assert!(matches!(
        idp.exchange_code(&code, "other", REDIRECT, Some(VERIFIER), t0),
        Err(OAuthError::InvalidGrant(_))
    ));
    // Refusals do not spend the code; it still works within its 60 s.
    assert!(exchange(&mut idp, &code, Some(VERIFIER), t0 + secs(59)).is_ok());

    let late = approved_code(&mut idp, "read:me", t0);
    assert!(matches!(
        exchange(&mut idp, &late, Some(VERIFIER), t0 + secs(60)),
        Err(OAuthError::InvalidGrant(ref d)) if d.contains("expired")
    ));
    assert!(matches!(
        exchange(&mut idp, "ac_never_issued", Some(VERIFIER), t0),
        Err(OAuthError::InvalidGrant(_))
    ));
}

#[test]
fn consent_is_answered_once_and_expires() {
    let mut idp = idp();
    let t0 = Instant::now();
    let denied = idp.start_authorization(request("read:me"), t0);
    assert_eq!(idp.codes.pending_count(t0), 1);
    assert!(idp.codes.pending_request(&denied, t0).is_ok());
    assert!(matches!(
        idp.decide_authorization(&denied, false, t0),
        Ok(Consent::Denied { .. })
    ));
    assert_eq!(
        idp.decide_authorization(&denied, true, t0).unwrap_err(),
        ConsentError::Unknown
    );

    let stale = idp.start_authorization(request("read:me"), t0);
    assert_eq!(
        idp.codes
            .pending_request(&stale, t0 + CONSENT_TTL)
            .unwrap_err(),
        ConsentError::Expired
    );
    assert_eq!(idp.codes.pending_count(t0 + CONSENT_TTL), 0);
    assert_eq!(
        idp.decide_authorization(&stale, true, t0 + CONSENT_TTL)
            .unwrap_err(),
        ConsentError::Expired
    );
}

#[test]
fn the_code_lifetime_is_a_setting() {
    let mut idp = idp();
    idp.settings.auth_code_ttl = secs(5);
    let t0 = Instant::now();
    let code = approved_code(&mut idp, "read:me", t0);
    assert!(exchange(&mut idp, &code, Some(VERIFIER), t0 + secs(5)).is_err());
}
