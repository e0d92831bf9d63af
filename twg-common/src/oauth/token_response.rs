//! A tolerant reader for RFC 6749 §5.1 token responses.
//!
//! A 2xx answer to a refresh may carry the only copy of a rotated refresh token, so it is
//! read as generously as the RFC's intent allows (any content type, `expires_in` as a
//! string, no `token_type` meaning Bearer, `scope` as a string or an array). Only an answer
//! without a usable access token is refused.

use super::TokenSet;
use super::error::body_summary;
use crate::secret::Secret;
use serde_json::Value;

/// Reads a token response body; the error describes the body without echoing it.
pub fn parse(body: &[u8], obtained_at: i64) -> Result<TokenSet, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| body_summary(body))?;
    let obj = value
        .as_object()
        .ok_or_else(|| format!("a JSON {} instead of an object", kind(&value)))?;
    let access_token = match obj.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => Secret::new(s.clone()),
        Some(_) => return Err("an empty or non-string access_token".into()),
        None => return Err("no access_token".into()),
    };
    let token_type = match obj.get("token_type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => "Bearer".to_string(),
    };
    let expires_in = obj.get("expires_in").and_then(seconds);
    let refresh_token = match obj.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(Secret::new(s.clone())),
        _ => None,
    };
    let scopes = match obj.get("scope") {
        Some(Value::String(s)) => Some(s.split_whitespace().map(str::to_string).collect()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    };
    Ok(TokenSet {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        scopes,
        obtained_at,
    })
}

/// `expires_in` as a number or a numeric string; negative or absurd values read as 0
/// (expired at once) rather than "never expires".
fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i.max(0) as u64))
            .or_else(|| n.as_f64().map(|f| if f > 0.0 { f as u64 } else { 0 })),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .map(|f| if f > 0.0 { f as u64 } else { 0 })
            })
        }
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_answers_parse() {
        let t = parse(
            br#"{"access_token":"a","token_type":"bearer","expires_in":3600,"refresh_token":"r","scope":"x y"}"#,
            10,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "a");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token.unwrap().expose(), "r");
        assert_eq!(t.scopes.unwrap(), ["x", "y"]);
        assert_eq!(t.obtained_at, 10);
    }

    #[test]
    fn loose_answers_that_carry_a_rotation_are_kept() {
        let t = parse(
            br#"{"access_token":"a","expires_in":"120","refresh_token":"r2","scope":["p","q"]}"#,
            0,
        )
        .unwrap();
        assert_eq!(t.token_type, "Bearer", "missing token_type is Bearer");
        assert_eq!(t.expires_in, Some(120));
        assert_eq!(t.refresh_token.unwrap().expose(), "r2");
        assert_eq!(t.scopes.unwrap(), ["p", "q"]);
        let t = parse(br#"{"access_token":"a","expires_in":-5}"#, 0).unwrap();
        assert_eq!(t.expires_in, Some(0), "negative is expired, not eternal");
        let t = parse(br#"{"access_token":"a","expires_in":59.9}"#, 0).unwrap();
        assert_eq!(t.expires_in, Some(59));
    }

    #[test]
    fn unusable_answers_are_described_without_echoing() {
        for body in [
            &br#"{"access_token":"SECRETSECRET""#[..],
            b"<html>SECRETSECRET</html>",
            br#"{"refresh_token":"SECRETSECRET"}"#,
            br#"["SECRETSECRET"]"#,
            br#"{"access_token":""}"#,
        ] {
            let err = parse(body, 0).unwrap_err();
            assert!(!err.contains("SECRET"), "{err}");
        }
    }
}
