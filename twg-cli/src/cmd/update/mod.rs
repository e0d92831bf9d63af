//! `twg update`: download the newest twg from the release manifest, verify it, install it
//! beside the old version and switch the stable launcher (see `os_service::layout`).
//!
//! Nothing changes until the download is complete and its SHA-256 matches the manifest:
//! the archive goes to a temp file inside `versions/`, is unpacked into a temp directory
//! there, and only then renamed into place. The switch itself is one `rename` of the
//! `current` symlink. The previous version stays for rollback.

use crate::ctx::Ctx;
use crate::os_service::layout::Layout;
use crate::report::CliError;
use std::path::PathBuf;
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::manifest::{self, UpdateSettings, Version};
use twg_common::platform::Platform;

mod advice;
// Only Unix installs a release in place (see install.rs).
#[cfg(unix)]
mod download;
mod install;
pub(crate) mod packaged;

use install::install;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Release channel (default: `[update] channel` in config.toml, else stable).
    #[arg(long, value_parser = ["stable", "beta"])]
    pub channel: Option<String>,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        if let Some(exe) = packaged::running_from_package() {
            return Err(CliError::new(
                ErrorCode::UpdatePackaged,
                format!(
                    "{} is installed by the twg Debian package: update it with apt/dpkg \
                     (e.g. `sudo apt install ./twg_<version>-1_amd64.deb`); `twg update` \
                     changed nothing",
                    exe.display()
                ),
            ));
        }
        let config = ctx.config()?;
        let mut settings = UpdateSettings::from_config(&config)
            .map_err(|e| CliError::new(ErrorCode::UpdateManifest, e.to_string()))?;
        if let Some(c) = self.channel {
            settings.channel = c;
        }
        // Downloads may be slow; the OAuth client's whole-request timeout is too short here.
        let mut download_config = config.clone();
        download_config.timeout = download_config.timeout.max(Duration::from_secs(600));
        let http = twg_common::oauth::http::HttpClient::new(&download_config)
            .map_err(|e| CliError::new(ErrorCode::UpdateSetup, e.to_string()))?;
        let m = manifest::fetch(&http, &settings.manifest_url)
            .await
            .map_err(|e| {
                let code = if e.is_transient() {
                    ErrorCode::UpdateDownload
                } else {
                    ErrorCode::UpdateManifest
                };
                CliError::new(code, e.to_string())
            })?;
        let release = m
            .release(&settings.manifest_url, &settings.channel)
            .map_err(|e| CliError::new(ErrorCode::UpdateManifest, e.to_string()))?
            .clone();
        let layout = Layout::resolve().ok_or_else(|| {
            CliError::new(ErrorCode::UpdateNoHome, "cannot find your home directory; set TWG_INSTALL_DIR to choose where twg installs itself")
        })?;
        let installed = installed_version(&layout);
        if !release.is_newer_than(&installed) {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"updated": false, "installed": installed.to_string(), "latest": release.version, "channel": settings.channel})
                );
            } else {
                println!(
                    "✔ twg is up to date ({installed}; the newest on {} is {})",
                    settings.channel, release.version
                );
            }
            return Ok(());
        }
        let target = manifest::current_target();
        let asset = release.asset_for(target).ok_or_else(|| {
            CliError::new(ErrorCode::UpdateNoBuild,
                format!(
                    "twg {} on channel {} has no build for {target}; nothing was changed. Check again later or build from source",
                    release.version, settings.channel
                ),
            )
        })?;
        let version = release.parsed_version().to_string();
        let report = install(ctx, &layout, &http, asset, &version).await?;
        let restart = restart_daemon(ctx, &layout).await;
        print_report(ctx, &layout, &report, &installed, &restart);
        Ok(())
    }
}

/// The newest of the running binary and the layout's `current`.
fn installed_version(layout: &Layout) -> Version {
    let running = Version::current();
    match layout
        .current_version()
        .and_then(|v| Version::parse(&v).ok())
    {
        Some(v) if v > running => v,
        _ => running,
    }
}

#[derive(Debug)]
pub(super) struct Installed {
    pub(super) version: String,
    pub(super) dir: PathBuf,
    pub(super) previous: Option<String>,
    pub(super) launcher_notes: Vec<String>,
    pub(super) pruned: Vec<String>,
}

/// How twgd was brought onto the new version.
#[derive(Debug)]
enum Restart {
    Service,
    Manual(u32),
    NotRunning,
    Failed(String),
}

async fn restart_daemon(ctx: &Ctx, layout: &Layout) -> Restart {
    if crate::os_service::is_enabled().unwrap_or(false) {
        // Task Scheduler's restart kills twgd; let it save and exit first.
        if cfg!(windows)
            && let Err(e) = crate::daemon_client::stop_and_warn(ctx).await
        {
            return Restart::Failed(e.message);
        }
        return match crate::upkeep_service::reinstall_and_restart(ctx) {
            Ok(()) => Restart::Service,
            Err(e) => Restart::Failed(format!(
                "cannot restart the service ({e}); run `twg upkeep enable` again"
            )),
        };
    }
    match crate::daemon_client::stop_and_warn(ctx).await {
        Ok(true) => {}
        Ok(false) => return Restart::NotRunning,
        Err(e) => return Restart::Failed(e.message),
    }
    // The new twg starts its own twgd (beside it), so the daemon is the new version too.
    let out = twg_common::child_env::scrub(&mut std::process::Command::new(layout.stable("twg")))
        .args(["daemon", "start"])
        .env_remove("TWG_DAEMON_BIN")
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            match crate::daemon_client::wait_until_answering(ctx, Duration::from_secs(5)).await {
                Some(s) => Restart::Manual(s.pid),
                None => {
                    Restart::Failed("the new twgd did not answer; run `twg daemon start`".into())
                }
            }
        }
        Ok(o) => Restart::Failed(format!(
            "the new twgd did not start: {}; run `twg daemon start`",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Restart::Failed(format!(
            "cannot run the new twg: {e}; run `twg daemon start`"
        )),
    }
}

fn print_report(ctx: &Ctx, layout: &Layout, r: &Installed, from: &Version, restart: &Restart) {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d == layout.bin_dir))
        .unwrap_or(false);
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "updated": true, "from": from.to_string(), "to": r.version, "dir": r.dir,
                "current": layout.current_link(), "previous": r.previous, "pruned": r.pruned,
                "daemon": format!("{restart:?}"), "launchers_on_path": on_path,
            })
        );
        return;
    }
    println!("✔ Installed twg {} in {}", r.version, r.dir.display());
    println!(
        "✔ {} now points at versions/{}",
        layout.current_link().display(),
        r.version
    );
    match restart {
        Restart::Service => println!("✔ Restarted the twgd service on the new version"),
        Restart::Manual(pid) => println!("✔ Restarted twgd on the new version (pid {pid})"),
        Restart::NotRunning => {
            println!("  twgd was not running; it starts from the new version next time")
        }
        Restart::Failed(e) => println!("! {e}"),
    }
    if let Some(prev) = &r.previous {
        println!(
            "  Previous version {prev} kept. To roll back: {}",
            advice::rollback(Platform::CURRENT, &layout.root, prev)
        );
    }
    for n in &r.launcher_notes {
        println!("! {n}");
    }
    if !on_path {
        println!(
            "! {} is not on your PATH; add it ({}) to run the installed twg",
            layout.bin_dir.display(),
            advice::add_to_path(Platform::CURRENT, &layout.bin_dir)
        );
    }
}
