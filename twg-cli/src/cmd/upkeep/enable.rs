//! `twg upkeep enable|disable`: install or remove the platform service that keeps twgd
//! alive ([`crate::upkeep_service`] does the work; this prints it).

use crate::ctx::Ctx;
use crate::report::CliError;
use crate::upkeep_service::{disable, enable, rendered, rendered_files, spec};

#[derive(Debug, clap::Args)]
pub struct EnableCmd {
    /// Print the service files that would be installed, and change nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, clap::Args)]
pub struct DisableCmd {}

impl EnableCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if self.print {
            let spec = spec(ctx)?;
            let files = rendered_files(&spec);
            if ctx.json {
                let by_name: serde_json::Map<String, serde_json::Value> = files
                    .into_iter()
                    .map(|(name, text)| (name.to_string(), text.into()))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "daemon": spec.daemon, "service_file": rendered(&spec), "files": by_name })
                );
            } else {
                let several = files.len() > 1;
                for (name, text) in files {
                    if several {
                        println!("# ==> {name} <==");
                    }
                    print!("{text}");
                }
            }
            return Ok(());
        }
        let summary = enable(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "enabled": true, "service": summary.service, "daemon": summary.daemon, "pid": summary.pid })
            );
        } else {
            println!("✔ Upkeep enabled: {}", summary.service);
            println!(
                "✔ twgd is running (pid {}) from {}",
                summary.pid,
                summary.daemon.display()
            );
            if let Some(note) = summary.note {
                println!("! {note}");
            }
        }
        Ok(())
    }
}

impl DisableCmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let report = disable(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "enabled": false, "removed": report.removed, "warning": report.warning })
            );
            return Ok(());
        }
        if report.removed.is_empty() && report.warning.is_none() {
            println!("Upkeep is not enabled; nothing to do.");
            return Ok(());
        }
        for f in &report.removed {
            println!("✔ Removed {}", f.display());
        }
        if let Some(w) = &report.warning {
            println!("! {w}");
        }
        println!("✔ Upkeep disabled; your credentials are kept (`twg logout` removes them).");
        Ok(())
    }
}
