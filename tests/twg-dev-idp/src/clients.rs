//! Registered clients and what a request presents to identify one: public clients are an id
//! only, confidential ones (`--confidential-client`) also have a secret and one redirect URI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A client secret. `Debug` never shows it, because settings and requests end up in logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Where the secret leaves its wrapper.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares without an early exit, so timing says nothing about how much of a guess was right.
    pub fn matches(&self, presented: &ClientSecret) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(REDACTED)")
    }
}

/// A client that authenticates with a secret and may use the authorization-code grant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidentialClient {
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Compared by exact string match, as Atlassian does: no normalisation, no prefix rules.
    pub redirect_uri: String,
}

impl ConfidentialClient {
    /// Checks the registration, so bad test input fails at start-up rather than mid-login.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.client_id.is_empty() {
            return Err(ClientError::EmptyId);
        }
        if self.client_secret.expose().is_empty() {
            return Err(ClientError::EmptySecret {
                id: self.client_id.clone(),
            });
        }
        let parsed =
            url::Url::parse(&self.redirect_uri).map_err(|source| ClientError::BadRedirectUri {
                uri: self.redirect_uri.clone(),
                source,
            })?;
        // RFC 6749 §3.1.2: the code travels in the query; a fragment would swallow it.
        if parsed.fragment().is_some() {
            return Err(ClientError::RedirectUriFragment {
                uri: self.redirect_uri.clone(),
            });
        }
        Ok(())
    }
}

impl FromStr for ConfidentialClient {
    type Err = ClientError;

    /// Parses `ID:SECRET:REDIRECT_URI`. The id ends at the first `:`. The secret may contain `:`
    /// when the redirect URI has the usual `scheme://` form, because the URI is taken to start
    /// at the first `:` that is followed by one; otherwise the secret ends at the next `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, rest) = s.split_once(':').ok_or(ClientError::Shape)?;
        let split = rest
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| starts_with_scheme_and_authority(&rest[i + 1..]))
            .or_else(|| rest.find(':'))
            .ok_or(ClientError::Shape)?;
        let client = ConfidentialClient {
            client_id: id.to_owned(),
            client_secret: ClientSecret::new(&rest[..split]),
            redirect_uri: rest[split + 1..].to_owned(),
        };
        client.validate()?;
        Ok(client)
    }
}

/// `scheme://…` with an RFC 3986 scheme.
fn starts_with_scheme_and_authority(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Refuses two registrations of one id: which secret would count would be a guess.
pub fn check_unique(clients: &[ConfidentialClient]) -> Result<(), ClientError> {
    for (i, client) in clients.iter().enumerate() {
        if clients[..i].iter().any(|c| c.client_id == client.client_id) {
            return Err(ClientError::Duplicate {
                id: client.client_id.clone(),
            });
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "expected ID:SECRET:REDIRECT_URI (for example twg-conf:s3cret:http://127.0.0.1:8765/callback)"
    )]
    Shape,
    #[error("the client id is empty; give it an id such as twg-conf")]
    EmptyId,
    #[error(
        "client {id} has an empty secret; give it one, or register it with --client-id as a public client"
    )]
    EmptySecret { id: String },
    #[error(
        "redirect URI {uri:?} is not an absolute URI; use something like http://127.0.0.1:8765/callback"
    )]
    BadRedirectUri {
        uri: String,
        #[source]
        source: url::ParseError,
    },
    #[error(
        "redirect URI {uri:?} has a fragment, which RFC 6749 section 3.1.2 forbids; drop the #…"
    )]
    RedirectUriFragment { uri: String },
    #[error("client {id} is registered twice; give each confidential client its own id")]
    Duplicate { id: String },
}

/// How a request authenticated its client, named as in RFC 8414 metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// No secret was sent: a public client, or a confidential one that forgot its secret.
    #[default]
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

/// What a request presented to identify its client; nothing about it is checked yet.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub secret: Option<ClientSecret>,
    pub method: AuthMethod,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_secret_with_colons_before_a_hierarchical_uri() {
        let client: ConfidentialClient = "conf:s3cr:t/+%:http://127.0.0.1:8765/cb?x=1"
            .parse()
            .unwrap();
        assert_eq!(client.client_id, "conf");
        assert_eq!(client.client_secret.expose(), "s3cr:t/+%");
        assert_eq!(client.redirect_uri, "http://127.0.0.1:8765/cb?x=1");
    }

    #[test]
    fn parses_a_private_use_scheme_after_a_plain_secret() {
        let client: ConfidentialClient = "app:secret:com.example.app:/oauth".parse().unwrap();
        assert_eq!(client.client_secret.expose(), "secret");
        assert_eq!(client.redirect_uri, "com.example.app:/oauth");
    }

    #[test]
    fn rejects_bad_registrations() {
        assert!(matches!(
            "only-id".parse::<ConfidentialClient>(),
            Err(ClientError::Shape)
        ));
        assert!(matches!(
            ":s:http://x.test/".parse::<ConfidentialClient>(),
            Err(ClientError::EmptyId)
        ));
        assert!(matches!(
            "id::http://x.test/".parse::<ConfidentialClient>(),
            Err(ClientError::EmptySecret { .. })
        ));
        assert!(matches!(
            "id:s:not a uri".parse::<ConfidentialClient>(),
            Err(ClientError::BadRedirectUri { .. })
        ));
        assert!(matches!(
            "id:s:http://x.test/cb#frag".parse::<ConfidentialClient>(),
            Err(ClientError::RedirectUriFragment { .. })
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        let a: ConfidentialClient = "a:s:http://x.test/".parse().unwrap();
        let b: ConfidentialClient = "b:s:http://x.test/".parse().unwrap();
        assert!(check_unique(&[a.clone(), b.clone()]).is_ok());
        assert!(matches!(
            check_unique(&[a.clone(), b, a]),
            Err(ClientError::Duplicate { id }) if id == "a"
        ));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_compare_exactly() {
        let client: ConfidentialClient = "a:hunter2:http://x.test/".parse().unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
        let secret = &client.client_secret;
        assert!(secret.matches(&ClientSecret::new("hunter2")));
        assert!(!secret.matches(&ClientSecret::new("hunter3")));
        assert!(!secret.matches(&ClientSecret::new("hunter")));
    }
}
