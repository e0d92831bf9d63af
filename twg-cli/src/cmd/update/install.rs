//! Installing a downloaded release into the layout: verify, unpack `twg`, `twg-cli` and
//! `twgd`, run the new build once, switch `current`, re-point the launchers, prune old
//! versions.

use super::Installed;
#[cfg(unix)]
use super::download::download;
use crate::ctx::Ctx;
use crate::os_service::layout::Layout;
#[cfg(unix)]
use crate::os_service::layout::exe;
use crate::report::CliError;
#[cfg(unix)]
use std::path::Path;
use twg_common::error_code::ErrorCode;
use twg_common::manifest::Asset;

#[cfg(not(unix))]
pub(super) async fn install(
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
pub(super) async fn install(
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
    // `--version` goes through the front to the full CLI, so it runs both.
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
#[cfg(unix)]
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

/// Extracts `twg` (the front), `twg-cli` (the full CLI the front hands commands to) and
/// `twgd` (by file name, wherever they sit in the archive) into `dest`, all three required:
/// a front without its full CLI could answer only `auth token`. Only these regular files are
/// written, so a hostile archive cannot place files elsewhere.
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
    let wanted = [exe("twg"), exe("twg-cli"), exe("twgd")];
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
#[cfg(unix)]
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
