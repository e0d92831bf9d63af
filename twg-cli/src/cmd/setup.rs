//! `twg setup`: first-run setup (log in, enable upkeep, check PATH), `twg setup bitbucket`
//! to set or replace the Bitbucket token alone, and `twg setup oauth-app` to register the
//! user's own OAuth app (an Atlassian 3LO app) for `twg login --web`.

use crate::ctx::Ctx;
use crate::report::CliError;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cmd {
    #[command(subcommand)]
    pub command: Option<SetupCommand>,
    /// Do not open a browser during login; just print the URL and code.
    #[arg(long)]
    pub no_browser: bool,
    /// Choose this site (id, name or URL) during login.
    #[arg(long)]
    pub site: Option<String>,
    /// Do not enable upkeep (the service that keeps twgd alive).
    #[arg(long)]
    pub no_upkeep: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SetupCommand {
    /// Set or replace the Bitbucket Cloud token (asked without echo).
    Bitbucket(BitbucketCmd),
    /// Use your own OAuth app (an Atlassian OAuth 2.0 (3LO) app) for `twg login --web`:
    /// stores its client id and callback URL in config.toml and its secret (asked without
    /// echo) next to your tokens.
    OauthApp(OAuthAppCmd),
    /// Make git use the Bitbucket token for bitbucket.org (and `--host` origins).
    Git(crate::cmd::git::setup::Cmd),
}

#[derive(Debug, clap::Args)]
pub struct OAuthAppCmd {
    /// The app's client id (developer console → your app → Settings).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// The callback URL entered in the app's settings; it must match exactly. A loopback
    /// http URL with a port [default: http://localhost:8976/callback].
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,
    /// Read the client secret from stdin instead of asking (never pass it as an argument).
    #[arg(long)]
    pub with_secret: bool,
}

#[derive(Debug, clap::Args)]
pub struct BitbucketCmd {
    /// Read the token from stdin instead of asking (e.g. `twg setup bitbucket --with-token < file`).
    #[arg(long)]
    pub with_token: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self.command {
            Some(SetupCommand::Bitbucket(b)) => return b.run(ctx).await,
            Some(SetupCommand::OauthApp(a)) => return a.run(ctx).await,
            Some(SetupCommand::Git(g)) => return g.run(ctx).await,
            None => {}
        }
        let login = login_if_needed(ctx, self.no_browser, self.site).await?;
        let mut incomplete = Vec::new();
        let upkeep = if self.no_upkeep {
            if !ctx.json {
                println!("  Upkeep not enabled (--no-upkeep); `twg upkeep enable` turns it on");
            }
            serde_json::json!({ "enabled": false, "skipped": "--no-upkeep" })
        } else {
            match crate::os_service::is_enabled() {
                Ok(true) => {
                    if !ctx.json {
                        println!("✔ Upkeep is already enabled");
                    }
                    serde_json::json!({ "enabled": true, "already_enabled": true })
                }
                _ => match crate::upkeep_service::enable(ctx).await {
                    Ok(e) => {
                        if !ctx.json {
                            println!("✔ Upkeep enabled: {} (twgd pid {})", e.service, e.pid);
                        }
                        serde_json::json!({ "enabled": true, "service": e.service, "pid": e.pid })
                    }
                    Err(e) => {
                        if !ctx.json {
                            eprintln!("! {}", e.message);
                            if let Some(t) = &e.text {
                                eprintln!("{t}");
                            }
                        }
                        incomplete.push("upkeep is not enabled (see above)");
                        serde_json::json!({ "enabled": false, "error": e.message, "guidance": e.text })
                    }
                },
            }
        };
        let warnings = crate::path_check::twg_warnings();
        for warning in &warnings {
            if !ctx.json {
                eprintln!("! {warning}");
            }
            incomplete.push("check your PATH (see above)");
        }
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({
                    "login": login,
                    "upkeep": upkeep,
                    "path_warnings": warnings,
                    "complete": incomplete.is_empty(),
                })
            );
        } else if incomplete.is_empty() {
            println!("✔ Setup complete");
        } else {
            incomplete.dedup();
            println!("Setup finished, but {}", incomplete.join(" and "));
        }
        Ok(())
    }
}

