//! The keyring backend: `auth.conf` keeps the non-secret fields, the OS keyring keeps the
//! secrets (access, refresh and Bitbucket tokens) as one JSON entry.
//!
//! One entry per config root (service `twg`, user `auth:<sha256(root)[..16]>`) so a save is
//! a single keyring write. Save order is keyring first, then `auth.conf`: a crash between
//! the two leaves the newer secrets in the keyring, and load always takes the secrets from
//! there, so a rotated refresh token is never lost. `auth.conf` is still rewritten on every
//! save, so twgd's change detection by file stamp keeps working.
//!
//! Every keyring call runs on its own thread and is abandoned after [`TIMEOUT`]: a Secret
//! Service that hangs (a locked collection waiting for a prompt nobody sees, a wedged bus)
//! must not hang `twg auth token`. There is never a fallback to plaintext.
//!
//! Over 400 lines only with its unit tests, which stay beside the code they pin.

use super::format::{self, AuthFile, BitbucketSection};
use super::keyring_advice as advice;
use super::{Credentials, Store, StoreError};
use crate::config::BackendKind;
use crate::platform::Platform;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zeroize::Zeroizing;

/// The keyring service name every twg entry uses.
pub const SERVICE: &str = "twg";

/// How long one keyring operation may take before twg gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(5);

const ENTRY_VERSION: u32 = 1;

/// The secrets as stored in the keyring entry. The timing fields ride along so that after a
/// crash between the keyring write and the `auth.conf` write, load can tell the keyring is
/// newer (its `generation` is higher) and use its expiry instead of the file's stale one.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct EntryData {
    version: u32,
    pub(super) generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bitbucket_token: Option<Secret>,
    /// The login's client secret (confidential clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<Secret>,
    /// The `[oauth_app]` secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_client_secret: Option<Secret>,
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    obtained_at: i64,
    #[serde(default)]
    refresh_token_issued_at: i64,
}

impl EntryData {
    fn from_credentials(c: &Credentials, generation: u64) -> Self {
        let o = c.oauth.as_ref();
        Self {
            version: ENTRY_VERSION,
            generation,
            access_token: o.map(|o| o.access_token.clone()),
            refresh_token: o.and_then(|o| o.refresh_token.clone()),
            bitbucket_token: c.bitbucket_token.clone(),
            client_secret: o.and_then(|o| o.client_secret.clone()),
            app_client_secret: c.oauth_app.as_ref().map(|a| a.client_secret.clone()),
            expires_at: o.map_or(0, |o| o.expires_at),
            obtained_at: o.map_or(0, |o| o.obtained_at),
            refresh_token_issued_at: o.map_or(0, |o| o.refresh_token_issued_at),
        }
    }
}

/// The keyring user name for a config root: stable, and distinct per root so two
/// `TWG_CONFIG_DIR`s never share secrets.
pub fn entry_user(root: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    // `absolute` does not touch the file system, so the name is the same before and after
    // the directory exists.
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    format!("auth:{}", &hex::encode(digest)[..16])
}

/// What went wrong talking to the keyring, before it is phrased for the user.
pub(super) enum Failure {
    Unavailable(String),
    Locked(String),
    NoEntry,
    Other(String),
}

impl Failure {
    pub(super) fn from_keyring(e: keyring_core::Error) -> Self {
        match e {
            keyring_core::Error::NoEntry => Failure::NoEntry,
            keyring_core::Error::NoStorageAccess(d) => Failure::Locked(d.to_string()),
            other => Failure::Other(other.to_string()),
        }
    }
}

/// Phrases a failure for the user, always with the next step.
fn user_error(store: &Store, op: &str, f: Failure) -> StoreError {
    let cfg = crate::paths::config_file(store.root());
    let switch = format!(
        "or set `[credentials] backend = \"file\"` in {}",
        cfg.display()
    );
    StoreError::Keyring(match f {
        Failure::Unavailable(d) => format!(
            "cannot {op}: {}, {switch}",
            advice::unavailable(Platform::CURRENT, &d)
        ),
        Failure::Locked(d) => format!(
            "cannot {op}: {}, {switch}",
            advice::locked(Platform::CURRENT, &d)
        ),
        Failure::NoEntry => format!(
            "cannot {op}: {} says the secrets are in the OS keyring, but it holds no twg entry ({SERVICE}/{}); run `twg login`",
            store.auth_path().display(),
            entry_user(store.root())
        ),
        Failure::Other(d) => format!("cannot {op}: the keyring failed ({d}); retry, {switch}"),
    })
}

#[cfg(target_os = "linux")]
fn open_entry(user: &str, label: &str) -> Result<keyring_core::Entry, Failure> {
    use keyring_core::api::CredentialStoreApi;
    // A fresh connection per operation, built from the store directly rather than through
    // keyring-core's process-wide default store: twgd lives for days, and a Secret Service
    // that restarts in between would leave a cached connection pointing at a dead session.
    let store = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mods = std::collections::HashMap::from([("label", label)]);
    store
        .build(SERVICE, user, Some(&mods))
        .map_err(Failure::from_keyring)
}

