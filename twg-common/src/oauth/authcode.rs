//! The authorization-code grant (RFC 6749 §4.1) with PKCE (RFC 7636, S256 only) and the
//! RFC 9207 `iss` check: what `twg login --web` uses with a user's own Atlassian 3LO app.
//!
//! This module builds the authorization URL, checks what comes back to the redirect URI,
//! and exchanges the code. Who listens on the redirect URI is the caller's business (the
//! client does; the PKCE verifier and `state` stay with whoever exchanges the code).
//!
//! Over 400 lines only with its unit tests, which stay beside the code they pin.

use super::TokenSet;
use super::client_auth::ClientAuth;
use super::error::{OAuthError, sanitize};
use super::http::HttpClient;
use crate::secret::Secret;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A PKCE verifier and its S256 challenge.
#[derive(Debug)]
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; n]);
    getrandom::getrandom(&mut buf).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*buf)
}

impl Pkce {
    /// 32 random bytes: a 43-character verifier (RFC 7636 §4.1 asks for 43 to 128).
    pub fn generate() -> Self {
        let verifier = random_token(32);
        let challenge = challenge_of(&verifier);
        Self {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the browser is sent to, and what must come back.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub pkce: Pkce,
    pub redirect_uri: String,
}

/// The parameters of one authorization request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParams<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub redirect_uri: &'a str,
    /// Atlassian's `audience=api.atlassian.com`; not sent when `None`.
    pub audience: Option<&'a str>,
}

impl AuthorizationRequest {
    /// A fresh `state` and PKCE pair, and the URL carrying them. `prompt=consent` makes the
    /// server show what is granted (Atlassian requires it for 3LO apps).
    pub fn new(p: RequestParams<'_>) -> Result<Self, OAuthError> {
        let mut url = url::Url::parse(p.authorization_endpoint).map_err(|e| {
            OAuthError::Config(format!(
                "bad authorization endpoint {}: {e}",
                p.authorization_endpoint
            ))
        })?;
        let state = random_token(24);
        let pkce = Pkce::generate();
        {
            let mut q = url.query_pairs_mut();
            if let Some(aud) = p.audience {
                q.append_pair("audience", aud);
            }
            q.append_pair("client_id", p.client_id)
                .append_pair("scope", &p.scopes.join(" "))
                .append_pair("redirect_uri", p.redirect_uri)
                .append_pair("state", &state)
                .append_pair("response_type", "code")
                .append_pair("prompt", "consent")
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
        }
        Ok(Self {
            url: url.into(),
            state,
            pkce,
            redirect_uri: p.redirect_uri.to_string(),
        })
    }
}

/// What arrived at the redirect URI.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<Secret>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a callback cannot be used. None of these leaves anything saved.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CallbackError {
    #[error(
        "the answer that reached the redirect URI carries the wrong `state`: it does not belong to this login (a stale browser tab, or a forged request). Nothing was saved; run `twg login --web` again"
    )]
    StateMismatch,
    #[error(
        "the answer names issuer `{got}`, not `{expected}` (RFC 9207): it may come from another server. Nothing was saved; run `twg login --web` again"
    )]
    IssuerMismatch { got: String, expected: String },
    #[error(
        "the server says it sends `iss` with its answers (RFC 9207), but this one has none. Nothing was saved; run `twg login --web` again"
    )]
    IssuerMissing,
    #[error("the sign-in was declined in the browser (access_denied{}). Run `twg login --web` to try again", describe(.0))]
    Denied(Option<String>),
    #[error("the authorization server refused the sign-in ({code}{}). Check the app's settings (client id, callback URL, scopes), then run `twg login --web` again", describe(.description))]
    Refused {
        code: String,
        description: Option<String>,
    },
    #[error(
        "the URL has no authorization code; paste the whole address the browser ended on (it starts with the callback URL and contains `code=`)"
    )]
    NoCode,
    #[error("`{0}` is not the configured callback URL; paste the address the browser ended on")]
    NotTheRedirect(String),
}

