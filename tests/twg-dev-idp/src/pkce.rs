//! PKCE (RFC 7636) with the S256 method only: `plain` gives no protection once the
//! authorization request leaks, so OAuth 2.1 and this server refuse it.

use sha2::{Digest, Sha256};

pub const S256: &str = "S256";

/// An S256 challenge is BASE64URL(SHA-256(verifier)) without padding: exactly 43 characters.
const S256_CHALLENGE_LEN: usize = 43;

/// RFC 7636 §4.1: 43 to 128 characters from `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `challenge` can be an S256 challenge at all, so a malformed one is refused at
/// `/authorize` rather than surfacing later as a verifier that never matches.
pub fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == S256_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
pub fn s256_challenge(verifier: &str) -> String {
    base64url_encode(&Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.6: the verifier must be well-formed and hash to the stored challenge.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier) && s256_challenge(verifier) == challenge
}

/// Base64url without padding (RFC 4648 §5), the encoding RFC 7636 uses.
fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        // 1 byte gives 2 characters, 2 give 3, 3 give 4.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn matches_the_rfc_example() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(is_valid_s256_challenge(CHALLENGE));
    }

    #[test]
    fn refuses_wrong_and_malformed_verifiers() {
        let wrong = VERIFIER.replace('d', "e");
        assert!(!verify(&wrong, CHALLENGE));
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", &VERIFIER[..43])));
        assert!(!is_valid_s256_challenge(&format!("{CHALLENGE}A")));
        assert!(!is_valid_s256_challenge(&CHALLENGE.replace('-', "+")));
    }

    #[test]
    fn base64url_pads_nothing() {
        assert_eq!(base64url_encode(b""), "");
        assert_eq!(base64url_encode(b"f"), "Zg");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
        assert_eq!(base64url_encode(b"foo"), "Zm9v");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }
}
