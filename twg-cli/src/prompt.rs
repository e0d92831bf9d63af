//! Terminal prompts. Secrets are read without echo, never from argv; without a terminal a
//! prompt is an error that names the non-interactive alternative.

use crate::report::CliError;
use std::io::IsTerminal;
use twg_common::secret::Secret;

/// Reads a secret from the terminal without echo. `alternative` names the
/// non-interactive way (an env var or `--with-token` on stdin).
pub fn secret(label: &str, alternative: &str) -> Result<Secret, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "{label} must be typed at a terminal, but stdin is not a terminal; {alternative}"
        )));
    }
    let value = rpassword::prompt_password(format!("{label}: "))
        .map_err(|e| CliError::failure(format!("cannot read {label}: {e}")))?;
    Ok(Secret::new(value.trim().to_string()))
}

/// Reads a whole secret from stdin (for `--with-token`), trimming the trailing newline.
pub fn secret_from_stdin(label: &str) -> Result<Secret, CliError> {
    use std::io::Read;
    let mut buf = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut buf)
        .map_err(|e| CliError::failure(format!("cannot read {label} from stdin: {e}")))?;
    let value = buf.trim();
    if value.is_empty() {
        return Err(CliError::usage(format!("{label} on stdin is empty")));
    }
    Ok(Secret::new(value.to_string()))
}

/// Asks a yes/no question; `default` when stdin is not a terminal.
pub fn confirm(question: &str, default: bool) -> bool {
    if !std::io::stdin().is_terminal() {
        return default;
    }
    eprint!("{question} [{}] ", if default { "Y/n" } else { "y/N" });
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return default;
    }
    match line.trim().to_ascii_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    }
}
