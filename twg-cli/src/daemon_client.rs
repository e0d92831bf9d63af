//! Everything the client does with twgd, in one place: connect with the trust checks, call
//! with a deadline, classify a failure by its gRPC code and `twg-error-code` into "twgd
//! answered" or "unreachable" (not running, or not responding), start it detached and wait
//! for it, and stop it and wait for the process to end.
//!
//! "Unreachable" lets a command fall back to doing the work itself (the credential lock
//! makes that safe); an answer, even an error, is final: twgd already tried. A socket that
//! is not the user's own is refused outright, never silently worked around.

use crate::ctx::Ctx;
use crate::report::{CliError, from_status};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use twg_common::error_code::ErrorCode;
use twg_common::hot_path::{self, CallFailure};
use twg_common::rpc::{self, Client, ConnectError, pb};

/// How long a connect may take before the daemon counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects, or returns why the daemon is unreachable. A socket that another user could
/// have planted is an error, not "unreachable".
pub async fn connect(ctx: &Ctx) -> Result<Result<Client, ConnectError>, CliError> {
    let socket = ctx.socket()?;
    match rpc::connect(&socket, CONNECT_TIMEOUT).await {
        Err(e @ ConnectError::Untrusted { .. }) => {
            Err(CliError::new(ErrorCode::UntrustedSocket, e.to_string()))
        }
        other => Ok(other),
    }
}

/// A request with the short deadline of calls that never wait on the network.
pub fn quick<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(rpc::QUICK_DEADLINE);
    r
}

/// Maps a failed RPC. Every error twgd itself produces carries a `twg-error-code`; one
/// without it came from the transport (the daemon died, hung or was stopped mid-call).
pub fn rpc_error(status: tonic::Status) -> RpcFailure {
    match hot_path::classify(&status) {
        CallFailure::Answered(code, message) => RpcFailure::Answered(CliError::new(code, message)),
        // Here an unknown request is twgd's answer; `ask` treats it as "too old" instead.
        CallFailure::Unimplemented => RpcFailure::Answered(from_status(&status)),
        CallFailure::NotResponding => RpcFailure::Unreachable(format!(
            "twgd{} is not responding ({}); it may be stopped or hung. Restart it with `twg daemon stop` \
                 (or `kill` that pid) and `twg daemon start`",
            daemon_pid()
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default(),
            status.message()
        )),
    }
}

/// The daemon's pid from its pidfile, for messages.
pub fn daemon_pid() -> Option<u32> {
    let socket = twg_common::paths::socket_path().ok()?;
    std::fs::read_to_string(twg_common::paths::pid_file(&socket))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The daemon answered with an error, or vanished.
#[derive(Debug)]
pub enum RpcFailure {
    Answered(CliError),
    Unreachable(String),
}

impl RpcFailure {
    /// For commands that cannot fall back: an unreachable daemon is exit 69.
    pub fn into_error(self) -> CliError {
        match self {
            RpcFailure::Answered(e) => e,
            RpcFailure::Unreachable(why) => CliError::new(ErrorCode::DaemonUnreachable, why),
        }
    }
}

/// What asking twgd came to.
#[derive(Debug)]
pub enum Reply<T> {
    /// twgd answered.
    Answered(T),
    /// twgd is not running (nothing accepts connections on the socket). The caller may do
    /// the work itself; the text says why, for logs and notes.
    NotRunning(String),
    /// twgd accepted the connection but did not answer (stopped, hung, died mid-call), or
    /// is too old for this request. The caller may do the work itself.
    NotResponding(String),
}

/// Connects and makes one call. twgd's own errors come back as `Err` (the caller must not
/// redo what twgd already tried), as does an untrusted socket.
pub async fn ask<T, F, Fut>(ctx: &Ctx, call: F) -> Result<Reply<T>, CliError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let client = match connect(ctx).await? {
        Ok(c) => c,
        Err(e) if e.is_not_responding() => return Ok(Reply::NotResponding(e.to_string())),
        Err(e) => return Ok(Reply::NotRunning(e.to_string())),
    };
    match call(client).await {
        Ok(r) => Ok(Reply::Answered(r.into_inner())),
        Err(status) if matches!(hot_path::classify(&status), CallFailure::Unimplemented) => {
            Ok(Reply::NotResponding(format!(
                "twgd does not know this request ({})",
                status.message()
            )))
        }
        Err(status) => match rpc_error(status) {
            RpcFailure::Answered(e) => Err(e),
            RpcFailure::Unreachable(why) => Ok(Reply::NotResponding(why)),
        },
    }
}

/// twgd's status, `None` when it is not running. A twgd that accepts the connection but
/// does not answer (stopped, hung) is an error, never "not running": a second one would
/// otherwise be started beside it.
pub async fn status(ctx: &Ctx) -> Result<Option<pb::StatusResponse>, CliError> {
    let mut client = match connect(ctx).await? {
        Ok(c) => c,
        Err(e) if e.is_not_responding() => {
            return Err(CliError::new(ErrorCode::DaemonUnreachable, e.to_string()));
        }
        Err(_) => return Ok(None),
    };
    let request = quick(pb::StatusRequest {
        client: Some(ctx.client_info()),
    });
    match client.status(request).await {
        Ok(r) => Ok(Some(r.into_inner())),
        Err(status) => Err(rpc_error(status).into_error()),
    }
}

