//! Which kind of Atlassian API token this build asks for, fixed at build time.
//!
//! `TWG_TOKEN_MODE=classic` (default) or `scoped` when building. Both kinds are created on
//! the same Atlassian account page: a classic token with "Create API token", a scoped one
//! with "Create API token with scopes" (the user then picks the app and its scopes). Scoped
//! tokens are used against `https://api.atlassian.com/ex/<app>/<cloudId>` rather than the
//! site URL, which is why a build has to decide which kind its users should create.

/// The `token_type` under which an API token is stored (it has no refresh token and
/// `expires_at = 0`, so the engine never refreshes it).
pub const API_TOKEN_TYPE: &str = "api_token";

/// True when `oauth` holds an API token rather than OAuth tokens.
pub fn is_api_token(oauth: &crate::store::OAuthCredentials) -> bool {
    oauth.token_type == API_TOKEN_TYPE
}

/// The Atlassian page where API tokens of either kind are created and revoked.
pub const API_TOKENS_URL: &str = "https://id.atlassian.com/manage-profile/security/api-tokens";

/// The kind of API token a build asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    Classic,
    Scoped,
}

/// The mode this build was made with (`TWG_TOKEN_MODE` at build time).
pub const TOKEN_MODE: TokenMode = parse_mode(option_env!("TWG_TOKEN_MODE"));

/// `"classic"` (or unset) and `"scoped"`. Any other value panics, which for [`TOKEN_MODE`]
/// means the build fails: a typo must not quietly produce a build that asks for the wrong
/// kind of token.
pub const fn parse_mode(raw: Option<&str>) -> TokenMode {
    match raw {
        None => TokenMode::Classic,
        Some(v) if const_eq(v.as_bytes(), b"classic") => TokenMode::Classic,
        Some(v) if const_eq(v.as_bytes(), b"scoped") => TokenMode::Scoped,
        Some(_) => panic!("TWG_TOKEN_MODE must be `classic` or `scoped`"),
    }
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl TokenMode {
    /// What the user should click on the page, and the page.
    pub const fn page(self) -> (&'static str, &'static str) {
        match self {
            TokenMode::Classic => ("API token (\"Create API token\")", API_TOKENS_URL),
            TokenMode::Scoped => (
                "API token with scopes (\"Create API token with scopes\")",
                API_TOKENS_URL,
            ),
        }
    }
}

/// The name of the token kind this build wants and the URL where it is created, for
/// `twg login --with-token` to tell the user.
pub fn api_token_page() -> (&'static str, &'static str) {
    TOKEN_MODE.page()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_at_compile_time() {
        assert_eq!(parse_mode(None), TokenMode::Classic);
        assert_eq!(parse_mode(Some("classic")), TokenMode::Classic);
        assert_eq!(parse_mode(Some("scoped")), TokenMode::Scoped);
        assert!(TokenMode::Scoped.page().0.contains("with scopes"));
        assert_eq!(api_token_page().1, API_TOKENS_URL);
    }

    #[test]
    #[should_panic(expected = "TWG_TOKEN_MODE must be")]
    fn unknown_mode_is_refused() {
        parse_mode(Some("Scoped"));
    }
}
