//! Logging out, shared by `twg logout` (direct) and twgd's `Logout` RPC: revoke the tokens
//! at the server (RFC 7009), then remove them locally whatever the server said.
//!
//! The Bitbucket token is kept unless the caller asks for everything (`twg logout --all`):
//! it is a separate credential that the user created in Bitbucket, twg cannot revoke it,
//! and `twg login` keeps it across sessions too. Removing it silently would break Bitbucket
//! access that was set up on its own; the caller tells the user it was kept.

use crate::error::EngineError;
use crate::oauth::http::HttpClient;
use crate::oauth::revoke::{Hint, revoke};
use crate::store::{Credentials, OAuthCredentials, Store};
use std::time::Duration;

/// How long the revocation calls may take together: logout holds the credential lock, and a
/// hanging server must not block it (the local removal happens anyway).
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened at the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every stored token was revoked (HTTP 200 from the revocation endpoint).
    Revoked,
    /// Revocation was not attempted; the reason says why.
    Skipped(String),
    /// Revocation failed (network, server error or refusal); the tokens were removed anyway.
    Failed(String),
}

/// The result of a logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutOutcome {
    /// There were OAuth (or API-token) credentials to log out.
    pub was_logged_in: bool,
    pub revocation: Revocation,
    /// The credentials were removed locally.
    pub removed: bool,
    /// A Bitbucket token is still stored.
    pub bitbucket_kept: bool,
    /// A Bitbucket token was removed (`all`).
    pub bitbucket_removed: bool,
}

/// Revokes and removes the stored credentials under the credential lock. With `all`, the
/// Bitbucket token goes too and `auth.conf` is deleted.
pub async fn logout(
    store: &Store,
    http: &HttpClient,
    all: bool,
) -> Result<LogoutOutcome, EngineError> {
    if !store.root().exists() {
        return Ok(LogoutOutcome {
            was_logged_in: false,
            revocation: Revocation::Skipped("not logged in".into()),
            removed: false,
            bitbucket_kept: false,
            bitbucket_removed: false,
        });
    }
    let guard = crate::lock::lock(&store.lock_path(), crate::lock::CREDENTIALS_TIMEOUT)
        .await
        .map_err(|e| EngineError::from_lock(store.root(), e))?;
    // Under the lock: the file, advanced through any recovery record, is the truth
    // (another process may have just rotated, or could not save its rotation).
    let mut current = store.load()?.map(|l| l.credentials).unwrap_or_default();
    let records = crate::recovery::read_all(store.root());
    if let Some(p) = crate::recovery::newest(&current, records.iter().map(|f| &f.pending)) {
        current = p.credentials.clone();
    }
    let revocation = match &current.oauth {
        // An endpoint off the issuer's origin (an edited auth.conf) never receives a token.
        Some(oauth) => match crate::engine::pin_endpoints(oauth, &oauth.issuer) {
            Ok(()) => revoke_all(http, oauth).await,
            Err(e) => Revocation::Skipped(e.to_string()),
        },
        None => Revocation::Skipped("not logged in".into()),
    };
    let had_bitbucket = current.bitbucket_token.is_some();
    let keep_bitbucket = had_bitbucket && !all;
    // The OAuth app (`twg setup oauth-app`) is settings, not a session: kept unless --all.
    let keep_app = current.oauth_app.is_some() && !all;
    if keep_bitbucket || keep_app {
        let remaining = Credentials {
            oauth: None,
            user: None,
            site: None,
            bitbucket_token: current.bitbucket_token.clone().filter(|_| keep_bitbucket),
            oauth_app: current.oauth_app.clone().filter(|_| keep_app),
        };
        store.save(&remaining, &guard)?;
    } else if store.auth_path().exists() {
        store.delete(&guard)?;
    }
    crate::recovery::remove_all(store.root());
    let was_logged_in = current.oauth.is_some();
    Ok(LogoutOutcome {
        was_logged_in,
        revocation,
        removed: was_logged_in,
        bitbucket_kept: keep_bitbucket,
        bitbucket_removed: had_bitbucket && all,
    })
}

