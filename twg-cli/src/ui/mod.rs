//! The terminal: prompts (one stdin reader for the whole process, secrets without echo) and
//! the "waiting" spinner.

pub mod prompt;
pub mod spinner;
