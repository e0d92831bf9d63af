//! Fetching the release manifest over HTTP and comparing it with the running version.

use super::{Manifest, ManifestError, Release, UpdateSettings, Version};
use crate::oauth::http::{HttpClient, TransportError, read_capped};

/// Downloads and validates the manifest at `url` (no redirects, body capped at 1 MiB).
pub async fn fetch(http: &HttpClient, url: &str) -> Result<Manifest, ManifestError> {
    let resp = http
        .reqwest()
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| ManifestError::Fetch {
            url: url.to_string(),
            source: TransportError::from_reqwest(e),
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ManifestError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let body = read_capped(resp)
        .await
        .map_err(|source| ManifestError::Fetch {
            url: url.to_string(),
            source,
        })?;
    Manifest::parse(url, &body)
}

/// The result of one check against the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub current: Version,
    pub latest: Release,
    /// True when `latest` is newer than `current`.
    pub update_available: bool,
}

/// Fetches the manifest named by `settings` and compares its channel to the running version.
pub async fn check(
    http: &HttpClient,
    settings: &UpdateSettings,
) -> Result<CheckResult, ManifestError> {
    let manifest = fetch(http, &settings.manifest_url).await?;
    let latest = manifest
        .release(&settings.manifest_url, &settings.channel)?
        .clone();
    let current = Version::current();
    Ok(CheckResult {
        update_available: latest.is_newer_than(&current),
        current,
        latest,
    })
}
