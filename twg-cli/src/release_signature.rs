//! Release signatures: `twg update` installs and runs only archives signed by the release
//! key compiled into this binary (minisign, Ed25519), never on the manifest's word alone.
//!
//! The manifest comes from a URL that `config.toml` (writable by anything that can write the
//! config directory) or the environment may change, so its SHA-256 proves nothing about who
//! built the archive. The signature's trusted comment names the version and target, so a
//! validly signed old or foreign archive cannot be passed off as another release.

/// The project's release key (`packaging/release-signing.pub`). A build can trust another
/// key instead by setting `TWG_RELEASE_PUBKEY` at build time (the test suite signs its
/// releases with `tests/data/release-test.key` this way); it is never read at run time.
const PROJECT_KEY: &str = "RWRLeZUbK6eiEtWLwcNmkBL7CVgASQe3lnf8J3tl1WXv6HOj3jc9hSzZ";

/// The public key this build trusts.
pub fn trusted_key() -> &'static str {
    match option_env!("TWG_RELEASE_PUBKEY") {
        Some(k) if !k.trim().is_empty() => k.trim(),
        _ => PROJECT_KEY,
    }
}

/// The trusted comment a release signature must carry.
pub fn expected_comment(version: &str, target: &str) -> String {
    format!("twg {version} {target}")
}

/// Why an archive is refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the manifest carries no signature for this build")]
    Missing,
    #[error("the signature is not a minisign signature ({0})")]
    Malformed(String),
    #[error("the signature was not made by twg's release key")]
    WrongKey,
    #[error("the signature does not match the downloaded archive")]
    Mismatch,
    #[error("the signature is for `{found}`, not for `{expected}`")]
    WrongRelease { found: String, expected: String },
}

/// Verifies `archive` against `minisig` for `version` on `target`.
pub fn verify(
    archive: &[u8],
    minisig: Option<&str>,
    version: &str,
    target: &str,
) -> Result<(), SignatureError> {
    verify_with(trusted_key(), archive, minisig, version, target)
}

fn verify_with(
    key: &str,
    archive: &[u8],
    minisig: Option<&str>,
    version: &str,
    target: &str,
) -> Result<(), SignatureError> {
    let minisig = minisig
        .filter(|s| !s.trim().is_empty())
        .ok_or(SignatureError::Missing)?;
    let key = minisign_verify::PublicKey::from_base64(key)
        .map_err(|e| SignatureError::Malformed(format!("bad built-in key: {e}")))?;
    let signature = minisign_verify::Signature::decode(minisig)
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    key.verify(archive, &signature, false)
        .map_err(|e| match e {
            minisign_verify::Error::UnexpectedKeyId => SignatureError::WrongKey,
            minisign_verify::Error::InvalidSignature => SignatureError::Mismatch,
            other => SignatureError::Malformed(other.to_string()),
        })?;
    // Checked after the signature: only then is the comment known to be the signer's.
    let expected = expected_comment(version, target);
    let found = signature.trusted_comment().trim();
    if found != expected {
        return Err(SignatureError::WrongRelease {
            found: found
                .chars()
                .filter(|c| !c.is_control())
                .take(120)
                .collect(),
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_KEY: &str = include_str!("../../tests/data/release-test.pub");

    fn sign(data: &[u8], comment: &str) -> String {
        let sk = minisign::SecretKey::from_bytes(
            &hex::decode(include_str!("../../tests/data/release-test.key").trim()).unwrap(),
        )
        .unwrap();
        minisign::sign(None, &sk, std::io::Cursor::new(data), Some(comment), None)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_signed_release_verifies_and_everything_else_is_refused() {
        let archive = b"twg release archive";
        let good = sign(archive, "twg 1.2.3 x86_64-unknown-linux-gnu");
        let ok = |sig: Option<&str>, data: &[u8], v: &str| {
            verify_with(TEST_KEY.trim(), data, sig, v, "x86_64-unknown-linux-gnu")
        };
        ok(Some(&good), archive, "1.2.3").unwrap();
        assert!(matches!(
            ok(None, archive, "1.2.3"),
            Err(SignatureError::Missing)
        ));
        assert!(matches!(
            ok(Some(&good), b"tampered archive", "1.2.3"),
            Err(SignatureError::Mismatch)
        ));
        assert!(matches!(
            ok(Some(&good), archive, "9.9.9"),
            Err(SignatureError::WrongRelease { .. })
        ));
        assert!(matches!(
            ok(Some("garbage"), archive, "1.2.3"),
            Err(SignatureError::Malformed(_))
        ));
        // Signed by the test key, checked against the project key: refused.
        assert!(matches!(
            verify_with(
                PROJECT_KEY,
                archive,
                Some(&good),
                "1.2.3",
                "x86_64-unknown-linux-gnu"
            ),
            Err(SignatureError::WrongKey)
        ));
    }
}
