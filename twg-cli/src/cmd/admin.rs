//! `twg admin auth login|status|logout`: the organisation Admin API key, kept in its own
//! `admin.conf` and never mixed with the user's OAuth credentials.

use crate::ctx::Ctx;
use crate::report::CliError;
use twg_common::admin::{self, AdminCredentials, AdminError};
use twg_common::error_code::ErrorCode;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Admin API key authentication.
    #[command(subcommand)]
    Auth(AuthCmd),
}

#[derive(Debug, clap::Subcommand)]
pub enum AuthCmd {
    /// Store an organisation Admin API key (prompted without echo).
    Login(LoginCmd),
    /// Show whether an Admin API key is stored (never any part of the key).
    Status(StatusCmd),
    /// Remove the stored Admin API key.
    Logout(LogoutCmd),
}

#[derive(Debug, clap::Args)]
pub struct LoginCmd {
    /// The admin's Atlassian account email.
    #[arg(long)]
    pub email: String,
    /// The organisation id (admin.atlassian.com → Settings → API keys shows it).
    #[arg(long = "org", value_name = "ORG_ID")]
    pub org: String,
    /// Read the key from stdin instead of prompting (e.g. `twg admin auth login ... --with-key < key.txt`).
    #[arg(long)]
    pub with_key: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusCmd {}

#[derive(Debug, clap::Args)]
pub struct LogoutCmd {}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self {
            Cmd::Auth(AuthCmd::Login(c)) => c.run(ctx).await,
            Cmd::Auth(AuthCmd::Status(c)) => c.run(ctx),
            Cmd::Auth(AuthCmd::Logout(c)) => c.run(ctx).await,
        }
    }
}

fn admin_error(e: AdminError) -> CliError {
    let code = match &e {
        AdminError::Corrupt { .. } | AdminError::UnknownVersion { .. } => ErrorCode::ConfigCorrupt,
        AdminError::Lock(twg_common::lock::LockError::Timeout { .. }) => ErrorCode::LockBusy,
        _ => ErrorCode::AdminStore,
    };
    CliError::new(code, e.to_string())
}

impl LoginCmd {
    async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let email = self.email.trim().to_string();
        let org = self.org.trim().to_string();
        if !email.contains('@') {
            return Err(CliError::usage(format!(
                "`{email}` is not an email address; pass the admin's account email with --email"
            )));
        }
        if org.is_empty() || org.chars().any(char::is_whitespace) {
            return Err(CliError::usage(
                "--org must be the organisation id (no spaces), as shown at admin.atlassian.com → Settings → API keys",
            ));
        }
        let key = if self.with_key {
            crate::ui::prompt::secret_from_stdin("the Admin API key")?
        } else {
            crate::ui::prompt::secret("Admin API key", "pass --with-key and send the key on stdin")?
        };
        if key.is_empty() {
            return Err(CliError::usage(
                "the Admin API key is empty; nothing was saved",
            ));
        }
        let root = ctx.root()?;
        let creds = AdminCredentials {
            email,
            org_id: org,
            api_key: key,
            saved_at: twg_common::time::now_unix(),
        };
        let guard = admin::lock(&root).await.map_err(admin_error)?;
        admin::save(&root, &creds, &guard).map_err(admin_error)?;
        drop(guard);
        let path = twg_common::paths::admin_file(&root);
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({
                    "saved": true,
                    "email": creds.email,
                    "org_id": creds.org_id,
                    "path": path.display().to_string(),
                })
            );
        } else {
            println!(
                "✔ Admin API key for organisation {} ({}) saved to {}",
                creds.org_id,
                creds.email,
                path.display()
            );
        }
        Ok(())
    }
}

impl StatusCmd {
    fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let root = ctx.root()?;
        let path = twg_common::paths::admin_file(&root);
        let loaded = admin::load(&root).map_err(admin_error)?;
        if ctx.json {
            let body = match &loaded {
                Some(c) => serde_json::json!({
                    "logged_in": true,
                    "email": c.email,
                    "org_id": c.org_id,
                    "api_key": "set",
                    "saved_at": c.saved_at,
                    "path": path.display().to_string(),
                }),
                None => serde_json::json!({
                    "logged_in": false,
                    "path": path.display().to_string(),
                }),
            };
            println!("{body}");
        } else if let Some(c) = &loaded {
            println!("Admin email:        {}", c.email);
            println!("Organisation:       {}", c.org_id);
            println!("Admin API key:      set");
            if c.saved_at > 0 {
                println!(
                    "Saved:              {}",
                    twg_common::time::relative(c.saved_at)
                );
            }
            println!("Stored in:          {}", path.display());
        }
        match loaded {
            Some(_) => Ok(()),
            None => Err(CliError::new(
                ErrorCode::NotLoggedIn,
                "no Admin API key is stored; run `twg admin auth login --email <email> --org <org-id>`",
            )),
        }
    }
}

impl LogoutCmd {
    async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let root = ctx.root()?;
        let path = twg_common::paths::admin_file(&root);
        // Without a config root there is nothing to remove, and no reason to create one.
        let removed = if root.exists() {
            let guard = admin::lock(&root).await.map_err(admin_error)?;
            admin::delete(&root, &guard).map_err(admin_error)?
        } else {
            false
        };
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "removed": removed, "path": path.display().to_string() })
            );
        } else if removed {
            println!("✔ Removed the Admin API key ({})", path.display());
            println!(
                "  The key itself stays valid at Atlassian until you revoke it at admin.atlassian.com → Settings → API keys"
            );
        } else {
            println!("No Admin API key was stored ({})", path.display());
        }
        Ok(())
    }
}
