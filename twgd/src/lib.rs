//! The twg daemon as a library, so tests can run it in-process on a temporary socket.

#[cfg(unix)]
pub mod activation;
pub mod agent_socket;
#[cfg(unix)]
pub mod api_proxy;
pub mod audit;
pub mod daemon;
#[cfg(unix)]
pub mod extra_sockets;
pub mod handlers;
pub mod idle;
pub mod launch;
pub mod listen;
pub mod logging;
pub mod notify;
pub mod peer;
pub mod pidfile;
#[cfg(windows)]
pub mod pipe;
pub mod quick;
pub mod scheduler;
pub mod server;
pub mod session;
pub mod upkeep_timer;

pub use server::ServeOptions;
#[cfg(unix)]
pub use server::{run, run_with};
