//! Random secrets and user codes, and the fingerprints that stand in for secrets in logs.

use sha2::{Digest, Sha256};

/// Random characters after the prefix: 48 alphanumerics are about 285 bits.
const SECRET_LEN: usize = 48;

/// RFC 8628 §6.1's base-20 consonant alphabet: no vowels (no accidental words) and no look-alikes.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LEN: usize = 8;

/// A secret such as `at_…`, `rt_…` or `dc_…`; the prefix makes leaked values easy to recognise.
pub fn random_secret(prefix: &str) -> String {
    let mut secret = String::with_capacity(prefix.len() + SECRET_LEN);
    secret.push_str(prefix);
    secret.extend(std::iter::repeat_with(fastrand::alphanumeric).take(SECRET_LEN));
    secret
}

/// A user code in canonical form: 8 characters, no dash.
pub fn random_user_code() -> String {
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[fastrand::usize(..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// `ABCDEFGH` → `ABCD-EFGH`, the form shown to people.
pub fn display_user_code(canonical: &str) -> String {
    match (canonical.get(..4), canonical.get(4..)) {
        (Some(head), Some(tail)) if !tail.is_empty() => format!("{head}-{tail}"),
        _ => canonical.to_owned(),
    }
}

/// Accepts what a person might type (any case, with or without the dash or spaces) and returns
/// the canonical code, or `None` if it cannot be a code this server issued.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// A short hash of a secret, so logs can correlate tokens without revealing them.
pub fn fingerprint(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_prefix_and_length() {
        let secret = random_secret("rt_");
        assert!(secret.starts_with("rt_"));
        assert_eq!(secret.len(), 3 + SECRET_LEN);
        assert_ne!(secret, random_secret("rt_"));
    }

    #[test]
    fn user_codes_round_trip_through_display_and_sloppy_input() {
        let code = random_user_code();
        let shown = display_user_code(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
        let sloppy = format!(" {} ", shown.to_lowercase());
        assert_eq!(normalize_user_code(&sloppy).as_deref(), Some(code.as_str()));
    }

    #[test]
    fn user_codes_reject_foreign_characters() {
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels are not in the alphabet"
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(
            normalize_user_code("BCDF-GHJK").as_deref(),
            Some("BCDFGHJK")
        );
    }
}
