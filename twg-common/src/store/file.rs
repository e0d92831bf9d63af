//! The file backend: everything in `auth.conf`, saved atomically with mode 0600. Also the
//! parts of `auth.conf` handling that both backends share (read, generation, removal).

use super::format::{self, AuthFile};
use super::{Loaded, Store, StoreError};
use crate::config::BackendKind;

pub(super) fn load(store: &Store) -> Result<Option<Loaded>, StoreError> {
    let path = store.auth_path();
    // Stamp first: if a save lands between stamp and read, the next check reloads again.
    let stamp = super::FileStamp::of(&path);
    let Some(file) = read(store)? else {
        return Ok(None);
    };
    let generation = file.generation;
    // The file's own backend wins over the configured one: after `backend` is changed in
    // config.toml the secrets are still where the last save put them.
    let backend = file.backend;
    let credentials = match backend {
        BackendKind::File => file.into_credentials(),
        BackendKind::Keyring => super::keyring::fill(store, file)?,
    };
    Ok(Some(Loaded {
        credentials,
        generation,
        backend,
        stamp,
    }))
}

/// The parsed `auth.conf`, or `None` when there is none.
pub(super) fn read(store: &Store) -> Result<Option<AuthFile>, StoreError> {
    let path = store.auth_path();
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path, source }),
    };
    let text = String::from_utf8(text).map_err(|_| format::FormatError::Corrupt {
        path: path.clone(),
        detail: "not UTF-8 text".into(),
    })?;
    Ok(Some(format::parse(&path, &text)?))
}

/// The generation the next save gets, and the backend of the file it replaces.
pub(super) fn next(store: &Store) -> (u64, Option<BackendKind>) {
    match read(store) {
        // TOML integers stop at i64::MAX; past it the file could not be rendered, so start
        // over rather than panic on a hand-edited value.
        Ok(Some(f)) => (
            f.generation
                .checked_add(1)
                .filter(|g| i64::try_from(*g).is_ok())
                .unwrap_or(1),
            Some(f.backend),
        ),
        _ => (1, None),
    }
}

pub(super) fn save(
    store: &Store,
    credentials: &super::Credentials,
    generation: u64,
) -> Result<(), StoreError> {
    let file = AuthFile::from_credentials(credentials, generation);
    crate::atomic::write_atomic(&store.auth_path(), format::render(&file).as_bytes())?;
    Ok(())
}

pub(super) fn delete(store: &Store) -> Result<(), StoreError> {
    let path = store.auth_path();
    match std::fs::remove_file(&path) {
        Ok(()) => {
            crate::atomic::sync_dir(store.root()).ok();
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Remove { path, source }),
    }
}
