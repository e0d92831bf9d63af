//! `twg upkeep status`: upkeep as twgd sees it, or the last saved `upkeep.json` when twgd
//! is not running (and the output says so).

use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::report::CliError;
use serde::Serialize;
use twg_common::error_code::ErrorCode;
use twg_common::manifest::PACKAGE_VERSION;
use twg_common::rpc::pb;
use twg_common::time::{format_unix, relative};

#[derive(Debug, clap::Args)]
pub struct Cmd {}

/// Printed when twgd cannot be asked.
pub const NOT_RUNNING_NOTE: &str = "twgd is not running; showing the last saved state";

/// Everything `status` (and `run`) report. Never a secret.
#[derive(Debug, Serialize)]
pub struct Report {
    pub daemon_running: bool,
    /// `daemon` or `saved_state`.
    pub source: &'static str,
    /// Why the daemon's view is missing, when it is.
    pub note: Option<String>,
    /// Whether the upkeep service is installed and enabled; `None` when that is unknown.
    pub service_enabled: Option<bool>,
    pub service_error: Option<String>,
    pub last_run_at: i64,
    pub next_run_at: i64,
    pub last_refresh_at: i64,
    pub last_update_check_at: i64,
    pub current_version: &'static str,
    pub latest_version: Option<String>,
    pub pending_notification: Option<String>,
    pub last_error: Option<String>,
    pub state_path: String,
    /// The full `upkeep.json` content.
    pub state: serde_json::Value,
}

impl Report {
    pub fn new(ctx: &Ctx, s: pb::UpkeepStatus, note: Option<String>) -> Result<Self, CliError> {
        let (service_enabled, service_error) = match crate::os_service::is_enabled() {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(e)),
        };
        let nonempty = |v: String| Some(v).filter(|v| !v.is_empty());
        Ok(Self {
            daemon_running: s.daemon_running,
            source: if s.daemon_running {
                "daemon"
            } else {
                "saved_state"
            },
            note,
            service_enabled,
            service_error,
            last_run_at: s.last_run_at,
            next_run_at: s.next_run_at,
            last_refresh_at: s.last_refresh_at,
            last_update_check_at: s.last_update_check_at,
            current_version: PACKAGE_VERSION,
            latest_version: nonempty(s.latest_version),
            pending_notification: nonempty(s.pending_notification),
            last_error: nonempty(s.last_error),
            state_path: twg_common::paths::upkeep_file(&ctx.root()?)
                .display()
                .to_string(),
            state: serde_json::from_str(&s.state_json).unwrap_or(serde_json::Value::Null),
        })
    }

    pub fn print(&self, ctx: &Ctx) {
        if ctx.json {
            println!(
                "{}",
                serde_json::to_string_pretty(self).expect("serialisable")
            );
            return;
        }
        if let Some(note) = &self.note {
            println!("{note}");
            println!();
        }
        let when = |ts: i64| {
            if ts > 0 {
                format!("{} ({})", format_unix(ts), relative(ts))
            } else {
                "never".into()
            }
        };
        println!(
            "twgd:                {}",
            if self.daemon_running {
                "running (upkeep every 12 minutes)"
            } else {
                "not running"
            }
        );
        match (self.service_enabled, &self.service_error) {
            (Some(true), _) => println!("Upkeep service:      enabled"),
            (Some(false), _) => {
                println!(
                    "Upkeep service:      not enabled (run `twg upkeep enable` to keep twgd running)"
                )
            }
            (None, Some(e)) => println!("Upkeep service:      unknown ({e})"),
            (None, None) => println!("Upkeep service:      unknown"),
        }
        println!("Last upkeep pass:    {}", when(self.last_run_at));
        if self.daemon_running {
            println!("Next upkeep pass:    {}", when(self.next_run_at));
        } else {
            println!("Next upkeep pass:    none scheduled (twgd is not running)");
        }
        println!("Last refresh:        {}", when(self.last_refresh_at));
        println!("Last update check:   {}", when(self.last_update_check_at));
        match &self.latest_version {
            Some(v) => println!(
                "Latest version:      {v} (this is {})",
                self.current_version
            ),
            None => println!(
                "Latest version:      unknown (this is {})",
                self.current_version
            ),
        }
        if let Some(p) = &self.pending_notification {
            println!("Pending:             {p}");
        }
        if let Some(e) = &self.last_error {
            println!("Last error:          {e}");
        }
        println!("State file:          {}", self.state_path);
    }
}

fn not_answered(why: &str) -> String {
    format!("twgd did not answer ({why}); showing the last saved state")
}

/// The saved state, as the wire type, for when twgd cannot answer.
pub fn saved_status(ctx: &Ctx) -> Result<pb::UpkeepStatus, CliError> {
    let state = twg_upkeep::status::read_for_status(&ctx.root()?);
    Ok(twg_upkeep::status::to_proto(&state, false, 0))
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let req = pb::UpkeepStatusRequest {
            client: Some(ctx.client_info()),
        };
        // Read-only: whatever twgd says or fails to say, the saved state can be shown.
        let asked = daemon_client::ask(ctx, |mut c| async move {
            c.get_upkeep_status(daemon_client::quick(req)).await
        })
        .await;
        let (status, note) = match asked {
            Ok(Reply::Answered(r)) => (r, None),
            Ok(Reply::NotRunning(_)) => (saved_status(ctx)?, Some(NOT_RUNNING_NOTE.to_string())),
            Ok(Reply::NotResponding(why)) => (saved_status(ctx)?, Some(not_answered(&why))),
            Err(e) if e.code == ErrorCode::UntrustedSocket => return Err(e),
            Err(e) => (saved_status(ctx)?, Some(not_answered(&e.message))),
        };
        Report::new(ctx, status, note)?.print(ctx);
        Ok(())
    }
}
