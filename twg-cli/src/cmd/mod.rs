//! One module per subcommand, each with a `Cmd` and `run()`.

pub mod admin;
pub mod audit;
pub mod bitbucket;
pub mod completion;
pub mod daemon;
pub mod doctor;
pub mod exec;
pub mod git;
pub mod login;
pub mod logout;
pub mod man;
pub mod refresh;
pub mod setup;
pub mod status;
pub mod token;
pub mod uninstall;
pub mod update;
pub mod upkeep;
