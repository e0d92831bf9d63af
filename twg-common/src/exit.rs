//! Process exit codes shared by `twg` and `twgd`. Documented in the README; never renumber.

/// Success.
pub const OK: i32 = 0;
/// A failure not covered below; the message says what to do.
pub const FAILURE: i32 = 1;
/// Bad command-line usage (clap's own code).
pub const USAGE: i32 = 2;
/// `twgd`: another instance already runs for this user.
pub const ALREADY_RUNNING: i32 = 10;
/// The daemon is unreachable and the operation cannot be done without it.
pub const DAEMON_UNREACHABLE: i32 = 69;
/// Sandbox: the config directory cannot be written, so no refresh was attempted
/// (nothing was sent to the server; the refresh token is intact).
pub const SANDBOX_CANNOT_PERSIST: i32 = 73;
/// A temporary failure (network, timeout, server 5xx): retrying later may work.
pub const TEMPORARY: i32 = 75;
/// The daemon speaks another protocol version: restart it.
pub const PROTOCOL_MISMATCH: i32 = 76;
/// Not logged in, or the session expired: run `twg login`.
pub const AUTH_EXPIRED: i32 = 77;
/// A configuration or credential file is corrupt or invalid.
pub const CONFIG: i32 = 78;
/// `twg exec`: the command exists but cannot be run (not executable, not a program), as in
/// a shell.
pub const CANNOT_EXECUTE: i32 = 126;
/// `twg exec`: the command was not found, as in a shell.
pub const COMMAND_NOT_FOUND: i32 = 127;