fn describe(d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!(": {}", sanitize(d)),
        _ => String::new(),
    }
}

impl Callback {
    /// Reads the query string of the redirect.
    pub fn from_query(query: &str) -> Self {
        let mut cb = Callback::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => cb.code = Some(Secret::new(v.into_owned())),
                "state" => cb.state = Some(v.into_owned()),
                "iss" => cb.iss = Some(v.into_owned()),
                "error" => cb.error = Some(v.into_owned()),
                "error_description" => cb.error_description = Some(v.into_owned()),
                _ => {}
            }
        }
        cb
    }

    /// Reads a full redirect URL pasted by the user; it must be the configured redirect URI
    /// (same scheme, host, port and path).
    pub fn from_url(raw: &str, redirect_uri: &str) -> Result<Self, CallbackError> {
        let raw = raw.trim();
        // Named by origin and path only: the query holds the code.
        let not = || {
            CallbackError::NotTheRedirect(match url::Url::parse(raw) {
                Ok(u) => format!("{}{}", u.origin().ascii_serialization(), u.path()),
                Err(_) => "what was pasted".into(),
            })
        };
        let got = url::Url::parse(raw).map_err(|_| not())?;
        let want = url::Url::parse(redirect_uri).map_err(|_| not())?;
        if got.origin() != want.origin() || got.path() != want.path() {
            return Err(not());
        }
        Ok(Self::from_query(got.query().unwrap_or("")))
    }

    /// Checks the answer belongs to this login and issuer, and takes the code.
    /// `state` is compared first: an answer for another login is refused before its error
    /// or issuer is believed.
    pub fn verify(
        self,
        expected_state: &str,
        issuer: &str,
        iss_required: bool,
    ) -> Result<Secret, CallbackError> {
        let state_ok = self
            .state
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected_state.as_bytes()));
        if !state_ok {
            return Err(CallbackError::StateMismatch);
        }
        match &self.iss {
            Some(got) if got.trim_end_matches('/') != issuer.trim_end_matches('/') => {
                return Err(CallbackError::IssuerMismatch {
                    got: sanitize(got),
                    expected: issuer.to_string(),
                });
            }
            None if iss_required => return Err(CallbackError::IssuerMissing),
            _ => {}
        }
        if let Some(code) = self.error {
            let description = self.error_description.map(|d| sanitize(&d));
            return Err(if code == "access_denied" {
                CallbackError::Denied(description)
            } else {
                CallbackError::Refused {
                    code: sanitize(&code),
                    description,
                }
            });
        }
        self.code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::NoCode)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Exchanges the code (RFC 6749 §4.1.3) with the PKCE verifier and the client's
/// authentication.
pub async fn exchange(
    http: &HttpClient,
    client: ClientAuth<'_>,
    token_endpoint: &str,
    code: &Secret,
    redirect_uri: &str,
    verifier: &Secret,
) -> Result<TokenSet, OAuthError> {
    super::refresh::token_request(
        http,
        client,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ],
    )
    .await
}

