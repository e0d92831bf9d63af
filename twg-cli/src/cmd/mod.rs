//! One module per subcommand, each with a `Cmd` and `run()`.

pub mod daemon;
pub mod doctor;
pub mod login;
pub mod refresh;
pub mod status;
pub mod token;

use crate::cli::{AuthCommand, Command};
use crate::ctx::Ctx;
use crate::report::CliError;

pub async fn run(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Login(c) => c.run(ctx).await,
        Command::Auth(AuthCommand::Token(c)) => c.run(ctx).await,
        Command::Auth(AuthCommand::Status(c)) => c.run(ctx).await,
        Command::Auth(AuthCommand::Refresh(c)) => c.run(ctx).await,
        Command::Doctor(c) => c.run(ctx).await,
        Command::Daemon(c) => c.run(ctx).await,
    }
}
