//! Coding-agent sandboxes: which one twg runs in, and how to let twg persist tokens from it.
//!
//! Agents such as Codex, Claude Code, Cursor and Gemini CLI run `twg` in sandboxes that can
//! read the config directory but not write it. A refresh whose rotated token cannot be saved
//! would destroy the only valid refresh token, so the caller sends nothing and prints
//! [`guidance`]. This module only detects and explains; the caller decides when to print.
//! The signal table and the per-agent settings are summarised in `README.md` beside this file.

mod detect;
mod guidance;
mod snippets;
#[cfg(test)]
mod tests;

pub use detect::{Agent, Expect, SIGNALS, Signal, detect, detect_from_process_env};
pub use guidance::{Guidance, Os, guidance};
pub use snippets::{Snippet, SnippetFormat};
