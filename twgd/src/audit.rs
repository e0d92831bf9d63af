//! The token hand-out audit log: who got a token, never the token itself.
//!
//! `GetToken` is the hot path (thousands per second), so [`record`] only gathers what must
//! be read while the caller is still connected (its executable) and queues the record on a
//! bounded channel. One writer thread collects what arrives within a couple of milliseconds,
//! appends it with a buffered writer and flushes, so a record reaches the file within a few
//! milliseconds and a busy daemon writes in batches. Audit I/O never fails or blocks a
//! `GetToken`: a full queue drops the record and a write error is logged, each once.

use crate::peer::Peer;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use twg_common::audit::{AuditRecord, AuditWriter, DEFAULT_KEEP, DEFAULT_MAX_BYTES};
use twg_common::rpc::pb::ClientInfo;
use twg_common::secret::Secret;

/// Records waiting for the writer. At 20k/s this is a fifth of a second of slack.
const QUEUE: usize = 4096;
/// After waking for a record, the writer lets others queue up for this long, so a busy
/// daemon pays one wake-up and one write(2) per batch instead of per request. It is also the
/// most a record waits before it reaches the file.
const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// The most records one batch takes before it is written and flushed, so under a steady
/// stream (which never leaves the batch window idle) records still reach the file.
const MAX_BATCH: usize = 4096;
/// After a failed open, wait this long before trying the directory again.
const REOPEN_AFTER: Duration = Duration::from_secs(10);

enum Msg {
    Record(Box<AuditRecord>),
    /// Flush, then acknowledge (shutdown and tests).
    Flush(mpsc::Sender<()>),
}

/// The queue to the writer thread. Each daemon holds its own (started on first use), so
/// daemons run in one process (tests) never share a log.
#[derive(Debug, Default)]
pub struct Audit(OnceLock<Option<AuditLog>>);

/// The queue to the writer thread, started on first use.
#[derive(Debug)]
struct AuditLog {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
    warned_full: AtomicBool,
}

/// Warn about write failures once per process, not once per request.
static WARNED_IO: AtomicBool = AtomicBool::new(false);

fn log(audit: &Audit) -> Option<&AuditLog> {
    audit.0.get_or_init(|| match twg_common::paths::state_dir() {
        Ok(dir) => start(dir),
        Err(e) => {
            tracing::warn!(error = %e, "token hand-outs will not be audited: no state directory");
            None
        }
    })
    .as_ref()
}

fn start(dir: PathBuf) -> Option<AuditLog> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("twgd-audit".into())
        .spawn(move || writer_loop(&dir, rx));
    match spawned {
        Ok(_) => Some(AuditLog {
            tx,
            dropped: AtomicU64::new(0),
            warned_full: AtomicBool::new(false),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "token hand-outs will not be audited: cannot start the writer thread");
            None
        }
    }
}

/// Records one `GetToken` hand-out on the main socket.
pub fn record(audit: &Audit, peer: Peer, client: Option<&ClientInfo>, token: &Secret) {
    record_via(audit, peer, client, token, Via::default());
}

/// Where a token went besides the peer: the socket that served it and, for the API proxy,
/// the request it was sent with (never the query string, which may carry secrets).
#[derive(Debug, Default)]
pub struct Via {
    pub via: Option<&'static str>,
    /// The agent, when the caller is not `twg` and so sent no [`ClientInfo`].
    pub agent: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
}

/// Records one hand-out (or, for the proxy, one use of the token on the caller's behalf).
pub fn record_via(
    audit: &Audit,
    peer: Peer,
    client: Option<&ClientInfo>,
    token: &Secret,
    via: Via,
) {
    let Some(log) = log(audit) else {
        return;
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let record = AuditRecord {
        pid: peer.pid,
        uid: peer.uid,
        // Read now: the client exits as soon as it has its answer, and then the kernel forgets it.
        exe: peer.pid.and_then(exe_of),
        agent: client.and_then(|c| non_empty(&c.agent)).or(via.agent),
        client_version: client.and_then(|c| non_empty(&c.client_version)),
        via: via.via.map(str::to_owned),
        method: via.method,
        path: via.path,
        status: via.status,
        ..AuditRecord::now(fingerprint(token))
    };
    match log.tx.try_send(Msg::Record(Box::new(record))) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            let n = log.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if !log.warned_full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    dropped = n,
                    "the audit log cannot keep up; dropping records rather than slowing token requests"
                );
            }
        }
        Err(TrySendError::Disconnected(_)) => {
            if !WARNED_IO.swap(true, Ordering::Relaxed) {
                tracing::warn!("the audit writer stopped; token hand-outs are no longer recorded");
            }
        }
    }
}

