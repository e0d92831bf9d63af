//! `twg update`: download the newest twg from the release manifest, verify it, install it
//! beside the old version and switch the stable launcher (see `service::layout`).
//!
//! Nothing changes until the download is complete and its SHA-256 matches the manifest:
//! the archive goes to a temp file inside `versions/`, is unpacked into a temp directory
//! there, and only then renamed into place. The switch itself is one `rename` of the
//! `current` symlink. The previous version stays for rollback.

use crate::ctx::Ctx;
use crate::os_service::layout::{Layout, exe};
use crate::report::CliError;
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use twg_common::error_code::ErrorCode;
use twg_common::manifest::{self, Asset, UpdateSettings, Version};

/// Refuse assets larger than this whatever the manifest says (a release is a few MB).
const MAX_ASSET: u64 = 512 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Release channel (default: `[update] channel` in config.toml, else stable).
    #[arg(long, value_parser = ["stable", "beta"])]
    pub channel: Option<String>,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
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
struct Installed {
    version: String,
    dir: PathBuf,
    previous: Option<String>,
    launcher_notes: Vec<String>,
    pruned: Vec<String>,
}

#[cfg(not(unix))]
async fn install(
    _ctx: &Ctx,
    _layout: &Layout,
    _http: &twg_common::oauth::http::HttpClient,
    _asset: &Asset,
    _version: &str,
) -> Result<Installed, CliError> {
    Err(CliError::new(
        ErrorCode::UpdateUnsupported,
        "`twg update` cannot replace itself on this platform yet; download the new release by hand",
    ))
}

#[cfg(unix)]
async fn install(
    ctx: &Ctx,
    layout: &Layout,
    http: &twg_common::oauth::http::HttpClient,
    asset: &Asset,
    version: &str,
) -> Result<Installed, CliError> {
    let versions = layout.versions_dir();
    std::fs::create_dir_all(&versions).map_err(|e| {
        CliError::new(
            ErrorCode::UpdateInstall,
            format!(
                "cannot create {}: {e}; check its permissions",
                versions.display()
            ),
        )
    })?;
    let lock_path = layout.root.join(".update.lock");
    let _lock = twg_common::lock::try_lock(&lock_path)
        .map_err(|e| CliError::new(ErrorCode::UpdateInstall, e.to_string()))?
        .ok_or_else(|| {
            CliError::new(
                ErrorCode::UpdateBusy,
                "another `twg update` is running; wait for it to finish",
            )
        })?;
    remove_stale_temps(&versions);

    let archive = download(ctx, http, asset, &versions, version).await?;
    // Nothing from the archive is unpacked, run or installed before its signature checks out.
    let bytes = std::fs::read(archive.path()).map_err(|e| {
        CliError::new(
            ErrorCode::UpdateDownload,
            format!("cannot read {}: {e}", archive.path().display()),
        )
    })?;
    let target = twg_common::manifest::current_target();
    crate::release_signature::verify(&bytes, asset.minisig.as_deref(), version, target).map_err(
        |e| {
            CliError::new(ErrorCode::UpdateSignature,
                format!(
                    "refusing the download for twg {version} ({target}): {e}. It was not made by twg's release \
                     process or was altered (check `[update] manifest_url` in config.toml and \
                     TWG_UPDATE_MANIFEST_URL); nothing was installed or run"
                ),
            )
        },
    )?;
    drop(bytes);
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&versions)
        .map_err(|e| {
            CliError::new(
                ErrorCode::UpdateInstall,
                format!(
                    "cannot create a staging directory in {}: {e}",
                    versions.display()
                ),
            )
        })?;
    unpack(archive.path(), staging.path())?;
    drop(archive);
    // Refuse a build that cannot run here (wrong architecture, missing libc) before switching.
    let probe = twg_common::child_env::scrub(&mut std::process::Command::new(
        staging.path().join(exe("twg")),
    ))
    .arg("--version")
    .stdin(std::process::Stdio::null())
    .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(CliError::new(
                ErrorCode::UpdateBadBuild,
                format!(
                    "the downloaded twg does not run here ({}); nothing was changed",
                    o.status
                ),
            ));
        }
        Err(e) => {
            return Err(CliError::new(
                ErrorCode::UpdateBadBuild,
                format!("the downloaded twg does not run here: {e}; nothing was changed"),
            ));
        }
    }

    let dir = layout.version_dir(version);
    let previous = layout.current_version();
    if dir.exists() {
        // A leftover of an earlier attempt that never became current.
        std::fs::remove_dir_all(&dir).map_err(|e| {
            CliError::new(
                ErrorCode::UpdateInstall,
                format!("cannot replace {}: {e}; remove it and retry", dir.display()),
            )
        })?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        CliError::new(
            ErrorCode::UpdateInstall,
            format!(
                "cannot move the new version into {}: {e}; nothing was switched",
                dir.display()
            ),
        )
    })?;
    let _ = twg_common::atomic::sync_dir(&versions);
    crate::os_service::layout::replace_symlink(
        &Path::new("versions").join(version),
        &layout.current_link(),
    )
    .map_err(|e| {
        CliError::new(
            ErrorCode::UpdateSwitch,
            format!(
                "installed {} but cannot switch {}: {e}; nothing else changed",
                dir.display(),
                layout.current_link().display()
            ),
        )
    })?;
    let launcher_notes = ensure_launchers(layout);
    let pruned = prune(layout, version, previous.as_deref());
    Ok(Installed {
        version: version.to_string(),
        dir,
        previous,
        launcher_notes,
        pruned,
    })
}

