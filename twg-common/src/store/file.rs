//! The file backend: everything in `auth.conf`, saved atomically with mode 0600.

use super::format::{self, AuthFile};
use super::{Loaded, Store, StoreError};
use crate::config::BackendKind;

pub(super) fn load(store: &Store) -> Result<Option<Loaded>, StoreError> {
    let path = store.auth_path();
    // Stamp first: if a save lands between stamp and read, the next check reloads again.
    let stamp = super::FileStamp::of(&path);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path, source }),
    };
    let text = String::from_utf8(text).map_err(|_| format::FormatError::Corrupt {
        path: path.clone(),
        detail: "not UTF-8 text".into(),
    })?;
    let file = format::parse(&path, &text)?;
    let generation = file.generation;
    let backend = file.backend;
    let credentials = match backend {
        BackendKind::File => file.into_credentials(),
        BackendKind::Keyring => super_keyring_fill(store, file)?,
    };
    Ok(Some(Loaded {
        credentials,
        generation,
        backend,
        stamp,
    }))
}

fn super_keyring_fill(
    _store: &Store,
    _file: AuthFile,
) -> Result<super::Credentials, StoreError> {
    Err(StoreError::Keyring(
        "this build cannot read keyring-backed credentials yet".into(),
    ))
}

fn next_generation(store: &Store) -> u64 {
    let path = store.auth_path();
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| format::parse(&path, &t).ok())
        .map(|f| f.generation + 1)
        .unwrap_or(1)
}

pub(super) fn save(store: &Store, credentials: &super::Credentials) -> Result<u64, StoreError> {
    crate::paths::ensure_private_dir(store.root())?;
    let generation = next_generation(store);
    let file = AuthFile::from_credentials(credentials, generation);
    crate::atomic::write_atomic(&store.auth_path(), format::render(&file).as_bytes())?;
    Ok(generation)
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