/// Polls until twgd answers a status request, or gives up after `timeout`.
pub async fn wait_until_answering(ctx: &Ctx, timeout: Duration) -> Option<pb::StatusResponse> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = status(ctx).await {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The twgd binary: `TWG_DAEMON_BIN`, else beside this `twg`, else on PATH.
pub fn daemon_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TWG_DAEMON_BIN") {
        return PathBuf::from(p);
    }
    let name = if cfg!(windows) { "twgd.exe" } else { "twgd" };
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// How long a starting twgd has to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts twgd detached and waits until it answers; `Ok(pid)`.
pub async fn spawn_and_wait(ctx: &Ctx) -> Result<u32, CliError> {
    let state = twg_common::paths::state_dir()?;
    twg_common::paths::ensure_private_dir(&state)?;
    let log_path = state.join("twgd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| {
            CliError::failure(format!(
                "cannot open the daemon log {}: {e}; check the state directory's permissions",
                log_path.display()
            ))
        })?;
    let bin = daemon_binary();
    let mut cmd = std::process::Command::new(&bin);
    // twgd serves stored OAuth credentials only; env-mode secrets must not reach it.
    twg_common::child_env::scrub(&mut cmd);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    #[cfg(unix)]
    {
        // Its own process group: closing the terminal or Ctrl-C does not reach the daemon.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(windows)]
    {
        // The same on Windows: no console window of its own (CREATE_NO_WINDOW), and a new
        // process group, so the terminal's Ctrl-C and closing it do not reach the daemon.
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
    }
    let mut child = cmd.spawn().map_err(|e| {
        CliError::new(
            ErrorCode::DaemonSpawn,
            format!(
                "cannot start {}: {e}; install twgd beside twg or set TWG_DAEMON_BIN",
                bin.display()
            ),
        )
    })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(s) = status(ctx).await.ok().flatten() {
            return Ok(s.pid);
        }
        if let Ok(Some(exit)) = child.try_wait() {
            let code = exit.code().unwrap_or(-1);
            if code == twg_common::exit::ALREADY_RUNNING
                && let Some(s) = status(ctx).await?
            {
                return Ok(s.pid);
            }
            return Err(CliError::new(
                ErrorCode::DaemonSpawn,
                format!(
                    "twgd exited with code {code} at start-up; see {}",
                    log_path.display()
                ),
            ));
        }
        if Instant::now() > deadline {
            return Err(CliError::new(
                ErrorCode::DaemonSpawn,
                format!(
                    "twgd did not answer within {} s; see {}",
                    START_TIMEOUT.as_secs(),
                    log_path.display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A twgd that was asked to stop and has exited.
#[derive(Debug)]
pub struct Stopped {
    pub pid: u32,
    /// Where credentials twgd could not save are kept (empty when all were saved).
    pub unsaved: String,
}

/// How long a stopping twgd has to finish its last save and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks twgd to exit and waits until its process is gone (not just its socket: the pid
/// file lock and the last save end with the process). `None` when it was not running.
pub async fn stop(ctx: &Ctx) -> Result<Option<Stopped>, CliError> {
    let Some(before) = status(ctx).await? else {
        return Ok(None);
    };
    let pid = before.pid;
    let Ok(mut client) = connect(ctx).await? else {
        // It exited between the two calls.
        return Ok(Some(Stopped {
            pid,
            unsaved: String::new(),
        }));
    };
    let answer = client
        .shutdown(pb::ShutdownRequest {
            client: Some(ctx.client_info()),
        })
        .await
        .map_err(|e| rpc_error(e).into_error())?
        .into_inner();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while process_alive(ctx, pid).await {
        if Instant::now() > deadline {
            return Err(CliError::failure(format!(
                "twgd (pid {pid}) accepted the stop request but is still running after {} s; check its \
                 log in the state directory, then end it with `{}`",
                STOP_TIMEOUT.as_secs(),
                kill_command(pid)
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Some(Stopped {
        pid,
        unsaved: answer.unsaved,
    }))
}

/// How to end a process by hand on this platform.
fn kill_command(pid: u32) -> String {
    if cfg!(windows) {
        format!("taskkill /PID {pid} /F")
    } else {
        format!("kill {pid}")
    }
}

/// [`stop`] for commands that stop twgd on the way to something else (`upkeep enable`,
/// `update`, `uninstall`): where unsaved credentials are kept is printed as a warning, since
/// their own report has no place for it. `true` when twgd was running.
pub async fn stop_and_warn(ctx: &Ctx) -> Result<bool, CliError> {
    let stopped = stop(ctx).await?;
    if let Some(s) = &stopped
        && !s.unsaved.is_empty()
    {
        eprintln!("twg: warning: {}", s.unsaved);
    }
    Ok(stopped.is_some())
}

/// Whether the process `pid` still exists (signal 0: no signal is sent).
#[cfg(unix)]
async fn process_alive(_ctx: &Ctx, pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM means it exists but is not ours; only ESRCH means it is gone.
    if matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    ) {
        return false;
    }
    !is_zombie(pid.as_raw_nonzero().get())
}

/// An exited process its parent has not reaped yet (a test harness, a shell) still answers
/// signal 0; its state in /proc says it is gone.
#[cfg(target_os = "linux")]
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name may contain spaces and parentheses: the state follows the last ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|s| s == "Z" || s == "X")
        })
        .unwrap_or(false)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: i32) -> bool {
    false
}

/// Windows: waits on the process itself (`OpenProcess` + `WaitForSingleObject`): its pipe
/// vanishes before its last save and pidfile do.
#[cfg(windows)]
async fn process_alive(_ctx: &Ctx, pid: u32) -> bool {
    let waited = tokio::task::spawn_blocking(move || {
        twg_common::win::wait_process_exit(pid, Duration::from_millis(200))
    })
    .await;
    // A process we may not open (another user's, after a pid reuse) is not ours to wait on.
    matches!(waited, Ok(Ok(false)))
}
