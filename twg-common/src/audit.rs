//! The token hand-out audit log: one JSON line per `GetToken`, naming the process that got a
//! token and a fingerprint of it, never the token itself.
//!
//! `twgd` appends through [`AuditWriter`]; `twg auth audit` reads with [`read`], straight from
//! the files, so it works while the daemon is down. The log lives in the state directory
//! ([`crate::paths::state_dir`]) as `audit.jsonl`, rotated by size to `audit.jsonl.1`,
//! `audit.jsonl.2`, ... so it never grows without bound.
//!
//! Over 400 lines only with its unit tests, which stay beside the code they pin.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The live file's name inside the state directory.
pub const FILE_NAME: &str = "audit.jsonl";
/// Rotate once the live file would grow past this.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
/// Files kept, the live one included: at most about `KEEP * MAX_BYTES` on disk.
pub const DEFAULT_KEEP: usize = 4;
/// Bumped if a record's meaning changes; readers skip versions they do not know.
pub const RECORD_VERSION: u32 = 1;

/// One token hand-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub v: u32,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: i64,
    /// The same instant as RFC 3339 (UTC, seconds), for people reading the file.
    pub time: String,
    /// The peer process as the kernel reported it (SO_PEERCRED); `None` when unknown.
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    /// The peer's executable (`/proc/<pid>/exe` on Linux), `None` where it cannot be read.
    pub exe: Option<String>,
    /// The coding agent the client detected (`codex`, `claude-code`, ...).
    pub agent: Option<String>,
    pub client_version: Option<String>,
    /// [`crate::secret::Secret::fingerprint`] of the access token handed out (or, for the
    /// API proxy, sent upstream on the caller's behalf).
    pub fingerprint: String,
    /// Which socket served it: `agent` (the restricted agent socket) or `api` (the API
    /// proxy); absent for the main socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// For the API proxy: the request's method, its path without the query string (which
    /// may carry secrets), and the status answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl AuditRecord {
    /// A record stamped with the current time.
    pub fn now(fingerprint: String) -> Self {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Self {
            v: RECORD_VERSION,
            unix_ms,
            time: crate::time::format_unix(unix_ms / 1000),
            pid: None,
            uid: None,
            exe: None,
            agent: None,
            client_version: None,
            fingerprint,
            via: None,
            method: None,
            path: None,
            status: None,
        }
    }
}