/// macOS: the login Keychain. Its store accepts no `label` modifier.
#[cfg(target_os = "macos")]
fn open_entry(user: &str, _label: &str) -> Result<keyring_core::Entry, Failure> {
    use keyring_core::api::CredentialStoreApi;
    let store = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    store
        .build(SERVICE, user, None)
        .map_err(Failure::from_keyring)
}

/// Windows: the Credential Manager. Its store accepts no `label` modifier.
#[cfg(windows)]
pub(super) fn open_entry(user: &str, _label: &str) -> Result<keyring_core::Entry, Failure> {
    use keyring_core::api::CredentialStoreApi;
    let store = windows_native_keyring_store::store::Store::new()
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    store
        .build(SERVICE, user, None)
        .map_err(Failure::from_keyring)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn open_entry(_user: &str, _label: &str) -> Result<keyring_core::Entry, Failure> {
    Err(Failure::Unavailable(format!(
        "the keyring backend is unsupported on {} in this build",
        std::env::consts::OS
    )))
}

/// Opens the twg entry, or (Windows) one of its chunk entries beside it.
pub(super) struct Opener {
    pub(super) user: String,
    label: String,
}

impl Opener {
    pub(super) fn main(&self) -> Result<keyring_core::Entry, Failure> {
        open_entry(&self.user, &self.label)
    }

    /// Chunk `n` of `slot` (Windows, see [`super::chunked`]).
    #[cfg(windows)]
    pub(super) fn chunk(&self, slot: &str, n: usize) -> Result<keyring_core::Entry, Failure> {
        open_entry(
            &super::chunked::chunk_user(&self.user, slot, n),
            &self.label,
        )
    }
}

/// Runs `op` (with the twg entry, or more) on a helper thread, giving up after [`TIMEOUT`].
fn bounded_with<T: Send + 'static>(
    store: &Store,
    what: &str,
    op: impl FnOnce(&Opener) -> Result<T, Failure> + Send + 'static,
) -> Result<T, StoreError> {
    let opener = Opener {
        user: entry_user(store.root()),
        label: format!("twg credentials ({})", store.root().display()),
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("twg-keyring".into())
        .spawn(move || {
            let _ = tx.send(op(&opener));
        });
    if let Err(e) = spawned {
        return Err(user_error(store, what, Failure::Other(e.to_string())));
    }
    match rx.recv_timeout(TIMEOUT) {
        Ok(result) => result.map_err(|f| user_error(store, what, f)),
        // The thread is left behind: there is no way to cancel a blocking D-Bus call, and
        // the answer, if it ever comes, is simply dropped.
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(user_error(
            store,
            what,
            Failure::Unavailable(advice::timed_out(Platform::CURRENT, TIMEOUT.as_secs())),
        )),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(user_error(
            store,
            what,
            Failure::Other("the keyring helper thread failed".into()),
        )),
    }
}

pub(super) fn read_entry(store: &Store, what: &str) -> Result<Option<EntryData>, StoreError> {
    let raw = bounded_with(store, what, read_raw)?;
    let Some(raw) = raw else { return Ok(None) };
    // serde_json's messages can quote the offending value; report only where it broke.
    serde_json::from_str(&raw).map(Some).map_err(|e| {
        StoreError::Keyring(format!(
            "the twg keyring entry ({SERVICE}/{}) is not valid twg data (line {}, column {}); remove it ({}) and run `twg login`",
            entry_user(store.root()),
            e.line(),
            e.column(),
            advice::remove_entry(Platform::CURRENT, SERVICE, &entry_user(store.root())),
        ))
    })
}

/// Fills the secrets of a keyring-backed `auth.conf` from the keyring.
pub(super) fn fill(store: &Store, file: AuthFile) -> Result<Credentials, StoreError> {
    let file_generation = file.generation;
    let mut creds = file.into_credentials();
    let data = read_entry(store, "read the credentials from the keyring")?
        .ok_or_else(|| user_error(store, "read the credentials", Failure::NoEntry))?;
    if data.generation < file_generation {
        tracing::warn!(
            keyring = data.generation,
            file = file_generation,
            "the keyring entry is older than auth.conf; using it anyway"
        );
    }
    if let Some(o) = creds.oauth.as_mut() {
        o.access_token = data.access_token.unwrap_or_default();
        o.refresh_token = data.refresh_token;
        o.client_secret = data.client_secret;
        if data.generation > file_generation {
            // A crash after the keyring write: the keyring's timing matches its tokens.
            o.expires_at = data.expires_at;
            o.obtained_at = data.obtained_at;
            o.refresh_token_issued_at = data.refresh_token_issued_at;
        }
    }
    creds.bitbucket_token = data.bitbucket_token;
    if let Some(app) = creds.oauth_app.as_mut() {
        app.client_secret = data.app_client_secret.unwrap_or_default();
    }
    Ok(creds)
}

/// Saves: secrets to the keyring first, then `auth.conf` without them.
pub(super) fn save(
    store: &Store,
    credentials: &Credentials,
    generation: u64,
) -> Result<(), StoreError> {
    let json = Zeroizing::new(
        serde_json::to_string(&EntryData::from_credentials(credentials, generation))
            .expect("keyring entry always serialises"),
    );
    bounded_with(
        store,
        "save the credentials to the keyring",
        move |opener| write_raw(opener, &json),
    )?;
    let mut file = AuthFile::from_credentials(credentials, generation);
    file.backend = BackendKind::Keyring;
    if let Some(o) = file.oauth.as_mut() {
        o.access_token = None;
        o.refresh_token = None;
        o.client_secret = None;
    }
    if let Some(a) = file.oauth_app.as_mut() {
        a.client_secret = None;
    }
    file.bitbucket = credentials
        .bitbucket_token
        .as_ref()
        .map(|_| BitbucketSection {
            token: None,
            in_keyring: true,
        });
    crate::atomic::write_atomic(&store.auth_path(), format::render(&file).as_bytes())?;
    Ok(())
}

/// Removes the twg entry; a missing entry is fine.
pub(super) fn delete(store: &Store) -> Result<(), StoreError> {
    bounded_with(store, "remove the credentials from the keyring", delete_all)
}

/// Windows keeps the entry in chunks (see [`super::chunked`]).
#[cfg(windows)]
use super::chunked::{delete_all, read_raw, write_raw};

/// The entry's JSON, `None` when there is no entry.
#[cfg(not(windows))]
fn read_raw(opener: &Opener) -> Result<Option<Zeroizing<String>>, Failure> {
    match opener.main()?.get_password() {
        Ok(p) => Ok(Some(Zeroizing::new(p))),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(Failure::from_keyring(e)),
    }
}

#[cfg(not(windows))]
fn write_raw(opener: &Opener, json: &str) -> Result<(), Failure> {
    opener
        .main()?
        .set_password(json)
        .map_err(Failure::from_keyring)
}

#[cfg(not(windows))]
fn delete_all(opener: &Opener) -> Result<(), Failure> {
    match opener.main()?.delete_credential() {
        Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(e) => Err(Failure::from_keyring(e)),
    }
}

/// Proves the keyring answers and is unlocked, by reading the entry (absent is fine).
pub(super) fn probe(store: &Store) -> Result<(), StoreError> {
    read_entry(store, "reach the keyring").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OAuthCredentials;
    use std::path::Path;

    #[test]
    fn entry_user_is_stable_and_per_root() {
        let a = entry_user(Path::new("/home/ada/.config/twg"));
        assert_eq!(a, entry_user(Path::new("/home/ada/.config/twg")));
        assert_ne!(a, entry_user(Path::new("/home/bob/.config/twg")));
        assert!(
            a.starts_with("auth:") && a.len() == "auth:".len() + 16,
            "{a}"
        );
    }

    #[test]
    fn entry_json_round_trips_and_carries_the_generation() {
        let creds = Credentials {
            oauth: Some(OAuthCredentials {
                issuer: "i".into(),
                client_id: "c".into(),
                token_endpoint: "t".into(),
                revocation_endpoint: None,
                scopes: vec![],
                access_token: Secret::new("at"),
                token_type: "Bearer".into(),
                expires_at: 30,
                obtained_at: 10,
                refresh_token: Some(Secret::new("rt")),
                refresh_token_issued_at: 10,
                halted: None,
                client_secret: None,
                client_auth: Default::default(),
                grant: None,
            }),
            bitbucket_token: Some(Secret::new("bb")),
            ..Default::default()
        };
        let json = serde_json::to_string(&EntryData::from_credentials(&creds, 4)).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"generation":4,"access_token":"at","refresh_token":"rt","bitbucket_token":"bb","expires_at":30,"obtained_at":10,"refresh_token_issued_at":10}"#
        );
        let back: EntryData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.generation, 4);
        assert_eq!(back.refresh_token.unwrap().expose(), "rt");
    }

    #[test]
    fn user_errors_say_what_to_do_and_name_no_secret() {
        let store = Store::new("/r/twg", BackendKind::Keyring);
        let e = user_error(
            &store,
            "save",
            Failure::Unavailable("ServiceUnknown".into()),
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&advice::unavailable(Platform::CURRENT, "ServiceUnknown")),
            "{msg}"
        );
        assert!(msg.contains("backend = \"file\""), "{msg}");
        let config = std::path::Path::new("/r/twg").join("config.toml");
        assert!(msg.contains(&config.display().to_string()), "{msg}");
    }
}
