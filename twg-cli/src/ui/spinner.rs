//! "Waiting for approval" on stderr: an indicatif spinner where [`super::decorate`] allows;
//! otherwise one line per change of message, so a log shows when `slow_down` lengthened the
//! interval.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The spinner; clones share it, so a background task can update the message.
#[derive(Debug, Clone)]
pub struct Spinner {
    bar: Option<ProgressBar>,
    /// Without a terminal: the last message printed, so each is printed once.
    last: Arc<Mutex<String>>,
}

impl Spinner {
    pub fn new() -> Self {
        let bar = super::decorate().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .expect("a valid template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            last: Arc::default(),
        }
    }

    pub fn set(&self, message: &str) {
        match &self.bar {
            Some(bar) if bar.is_finished() => {}
            Some(bar) => bar.set_message(message.to_string()),
            None => {
                let mut last = self.last.lock().expect("spinner lock");
                if *last != message {
                    *last = message.to_string();
                    eprintln!("  {message}");
                }
            }
        }
    }

    /// Clears the spinner's line (what the user sees next starts on a clean line).
    pub fn stop(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        // Only the last clone clears the line.
        if Arc::strong_count(&self.last) == 1 {
            self.stop();
        }
    }
}