/// Leftovers of an interrupted update (SIGKILL skips temp-file cleanup). Called under the lock.
fn remove_stale_temps(versions: &Path) {
    let Ok(rd) = std::fs::read_dir(versions) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".download-") || name.starts_with(".staging-") {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Streams the asset into a temp file in `dir`, capped at its declared size, and checks
/// its SHA-256. On any error the temp file is deleted and nothing else was touched.
async fn download(
    ctx: &Ctx,
    http: &twg_common::oauth::http::HttpClient,
    asset: &Asset,
    dir: &Path,
    version: &str,
) -> Result<tempfile::NamedTempFile, CliError> {
    let unchanged = "nothing was changed; run `twg update` again";
    if asset.size > MAX_ASSET {
        return Err(CliError::new(
            ErrorCode::UpdateDownload,
            format!(
                "the manifest announces a {} byte download, over the {MAX_ASSET} byte limit; {unchanged} later",
                asset.size
            ),
        ));
    }
    let mut resp = http.reqwest().get(&asset.url).send().await.map_err(|e| {
        CliError::new(
            ErrorCode::UpdateDownload,
            format!(
                "cannot download {}: {}; {unchanged}",
                asset.url,
                twg_common::oauth::http::TransportError::from_reqwest(e)
            ),
        )
    })?;
    if !resp.status().is_success() {
        return Err(CliError::new(
            ErrorCode::UpdateDownload,
            format!(
                "{} answered HTTP {}; {unchanged}",
                asset.url,
                resp.status().as_u16()
            ),
        ));
    }
    if let Some(len) = resp.content_length()
        && len != asset.size
    {
        return Err(CliError::new(
            ErrorCode::UpdateDownload,
            format!(
                "{} is {len} bytes but the manifest says {}; {unchanged}",
                asset.url, asset.size
            ),
        ));
    }
    let mut file = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .map_err(|e| {
            CliError::new(
                ErrorCode::UpdateDownload,
                format!("cannot create a temp file in {}: {e}", dir.display()),
            )
        })?;
    let progress = !ctx.json && std::io::stderr().is_terminal();
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                if progress {
                    eprintln!();
                }
                return Err(CliError::new(
                    ErrorCode::UpdateDownload,
                    format!(
                        "the download was interrupted after {got} of {} bytes ({}); {unchanged}",
                        asset.size,
                        twg_common::oauth::http::TransportError::from_reqwest(e)
                    ),
                ));
            }
        };
        got += chunk.len() as u64;
        if got > asset.size {
            return Err(CliError::new(
                ErrorCode::UpdateDownload,
                format!(
                    "{} sent more than the {} bytes the manifest announces; {unchanged}",
                    asset.url, asset.size
                ),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(|e| {
            CliError::new(
                ErrorCode::UpdateDownload,
                format!(
                    "cannot write {}: {e}; free some disk space, then {unchanged}",
                    file.path().display()
                ),
            )
        })?;
        if progress {
            eprint!(
                "\rDownloading twg {version}: {:>3}% ({} of {} KiB)",
                got * 100 / asset.size.max(1),
                got / 1024,
                asset.size / 1024
            );
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    if got != asset.size {
        return Err(CliError::new(
            ErrorCode::UpdateDownload,
            format!(
                "the download ended after {got} of {} bytes; {unchanged}",
                asset.size
            ),
        ));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != asset.sha256 {
        return Err(CliError::new(
            ErrorCode::UpdateChecksum,
            format!(
                "the download's SHA-256 is {actual} but the manifest says {}; it is corrupt or was tampered with, so {unchanged} and report it if it persists",
                asset.sha256
            ),
        ));
    }
    file.as_file().sync_all().map_err(|e| {
        CliError::new(
            ErrorCode::UpdateDownload,
            format!("cannot sync {}: {e}", file.path().display()),
        )
    })?;
    Ok(file)
}

/// Extracts `twg` and `twgd` (by file name, wherever they sit in the archive) into `dest`.
/// Only these two regular files are written, so a hostile archive cannot place files elsewhere.
#[cfg(unix)]
fn unpack(archive: &Path, dest: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |e: std::io::Error| {
        CliError::new(
            ErrorCode::UpdateArchive,
            format!("the download is not a valid .tar.gz archive ({e}); nothing was changed"),
        )
    };
    let file = std::fs::File::open(archive).map_err(bad)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let wanted = [exe("twg"), exe("twgd")];
    let mut found = Vec::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !wanted.contains(&name) || found.contains(&name) {
            continue;
        }
        let out_path = dest.join(&name);
        let mut out = std::fs::File::create(&out_path).map_err(bad)?;
        std::io::copy(&mut entry, &mut out).map_err(bad)?;
        out.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(bad)?;
        out.sync_all().map_err(bad)?;
        found.push(name);
    }
    for w in &wanted {
        if !found.contains(w) {
            return Err(CliError::new(
                ErrorCode::UpdateArchive,
                format!(
                    "the release archive has no `{w}`; nothing was changed. Report this to the twg maintainers"
                ),
            ));
        }
    }
    twg_common::atomic::sync_dir(dest).map_err(bad)
}

/// Creates or re-points the launchers on PATH; a file that is not our symlink is left alone.
#[cfg(unix)]
fn ensure_launchers(layout: &Layout) -> Vec<String> {
    let mut notes = Vec::new();
    if let Err(e) = std::fs::create_dir_all(&layout.bin_dir) {
        notes.push(format!(
            "cannot create {}: {e}; no launchers were made",
            layout.bin_dir.display()
        ));
        return notes;
    }
    for (link, target) in layout.launchers() {
        match std::fs::symlink_metadata(&link) {
            Ok(m) if !m.file_type().is_symlink() => {
                notes.push(format!(
                    "left {} alone: it is not a twg launcher (remove it to use the installed twg)",
                    link.display()
                ));
            }
            _ => {
                if let Err(e) = crate::os_service::layout::replace_symlink(&target, &link) {
                    notes.push(format!(
                        "cannot create the launcher {}: {e}",
                        link.display()
                    ));
                }
            }
        }
    }
    notes
}

/// Keeps the new and the previous version; older ones go.
fn prune(layout: &Layout, new: &str, previous: Option<&str>) -> Vec<String> {
    let running_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut pruned = Vec::new();
    for v in layout.installed_versions() {
        if v == new || Some(v.as_str()) == previous {
            continue;
        }
        let dir = layout.version_dir(&v);
        if running_dir.as_deref() == Some(dir.as_path()) {
            continue;
        }
        if std::fs::remove_dir_all(&dir).is_ok() {
            pruned.push(v);
        }
    }
    pruned
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
        return match crate::upkeep_service::reinstall_and_restart(ctx) {
            Ok(()) => Restart::Service,
            Err(e) => Restart::Failed(format!(
                "cannot restart the service ({e}); run `twg upkeep enable` again"
            )),
        };
    }
    match crate::daemon_client::stop(ctx).await {
        Ok(Some(_)) => {}
        Ok(None) => return Restart::NotRunning,
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
            "  Previous version {prev} kept. To roll back: ln -s versions/{prev} {root}/current.new && mv -T {root}/current.new {root}/current, then `twg daemon stop`",
            root = layout.root.display()
        );
    }
    for n in &r.launcher_notes {
        println!("! {n}");
    }
    if !on_path {
        println!(
            "! {} is not on your PATH; add it (e.g. `export PATH=\"{}:$PATH\"` in your shell profile) to run the installed twg",
            layout.bin_dir.display(),
            layout.bin_dir.display()
        );
    }
}
