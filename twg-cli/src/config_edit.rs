//! Edits to `config.toml` that keep everything else in the file (comments, order, other
//! keys) as it was, with `toml_edit`; saved atomically, then re-read with twg's own parser
//! so a bad edit is reported instead of breaking every later command.

use crate::report::CliError;
use std::path::Path;
use twg_common::error_code::ErrorCode;

/// Sets `[table] key = value` in the `config.toml` at `path` (created if missing).
pub fn set(path: &Path, table: &str, key: &str, value: toml_edit::Item) -> Result<(), CliError> {
    edit_table(path, table, |t| {
        t.insert(key, value);
    })
}

/// Edits `[table]` of the `config.toml` at `path` (created if missing) with `change`. A
/// table left empty is removed; an edit that changes nothing writes nothing.
pub fn edit_table(
    path: &Path,
    table: &str,
    change: impl FnOnce(&mut dyn toml_edit::TableLike),
) -> Result<(), CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(CliError::failure(format!(
                "cannot read {}: {e}; check its permissions and run this again",
                path.display()
            )));
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|_| {
        CliError::new(
            ErrorCode::ConfigInvalid,
            format!(
                "{} is not valid TOML; fix it (or move it away) and run this again",
                path.display()
            ),
        )
    })?;
    let before = doc.to_string();
    // `[api]` or `api = { … }`: either is edited in place, never replaced.
    if doc.get(table).and_then(|t| t.as_table_like()).is_none() {
        doc[table] = toml_edit::table();
    }
    let t = doc[table].as_table_like_mut().expect("a table now");
    change(t);
    if t.is_empty() {
        doc.remove(table);
    }
    let after = doc.to_string();
    if after == before {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        twg_common::paths::ensure_private_dir(dir)?;
    }
    twg_common::atomic::write_atomic(path, after.as_bytes())
        .map_err(|e| CliError::failure(format!("{e}; nothing else was changed")))?;
    // The result must still be a valid twg config (e.g. not a value of the wrong type).
    twg_common::config::ConfigFile::load(path)
        .map_err(|e| CliError::new(ErrorCode::ConfigInvalid, e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_a_key_and_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let before = "# mine\n[network]\ntimeout_seconds = 5 # short\n\n[api]\nread_only = true\n";
        std::fs::write(&path, before).unwrap();
        set(&path, "api", "proxy", toml_edit::value(true)).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            "# mine\n[network]\ntimeout_seconds = 5 # short\n\n[api]\nread_only = true\nproxy = true\n"
        );
        let fresh = dir.path().join("new/config.toml");
        set(&fresh, "api", "proxy", toml_edit::value(true)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&fresh).unwrap(),
            "[api]\nproxy = true\n"
        );
    }
}