/// The token's fingerprint. The daemon hands out the same token until it refreshes, so
/// the last one is remembered rather than hashed again for every request.
fn fingerprint(token: &Secret) -> String {
    use std::cell::RefCell;
    // Per thread: the runtime has a couple of workers, and they never contend for it.
    thread_local!(static LAST: RefCell<Option<(Secret, String)>> = const { RefCell::new(None) });
    LAST.with_borrow_mut(|last| match last {
        Some((t, fp)) if t == token => fp.clone(),
        _ => {
            let fp = token.fingerprint();
            *last = Some((token.clone(), fp.clone()));
            fp
        }
    })
}

/// Writes out everything queued so far; waits at most `timeout`. Call on shutdown.
pub fn flush(audit: &Audit, timeout: Duration) {
    let Some(Some(log)) = audit.0.get() else {
        return;
    };
    let (ack_tx, ack_rx) = mpsc::channel();
    // A blocking send: at shutdown nothing else competes, and the queue drains quickly.
    if log.tx.send(Msg::Flush(ack_tx)).is_ok() {
        let _ = ack_rx.recv_timeout(timeout);
    }
}

/// How long a pid's executable is remembered. Reading it (`/proc/<pid>/exe`,
/// `proc_pidpath`) costs a few microseconds, a third of a whole GetToken, and a busy client
/// asks many times a second. The kernel hands out pids in order, so a pid can only name
/// another program after `pid_max` (32768 on Linux, 99999 on macOS by default) new
/// processes: not within this window.
#[cfg(any(target_os = "linux", target_os = "macos"))]
const EXE_TTL: Duration = Duration::from_millis(100);

/// The peer's executable. `None` when the process is gone or not ours to inspect.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn exe_of(pid: i32) -> Option<String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    // Per thread, like the fingerprint: no lock on the hot path.
    thread_local!(static CACHE: RefCell<HashMap<i32, (Option<String>, Instant)>> = RefCell::new(HashMap::new()));
    let now = Instant::now();
    CACHE.with_borrow_mut(|map| {
        if let Some((exe, at)) = map.get(&pid)
            && now.duration_since(*at) < EXE_TTL
        {
            return exe.clone();
        }
        let exe = read_exe(pid).map(|p| p.to_string_lossy().into_owned());
        if map.len() >= 1024 {
            map.retain(|_, (_, at)| now.duration_since(*at) < EXE_TTL);
        }
        map.insert(pid, (exe.clone(), now));
        exe
    })
}

#[cfg(target_os = "linux")]
fn read_exe(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// macOS has no /proc; the peer's pid comes from `LOCAL_PEEREPID` (tokio's peer_cred).
#[cfg(target_os = "macos")]
fn read_exe(pid: i32) -> Option<PathBuf> {
    twg_common::darwin::process_path(pid)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn exe_of(_pid: i32) -> Option<String> {
    None
}

fn writer_loop(dir: &Path, rx: Receiver<Msg>) {
    let mut writer: Option<AuditWriter> = None;
    let mut last_open_attempt: Option<Instant> = None;
    while let Ok(first) = rx.recv() {
        // Sleeping (rather than blocking in recv) also spares senders the wake-up syscall.
        if matches!(first, Msg::Record(_)) {
            std::thread::sleep(BATCH_WINDOW);
        }
        let mut acks = Vec::new();
        let mut next = Some(first);
        let mut batch = 0;
        // Drain what is queued, then flush once: one write(2) per batch under load.
        while batch < MAX_BATCH
            && let Some(msg) = next.take().or_else(|| rx.try_recv().ok())
        {
            batch += 1;
            match msg {
                Msg::Record(r) => {
                    if writer.is_none()
                        && last_open_attempt.is_none_or(|t| t.elapsed() >= REOPEN_AFTER)
                    {
                        last_open_attempt = Some(Instant::now());
                        writer = AuditWriter::open(dir, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
                            .map_err(warn_io)
                            .ok();
                    }
                    if let Some(w) = writer.as_mut()
                        && let Err(e) = w.append(&r)
                    {
                        warn_io(e);
                        // Start over with a fresh file handle on the next record.
                        writer = None;
                    }
                }
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        if let Some(w) = writer.as_mut()
            && let Err(e) = w.flush()
        {
            warn_io(e);
            writer = None;
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

fn warn_io(e: twg_common::audit::AuditError) {
    if !WARNED_IO.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %e, "cannot write the audit log; token requests are still served");
    }
}
