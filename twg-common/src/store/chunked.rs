//! One keyring secret split into numbered chunks under a small header, for stores that
//! cap a secret's size: the Windows Credential Manager holds at most 2560 bytes per
//! credential, and a JWT access token plus a refresh token can exceed that.
//!
//! The header (in the twg entry itself) says which of two chunk slots is current (`a` or
//! `b`), how many chunks it has and the SHA-256 of their concatenation. Chunk entries are
//! named `<entry>:<slot>:<n>`. A save writes the whole payload into the slot the header does
//! *not* name, then rewrites the header, then deletes the other slot's chunks: the header
//! switch is the one write that commits. A crash before it leaves the old header and the
//! old, complete slot; a crash after it leaves the new, complete slot plus stale chunks in
//! the other one, which the next save overwrites or deletes. Two fixed slots (rather than
//! a fresh name per save) mean every chunk name is known, so nothing is ever left behind
//! that only an enumeration of the store could find. A reader never combines chunks of two
//! slots, and the checksum catches anything else that changed them.
//!
//! The format is plain functions (tested on every platform); the Credential Manager reads
//! and writes that use it are the `cfg(windows)` functions below, called by `keyring`.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The Credential Manager's limit for one credential's secret (`CRED_MAX_CREDENTIAL_BLOB_SIZE`).
pub const MAX_CHUNK: usize = 2560;

/// Chunks per slot (40 KB, ten times a large token pair): every name a save or logout may
/// have to delete is one of these.
pub const MAX_CHUNKS: usize = 16;

/// The two slots.
pub const SLOTS: [&str; 2] = ["a", "b"];

const MAGIC: &str = "twg-chunked/1";

/// What the twg entry holds: which slot to read, and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub slot: &'static str,
    pub count: usize,
    pub sha256: String,
}

impl Header {
    pub fn render(&self) -> String {
        format!("{MAGIC} {} {} {}", self.slot, self.count, self.sha256)
    }

    /// `None` when `raw` is not a header (an entry from before chunking: the JSON itself).
    pub fn parse(raw: &[u8]) -> Option<Header> {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.split(' ');
        if parts.next()? != MAGIC {
            return None;
        }
        let slot = parts.next()?;
        let slot = SLOTS.into_iter().find(|s| *s == slot)?;
        let count: usize = parts.next()?.parse().ok()?;
        let sha256 = parts.next()?.to_string();
        let valid = (1..=MAX_CHUNKS).contains(&count)
            && sha256.len() == 64
            && sha256.bytes().all(|b| b.is_ascii_hexdigit())
            && parts.next().is_none();
        valid.then_some(Header {
            slot,
            count,
            sha256,
        })
    }
}

/// The user name of chunk `n` of `slot`, beside the twg entry `main`.
pub fn chunk_user(main: &str, slot: &str, n: usize) -> String {
    format!("{main}:{slot}:{n}")
}

/// The slot a save writes into: the one `current` does not name.
pub fn next_slot(current: Option<&Header>) -> &'static str {
    match current {
        Some(h) if h.slot == SLOTS[0] => SLOTS[1],
        _ => SLOTS[0],
    }
}

/// Splits `data` for `slot`; `Err` when it needs more than [`MAX_CHUNKS`].
pub fn split<'a>(data: &'a [u8], slot: &'static str) -> Result<(Header, Vec<&'a [u8]>), String> {
    let chunks: Vec<&[u8]> = data.chunks(MAX_CHUNK).collect();
    if chunks.len() > MAX_CHUNKS {
        return Err(format!(
            "the credentials take {} bytes, more than the {} the keyring entry holds",
            data.len(),
            MAX_CHUNK * MAX_CHUNKS
        ));
    }
    let header = Header {
        slot,
        count: chunks.len(),
        sha256: hex::encode(Sha256::digest(data)),
    };
    Ok((header, chunks))
}

/// Joins the chunks read for `header`, checking their number and checksum.
pub fn join(
    header: &Header,
    chunks: Vec<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    if chunks.len() != header.count {
        return Err(format!(
            "the header names {} chunks, {} were read",
            header.count,
            chunks.len()
        ));
    }
    let mut data = Zeroizing::new(Vec::with_capacity(chunks.iter().map(|c| c.len()).sum()));
    for c in &chunks {
        data.extend_from_slice(c);
    }
    if hex::encode(Sha256::digest(&*data)) != header.sha256 {
        return Err("the chunks do not match the header's checksum".into());
    }
    Ok(data)
}

