//! Terminal prompts. Secrets are read without echo, never from argv; without a terminal a
//! prompt is an error that names the non-interactive alternative.
//!
//! Not `dialoguer`: its prompts read keys from the terminal themselves, which would race the
//! one stdin reader below (the web login's "paste the URL" prompt may still be waiting on it
//! when the site question comes), and a numbered list typed as a line works over any pipe.

use crate::report::CliError;
use std::io::IsTerminal;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use twg_common::secret::Secret;

/// Lines typed on stdin, read by one thread for the whole process. A prompt that stops
/// waiting (the web login's "paste the URL", when the browser answered first) leaves no
/// reader behind holding stdin: the next line simply goes to the next prompt. A plain
/// thread, not a tokio blocking task, so the runtime never waits on it at exit.
fn lines() -> &'static Mutex<Receiver<Option<String>>> {
    static LINES: OnceLock<Mutex<Receiver<Option<String>>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("twg-stdin".into())
            .spawn(move || {
                loop {
                    let mut line = String::new();
                    let read = std::io::stdin().read_line(&mut line);
                    let end = !matches!(read, Ok(n) if n > 0);
                    if tx.send((!end).then_some(line)).is_err() || end {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            // No reader: every prompt sees end of input and says what to pass instead.
            let (tx, rx2) = std::sync::mpsc::channel();
            let _ = tx.send(None);
            return Mutex::new(rx2);
        }
        Mutex::new(rx)
    })
}

/// The next line typed on stdin (with its newline), or `None` at end of input.
pub fn read_line() -> Option<String> {
    lines().lock().expect("stdin lines").recv().ok().flatten()
}

/// [`read_line`] for async code: polls, so dropping the future (another branch of a
/// `select!` won) cancels nothing and blocks nothing.
pub async fn read_line_async() -> Option<String> {
    loop {
        match lines().lock().expect("stdin lines").try_recv() {
            Ok(line) => return line,
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
    let Some(line) = read_line() else {
        return default;
    };
    match line.trim().to_ascii_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    }
}
