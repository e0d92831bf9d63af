//! `twg setup`: first-run setup (log in, enable upkeep, check PATH), and `twg setup
//! bitbucket` to set or replace the Bitbucket token alone.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::path::{Path, PathBuf};

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
}

#[derive(Debug, clap::Args)]
pub struct BitbucketCmd {
    /// Read the token from stdin instead of asking (e.g. `twg setup bitbucket --with-token < file`).
    #[arg(long)]
    pub with_token: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if let Some(SetupCommand::Bitbucket(b)) = self.command {
            return b.run(ctx).await;
        }
        login_if_needed(ctx, self.no_browser, self.site).await?;
        let mut incomplete = Vec::new();
        if self.no_upkeep {
            println!("  Upkeep not enabled (--no-upkeep); `twg upkeep enable` turns it on");
        } else {
            match crate::service::is_enabled() {
                Ok(true) => println!("✔ Upkeep is already enabled"),
                _ => match crate::cmd::upkeep::service::enable(ctx).await {
                    Ok(e) => println!("✔ Upkeep enabled: {} (twgd pid {})", e.service, e.pid),
                    Err(e) => {
                        eprintln!("! {}", e.message);
                        if let Some(t) = &e.text {
                            eprintln!("{t}");
                        }
                        incomplete.push("upkeep is not enabled (see above)");
                    }
                },
            }
        }
        for warning in path_warnings() {
            eprintln!("! {warning}");
            incomplete.push("check your PATH (see above)");
        }
        if incomplete.is_empty() {
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
            crate::prompt::secret_from_stdin("the Bitbucket token")?
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
        println!("✔ Bitbucket token saved to {}", path.display());
        Ok(())
    }
}

async fn login_if_needed(
    ctx: &Ctx,
    no_browser: bool,
    site: Option<String>,
) -> Result<(), CliError> {
    let config = ctx.config()?;
    let store = ctx.store(&config);
    if let Some(loaded) = store.load()?
        && loaded.credentials.oauth.is_some()
    {
        let who = loaded
            .credentials
            .user
            .map(|u| if u.email.is_empty() { u.name } else { u.email })
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "your account".into());
        println!("✔ Already logged in as {who} (`twg login --force` logs in again)");
        return Ok(());
    }
    crate::cmd::login::Cmd {
        no_browser,
        site,
        force: false,
        with_token: false,
        user: None,
    }
    .run(ctx)
    .await
}

/// Every `twg` on PATH, in PATH order.
fn twgs_on_path() -> Vec<PathBuf> {
    let name = crate::service::layout::exe("twg");
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(&name))
        .filter(|p| p.is_file())
        .collect()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Is `twg` on PATH this binary, and is it the only one?
fn path_warnings() -> Vec<String> {
    let Ok(me) = std::env::current_exe() else {
        return Vec::new();
    };
    let found = twgs_on_path();
    let mut warnings = Vec::new();
    let hint = crate::service::layout::Layout::resolve()
        .map(|l| {
            format!(
                "`twg update` installs a launcher in {}; put that directory on your PATH",
                l.bin_dir.display()
            )
        })
        .unwrap_or_else(|| "put the directory holding twg on your PATH".into());
    match found.first() {
        None => warnings.push(format!("twg is not on your PATH (this one is {}); {hint}", me.display())),
        Some(first) if !same_file(first, &me) => warnings.push(format!(
            "`twg` on your PATH is {}, not this binary ({}); remove or reorder it so the right twg runs",
            first.display(),
            me.display()
        )),
        Some(_) => {}
    }
    let mut distinct: Vec<&PathBuf> = Vec::new();
    for p in &found {
        if !distinct.iter().any(|d| same_file(d, p)) {
            distinct.push(p);
        }
    }
    if distinct.len() > 1 {
        warnings.push(format!(
            "several different twg binaries are on your PATH: {}; remove the ones you do not use",
            distinct
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    warnings
}
