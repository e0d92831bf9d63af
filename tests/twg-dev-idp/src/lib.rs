//! twg-dev-idp: a local OAuth 2.1 authorization server speaking the device authorization grant
//! and the authorization-code grant with PKCE.
//!
//! It exists so twg can be developed and tested without a real identity provider: it follows
//! RFC 8628 (device grant), RFC 6749 (authorization-code grant, client authentication, token
//! and error responses), RFC 7636 (PKCE, S256 only and always required), RFC 9207 (`iss` in
//! authorization responses), RFC 7009 (revocation), RFC 7662 (introspection) and RFC 8414
//! (metadata), rotates refresh tokens with Atlassian-style reuse leeway, and has an `/admin` API
//! that lets tests approve codes, read counters and a log of token requests, change settings and
//! inject faults.
//!
//! Public clients (`--client-id`) send only their id and use the device grant. Confidential
//! clients (`--confidential-client ID:SECRET:REDIRECT_URI`) authenticate with
//! `client_secret_basic` or `client_secret_post` everywhere they identify themselves, and may
//! also log in through `GET /authorize`, a consent page a headless browser (or a plain form
//! POST) can answer. Both grants end in the same kind of grant, so rotation, leeway,
//! revocation, introspection, faults and counters treat them alike.
//!
//! The binary is a thin shell around [`launch::launch`]; tests that want the server in-process
//! call [`server::serve`] with their own listener and shutdown future.

pub mod admin;
pub mod app;
pub mod authorization_request;
pub mod authorize;
pub mod cli;
pub mod client_auth;
pub mod clients;
pub mod conn;
pub mod consent_page;
pub mod counters;
pub mod device_authorization;
pub mod faults;
pub mod form;
pub mod html;
pub mod introspect;
pub mod launch;
pub mod metadata;
pub mod oauth_errors;
pub mod pkce;
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
pub mod token_log;
pub mod tokens;
pub mod verification_page;
