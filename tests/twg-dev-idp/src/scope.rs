//! OAuth scope values (RFC 6749 §3.3): an ordered set of space-delimited scope tokens.

use std::fmt;

use crate::oauth_errors::OAuthError;

/// The scope that asks for a refresh token, as with Atlassian and most OIDC providers.
pub const OFFLINE_ACCESS: &str = "offline_access";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a `scope` parameter; duplicates collapse, order is kept for readable responses.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let mut tokens: Vec<String> = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope token {token} contains characters RFC 6749 section 3.3 forbids"
                )));
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Self(tokens))
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_prints() {
        let scope = Scope::parse("read:me  offline_access read:me").unwrap();
        assert_eq!(scope.to_string(), "read:me offline_access");
        assert!(scope.contains(OFFLINE_ACCESS));
    }

    #[test]
    fn rejects_forbidden_characters() {
        assert!(matches!(
            Scope::parse("read:me bad\"quote"),
            Err(OAuthError::InvalidScope(_))
        ));
    }

    #[test]
    fn subset() {
        let all = Scope::parse("a b c").unwrap();
        assert!(Scope::parse("c a").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("a d").unwrap().is_subset_of(&all));
    }
}
