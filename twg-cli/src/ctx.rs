//! What every command needs: output mode, the detected coding agent, paths, and the way
//! to reach the daemon or, failing that, the shared engine.

use crate::report::CliError;
use std::path::PathBuf;
use twg_common::agent::Agent;
use twg_common::config::Config;
use twg_common::engine::Engine;
use twg_common::store::Store;

#[derive(Debug)]
pub struct Ctx {
    pub json: bool,
    pub agent: Option<Agent>,
}

impl Ctx {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            agent: twg_common::agent::detect_from_process_env(),
        }
    }

    pub fn root(&self) -> Result<PathBuf, CliError> {
        Ok(twg_common::paths::config_root()?)
    }

    pub fn socket(&self) -> Result<PathBuf, CliError> {
        Ok(twg_common::paths::socket_path()?)
    }

    pub fn config(&self) -> Result<Config, CliError> {
        Ok(Config::load(&self.root()?)?)
    }

    pub fn store(&self, config: &Config) -> Store {
        Store::new(&config.root, config.backend)
    }

    /// The shared refresh engine, for when twgd is unreachable.
    pub fn engine(&self) -> Result<Engine, CliError> {
        let config = self.config()?;
        let store = self.store(&config);
        Ok(Engine::new(store, config))
    }

    pub fn client_info(&self) -> twg_common::rpc::pb::ClientInfo {
        twg_common::rpc::client_info(self.agent.map(|a| a.as_str()))
    }

    /// Turns an engine error into a report; a sandbox failure carries the agent guidance.
    pub fn engine_error(&self, e: twg_common::error::EngineError) -> CliError {
        let sandbox_dir = match &e {
            twg_common::error::EngineError::Sandbox { config_dir, .. } => Some(config_dir.clone()),
            _ => None,
        };
        let mut err = CliError::from(e);
        if let Some(dir) = sandbox_dir {
            let socket = self.socket().unwrap_or_default();
            let g = twg_common::agent::guidance(
                self.agent,
                &dir,
                &socket,
                twg_common::agent::Os::current(),
            );
            err.text = Some(g.to_string());
            err.detail = serde_json::to_value(&g).ok();
        }
        err
    }
}
