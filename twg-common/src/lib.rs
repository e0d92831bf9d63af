//! Shared library for `twg` (the client) and `twgd` (the per-user daemon): paths, the
//! credential store, the OAuth refresh engine and the wire protocol.

pub mod admin;
pub mod agent;
pub mod agent_access;
pub mod api_token;
pub mod atomic;
pub mod audit;
pub mod child_env;
pub mod config;
#[cfg(target_os = "macos")]
pub mod darwin;
pub mod engine;
pub mod error;
pub mod error_code;
pub mod exit;
pub mod hot_path;
pub mod lock;
pub mod login;
pub mod logout;
pub mod manifest;
pub mod oauth;
pub mod paths;
#[cfg(windows)]
pub mod pipe_client;
pub mod platform;
pub mod preflight;
pub mod quick;
pub mod recovery;
pub mod rpc;
pub mod secret;
pub mod store;
pub mod time;
pub mod versioned;
#[cfg(windows)]
pub mod win;
