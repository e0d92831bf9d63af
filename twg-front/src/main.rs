//! `twg`, the front: answers the hot path, `twg auth token`, through twgd from a binary a
//! fraction of the full CLI's size, and hands everything else to the full CLI, `twg-cli`,
//! beside it.
//!
//! Why a second binary: a process start costs in proportion to its binary (the dynamic
//! loader writes every relocation of a position-independent executable, one copy-on-write
//! page fault per page), and the full CLI is about 15 MB. Scripts and agents run
//! `twg auth token` constantly; everything else is run by people, where a millisecond more
//! for the hand-over does not matter.
//!
//! The rule of the hand-over: the front finishes only what twgd answered (a token or twgd's
//! own error, printed exactly as the full CLI prints it). Everything else goes to the full
//! CLI before the front has printed anything and before anything but one GetToken was sent:
//! other commands, help, typos, env-mode credentials, `TWG_LOG`, a socket that is missing,
//! stale or untrusted (the full CLI checks it again and refuses with its own message), and a
//! twgd that does not answer. The front never refreshes, so the full CLI's fallback is the
//! only refresh a hand-over can lead to, and it runs under the credential lock as before.

mod answer;
mod handover;

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let rest = args.get(1..).unwrap_or_default();
    match answer::hot_path(rest) {
        Some(code) => code,
        None => handover::to_full_cli(&args),
    }
}