/// A redirect URI twg can listen on: `http`, a loopback host, an explicit port, no fragment.
/// Returns the socket address to bind.
pub fn loopback_redirect(raw: &str) -> Result<std::net::SocketAddr, String> {
    let bad = |why: &str| {
        format!(
            "the redirect URI `{raw}` {why}; set oauth.redirect_uri (or TWG_OAUTH_REDIRECT_URI) to \
             the callback URL registered for the app, such as http://127.0.0.1:8976/callback"
        )
    };
    let url = url::Url::parse(raw).map_err(|_| bad("is not a valid URL"))?;
    if url.scheme() != "http" {
        return Err(bad(
            "must use http: twg receives the answer on a listener on this machine",
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment (RFC 6749 §3.1.2)"));
    }
    let port = url
        .port()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("needs an explicit port (the server matches the URL exactly)"))?;
    let ip: std::net::IpAddr = match url.host() {
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            std::net::Ipv4Addr::LOCALHOST.into()
        }
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.into(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => ip.into(),
        _ => {
            return Err(bad(
                "must name 127.0.0.1, [::1] or localhost: twg listens on loopback only",
            ));
        }
    };
    Ok(std::net::SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::generate();
        assert_eq!(p.verifier.expose().len(), 43);
        assert_ne!(Pkce::generate().verifier.expose(), p.verifier.expose());
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest::new(RequestParams {
            authorization_endpoint: "https://auth.example/authorize",
            client_id: "cid",
            scopes: &["read:me".into(), "offline_access".into()],
            redirect_uri: "http://127.0.0.1:8976/callback",
            audience: Some("api.atlassian.com"),
        })
        .unwrap()
    }

    #[test]
    fn the_url_carries_every_parameter_and_no_secret() {
        let r = request();
        let url = url::Url::parse(&r.url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["scope"], "read:me offline_access");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8976/callback");
        assert_eq!(q["state"], r.state);
        assert_eq!(q["code_challenge"], r.pkce.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["audience"], "api.atlassian.com");
        assert!(!r.url.contains(r.pkce.verifier.expose()));
    }

    #[test]
    fn only_the_matching_state_and_issuer_yield_the_code() {
        let r = request();
        let ok = format!("code=C1&state={}&iss=https%3A%2F%2Fauth.example", r.state);
        let code = Callback::from_query(&ok)
            .verify(&r.state, "https://auth.example", true)
            .unwrap();
        assert_eq!(code.expose(), "C1");
        assert_eq!(
            Callback::from_query("code=C1&state=forged").verify(&r.state, "https://a", false),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            Callback::from_query("code=C1").verify(&r.state, "https://a", false),
            Err(CallbackError::StateMismatch)
        );
        let evil = format!("code=C1&state={}&iss=https%3A%2F%2Fevil.example", r.state);
        assert!(matches!(
            Callback::from_query(&evil).verify(&r.state, "https://auth.example", false),
            Err(CallbackError::IssuerMismatch { .. })
        ));
        let no_iss = format!("code=C1&state={}", r.state);
        assert_eq!(
            Callback::from_query(&no_iss).verify(&r.state, "https://auth.example", true),
            Err(CallbackError::IssuerMissing)
        );
        assert!(
            Callback::from_query(&no_iss)
                .verify(&r.state, "https://auth.example", false)
                .is_ok()
        );
    }

    #[test]
    fn a_denial_with_a_forged_state_is_a_state_error_not_a_denial() {
        let cb = Callback::from_query("error=access_denied&state=nope");
        assert_eq!(
            cb.verify("real", "https://a", false),
            Err(CallbackError::StateMismatch)
        );
        let cb = Callback::from_query("error=access_denied&state=real");
        assert!(matches!(
            cb.verify("real", "https://a", false),
            Err(CallbackError::Denied(_))
        ));
    }

    #[test]
    fn a_pasted_url_must_be_the_redirect_uri() {
        let want = "http://127.0.0.1:8976/callback";
        assert!(Callback::from_url("http://127.0.0.1:8976/callback?code=x&state=s", want).is_ok());
        for bad in [
            "http://127.0.0.1:8977/callback?code=x",
            "http://127.0.0.1:8976/other?code=x",
            "https://evil.example/callback?code=x",
            "code=x",
        ] {
            let err = Callback::from_url(bad, want).unwrap_err().to_string();
            assert!(!err.contains("code=x"), "the code is never echoed: {err}");
            assert!(
                matches!(
                    Callback::from_url(bad, want),
                    Err(CallbackError::NotTheRedirect(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uris_are_loopback_http_with_a_port() {
        assert_eq!(
            loopback_redirect("http://localhost:8976/callback").unwrap(),
            "127.0.0.1:8976".parse().unwrap()
        );
        assert_eq!(
            loopback_redirect("http://[::1]:9000/cb").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        for bad in [
            "https://127.0.0.1:8976/callback",
            "http://192.168.1.2:8976/callback",
            "http://example.com:8976/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:8976/callback#x",
            "not a url",
        ] {
            assert!(loopback_redirect(bad).is_err(), "{bad}");
        }
    }
}
