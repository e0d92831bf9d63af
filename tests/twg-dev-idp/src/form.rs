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
}
