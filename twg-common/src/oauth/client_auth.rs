//! How twg authenticates as an OAuth client at the token and revocation endpoints
//! (RFC 6749 §2.3.1, RFC 8414 `token_endpoint_auth_methods_supported`).
//!
//! Public clients (the device flow) send only `client_id`. A confidential client (a user's
//! own Atlassian 3LO app) also proves its secret, on every request for that login: the code
//! exchange, each refresh, and revocation.

use crate::secret::Secret;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The RFC 8414 / RFC 7591 names of the methods twg speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: `client_id` in the body, no secret.
    #[default]
    None,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "none" => Some(AuthMethod::None),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }

    /// The method for a client with (or without) a secret: the configured one, else the
    /// first the server advertises that twg speaks (Basic first: RFC 6749 §2.3.1 makes it the
    /// one every server must support, and RFC 8414 makes it the default when the server
    /// lists nothing).
    pub fn choose(
        has_secret: bool,
        configured: Option<AuthMethod>,
        advertised: Option<&[String]>,
    ) -> Result<AuthMethod, String> {
        if !has_secret {
            return match configured {
                Some(m) if m != AuthMethod::None => Err(format!(
                    "oauth.token_endpoint_auth_method is {} but no client secret is stored; \
                     run `twg setup oauth-app` or set TWG_OAUTH_CLIENT_SECRET",
                    m.as_str()
                )),
                _ => Ok(AuthMethod::None),
            };
        }
        if let Some(m) = configured {
            if m == AuthMethod::None {
                return Err("oauth.token_endpoint_auth_method is none, but a client secret is stored; remove one of them".into());
            }
            return Ok(m);
        }
        let Some(list) = advertised else {
            return Ok(AuthMethod::ClientSecretBasic);
        };
        for m in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
            if list.iter().any(|s| s == m.as_str()) {
                return Ok(m);
            }
        }
        Err(format!(
            "the authorization server accepts client authentication by {} only; twg speaks \
             client_secret_basic and client_secret_post",
            list.join(", ")
        ))
    }
}

/// A client's identity for one request.
#[derive(Clone, Copy, Debug)]
pub struct ClientAuth<'a> {
    pub client_id: &'a str,
    pub secret: Option<&'a Secret>,
    pub method: AuthMethod,
}

impl<'a> ClientAuth<'a> {
    /// A confidential client without its secret cannot authenticate: say how to fix it
    /// rather than send a request the server can only refuse as `invalid_client`.
    pub fn check(&self) -> Result<(), String> {
        if self.method != AuthMethod::None && self.secret.is_none_or(|s| s.is_empty()) {
            return Err(format!(
                "the client secret of the OAuth app {} is missing ({} needs it); run \
                 `twg setup oauth-app --client-id {}` to store it again",
                self.client_id,
                self.method.as_str(),
                self.client_id
            ));
        }
        Ok(())
    }

    pub fn public(client_id: &'a str) -> Self {
        Self {
            client_id,
            secret: None,
            method: AuthMethod::None,
        }
    }

    /// Adds the client's credentials to a form request: the Authorization header for Basic,
    /// body fields otherwise. `form` is the request's other fields.
    pub fn apply(
        &self,
        request: reqwest::RequestBuilder,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let request = match (self.method, self.secret) {
            (AuthMethod::ClientSecretBasic, Some(secret)) => {
                return request
                    .header(
                        reqwest::header::AUTHORIZATION,
                        basic_header(self.client_id, secret),
                    )
                    .form(&fields);
            }
            (AuthMethod::ClientSecretPost, Some(secret)) => {
                fields.push(("client_id", self.client_id));
                fields.push(("client_secret", secret.expose()));
                request
            }
            _ => {
                fields.push(("client_id", self.client_id));
                request
            }
        };
        request.form(&fields)
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`, marked sensitive so no HTTP-level
/// logging ever prints it.
fn basic_header(client_id: &str, secret: &Secret) -> reqwest::header::HeaderValue {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = zeroize::Zeroizing::new(format!("{}:{}", enc(client_id), enc(secret.expose())));
    let value = zeroize::Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    ));
    let mut header = reqwest::header::HeaderValue::from_str(&value)
        .expect("base64 is always a valid header value");
    header.set_sensitive(true);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        let secret = Secret::new("s3cr:t/+% é");
        let h = basic_header("my app", &secret);
        let b64 = h.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "my+app:s3cr%3At%2F%2B%25+%C3%A9"
        );
        assert!(h.is_sensitive());
    }

    #[test]
    fn the_method_follows_the_secret_the_config_and_the_server() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(AuthMethod::choose(false, None, None), Ok(AuthMethod::None));
        assert_eq!(
            AuthMethod::choose(true, None, None),
            Ok(AuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            AuthMethod::choose(true, None, Some(&list(&["client_secret_post", "none"]))),
            Ok(AuthMethod::ClientSecretPost)
        );
        assert_eq!(
            AuthMethod::choose(
                true,
                Some(AuthMethod::ClientSecretPost),
                Some(&list(&["client_secret_basic"]))
            ),
            Ok(AuthMethod::ClientSecretPost)
        );
        assert!(AuthMethod::choose(true, None, Some(&list(&["private_key_jwt"]))).is_err());
        assert!(AuthMethod::choose(false, Some(AuthMethod::ClientSecretBasic), None).is_err());
    }

    #[test]
    fn a_confidential_client_without_its_secret_says_how_to_fix_it() {
        let missing = ClientAuth {
            client_id: "app",
            secret: None,
            method: AuthMethod::ClientSecretPost,
        };
        let err = missing.check().unwrap_err();
        assert!(err.contains("twg setup oauth-app --client-id app"), "{err}");
        assert!(ClientAuth::public("app").check().is_ok());
    }

    #[test]
    fn post_puts_the_secret_in_the_body_and_basic_in_the_header() {
        let secret = Secret::new("sek");
        let client = reqwest::Client::new();
        let build = |m| {
            ClientAuth {
                client_id: "cid",
                secret: Some(&secret),
                method: m,
            }
            .apply(client.post("http://127.0.0.1:9/t"), &[("grant_type", "x")])
            .build()
            .unwrap()
        };
        let post = build(AuthMethod::ClientSecretPost);
        let body = std::str::from_utf8(post.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, "grant_type=x&client_id=cid&client_secret=sek");
        assert!(post.headers().get("authorization").is_none());
        let basic = build(AuthMethod::ClientSecretBasic);
        let body = std::str::from_utf8(basic.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, "grant_type=x");
        assert!(basic.headers().get("authorization").is_some());
    }
}
