//! OAuth failures, classified by what the caller should do about them.

/// What went wrong talking to the authorization server. Never contains a secret: response
/// bodies are summarised, not echoed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 §5.2 `invalid_grant`: the refresh token (or device code) is dead.
    #[error("the authorization server rejected the grant (invalid_grant{})", describe(.description))]
    InvalidGrant { description: Option<String> },
    /// Any other RFC 6749 §5.2 error that retrying will not fix (invalid_client, ...).
    #[error("the authorization server answered `{code}`{}", describe(.description))]
    Rejected {
        code: String,
        description: Option<String>,
    },
    /// Network trouble, timeouts, 5xx, or an unreadable response: retrying may work.
    #[error("{0}")]
    Transient(String),
    /// The request reached the server, but its answer was lost or unreadable: the server may
    /// have rotated the refresh token.
    #[error("{0}")]
    AnswerLost(String),
    /// Something in our own configuration (a bad URL).
    #[error("{0}")]
    Config(String),
}

fn describe(d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!(": {}", sanitize(d)),
        _ => String::new(),
    }
}

/// Keeps server-supplied text short and printable.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
}

impl OAuthError {
    pub fn is_transient(&self) -> bool {
        matches!(self, OAuthError::Transient(_))
    }

    /// Classifies an RFC 6749 §5.2 error code.
    pub fn from_code(code: &str, description: Option<String>) -> Self {
        match code {
            "invalid_grant" => OAuthError::InvalidGrant { description },
            "temporarily_unavailable" | "server_error" | "slow_down" => {
                OAuthError::Transient(format!(
                    "the authorization server is unavailable ({code}){}",
                    describe(&description)
                ))
            }
            _ => OAuthError::Rejected {
                code: sanitize(code),
                description,
            },
        }
    }

    /// Converts an `oauth2` error without ever echoing the response body (it may hold tokens).
    pub fn from_request<RE, T>(endpoint: &str, err: oauth2::RequestTokenError<RE, T>) -> Self
    where
        RE: std::error::Error + 'static,
        T: oauth2::ErrorResponse + 'static,
    {
        match err {
            oauth2::RequestTokenError::ServerResponse(resp) => {
                // Serialise the typed error back to its RFC 6749 form to read the code.
                let v = serde_json::to_value(&resp).unwrap_or_default();
                let code = v["error"].as_str().unwrap_or("unknown_error").to_string();
                let desc = v["error_description"].as_str().map(str::to_string);
                Self::from_code(&code, desc)
            }
            oauth2::RequestTokenError::Request(e) => {
                OAuthError::Transient(format!("request to {endpoint} failed: {}", chain(&e)))
            }
            oauth2::RequestTokenError::Parse(_, body) => OAuthError::Transient(format!(
                "{endpoint} sent a response that is not a valid OAuth token response ({}); \
                 the server or a proxy in between may be failing",
                body_summary(&body)
            )),
            oauth2::RequestTokenError::Other(msg) => {
                OAuthError::Transient(format!("{endpoint}: {}", sanitize(&msg)))
            }
        }
    }
}

/// "HTML page, 1234 bytes" / "truncated JSON, 80 bytes": describes a body without echoing it.
pub fn body_summary(body: &[u8]) -> String {
    let trimmed = body.iter().skip_while(|b| b.is_ascii_whitespace());
    let first = trimmed.clone().next().copied();
    let kind = match first {
        None => "empty body",
        Some(b'<') => "an HTML page",
        Some(b'{') | Some(b'[') => "malformed or truncated JSON",
        _ => "unexpected content",
    };
    format!("{kind}, {} bytes", body.len())
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rfc6749_codes() {
        assert!(matches!(
            OAuthError::from_code("invalid_grant", None),
            OAuthError::InvalidGrant { .. }
        ));
        assert!(OAuthError::from_code("temporarily_unavailable", None).is_transient());
        assert!(OAuthError::from_code("server_error", None).is_transient());
        assert!(matches!(
            OAuthError::from_code("invalid_client", None),
            OAuthError::Rejected { .. }
        ));
    }

    #[test]
    fn body_summary_never_echoes() {
        let s = body_summary(b"{\"access_token\": \"at_SECRET");
        assert!(!s.contains("SECRET"));
        assert!(s.contains("truncated JSON"));
        assert!(body_summary(b"  <html>502</html>").contains("HTML"));
    }
}
