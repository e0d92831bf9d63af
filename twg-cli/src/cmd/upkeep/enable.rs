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
    /// Also turn on the auth-injecting API proxy on api.sock (writes `proxy = true` under
    /// `[api]` in config.toml before twgd is restarted).
    #[arg(long, conflicts_with = "print")]
    pub api_proxy: bool,
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
        if self.api_proxy {
            let path = twg_common::paths::config_file(&ctx.root()?);
            crate::config_edit::set(&path, "api", "proxy", toml_edit::value(true))?;
            if !ctx.json {
                println!("✔ API proxy turned on in {}", path.display());
            }
        }
        let summary = enable(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "enabled": true, "service": summary.service, "daemon": summary.daemon, "pid": summary.pid, "api_proxy": self.api_proxy })
            );
        } else {
            println!("✔ Upkeep enabled: {}", summary.service);
            println!(
                "✔ twgd is running (pid {}) from {}",
                summary.pid,
                summary.daemon.display()
            );
            if self.api_proxy {
                let api = twg_common::paths::api_socket_path(&ctx.socket()?);
                println!(
                    "✔ API proxy: curl --unix-socket {} http://twg/<path>",
                    api.display()
                );
            }
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