/// A failure to write or read the audit log, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot prepare the audit directory: {0}")]
    Dir(#[from] crate::paths::PathError),
    #[error(
        "cannot write the audit log {path}: {source}; check the state directory's permissions and free space"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the audit log {path}: {source}; check that it belongs to you")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Path of the live file (`n == 0`) or of the `n`th rotated one.
pub fn file_path(dir: &Path, n: usize) -> PathBuf {
    if n == 0 {
        dir.join(FILE_NAME)
    } else {
        dir.join(format!("{FILE_NAME}.{n}"))
    }
}

/// Appends records to the live file and rotates it by size. Not thread-safe by design: the
/// daemon gives it to one writer thread, so the hot path never waits on disk.
#[derive(Debug)]
pub struct AuditWriter {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    out: Option<BufWriter<File>>,
    size: u64,
}

impl AuditWriter {
    /// Opens (creating) the log in `dir`, which is made a private 0700 directory.
    pub fn open(dir: &Path, max_bytes: u64, keep: usize) -> Result<Self, AuditError> {
        crate::paths::ensure_private_dir(dir)?;
        let mut w = Self {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            out: None,
            size: 0,
        };
        w.open_live()?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn open_live(&mut self) -> Result<(), AuditError> {
        let path = file_path(&self.dir, 0);
        let wrap = |source| AuditError::Write {
            path: path.clone(),
            source,
        };
        let file = open_append(&path).map_err(wrap)?;
        self.size = file.metadata().map_err(wrap)?.len();
        // A large buffer: under load the writer thread batches many records per write(2).
        self.out = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    /// Buffers one record, rotating first if it would push the live file past the limit.
    /// Call [`flush`](Self::flush) to hand the bytes to the kernel.
    pub fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record).expect("an audit record always serializes");
        line.push(b'\n');
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        if self.out.is_none() {
            self.open_live()?;
        }
        let path = file_path(&self.dir, 0);
        let out = self.out.as_mut().expect("opened above");
        out.write_all(&line)
            .map_err(|source| AuditError::Write { path, source })?;
        self.size += len;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), AuditError> {
        match self.out.as_mut() {
            Some(out) => out.flush().map_err(|source| AuditError::Write {
                path: file_path(&self.dir, 0),
                source,
            }),
            None => Ok(()),
        }
    }

    /// live -> .1 -> .2 ... ; the oldest beyond `keep` is overwritten by the rename.
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.flush()?;
        self.out = None;
        let rename = |from: PathBuf, to: PathBuf| match std::fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AuditError::Write { path: from, source }),
        };
        if self.keep == 1 {
            // Nothing to keep: start the live file over.
            let path = file_path(&self.dir, 0);
            std::fs::remove_file(&path).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(AuditError::Write { path, source: e }),
            })?;
        } else {
            for n in (1..self.keep).rev() {
                rename(file_path(&self.dir, n - 1), file_path(&self.dir, n))?;
            }
        }
        self.size = 0;
        self.open_live()
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Opens for appending; a new file is 0600, and an existing one is tightened to 0600.
#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// Oldest first.
    pub records: Vec<AuditRecord>,
    /// Lines that were not records of a known version (a torn last line after a crash,
    /// or a record from a newer twg).
    pub skipped: usize,
    /// The files read, oldest first.
    pub files: Vec<PathBuf>,
}

