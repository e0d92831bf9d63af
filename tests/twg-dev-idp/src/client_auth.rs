//! Reading client credentials from a request (RFC 6749 §2.3.1): `client_secret_basic` in the
//! Authorization header or `client_secret_post` in the body, never both, or a bare `client_id`.

use axum::http::{HeaderMap, header};

use crate::clients::{AuthMethod, ClientCredentials, ClientSecret};
use crate::form::FormParams;
use crate::oauth_errors::OAuthError;

/// What the request says about its client. Whether that is enough is for
/// [`crate::state::Idp::authenticate_client`] to decide.
pub fn credentials(
    headers: &HeaderMap,
    params: &FormParams,
) -> Result<ClientCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let Some((id, secret)) = basic_credentials(headers)? else {
        if body_secret.is_some() && body_id.is_none() {
            return Err(OAuthError::InvalidRequest(
                "the client_id parameter is missing; client_secret_post sends it next to \
                 client_secret"
                    .to_owned(),
            ));
        }
        return Ok(ClientCredentials {
            client_id: body_id.map(str::to_owned),
            secret: body_secret.map(ClientSecret::new),
            method: if body_secret.is_some() {
                AuthMethod::ClientSecretPost
            } else {
                AuthMethod::None
            },
        });
    };
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if body_secret.is_some() {
        return Err(OAuthError::InvalidRequest(
            "client credentials are in both the Authorization header and the body; \
             use client_secret_basic or client_secret_post, not both"
                .to_owned(),
        ));
    }
    if body_id.is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::InvalidRequest(
            "the client_id parameter and the Authorization header name different clients"
                .to_owned(),
        ));
    }
    // Generic OAuth libraries send public clients as `id:` with an empty password.
    let secret = (!secret.is_empty()).then(|| ClientSecret::new(secret));
    Ok(ClientCredentials {
        client_id: Some(id),
        method: if secret.is_some() {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        },
        secret,
    })
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`, decoded; `None` if the
/// request has no Basic credentials (other schemes say nothing about the client).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || {
        OAuthError::InvalidClient(
            "malformed HTTP Basic credentials; send base64(urlencode(client_id):urlencode(secret))"
                .to_owned(),
        )
    };
    let decoded = base64_decode(encoded.trim()).ok_or_else(malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    // The id is form-encoded, so a `:` in it arrives as %3A and the first `:` is the separator.
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_unescape(id).ok_or_else(malformed)?;
    let secret = form_unescape(secret).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

/// Undoes `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte); `None` on a
/// broken escape or non-UTF-8 result. Done by hand because `form_urlencoded::parse` would also
/// split on raw `&` and `=`, silently truncating a client that did not encode them.
fn form_unescape(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = char::from(rest.next()?).to_digit(16)?;
                let low = char::from(rest.next()?).to_digit(16)?;
                bytes.push((high * 16 + low) as u8);
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` on any invalid character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::form::parse_body;

    fn basic(credentials: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(credentials));
        headers
    }

    fn id_of(headers: &HeaderMap, params: &FormParams) -> Option<String> {
        credentials(headers, params).unwrap().client_id
    }

    #[test]
    fn the_client_id_comes_from_the_body_or_http_basic() {
        let none = FormParams::default();
        let body = parse_body(b"client_id=twg-dev-client").unwrap();
        let plain = HeaderMap::new();
        assert_eq!(id_of(&plain, &none), None);
        assert_eq!(id_of(&plain, &body).as_deref(), Some("twg-dev-client"));
        // base64("twg-dev-client:")
        let header = basic("Basic dHdnLWRldi1jbGllbnQ6");
        let from_header = credentials(&header, &none).unwrap();
        assert_eq!(from_header.client_id.as_deref(), Some("twg-dev-client"));
        assert_eq!(from_header.method, AuthMethod::None);
        assert!(from_header.secret.is_none());
        assert_eq!(id_of(&header, &body).as_deref(), Some("twg-dev-client"));
        // base64("other:")
        let other = parse_body(b"client_id=other").unwrap();
        assert!(matches!(
            credentials(&header, &other),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            credentials(&basic("Basic !!!"), &none),
            Err(OAuthError::InvalidClient(_))
        ));
        // Other schemes say nothing about the client.
        assert_eq!(
            id_of(&basic("Bearer abc"), &body).as_deref(),
            Some("twg-dev-client")
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // base64("my+client%2F1:s3cr%3At%2F%2B%25"): id "my client/1", secret "s3cr:t/+%".
        let header = basic("Basic bXkrY2xpZW50JTJGMTpzM2NyJTNBdCUyRiUyQiUyNQ==");
        let found = credentials(&header, &FormParams::default()).unwrap();
        assert_eq!(found.client_id.as_deref(), Some("my client/1"));
        assert_eq!(found.secret.unwrap().expose(), "s3cr:t/+%");
        assert_eq!(found.method, AuthMethod::ClientSecretBasic);
        // base64("a:%zz"): a broken escape.
        assert!(matches!(
            credentials(&basic("Basic YToleno="), &FormParams::default()),
            Err(OAuthError::InvalidClient(_))
        ));
    }

    #[test]
    fn client_secret_post_and_mixing_methods() {
        let post = parse_body(b"client_id=conf&client_secret=s%3A1").unwrap();
        let found = credentials(&HeaderMap::new(), &post).unwrap();
        assert_eq!(found.method, AuthMethod::ClientSecretPost);
        assert_eq!(found.secret.unwrap().expose(), "s:1");
        // base64("conf:s")
        assert!(matches!(
            credentials(&basic("Basic Y29uZjpz"), &post),
            Err(OAuthError::InvalidRequest(_))
        ));
        let secret_only = parse_body(b"client_secret=s").unwrap();
        assert!(matches!(
            credentials(&HeaderMap::new(), &secret_only),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn form_unescape_handles_plus_and_percent() {
        assert_eq!(form_unescape("a+b%2B%3a").as_deref(), Some("a b+:"));
        assert_eq!(form_unescape("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(form_unescape("%4"), None);
        assert_eq!(form_unescape("%ff"), None);
    }
}
