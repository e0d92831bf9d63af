//! twg-dev-idp: a local OAuth 2.1 authorization server speaking the device authorization grant.
//!
//! It exists so twg can be developed and tested without a real identity provider: it follows
//! RFC 8628 (device grant), RFC 6749 (token and error responses), RFC 7009 (revocation),
//! RFC 7662 (introspection) and RFC 8414 (metadata), rotates refresh tokens with Atlassian-style
//! reuse leeway, and has an `/admin` API that lets tests approve codes, read counters, change
//! settings and inject faults.
//!
//! The binary is a thin shell around [`launch::launch`]; tests that want the server in-process
//! call [`server::serve`] with their own listener and shutdown future.

pub mod admin;
pub mod app;
pub mod cli;
pub mod conn;
pub mod counters;
pub mod device_authorization;
pub mod faults;
pub mod form;
pub mod introspect;
pub mod launch;
pub mod metadata;
pub mod oauth_errors;
pub mod request_log;
pub mod resources;
pub mod responses;
pub mod revoke;
pub mod scope;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod state;
pub mod token;
pub mod tokens;
pub mod verification_page;
