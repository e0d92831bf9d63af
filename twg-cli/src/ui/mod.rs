//! The terminal: prompts (one stdin reader for the whole process, secrets without echo),
//! the "waiting" spinner and the download progress bar.

pub mod prompt;
pub mod spinner;

use std::io::IsTerminal;

/// Whether stderr may carry decoration that redraws a line (spinners, progress bars): only
/// on a terminal, and never when the user asked for plain output with `NO_COLOR`
/// (<https://no-color.org>: any non-empty value) or a terminal that cannot move the cursor
/// (`TERM=dumb`, as Emacs shells and some CI consoles set).
pub fn decorate() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stderr().is_terminal()
}

/// A byte-count progress bar on stderr when [`decorate`] allows one.
#[cfg(unix)]
pub fn progress_bytes(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    if !decorate() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg}: {percent:>3}% ({bytes} of {total_bytes})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    Some(bar)
}
