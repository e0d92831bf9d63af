//! Reading a versioned TOML file (`auth.conf`, `admin.conf`): check `version` first, so a
//! file from a newer twg gets "upgrade" rather than a confusing parse error, then parse.

use serde::de::DeserializeOwned;

/// Why the file could not be read; each caller wraps it in its own error with the path.
#[derive(Debug, PartialEq)]
pub enum VersionedError {
    /// Not valid for this format; the detail never echoes file content.
    Corrupt(String),
    /// Written by a newer twg (this format version).
    Newer(u32),
}

#[derive(serde::Deserialize)]
struct VersionProbe {
    version: Option<u32>,
}

/// Parses `text` as `T` if its `version` is between 1 and `supported`.
pub fn parse<T: DeserializeOwned>(text: &str, supported: u32) -> Result<T, VersionedError> {
    let corrupt =
        |e: toml::de::Error| VersionedError::Corrupt(crate::config::toml_error_detail(text, &e));
    let probe: VersionProbe = toml::from_str(text).map_err(corrupt)?;
    match probe.version {
        None => Err(VersionedError::Corrupt("no `version` key".into())),
        Some(0) => Err(VersionedError::Corrupt(
            "version 0 is not a valid format".into(),
        )),
        Some(v) if v > supported => Err(VersionedError::Newer(v)),
        Some(_) => toml::from_str(text).map_err(corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct F {
        version: u32,
        name: String,
    }

    #[test]
    fn checks_the_version_before_the_shape() {
        assert_eq!(
            parse::<F>("version = 1\nname = \"a\"\n", 1),
            Ok(F {
                version: 1,
                name: "a".into()
            })
        );
        assert_eq!(
            parse::<F>("version = 2\n", 1),
            Err(VersionedError::Newer(2))
        );
        assert!(
            matches!(parse::<F>("name = \"a\"\n", 1), Err(VersionedError::Corrupt(d)) if d.contains("version"))
        );
        assert!(matches!(
            parse::<F>("version = 0\n", 1),
            Err(VersionedError::Corrupt(_))
        ));
        assert!(
            matches!(parse::<F>("version = 1\n", 1), Err(VersionedError::Corrupt(d)) if d.contains("line"))
        );
    }
}
