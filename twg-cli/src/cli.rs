//! The command line (clap derive; doc comments are the help text).

use crate::ctx::Ctx;
use crate::report::CliError;
use clap::{Parser, Subcommand};

/// twg keeps your Teamwork Graph credentials fresh and hands out access tokens.
#[derive(Debug, Parser)]
// `bin_name`: usage and help say `twg`, the command users type, even when this binary is
// run by its own name (`twg-cli`, the full CLI the front `twg` hands commands to).
#[command(
    name = "twg",
    bin_name = "twg",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 69 daemon unreachable and no fallback, \
73 sandbox: cannot persist (nothing sent), 75 temporary failure, 76 daemon protocol mismatch, \
77 login needed, 78 invalid configuration."
)]
pub struct Cli {
    /// Output format: `text` for people, `json` for scripts (with a JSON error envelope on
    /// stderr) [default: text].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// Shorthand for `--output json`.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// `--output`'s values (the names TWG's own CLI uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

impl Cli {
    /// Whether to print JSON; `--json` with `--output text` is a contradiction, refused.
    pub fn json_output(&self) -> Result<bool, &'static str> {
        match (self.json, self.output) {
            (true, Some(OutputFormat::Text)) => {
                Err("--json and --output text contradict each other; give one of them")
            }
            (json, output) => Ok(json || output == Some(OutputFormat::Json)),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with the OAuth device flow.
    Login(crate::cmd::login::Cmd),
    /// Revoke and remove the stored OAuth credentials.
    Logout(crate::cmd::logout::Cmd),
    /// Tokens and authentication status.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Check the whole setup and say what is wrong.
    Doctor(crate::cmd::doctor::Cmd),
    /// Control the twgd daemon.
    #[command(subcommand)]
    Daemon(crate::cmd::daemon::Cmd),
    /// First-run setup (`twg setup bitbucket` sets the Bitbucket token alone).
    Setup(crate::cmd::setup::Cmd),
    /// Background upkeep: the service that keeps twgd alive, refreshes and checks updates.
    #[command(subcommand)]
    Upkeep(crate::cmd::upkeep::Cmd),
    /// Download and install the latest twg.
    Update(crate::cmd::update::Cmd),
    /// Remove twg, its service, its credentials (revoked first) and its configs.
    Uninstall(crate::cmd::uninstall::Cmd),
    /// Organisation admin authentication (Admin API key).
    #[command(subcommand)]
    Admin(crate::cmd::admin::Cmd),
    /// Run a command with an access token in its environment only (`twg exec -- CMD ARGS…`).
    Exec(crate::cmd::exec::Cmd),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion(crate::cmd::completion::Cmd),
    /// Write the man pages into a directory (used by the packaging).
    #[command(name = "__man", hide = true)]
    Man(crate::cmd::man::Cmd),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print a valid access token (only the token, for `$(twg auth token)`).
    Token(crate::cmd::token::Cmd),
    /// Show who is logged in and the token's state.
    Status(crate::cmd::status::Cmd),
    /// Refresh the access token now if it is due (`--force`: always).
    Refresh(crate::cmd::refresh::Cmd),
    /// Show which processes received tokens from twgd.
    Audit(crate::cmd::audit::Cmd),
    /// git's credential helper for Bitbucket (set up with `twg setup git`).
    GitCredential(crate::cmd::git::credential::Cmd),
}

impl Command {
    /// Runs the command.
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        match self {
            Command::Login(c) => c.run(ctx).await,
            Command::Logout(c) => c.run(ctx).await,
            Command::Auth(AuthCommand::Token(c)) => c.run(ctx).await,
            Command::Auth(AuthCommand::Status(c)) => c.run(ctx).await,
            Command::Auth(AuthCommand::Refresh(c)) => c.run(ctx).await,
            Command::Auth(AuthCommand::Audit(c)) => c.run(ctx).await,
            Command::Auth(AuthCommand::GitCredential(c)) => c.run(ctx).await,
            Command::Doctor(c) => c.run(ctx).await,
            Command::Daemon(c) => c.run(ctx).await,
            Command::Setup(c) => c.run(ctx).await,
            Command::Upkeep(c) => c.run(ctx).await,
            Command::Update(c) => c.run(ctx).await,
            Command::Uninstall(c) => c.run(ctx).await,
            Command::Admin(c) => c.run(ctx).await,
            Command::Exec(c) => c.run(ctx).await,
            Command::Completion(c) => c.run(ctx).await,
            Command::Man(c) => c.run(ctx).await,
        }
    }
}
