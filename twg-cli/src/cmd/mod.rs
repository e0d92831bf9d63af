//! One module per subcommand, each with a `Cmd` and `run()`.

pub mod admin;
pub mod audit;
pub mod bitbucket;
pub mod daemon;
pub mod doctor;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod setup;
pub mod status;
pub mod token;
pub mod uninstall;
pub mod update;
pub mod upkeep;

use crate::cli::{AuthCommand, Command};
use crate::ctx::Ctx;
use crate::report::CliError;

pub async fn run(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Login(c) => c.run(ctx).await,
        Command::Logout(c) => c.run(ctx).await,
        Command::Auth(AuthCommand::Token(c)) => c.run(ctx).await,
        Command::Auth(AuthCommand::Status(c)) => c.run(ctx).await,
        Command::Auth(AuthCommand::Refresh(c)) => c.run(ctx).await,
        Command::Auth(AuthCommand::Audit(c)) => c.run(ctx).await,
        Command::Doctor(c) => c.run(ctx).await,
        Command::Daemon(c) => c.run(ctx).await,
        Command::Setup(c) => c.run(ctx).await,
        Command::Upkeep(c) => c.run(ctx).await,
        Command::Update(c) => c.run(ctx).await,
        Command::Uninstall(c) => c.run(ctx).await,
        Command::Admin(c) => c.run(ctx).await,
    }
}