/// Reads every record in `dir` with `unix_ms >= since_ms`, oldest first. Missing files are
/// not an error: a daemon that never handed out a token has written nothing.
pub fn read(dir: &Path, since_ms: i64) -> Result<ReadResult, AuditError> {
    let mut result = ReadResult::default();
    // Rotated files first, highest number (oldest) first. Scanning a few past the default
    // keeps records from a daemon that ran with a larger `keep`.
    let rotated = (1..=DEFAULT_KEEP.max(16))
        .rev()
        .map(|n| file_path(dir, n))
        .filter(|p| p.exists());
    for path in rotated.chain(std::iter::once(file_path(dir, 0))) {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(AuditError::Read { path, source }),
        };
        for line in BufReader::new(file).split(b'\n') {
            let line = line.map_err(|source| AuditError::Read {
                path: path.clone(),
                source,
            })?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<AuditRecord>(&line) {
                Ok(r) if r.v == RECORD_VERSION => {
                    if r.unix_ms >= since_ms {
                        result.records.push(r);
                    }
                }
                _ => result.skipped += 1,
            }
        }
        result.files.push(path);
    }
    // Rotation keeps files in order, but a clock step backwards would not; sort to be sure.
    // The sort is stable, so records with the same millisecond keep their file order.
    result.records.sort_by_key(|r| r.unix_ms);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: i64, fp: &str) -> AuditRecord {
        AuditRecord {
            unix_ms: ms,
            pid: Some(42),
            uid: Some(1000),
            exe: Some("/usr/bin/twg".into()),
            agent: Some("codex".into()),
            ..AuditRecord::now(fp.into())
        }
    }

    #[test]
    fn a_record_round_trips_as_one_exact_json_line() {
        let r = AuditRecord {
            v: 1,
            unix_ms: 1_700_000_000_123,
            time: "2023-11-14T22:13:20Z".into(),
            pid: Some(7),
            uid: Some(0),
            exe: Some("/bin/twg".into()),
            agent: None,
            client_version: Some("0.1.0".into()),
            fingerprint: "ba7816bf8f01".into(),
            via: None,
            method: None,
            path: None,
            status: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"unix_ms":1700000000123,"time":"2023-11-14T22:13:20Z","pid":7,"uid":0,"exe":"/bin/twg","agent":null,"client_version":"0.1.0","fingerprint":"ba7816bf8f01"}"#
        );
        assert_eq!(serde_json::from_str::<AuditRecord>(&text).unwrap(), r);
    }

    #[test]
    fn appends_reads_back_in_order_and_filters_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut w = AuditWriter::open(&state, DEFAULT_MAX_BYTES, DEFAULT_KEEP).unwrap();
        for i in 0..5 {
            w.append(&rec(1000 + i, &format!("fp{i}"))).unwrap();
        }
        w.flush().unwrap();
        let all = read(&state, 0).unwrap();
        let fps: Vec<_> = all.records.iter().map(|r| r.fingerprint.as_str()).collect();
        assert_eq!(fps, ["fp0", "fp1", "fp2", "fp3", "fp4"]);
        assert_eq!(all.skipped, 0);
        assert_eq!(read(&state, 1003).unwrap().records.len(), 2);
    }

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = serde_json::to_vec(&rec(1000, "fp000")).unwrap().len() as u64 + 1;
        // Three records per file, three files in all.
        let mut w = AuditWriter::open(dir.path(), line_len * 3, 3).unwrap();
        for i in 0..20 {
            w.append(&rec(1000 + i, &format!("fp{i:03}"))).unwrap();
        }
        w.flush().unwrap();
        assert!(file_path(dir.path(), 2).exists());
        assert!(!file_path(dir.path(), 3).exists());
        for n in 0..3 {
            let len = std::fs::metadata(file_path(dir.path(), n)).unwrap().len();
            assert!(len <= line_len * 3, "file {n} is {len} bytes");
        }
        let got = read(dir.path(), 0).unwrap();
        let fps: Vec<_> = got.records.iter().map(|r| r.fingerprint.clone()).collect();
        // 20 records, 3 per file: the last 2 are live, 6 rotated; the newest 8 survive.
        let want: Vec<_> = (12..20).map(|i| format!("fp{i:03}")).collect();
        assert_eq!(fps, want);
    }

    #[test]
    fn reopening_continues_the_size_count() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = serde_json::to_vec(&rec(1000, "fp000")).unwrap().len() as u64 + 1;
        {
            let mut w = AuditWriter::open(dir.path(), line_len * 2, 2).unwrap();
            w.append(&rec(1000, "fp000")).unwrap();
            w.append(&rec(1001, "fp001")).unwrap();
        }
        let mut w = AuditWriter::open(dir.path(), line_len * 2, 2).unwrap();
        w.append(&rec(1002, "fp002")).unwrap();
        w.flush().unwrap();
        assert_eq!(read(dir.path(), 0).unwrap().records.len(), 3);
        let live = std::fs::read_to_string(file_path(dir.path(), 0)).unwrap();
        assert_eq!(live.lines().count(), 1, "the full file was rotated first");
    }

    #[test]
    fn torn_and_foreign_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_string(&rec(5, "good")).unwrap();
        let newer = good.replace("\"v\":1", "\"v\":2");
        std::fs::write(
            file_path(dir.path(), 0),
            format!("{good}\n{newer}\n\n{{\"v\":1,\"unix_"),
        )
        .unwrap();
        let got = read(dir.path(), 0).unwrap();
        assert_eq!(got.records.len(), 1);
        assert_eq!(got.skipped, 2);
    }

    #[test]
    fn an_empty_or_missing_directory_reads_as_no_records() {
        let dir = tempfile::tempdir().unwrap();
        let got = read(&dir.path().join("never-created"), 0).unwrap();
        assert!(got.records.is_empty() && got.files.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn files_are_0600_in_a_0700_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut w = AuditWriter::open(&state, 100, 2).unwrap();
        w.append(&rec(1, "a")).unwrap();
        w.append(&rec(2, "b")).unwrap();
        w.flush().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&file_path(&state, 0)), 0o600);
        assert_eq!(mode(&file_path(&state, 1)), 0o600);
    }
}
