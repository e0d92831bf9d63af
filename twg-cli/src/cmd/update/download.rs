//! Downloading a release asset: streamed to a temp file beside the versions, capped at its
//! declared size, checked against the manifest's SHA-256.

use crate::ctx::Ctx;
use crate::report::CliError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use twg_common::error_code::ErrorCode;
use twg_common::manifest::Asset;

/// Refuse assets larger than this whatever the manifest says (a release is a few MB).
const MAX_ASSET: u64 = 512 * 1024 * 1024;

/// Streams the asset into a temp file in `dir`, capped at its declared size, and checks
/// its SHA-256. On any error the temp file is deleted and nothing else was touched.
pub(super) async fn download(
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
    let progress = (!ctx.json)
        .then(|| crate::ui::progress_bytes(asset.size, &format!("Downloading twg {version}")))
        .flatten();
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                if let Some(bar) = &progress {
                    bar.abandon();
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
        if let Some(bar) = &progress {
            bar.set_position(got);
        }
    }
    if let Some(bar) = &progress {
        bar.finish();
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
