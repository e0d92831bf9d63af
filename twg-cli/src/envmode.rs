//! Credentials from the environment, which win over stored credentials and need no login,
//! daemon or writable directory:
//!
//! - `TWG_OAUTH_ACCESS_TOKEN`: a *delegated* OAuth access token, for an application that
//!   owns the credential lifecycle (and the variable `twg exec` gives its child). It is used
//!   as it is: never refreshed, never stored. `TWG_SITE` and `TWG_CLOUD_ID` go with it.
//! - `TWG_TOKEN` (+ `TWG_USER`, `TWG_SITE`, `TWG_BBC_TOKEN`): an API token for CI.
//!
//! When both are set, the delegated token wins: it is the more specific grant (an OAuth
//! token handed to this process on purpose), and inside `twg exec` it is the one the parent
//! chose, whatever the shell exported.

use crate::report::CliError;
use twg_common::error_code::ErrorCode;
use twg_common::secret::Secret;

/// Which variable the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// `TWG_OAUTH_ACCESS_TOKEN`.
    Delegated,
    /// `TWG_TOKEN` with `TWG_USER`.
    ApiToken,
}

impl EnvKind {
    /// The `source` of `auth token --json` and `auth status`.
    pub fn source(self) -> &'static str {
        match self {
            EnvKind::Delegated => "delegated",
            EnvKind::ApiToken => "env",
        }
    }

    /// The variable that holds the token.
    pub fn variable(self) -> &'static str {
        match self {
            EnvKind::Delegated => "TWG_OAUTH_ACCESS_TOKEN",
            EnvKind::ApiToken => "TWG_TOKEN",
        }
    }
}

/// Credentials taken from the environment.
#[derive(Debug)]
pub struct EnvCredentials {
    pub kind: EnvKind,
    /// The account (`TWG_USER`); empty for a delegated token, which names nobody.
    pub user: String,
    pub site: Option<String>,
    /// `TWG_CLOUD_ID`.
    pub cloud_id: Option<String>,
    pub token: Secret,
    pub bitbucket_token: Option<Secret>,
    /// When a delegated token is a JWT, its `exp` claim (read, not verified: only the
    /// server can verify it, and twg only reports it).
    pub expires_at: Option<i64>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `Ok(None)` when neither variable is set; an error when `TWG_TOKEN` is set without
/// `TWG_USER`.
pub fn from_env() -> Result<Option<EnvCredentials>, CliError> {
    if let Some(token) = var("TWG_OAUTH_ACCESS_TOKEN") {
        let token = token.trim();
        return Ok(Some(EnvCredentials {
            kind: EnvKind::Delegated,
            user: String::new(),
            site: var("TWG_SITE"),
            cloud_id: var("TWG_CLOUD_ID"),
            expires_at: jwt_expiry(token),
            token: Secret::new(token),
            bitbucket_token: var("TWG_BBC_TOKEN").map(Secret::new),
        }));
    }
    let Some(token) = var("TWG_TOKEN") else {
        return Ok(None);
    };
    let Some(user) = var("TWG_USER") else {
        return Err(CliError::new(
            ErrorCode::EnvIncomplete,
            "TWG_TOKEN is set but TWG_USER is not; set TWG_USER to the account's email (or unset TWG_TOKEN to use stored credentials)",
        ));
    };
    Ok(Some(EnvCredentials {
        kind: EnvKind::ApiToken,
        user,
        site: var("TWG_SITE"),
        // CI names the cloud id beside the site when its tools need it.
        cloud_id: var("TWG_CLOUD_ID"),
        token: Secret::new(token.trim()),
        bitbucket_token: var("TWG_BBC_TOKEN").map(Secret::new),
        expires_at: None,
    }))
}

/// The `exp` claim of a JWT, or `None` for an opaque token or a malformed one.
fn jwt_expiry(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::jwt_expiry;
    use base64::Engine as _;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims))
    }

    #[test]
    fn reads_exp_from_a_jwt() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1900000000}"#)),
            Some(1_900_000_000)
        );
    }

    #[test]
    fn opaque_or_malformed_tokens_have_no_expiry() {
        for t in [
            "opaque-token".to_string(),
            "a.b".to_string(),
            "a.b.c.d".to_string(),
            jwt(r#"{"sub":"x"}"#),
            jwt(r#"{"exp":"soon"}"#),
            "x.!!!.y".to_string(),
        ] {
            assert_eq!(jwt_expiry(&t), None, "{t}");
        }
    }
}
