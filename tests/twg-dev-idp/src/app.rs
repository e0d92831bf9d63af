//! The state every handler shares: the IdP's memory, counters and faults behind one mutex that
//! is only ever held for short, synchronous sections (never across an `.await`).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::counters::Counters;
use crate::faults::Faults;
use crate::settings::Settings;
use crate::state::Idp;
use crate::token_log::TokenLog;

#[derive(Debug)]
pub struct Shared {
    pub idp: Idp,
    pub counters: Counters,
    pub faults: Faults,
    pub token_log: TokenLog,
}

#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Mutex<Shared>>,
    issuer: Arc<str>,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn new(settings: Settings, issuer: String, shutdown: watch::Receiver<bool>) -> Self {
        let shared = Shared {
            idp: Idp::new(settings),
            counters: Counters::default(),
            faults: Faults::default(),
            token_log: TokenLog::default(),
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
            issuer: issuer.into(),
            shutdown,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Runs `f` under the lock. A panic elsewhere must not wedge a test server, so a poisoned
    /// lock is simply taken over: every section leaves the state consistent before it can panic.
    pub fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        let mut guard = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Resolves once the server starts shutting down, so hung requests can let go.
    pub async fn shutdown_requested(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone, which also means the server is going away.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }
}
