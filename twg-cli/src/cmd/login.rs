//! `twg login`: the OAuth device flow (RFC 8628), site selection, and saving.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::io::{IsTerminal, Write};
use twg_common::exit;
use twg_common::login::{LoginFlow, SiteChoice, choose_site};
use twg_common::oauth::device::DeviceError;
use twg_common::store::SiteInfo;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Do not open a browser; just print the URL and code.
    #[arg(long)]
    pub no_browser: bool,
    /// Choose this site (id, name or URL) instead of being asked.
    #[arg(long)]
    pub site: Option<String>,
    /// Re-enter every credential, the Bitbucket token included.
    #[arg(long)]
    pub force: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let config = ctx.config()?;
        let store = ctx.store(&config);
        let engine = twg_common::engine::Engine::new(store.clone(), config.clone());
        let http = engine.http()?.clone();
        let flow = LoginFlow::new(&config, http)
            .await
            .map_err(|e| CliError::new("LOGIN_SETUP", exit::FAILURE, format!("cannot start the login: {e}")))?;
        let auth = flow
            .start()
            .await
            .map_err(|e| CliError::new("LOGIN_START", exit::FAILURE, format!("the device authorization request failed: {e}")))?;
        eprintln!("! First copy your one-time code: {}", auth.user_code);
        eprintln!("  Then open: {}", auth.verification_uri);
        let open_url = auth
            .verification_uri_complete
            .clone()
            .unwrap_or_else(|| auth.verification_uri.clone());
        if !self.no_browser {
            if open::that_detached(&open_url).is_ok() {
                eprintln!("  (opening your browser)");
            } else {
                eprintln!("  (no browser could be opened; open the URL yourself)");
            }
        }
        let spinner = std::io::stderr().is_terminal();
        let tokens = flow
            .wait(&auth, move |d| {
                if spinner {
                    eprint!("\r⠿ Waiting for approval (checking every {}s)…", d.as_secs());
                    let _ = std::io::stderr().flush();
                }
            })
            .await;
        if spinner {
            eprintln!();
        }
        let tokens = tokens.map_err(|e| match e {
            DeviceError::AccessDenied | DeviceError::Expired => {
                CliError::new("LOGIN_FAILED", exit::AUTH_EXPIRED, e.to_string())
            }
            DeviceError::OAuth(e) => CliError::new("LOGIN_FAILED", exit::FAILURE, format!("login failed: {e}; run `twg login` again")),
        })?;
        if tokens.refresh_token.is_none() {
            eprintln!("! The server issued no refresh token: you will need to log in again when the access token expires");
        }
        let (user, sites) = flow.identify(&tokens).await;
        let sites = sites.map_err(|e| CliError::failure(format!("cannot list your sites: {e}; run `twg login` again")))?;
        let site = pick_site(sites, self.site.as_deref())?;
        let previous = store.load().ok().flatten().map(|l| l.credentials);
        let creds = flow.credentials(&tokens, user.clone(), site, previous.as_ref(), self.force);
        twg_common::login::save(&store, &creds).await.map_err(|e| ctx.engine_error(e))?;
        let who = user
            .map(|u| if u.email.is_empty() { u.name } else { format!("{} ({})", u.name, u.email) })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "the approved account".into());
        println!("✔ Authentication successful!");
        println!("✔ Authenticated as {who}");
        println!("✔ Credentials saved to {}", store.auth_path().display());
        Ok(())
    }
}

/// Chooses the site: `--site`, the only one, or a prompt when there are several.
pub fn pick_site(sites: Vec<SiteInfo>, wanted: Option<&str>) -> Result<Option<SiteInfo>, CliError> {
    match choose_site(sites, wanted) {
        SiteChoice::Chosen(s) => Ok(Some(s)),
        SiteChoice::NoSites => Ok(None),
        SiteChoice::NotFound { wanted, available } => Err(CliError::usage(format!(
            "no site matches `{wanted}`; available: {}",
            list(&available)
        ))),
        SiteChoice::Ask(sites) => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(format!(
                    "several sites are available and stdin is not a terminal; pass --site with one of: {}",
                    list(&sites)
                )));
            }
            eprintln!("? Choose a site:");
            for (i, s) in sites.iter().enumerate() {
                eprintln!("  {}) {} {}", i + 1, s.name, s.url);
            }
            loop {
                eprint!("Site number [1-{}]: ", sites.len());
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(CliError::usage("no site chosen; pass --site"));
                }
                if let Ok(n) = line.trim().parse::<usize>()
                    && (1..=sites.len()).contains(&n)
                {
                    return Ok(Some(sites[n - 1].clone()));
                }
            }
        }
    }
}

fn list(sites: &[SiteInfo]) -> String {
    sites
        .iter()
        .map(|s| format!("{} ({})", s.name, s.url))
        .collect::<Vec<_>>()
        .join(", ")
}
