//! The Bitbucket Cloud token: stored beside the OAuth credentials (same store, same lock),
//! for `twg setup bitbucket` and the login flow. Never taken from argv.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::io::IsTerminal;
use twg_common::error::EngineError;
use twg_common::secret::Secret;
use twg_common::store::Credentials;

/// Where Bitbucket API tokens are created (Atlassian account → "Create API token with
/// scopes" → Bitbucket; app passwords are being retired in favour of these).
pub const BITBUCKET_TOKEN_URL: &str = twg_common::api_token::API_TOKENS_URL;

/// Stores `token` as the Bitbucket token, keeping every other credential as it is.
///
/// The read happens under the credential lock, so a refresh running at the same moment is
/// never overwritten with an older refresh token. Works without an OAuth login too: the
/// credentials then hold only the Bitbucket token.
pub async fn set_bitbucket_token(ctx: &Ctx, token: Secret) -> Result<(), CliError> {
    if token.is_empty() {
        return Err(CliError::usage(
            "the Bitbucket token is empty; nothing was saved",
        ));
    }
    update_credentials(ctx, |creds| creds.bitbucket_token = Some(token)).await
}

/// Changes the stored credentials under the lock (read, change, atomic save). The OAuth
/// tokens are written back as read, so this never races a refresh.
pub async fn update_credentials(
    ctx: &Ctx,
    change: impl FnOnce(&mut Credentials),
) -> Result<(), CliError> {
    let config = ctx.config()?;
    let store = ctx.store(&config);
    let sandbox = |detail: String| EngineError::Sandbox {
        config_dir: store.root().to_path_buf(),
        detail,
    };
    twg_common::paths::ensure_private_dir(store.root())
        .map_err(|e| ctx.engine_error(sandbox(e.to_string())))?;
    let guard = twg_common::lock::lock(&store.lock_path(), twg_common::lock::CREDENTIALS_TIMEOUT)
        .await
        .map_err(|e| match e {
            twg_common::lock::LockError::Timeout { .. } => {
                ctx.engine_error(EngineError::Busy(e.to_string()))
            }
            _ => ctx.engine_error(sandbox(e.to_string())),
        })?;
    let mut creds = match store.load()? {
        Some(loaded) => loaded.credentials,
        None => Credentials::default(),
    };
    change(&mut creds);
    store.save(&creds, &guard)?;
    Ok(())
}

/// Asks for a Bitbucket token without echo. `Ok(None)` when the user presses Enter (skip)
/// or when there is no terminal to ask at (scripts then use `twg setup bitbucket`).
pub fn prompt_bitbucket_token() -> Result<Option<Secret>, CliError> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    eprintln!("? Bitbucket Cloud API token (optional; press Enter to skip)");
    eprintln!(
        "  Create one at {BITBUCKET_TOKEN_URL} (\"Create API token with scopes\" → Bitbucket)"
    );
    let token = crate::ui::prompt::secret(
        "Bitbucket token",
        "run `twg setup bitbucket` later from a terminal",
    )?;
    Ok(Some(token).filter(|t| !t.is_empty()))
}
