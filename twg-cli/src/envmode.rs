//! Environment-variable credentials for CI: `TWG_TOKEN` (+ `TWG_USER`, `TWG_SITE`,
//! `TWG_BBC_TOKEN`). They win over stored credentials and need no login, daemon or
//! writable directory.

use crate::report::CliError;
use twg_common::error_code::ErrorCode;
use twg_common::secret::Secret;

/// Credentials taken from the environment.
#[derive(Debug)]
pub struct EnvCredentials {
    pub user: String,
    pub site: Option<String>,
    pub token: Secret,
    pub bitbucket_token: Option<Secret>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `Ok(None)` when `TWG_TOKEN` is unset; an error when it is set without `TWG_USER`.
pub fn from_env() -> Result<Option<EnvCredentials>, CliError> {
    let Some(token) = var("TWG_TOKEN") else {
        return Ok(None);
    };
    let Some(user) = var("TWG_USER") else {
        return Err(CliError::new(
            ErrorCode::EnvIncomplete,
            "TWG_TOKEN is set but TWG_USER is not; set TWG_USER to the account's email (or unset TWG_TOKEN to use stored credentials)",
        ));
    };
    Ok(Some(EnvCredentials {
        user,
        site: var("TWG_SITE"),
        token: Secret::new(token.trim()),
        bitbucket_token: var("TWG_BBC_TOKEN").map(Secret::new),
    }))
}