/// Revokes the refresh token first (RFC 7009 §2.1: servers may then drop its access tokens
/// too), then the access token. Unknown tokens are a success per §2.2.
async fn revoke_all(http: &HttpClient, oauth: &OAuthCredentials) -> Revocation {
    if crate::api_token::is_api_token(oauth) {
        return Revocation::Skipped(
            "API tokens cannot be revoked through OAuth; delete it on the API token page".into(),
        );
    }
    let Some(endpoint) = oauth
        .revocation_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
    else {
        return Revocation::Skipped(format!(
            "{} advertises no revocation endpoint",
            oauth.issuer
        ));
    };
    let mut tokens = Vec::new();
    if let Some(rt) = oauth.refresh_token.as_ref().filter(|t| !t.is_empty()) {
        tokens.push((rt, Hint::RefreshToken, "refresh token"));
    }
    if !oauth.access_token.is_empty() {
        tokens.push((&oauth.access_token, Hint::AccessToken, "access token"));
    }
    let work = async {
        let mut failures = Vec::new();
        for (token, hint, what) in tokens {
            if let Err(e) = revoke(http, endpoint, oauth.client(), token, hint).await {
                tracing::warn!(error = %e, what, "revocation failed");
                failures.push(format!("{what}: {e}"));
            }
        }
        failures
    };
    match tokio::time::timeout(REVOKE_TIMEOUT, work).await {
        Ok(failures) if failures.is_empty() => Revocation::Revoked,
        Ok(failures) => Revocation::Failed(failures.join("; ")),
        Err(_) => Revocation::Failed(format!(
            "{endpoint} did not answer within {}s",
            REVOKE_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn oauth(token_type: &str, revocation: Option<&str>) -> OAuthCredentials {
        OAuthCredentials {
            issuer: "http://127.0.0.1:9".into(),
            client_id: "c".into(),
            token_endpoint: "http://127.0.0.1:9/token".into(),
            revocation_endpoint: revocation.map(str::to_string),
            scopes: vec![],
            access_token: Secret::new("at-SECRET-5c1e9a"),
            token_type: token_type.into(),
            expires_at: 0,
            obtained_at: 0,
            refresh_token: Some(Secret::new("rt-SECRET-77b0d3")),
            refresh_token_issued_at: 0,
            halted: None,
            client_secret: None,
            client_auth: Default::default(),
            grant: None,
        }
    }

    fn http() -> HttpClient {
        let config = crate::config::Config::resolve(
            std::path::Path::new("/nonexistent"),
            Default::default(),
            &|_| None,
        )
        .expect("default config");
        HttpClient::new(&config).expect("http client")
    }

    #[tokio::test]
    async fn api_tokens_and_missing_endpoints_are_skipped_not_failed() {
        let h = http();
        assert!(matches!(
            revoke_all(&h, &oauth(crate::api_token::API_TOKEN_TYPE, Some("https://x.example/revoke"))).await,
            Revocation::Skipped(r) if r.contains("API token")
        ));
        assert!(matches!(
            revoke_all(&h, &oauth("Bearer", None)).await,
            Revocation::Skipped(r) if r.contains("no revocation endpoint")
        ));
    }

    #[tokio::test]
    async fn unreachable_server_is_a_failure_without_secrets() {
        // Port 9 on loopback: connection refused, at once.
        let r = revoke_all(&http(), &oauth("Bearer", Some("http://127.0.0.1:9/revoke"))).await;
        let Revocation::Failed(msg) = r else {
            panic!("expected a failure, got {r:?}")
        };
        assert!(
            msg.contains("refresh token") && msg.contains("access token"),
            "{msg}"
        );
        assert!(!msg.contains("SECRET"), "no token, quoted or not: {msg}");
    }

    #[tokio::test]
    async fn logout_keeps_the_bitbucket_token_unless_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("twg");
        let store = Store::new(&root, crate::config::BackendKind::File);
        let creds = Credentials {
            oauth: Some(oauth("Bearer", Some("http://127.0.0.1:9/revoke"))),
            bitbucket_token: Some(Secret::new("bb")),
            ..Default::default()
        };
        crate::login::save(&store, &creds).await.unwrap();
        let out = logout(&store, &http(), false).await.unwrap();
        assert!(out.was_logged_in && out.removed && out.bitbucket_kept);
        assert!(matches!(out.revocation, Revocation::Failed(_)));
        let left = store.load().unwrap().unwrap().credentials;
        assert!(left.oauth.is_none());
        assert_eq!(left.bitbucket_token.unwrap().expose(), "bb");

        let out = logout(&store, &http(), true).await.unwrap();
        assert!(!out.was_logged_in && out.bitbucket_removed && !out.bitbucket_kept);
        assert!(store.load().unwrap().is_none());
    }
}