// The Windows Credential Manager I/O of the format above.
#[cfg(windows)]
use super::keyring::{Failure, Opener};

/// Windows: the JSON in chunks under a header (see [`super::chunked`]); an entry written
/// before chunking (the JSON itself, as a UTF-16 password) still reads.
#[cfg(windows)]
pub(super) fn read_raw(opener: &Opener) -> Result<Option<Zeroizing<String>>, Failure> {
    let main = opener.main()?;
    let Some(header) = read_header(&main)? else {
        return match main.get_password() {
            Ok(p) => Ok(Some(Zeroizing::new(p))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(Failure::from_keyring(e)),
        };
    };
    let mut chunks = Vec::with_capacity(header.count);
    for n in 0..header.count {
        let chunk = opener.chunk(header.slot, n)?.get_secret().map_err(|e| {
            Failure::Other(format!(
                "chunk {n} of {} of the twg entry is unreadable ({e}); run `twg login`",
                header.count
            ))
        })?;
        chunks.push(Zeroizing::new(chunk));
    }
    let data = join(&header, chunks).map_err(|e| {
        Failure::Other(format!(
            "the twg entry is inconsistent: {e}; run `twg login`"
        ))
    })?;
    String::from_utf8(data.to_vec())
        .map(|s| Some(Zeroizing::new(s)))
        .map_err(|_| Failure::Other("the twg entry is not UTF-8; run `twg login`".into()))
}

/// The header in the twg entry; `None` when there is no entry or it predates chunking.
#[cfg(windows)]
fn read_header(main: &keyring_core::Entry) -> Result<Option<Header>, Failure> {
    match main.get_secret() {
        Ok(raw) => Ok(Header::parse(&Zeroizing::new(raw))),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(Failure::from_keyring(e)),
    }
}

/// The new chunks into the slot the header does not name, then the header (the commit),
/// then the other slot's chunks go.
#[cfg(windows)]
pub(super) fn write_raw(opener: &Opener, json: &str) -> Result<(), Failure> {
    let main = opener.main()?;
    let current = read_header(&main)?;
    let slot = next_slot(current.as_ref());
    let (header, chunks) = split(json.as_bytes(), slot).map_err(Failure::Other)?;
    for (n, chunk) in chunks.iter().enumerate() {
        opener
            .chunk(slot, n)?
            .set_secret(chunk)
            .map_err(Failure::from_keyring)?;
    }
    main.set_secret(header.render().as_bytes())
        .map_err(Failure::from_keyring)?;
    // Committed. What follows only tidies: chunks of an earlier, longer payload in this
    // slot, and the whole previous slot.
    let stale = (chunks.len()..MAX_CHUNKS)
        .map(|n| (slot, n))
        .chain((0..MAX_CHUNKS).map(|n| (next_slot(Some(&header)), n)));
    if let Err(Failure::Other(e) | Failure::Locked(e) | Failure::Unavailable(e)) =
        remove_chunks(opener, stale)
    {
        tracing::warn!(error = %e, "cannot remove stale keyring chunks; the next save retries");
    }
    Ok(())
}

/// Logout: the header first (so nothing readable remains even if the rest fails), then
/// every chunk of both slots.
#[cfg(windows)]
pub(super) fn delete_all(opener: &Opener) -> Result<(), Failure> {
    match opener.main()?.delete_credential() {
        Ok(()) | Err(keyring_core::Error::NoEntry) => {}
        Err(e) => return Err(Failure::from_keyring(e)),
    }
    remove_chunks(
        opener,
        SLOTS
            .into_iter()
            .flat_map(|slot| (0..MAX_CHUNKS).map(move |n| (slot, n))),
    )
}

#[cfg(windows)]
fn remove_chunks(
    opener: &Opener,
    chunks: impl Iterator<Item = (&'static str, usize)>,
) -> Result<(), Failure> {
    for (slot, n) in chunks {
        match opener.chunk(slot, n)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => {}
            Err(e) => return Err(Failure::from_keyring(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_secret_splits_into_bounded_chunks_and_joins_back() {
        let data: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let (header, chunks) = split(&data, next_slot(None)).unwrap();
        assert_eq!((header.slot, header.count), ("a", 3));
        assert!(chunks.iter().all(|c| c.len() <= MAX_CHUNK));
        let back = Header::parse(header.render().as_bytes()).unwrap();
        assert_eq!(back, header);
        let read: Vec<_> = chunks.iter().map(|c| Zeroizing::new(c.to_vec())).collect();
        assert_eq!(&*join(&back, read).unwrap(), &data);
        assert_eq!(chunk_user("auth:ab", header.slot, 2), "auth:ab:a:2");
        assert_eq!(
            next_slot(Some(&header)),
            "b",
            "a save never writes the current slot"
        );
        assert!(split(&vec![0u8; MAX_CHUNK * MAX_CHUNKS + 1], "a").is_err());
    }

    #[test]
    fn a_wrong_chunk_or_count_is_refused() {
        let data = vec![7u8; 3000];
        let (header, chunks) = split(&data, "b").unwrap();
        let mut read: Vec<_> = chunks.iter().map(|c| Zeroizing::new(c.to_vec())).collect();
        read[1][0] ^= 1;
        assert!(join(&header, read).unwrap_err().contains("checksum"));
        let one = vec![Zeroizing::new(chunks[0].to_vec())];
        assert!(join(&header, one).unwrap_err().contains("2 chunks"));
    }

    #[test]
    fn json_and_garbage_are_not_headers() {
        assert_eq!(Header::parse(br#"{"version":1}"#), None);
        let sha = "0".repeat(64);
        assert_eq!(
            Header::parse(format!("twg-chunked/1 c 1 {sha}").as_bytes()),
            None
        );
        assert_eq!(
            Header::parse(format!("twg-chunked/1 a 0 {sha}").as_bytes()),
            None
        );
        assert!(Header::parse(format!("twg-chunked/1 a 1 {sha}").as_bytes()).is_some());
    }

    /// Windows (run under Wine's advapi32 `CredWriteW`): a 4 KB JWT access token plus a
    /// refresh token do not fit one 2560-byte credential; they are split, read back whole,
    /// a second save leaves only its own chunks, and logout removes every chunk.
    #[cfg(windows)]
    #[test]
    fn a_4_kb_token_is_chunked_read_back_and_removed_on_logout() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::new(dir.path().join("twg"), crate::config::BackendKind::Keyring);
        std::fs::create_dir_all(store.root()).unwrap();
        let user = super::super::keyring::entry_user(store.root());
        let chunks = || {
            let mut found = Vec::new();
            for slot in super::SLOTS {
                for n in 0..super::MAX_CHUNKS {
                    let name = super::chunk_user(&user, slot, n);
                    if super::super::keyring::open_entry(&name, "")
                        .ok()
                        .and_then(|e| e.get_secret().ok())
                        .is_some()
                    {
                        found.push(name);
                    }
                }
            }
            found
        };
        let creds = |n: u8| {
            let access: String = (0..4096)
                .map(|i| (b'A' + ((i as u8) % 26 + n) % 26) as char)
                .collect();
            crate::store::Credentials {
                oauth: Some(crate::store::OAuthCredentials {
                    issuer: "i".into(),
                    client_id: "c".into(),
                    token_endpoint: "t".into(),
                    revocation_endpoint: None,
                    scopes: vec![],
                    access_token: crate::secret::Secret::new(format!("eyJ.{access}")),
                    token_type: "Bearer".into(),
                    expires_at: 30,
                    obtained_at: 10,
                    refresh_token: Some(crate::secret::Secret::new(format!(
                        "rt-{n}-{}",
                        "r".repeat(600)
                    ))),
                    refresh_token_issued_at: 10,
                    halted: None,
                    client_secret: None,
                    client_auth: Default::default(),
                    grant: None,
                }),
                ..Default::default()
            }
        };
        for (generation, n) in [(1, 1u8), (2, 2u8)] {
            let saved = creds(n);
            super::super::keyring::save(&store, &saved, generation).unwrap();
            let back = super::super::keyring::read_entry(&store, "read")
                .unwrap()
                .unwrap();
            let o = saved.oauth.as_ref().unwrap();
            assert_eq!(back.generation, generation);
            assert_eq!(back.access_token.unwrap().expose(), o.access_token.expose());
            assert_eq!(
                back.refresh_token.unwrap().expose(),
                o.refresh_token.as_ref().unwrap().expose()
            );
            // 4.7 KB of JSON: two chunks, and the first save's are gone after the second.
            let slot = if generation == 1 { "a" } else { "b" };
            assert_eq!(
                chunks(),
                [0, 1].map(|n| super::chunk_user(&user, slot, n)),
                "save {generation}"
            );
        }
        super::super::keyring::delete(&store).unwrap();
        assert!(
            super::super::keyring::read_entry(&store, "read")
                .unwrap()
                .is_none()
        );
        assert!(chunks().is_empty(), "logout leaves no chunk");
    }
}
