//! Parsing `application/x-www-form-urlencoded` request bodies into OAuth parameters, leniently
//! enough for real clients and strictly enough to answer malformed input with `invalid_request`.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::oauth_errors::OAuthError;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

#[derive(Debug, Default)]
pub struct FormParams(HashMap<String, String>);

impl FormParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("the {name} parameter is missing")))
    }
}

/// Parses a request body. A missing Content-Type is tolerated (some hand-written clients omit
/// it); a different one is an error, as RFC 6749 §3.2 requires form encoding.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<FormParams, OAuthError> {
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        let essence = value
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !essence.eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
            return Err(OAuthError::InvalidRequest(format!(
                "the request body must be {FORM_CONTENT_TYPE}"
            )));
        }
    }
    parse_body(body)
}

/// The client's id, from the `client_id` parameter or from HTTP Basic credentials
/// (RFC 6749 §2.3.1: `urlencode(client_id):urlencode(secret)`), which many generic OAuth
/// libraries send by default. Only public clients exist here, so a secret is refused.
pub fn client_id(headers: &HeaderMap, params: &FormParams) -> Result<Option<String>, OAuthError> {
    let from_body = params.get("client_id").map(str::to_owned);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(from_body);
    };
    let value = value.to_str().unwrap_or_default().trim();
    let Some((scheme, credentials)) = value.split_once(' ') else {
        return Ok(from_body);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(from_body);
    }
    let malformed = || OAuthError::InvalidClient("malformed HTTP Basic credentials".to_owned());
    let decoded = base64_decode(credentials.trim()).ok_or_else(malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    if !secret.is_empty() {
        return Err(OAuthError::InvalidClient(format!(
            "client {id} is a public client and has no secret; send no client secret"
        )));
    }
    match from_body {
        Some(body_id) if body_id != id => Err(OAuthError::InvalidRequest(
            "the client_id parameter and the Authorization header name different clients"
                .to_owned(),
        )),
        _ if id.is_empty() => Err(malformed()),
        _ => Ok(Some(id)),
    }
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

/// Parses form pairs without looking at headers (for the HTML form, where browsers are trusted).
pub fn parse_body(body: &[u8]) -> Result<FormParams, OAuthError> {
    if std::str::from_utf8(body).is_err() {
        return Err(OAuthError::InvalidRequest(
            "the request body is not valid UTF-8".to_owned(),
        ));
    }
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        // RFC 6749 §3.1: a parameter without a value counts as omitted.
        if value.is_empty() {
            continue;
        }
        // RFC 6749 §3.1: parameters must not repeat; guessing which one was meant hides bugs.
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(OAuthError::InvalidRequest(format!(
                "the {name} parameter is repeated"
            )));
        }
    }
    Ok(FormParams(params))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn form_headers(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn parses_encoded_values_and_drops_empty_ones() {
        let headers = form_headers("application/x-www-form-urlencoded; charset=UTF-8");
        let params = parse(&headers, b"a=1&scope=read%3Ame+offline_access&empty=").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("scope"), Some("read:me offline_access"));
        assert_eq!(params.get("empty"), None);
        assert!(params.require("empty").is_err());
    }

    #[test]
    fn rejects_repeats_wrong_type_and_bad_utf8() {
        let form = form_headers("application/x-www-form-urlencoded");
        assert!(parse(&form, b"a=1&a=2").is_err());
        assert!(parse(&form_headers("application/json"), b"{}").is_err());
        assert!(parse(&form, &[0x61, 0x3d, 0xff, 0xfe]).is_err());
        assert!(parse(&HeaderMap::new(), b"a=1").is_ok());
    }

    fn basic(credentials: &'static str) -> HeaderMap {
        let mut headers = form_headers("application/x-www-form-urlencoded");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(credentials));
        headers
    }

    #[test]
    fn the_client_id_comes_from_the_body_or_http_basic() {
        let none = FormParams::default();
        let body = parse_body(b"client_id=twg-dev-client").unwrap();
        let plain = form_headers("application/x-www-form-urlencoded");
        assert_eq!(client_id(&plain, &none).unwrap(), None);
        assert_eq!(
            client_id(&plain, &body).unwrap().as_deref(),
            Some("twg-dev-client")
        );
        // base64("twg-dev-client:")
        let header = basic("Basic dHdnLWRldi1jbGllbnQ6");
        assert_eq!(
            client_id(&header, &none).unwrap().as_deref(),
            Some("twg-dev-client")
        );
        assert_eq!(
            client_id(&header, &body).unwrap().as_deref(),
            Some("twg-dev-client")
        );
        // base64("other:")
        let other = parse_body(b"client_id=other").unwrap();
        assert!(matches!(
            client_id(&header, &other),
            Err(OAuthError::InvalidRequest(_))
        ));
        // base64("twg-dev-client:secret")
        assert!(matches!(
            client_id(&basic("Basic dHdnLWRldi1jbGllbnQ6c2VjcmV0"), &none),
            Err(OAuthError::InvalidClient(_))
        ));
        assert!(matches!(
            client_id(&basic("Basic !!!"), &none),
            Err(OAuthError::InvalidClient(_))
        ));
        // Other schemes say nothing about the client.
        assert_eq!(
            client_id(&basic("Bearer abc"), &body).unwrap().as_deref(),
            Some("twg-dev-client")
        );
    }
}
