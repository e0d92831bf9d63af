//! Validating a `GET /authorize` query (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636 §4.3): who may be
//! redirected to, and which errors go back to the client rather than to the user.

use crate::device_authorization::DEFAULT_SCOPE;
use crate::form;
use crate::oauth_errors::OAuthError;
use crate::pkce;
use crate::scope::Scope;
use crate::settings::Settings;
use crate::state::AuthorizationRequest;

/// Why an authorization request is refused, and so where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or its redirect URI cannot be trusted: RFC 6749 §4.1.2.1 forbids redirecting,
    /// so the user is told on a page instead.
    ToUser(OAuthError),
    /// Reported to the client at its (verified) redirect URI.
    ToClient {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Checks the query string; `prompt`, `audience` and anything unknown are ignored, as RFC 6749
/// §3.1 requires of unrecognised parameters.
pub fn validate(query: &str, settings: &Settings) -> Result<AuthorizationRequest, Refusal> {
    // A repeated parameter is refused before anything is trusted: which client_id or
    // redirect_uri was meant would be a guess.
    let params = form::parse_body(query.as_bytes()).map_err(Refusal::ToUser)?;
    let client_id = params.require("client_id").map_err(Refusal::ToUser)?;
    let Some(client) = settings.confidential_client(client_id) else {
        let description = if settings.is_public_client(client_id) {
            format!(
                "client {client_id} is a public client without a registered redirect URI; \
                 the authorization-code flow needs a client registered with \
                 --confidential-client {client_id}:SECRET:REDIRECT_URI"
            )
        } else {
            format!(
                "unknown client_id {client_id}; register it with \
                 --confidential-client {client_id}:SECRET:REDIRECT_URI"
            )
        };
        return Err(Refusal::ToUser(OAuthError::InvalidClient(description)));
    };
    // Required even though only one URI is registered: Atlassian requires it too, and the
    // token request must repeat it.
    let redirect_uri = params.require("redirect_uri").map_err(Refusal::ToUser)?;
    if redirect_uri != client.redirect_uri {
        return Err(Refusal::ToUser(OAuthError::InvalidRequest(format!(
            "redirect_uri {redirect_uri} is not the one registered for client {client_id} \
             (compared character for character)"
        ))));
    }

    let state = params.get("state").map(str::to_owned);
    let to_client = |error: OAuthError| Refusal::ToClient {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error,
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(to_client(OAuthError::UnsupportedResponseType(format!(
                "response_type {other} is not supported; use code"
            ))));
        }
        None => {
            return Err(to_client(OAuthError::InvalidRequest(
                "the response_type parameter is missing; use code".to_owned(),
            )));
        }
    }
    let Some(code_challenge) = params.get("code_challenge") else {
        return Err(to_client(OAuthError::InvalidRequest(
            "PKCE is required: send code_challenge with code_challenge_method=S256".to_owned(),
        )));
    };
    // RFC 7636 §4.3 makes a missing method mean plain, which is refused like an explicit one.
    match params.get("code_challenge_method") {
        Some(pkce::S256) => {}
        method => {
            return Err(to_client(OAuthError::InvalidRequest(format!(
                "code_challenge_method {} is not supported; only S256 is",
                method.unwrap_or("plain (the default when none is sent)")
            ))));
        }
    }
    if !pkce::is_valid_s256_challenge(code_challenge) {
        return Err(to_client(OAuthError::InvalidRequest(
            "code_challenge is not an S256 challenge (43 base64url characters without padding)"
                .to_owned(),
        )));
    }
    let scope = Scope::parse(params.get("scope").unwrap_or(DEFAULT_SCOPE)).map_err(to_client)?;
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state,
        code_challenge: code_challenge.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ConfidentialClient;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "http://127.0.0.1:9/cb";

    fn settings() -> Settings {
        let client: ConfidentialClient = format!("conf:s:{REDIRECT}").parse().unwrap();
        Settings {
            confidential_clients: vec![client],
            ..Settings::default()
        }
    }

    fn query(overrides: &[(&str, Option<&str>)]) -> String {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "conf"),
            ("redirect_uri", REDIRECT),
            ("scope", "read:me offline_access"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("audience", "api.atlassian.com"),
            ("prompt", "consent"),
        ];
        for (name, value) in overrides {
            pairs.retain(|(n, _)| n != name);
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn error_to_client(overrides: &[(&str, Option<&str>)]) -> &'static str {
        match validate(&query(overrides), &settings()) {
            Err(Refusal::ToClient {
                redirect_uri,
                state,
                error,
            }) => {
                assert_eq!(redirect_uri, REDIRECT);
                assert_eq!(state.as_deref(), Some("xyz"));
                error.code()
            }
            other => panic!("expected an error for the client, got {other:?}"),
        }
    }

    fn error_to_user(query: &str) -> &'static str {
        match validate(query, &settings()) {
            Err(Refusal::ToUser(error)) => error.code(),
            other => panic!("expected an error for the user, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_passes() {
        let request = validate(&query(&[]), &settings()).unwrap();
        assert_eq!(request.client_id, "conf");
        assert_eq!(request.scope.to_string(), "read:me offline_access");
        assert_eq!(request.state.as_deref(), Some("xyz"));
        let no_state = validate(&query(&[("state", None), ("scope", None)]), &settings()).unwrap();
        assert_eq!(no_state.state, None);
        assert_eq!(no_state.scope.to_string(), DEFAULT_SCOPE);
    }

    #[test]
    fn untrusted_clients_and_redirects_are_never_redirected_to() {
        assert_eq!(
            error_to_user(&query(&[("client_id", Some("stranger"))])),
            "invalid_client"
        );
        assert_eq!(
            error_to_user(&query(&[("client_id", Some("twg-dev-client"))])),
            "invalid_client"
        );
        assert_eq!(
            error_to_user(&query(&[("client_id", None)])),
            "invalid_request"
        );
        assert_eq!(
            error_to_user(&query(&[("redirect_uri", None)])),
            "invalid_request"
        );
        for near_miss in [
            "http://127.0.0.1:9/cb/",
            "http://localhost:9/cb",
            "HTTP://127.0.0.1:9/cb",
        ] {
            assert_eq!(
                error_to_user(&query(&[("redirect_uri", Some(near_miss))])),
                "invalid_request"
            );
        }
        let repeated = format!("{}&client_id=conf", query(&[]));
        assert_eq!(error_to_user(&repeated), "invalid_request");
    }

    #[test]
    fn other_errors_go_back_to_the_client() {
        assert_eq!(
            error_to_client(&[("response_type", Some("token"))]),
            "unsupported_response_type"
        );
        assert_eq!(
            error_to_client(&[("response_type", None)]),
            "invalid_request"
        );
        assert_eq!(
            error_to_client(&[("code_challenge", None)]),
            "invalid_request"
        );
        assert_eq!(
            error_to_client(&[("code_challenge_method", Some("plain"))]),
            "invalid_request"
        );
        assert_eq!(
            error_to_client(&[("code_challenge_method", None)]),
            "invalid_request"
        );
        assert_eq!(
            error_to_client(&[("code_challenge", Some("too-short"))]),
            "invalid_request"
        );
        assert_eq!(
            error_to_client(&[("scope", Some("read:me bad\"quote"))]),
            "invalid_scope"
        );
    }
}
