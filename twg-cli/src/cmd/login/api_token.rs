//! `twg login --with-token`: an API token read from stdin (or typed without echo), stored
//! as `token_type = "api_token"` so the engine never tries to refresh it.

use super::Cmd;
use super::site::pick_site;
use crate::ctx::Ctx;
use crate::report::CliError;
use std::io::IsTerminal;
use twg_common::store::{Credentials, OAuthCredentials, UserInfo};

impl Cmd {
    /// `--with-token`: store an API token read from stdin (or typed without echo).
    pub(super) async fn with_token(&self, ctx: &Ctx) -> Result<(), CliError> {
        let (kind, page) = twg_common::api_token::api_token_page();
        let token = if std::io::stdin().is_terminal() {
            eprintln!("Create an {kind} at {page}");
            crate::ui::prompt::secret(
                "API token",
                "or pipe it: `twg login --with-token < token.txt`",
            )?
        } else {
            crate::ui::prompt::secret_from_stdin("the API token").map_err(|mut e| {
                e.message = format!("{}; create an {kind} at {page} and pipe it in", e.message);
                e
            })?
        };
        let config = ctx.config()?;
        let store = ctx.store(&config);
        let previous = store.load().ok().flatten().map(|l| l.credentials);
        let now = twg_common::time::now_unix();
        let site = pick_site(Vec::new(), self.site.as_deref())?;
        let user = self.user.as_ref().map(|email| UserInfo {
            name: email.clone(),
            email: email.clone(),
            account_id: String::new(),
        });
        let creds = Credentials {
            oauth: Some(OAuthCredentials {
                issuer: config.oauth.issuer.clone(),
                client_id: config.oauth.client_id.clone(),
                token_endpoint: config.oauth.token_endpoint.clone().unwrap_or_default(),
                revocation_endpoint: None,
                scopes: Vec::new(),
                access_token: token,
                token_type: twg_common::api_token::API_TOKEN_TYPE.into(),
                expires_at: 0,
                obtained_at: now,
                refresh_token: None,
                refresh_token_issued_at: 0,
                halted: None,
                client_secret: None,
                client_auth: Default::default(),
                grant: None,
            }),
            user,
            site,
            bitbucket_token: if self.force {
                None
            } else {
                previous.as_ref().and_then(|p| p.bitbucket_token.clone())
            },
            oauth_app: previous.and_then(|p| p.oauth_app),
        };
        twg_common::login::save(&store, &creds)
            .await
            .map_err(|e| ctx.engine_error(e))?;
        // A running twgd notices the new file by its changed stamp on the next request.
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"stored": "api_token", "config_path": store.auth_path().display().to_string()})
            );
        } else {
            println!(
                "✔ API token saved (twg does not refresh API tokens: replace it before it expires, at {page})"
            );
            println!("✔ Credentials saved to {}", store.auth_path().display());
        }
        Ok(())
    }
}
