//! What every command needs: output mode, the detected coding agent, paths, and the way
//! to reach the daemon or, failing that, the shared engine.

use crate::report::CliError;
use std::path::PathBuf;
use twg_common::agent::Agent;
use twg_common::config::Config;
use twg_common::engine::Engine;
use twg_common::error_code::ErrorCode;
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
        self.check_fallback_readable(&self.root()?)?;
        let config = self.config()?;
        let store = self.store(&config);
        Ok(Engine::new(store, config))
    }

    /// The fallback needs to read the config directory. When even that is denied (a sandbox
    /// that hides it, another user's files), twgd was the only way: exit 69, not a
    /// misleading "invalid configuration" or "not logged in". A missing file is fine here;
    /// "not logged in" is reported later with its own code.
    fn check_fallback_readable(&self, root: &std::path::Path) -> Result<(), CliError> {
        use std::io::ErrorKind;
        let probes = [
            (root.to_path_buf(), std::fs::read_dir(root).map(drop)),
            {
                let p = twg_common::paths::config_file(root);
                let r = std::fs::File::open(&p).map(drop);
                (p, r)
            },
            {
                let p = twg_common::paths::auth_file(root);
                let r = std::fs::File::open(&p).map(drop);
                (p, r)
            },
        ];
        for (path, result) in probes {
            if let Err(e) = result
                && e.kind() == ErrorKind::PermissionDenied
            {
                let socket = self.socket().unwrap_or_default();
                let mut err = CliError::new(
                    ErrorCode::DaemonUnreachable,
                    format!(
                        "twgd is not reachable at {} and this process cannot read {} ({e}), so \
                         twg cannot fall back to refreshing by itself. Nothing was sent to the \
                         server. Start twgd in a normal terminal (`twg daemon start` or `twg \
                         upkeep enable`) and let this process reach its socket, or run twg as \
                         the user who owns {}",
                        socket.display(),
                        path.display(),
                        root.display()
                    ),
                );
                err.detail = Some(serde_json::json!({
                    "config_dir": root.display().to_string(),
                    "unreadable": path.display().to_string(),
                    "socket_path": socket.display().to_string(),
                    "agent": self.agent.map(|a| a.as_str()),
                }));
                return Err(err);
            }
        }
        Ok(())
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
            // Agents get the restricted socket, never the full one.
            let socket = twg_common::paths::agent_socket_path(&self.socket().unwrap_or_default());
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
