//! Upkeep: the 12-minute pass that refreshes OAuth before it is due, checks for updates once
//! a day and reminds the user to run `twg update`. Upkeep never downloads or installs anything.
//!
//! twgd runs the pass on its timer and for `RunUpkeep`; `twg upkeep run` runs the same pass
//! in its own process when twgd is down. Each supplies what differs between them: who
//! refreshes ([`pass::Refresher`]: twgd's single-flight daemon, or the engine directly) and
//! how a notification is shown ([`pass::Notifier`]: twgd talks D-Bus itself, the client asks
//! the desktop's own tool, so the client does not link a D-Bus stack).
//!
//! [`schedule`] holds the pure rules, [`pass`] one pass with its I/O, [`state`] the file
//! `upkeep.json`, [`status`] the saved state as the wire type.

pub mod pass;
pub mod schedule;
pub mod state;
pub mod status;

pub use pass::{Notifier, PassOptions, Refresher, run};