impl BitbucketCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let token = if self.with_token {
            crate::ui::prompt::secret_from_stdin("the Bitbucket token")?
        } else {
            crate::cmd::bitbucket::prompt_bitbucket_token()?.ok_or_else(|| {
                CliError::usage(
                    "no Bitbucket token was given; type it at a terminal, or pipe it: `twg setup bitbucket --with-token < token.txt`",
                )
            })?
        };
        crate::cmd::bitbucket::set_bitbucket_token(ctx, token).await?;
        let path = ctx
            .config()
            .map(|c| ctx.store(&c).auth_path())
            .unwrap_or_default();
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "saved": "bitbucket_token", "config_path": path })
            );
        } else {
            println!("✔ Bitbucket token saved to {}", path.display());
        }
        Ok(())
    }
}

impl OAuthAppCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let client_id = self.client_id.trim().to_string();
        if client_id.is_empty() || client_id.chars().any(char::is_whitespace) {
            return Err(CliError::usage(
                "--client-id needs the app's client id (one word, from the app's Settings page)",
            ));
        }
        if let Some(uri) = &self.redirect_uri {
            twg_common::oauth::authcode::loopback_redirect(uri).map_err(CliError::usage)?;
        }
        let secret = if self.with_secret {
            crate::ui::prompt::secret_from_stdin("the client secret")?
        } else {
            crate::ui::prompt::secret(
                "Client secret",
                "or pipe it: `twg setup oauth-app --client-id ID --with-secret < secret.txt`",
            )?
        };
        if secret.is_empty() {
            return Err(CliError::usage(
                "the client secret is empty; nothing was saved",
            ));
        }
        let config = ctx.config()?;
        let config_path = twg_common::paths::config_file(&config.root);
        // The secret first: a config naming an app whose secret is missing would make the
        // next login fail, while a stored secret nobody names yet is harmless.
        let id = client_id.clone();
        crate::cmd::bitbucket::update_credentials(ctx, move |creds| {
            // A new secret for the app of the current login (rotated in the console) is used
            // from the next refresh on.
            if let Some(o) = creds.oauth.as_mut()
                && o.client_id == id
                && o.client_secret.is_some()
            {
                o.client_secret = Some(secret.clone());
            }
            creds.oauth_app = Some(twg_common::store::OAuthApp {
                client_id: id,
                client_secret: secret,
            });
        })
        .await?;
        // Kept with the rest of config.toml as it was, comments included.
        crate::config_edit::edit_table(&config_path, "oauth", |oauth| {
            oauth.insert("client_id", toml_edit::value(client_id.as_str()));
            if let Some(uri) = self.redirect_uri.as_deref() {
                oauth.insert("redirect_uri", toml_edit::value(uri));
            }
        })?;
        let config = ctx.config()?;
        let backend = ctx.store(&config);
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({
                    "client_id": client_id,
                    "redirect_uri": config.oauth.redirect_uri,
                    "config_path": config_path.display().to_string(),
                    "secret_stored_in": backend.backend().as_str(),
                })
            );
        } else {
            println!("✔ OAuth app {client_id} saved to {}", config_path.display());
            println!(
                "✔ Client secret stored ({} backend, {})",
                backend.backend().as_str(),
                backend.auth_path().display()
            );
            println!(
                "  Callback URL: {} (the app's settings must list exactly this URL)",
                config.oauth.redirect_uri
            );
            println!("  Next: `twg login --web`");
        }
        Ok(())
    }
}

/// Logs in unless already logged in; returns what `--json` reports about it.
async fn login_if_needed(
    ctx: &Ctx,
    no_browser: bool,
    site: Option<String>,
) -> Result<serde_json::Value, CliError> {
    let config = ctx.config()?;
    let store = ctx.store(&config);
    if let Some(loaded) = store.load()?
        && loaded.credentials.oauth.is_some()
    {
        let who = loaded
            .credentials
            .user
            .map(|u| u.label())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "your account".into());
        if !ctx.json {
            println!("✔ Already logged in as {who} (`twg login --force` logs in again)");
        }
        return Ok(serde_json::json!({ "already_logged_in": true, "user": who }));
    }
    let mut done = crate::cmd::login::Cmd {
        no_browser,
        site,
        force: false,
        with_token: false,
        user: None,
        web: false,
        timeout: 300,
    }
    .login(ctx)
    .await?;
    done["already_logged_in"] = false.into();
    Ok(done)
}
