//! Start-up and shutdown of the real daemon process: paths, pidfile, socket (bound here or
//! passed by the service manager), readiness, signals.

use crate::daemon::Daemon;
use std::path::PathBuf;
use std::sync::Arc;
use twg_common::config::Config;
use twg_common::engine::Engine;
use twg_common::exit;
use twg_common::store::Store;

/// Runs the daemon in the foreground; returns the process exit code.
pub fn main(socket: Option<PathBuf>) -> i32 {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    harden();
    // Before the runtime's threads exist: taking the socket also clears LISTEN_PID and
    // LISTEN_FDS from the environment.
    #[cfg(unix)]
    let passed = match crate::activation::take() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("twgd: {e}");
            return exit::CONFIG;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("twgd: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    #[cfg(unix)]
    let serving = serve(socket, passed);
    #[cfg(windows)]
    let serving = serve(socket);
    // The accept loop runs on a worker, not on this thread: a connection task spawned from
    // a worker starts on that same worker, where one spawned from here wakes a parked
    // worker first (a cross-CPU wake-up for every client). Measured with a C client that
    // connects and calls GetToken 3,000 times: 290-380 µs of twgd CPU per connection before,
    // 160-200 µs after (measured before the quick protocol, which now also sorts each
    // connection in a task of its own).
    runtime.block_on(async {
        match tokio::spawn(serving).await {
            Ok(code) => code,
            // A panic stays a panic (exit 101, its message on stderr), as before.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => exit::FAILURE,
        }
    })
}

async fn serve(
    socket: Option<PathBuf>,
    #[cfg(unix)] passed: Option<crate::activation::Passed>,
) -> i32 {
    let fail = |msg: String, code: i32| {
        eprintln!("twgd: {msg}");
        code
    };
    let root = match twg_common::paths::config_root() {
        Ok(r) => r,
        Err(e) => return fail(e.to_string(), exit::CONFIG),
    };
    let config = match Config::load(&root) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), exit::CONFIG),
    };
    let socket = match socket
        .map(Ok)
        .unwrap_or_else(twg_common::paths::socket_path)
    {
        Ok(s) => s,
        Err(e) => return fail(e.to_string(), exit::FAILURE),
    };
    #[cfg(unix)]
    let activated = passed.is_some();
    #[cfg(windows)]
    let activated = false;
    // Checked before the pidfile: a unit naming another path is a configuration error
    // whichever twgd runs.
    #[cfg(unix)]
    let passed = match passed.map(|p| p.into_listener(&socket)).transpose() {
        Ok(p) => p,
        Err(e) => return fail(e.to_string(), exit::CONFIG),
    };
    if let Err(e) = twg_common::paths::ensure_private_dir(twg_common::atomic::parent_dir(&socket)) {
        return fail(e.to_string(), exit::FAILURE);
    }
    let pid = match crate::pidfile::PidFile::claim(&twg_common::paths::pid_file(&socket)) {
        Ok(p) => p,
        // The socket stays as it is: under activation it is the service manager's, and
        // otherwise the running twgd's.
        Err(e @ crate::pidfile::PidError::AlreadyRunning { .. }) if activated => {
            return fail(
                format!(
                    "{e}. The service manager started this twgd for its socket {}; stop the other one \
                     (`twg daemon stop`, or end that pid), and the next request starts twgd through the socket",
                    socket.display()
                ),
                exit::ALREADY_RUNNING,
            );
        }
        Err(e @ crate::pidfile::PidError::AlreadyRunning { .. }) => {
            return fail(e.to_string(), exit::ALREADY_RUNNING);
        }
        Err(e) => return fail(e.to_string(), exit::FAILURE),
    };
    #[cfg(unix)]
    let extra_sockets = match crate::extra_sockets::bind(&socket, &config) {
        Ok(bound) => bound,
        Err(e) => return fail(e.to_string(), exit::FAILURE),
    };
    #[cfg(unix)]
    let (listener, bound) = match passed {
        Some(std_listener) => match std_listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::UnixListener::from_std(std_listener))
        {
            Ok(l) => (l, None),
            Err(e) => {
                return fail(
                    format!(
                        "cannot serve the socket the service manager passed ({e}); run `twg upkeep enable` again"
                    ),
                    exit::FAILURE,
                );
            }
        },
        None => match crate::listen::bind(&socket) {
            Ok(l) => (l, crate::listen::identity(&socket)),
            Err(e @ crate::listen::ListenError::InUse(_)) => {
                return fail(e.to_string(), exit::ALREADY_RUNNING);
            }
            Err(e) => return fail(e.to_string(), exit::FAILURE),
        },
    };
    // Before "listening" is logged, and under the pidfile: a name someone else owns stops
    // twgd here instead of leaving clients to talk to them.
    #[cfg(windows)]
    let pipe_name = match twg_common::rpc::pipe_name(&socket) {
        Ok(n) => n,
        Err(e) => {
            return fail(
                format!("cannot name the daemon's pipe from your user SID: {e}"),
                exit::FAILURE,
            );
        }
    };
    #[cfg(windows)]
    let listener = match crate::pipe::bind(&pipe_name) {
        Ok(l) => l,
        Err(e @ crate::pipe::BindError::Taken { .. }) => {
            return fail(e.to_string(), exit::ALREADY_RUNNING);
        }
        Err(e) => return fail(e.to_string(), exit::FAILURE),
    };
    remove_stray_temp_files(&root);
    #[cfg(unix)]
    let idle_exit = config.idle_exit.filter(|_| activated);
    let store = Store::new(&root, config.backend);
    let daemon = Arc::new(Daemon::new(Engine::new(store, config), socket.clone()));
    match daemon.reload() {
        Ok(Some(_)) => tracing::info!(config = %root.display(), "credentials loaded"),
        Ok(None) => {
            tracing::info!(config = %root.display(), "not logged in yet; waiting for `twg login`")
        }
        Err(e) => tracing::error!(error = %e, "credentials unreadable; serving errors until fixed"),
    }
    tracing::info!(socket = %socket.display(), pid = std::process::id(), version = env!("CARGO_PKG_VERSION"), activated, "twgd listening");
    #[cfg(unix)]
    let extras = match extra_sockets.serve(&daemon) {
        Ok(extras) => extras,
        Err(e) => {
            crate::listen::remove_own_socket(&socket, bound);
            return fail(e.to_string(), exit::FAILURE);
        }
    };
    #[cfg(unix)]
    crate::activation::notify_ready();
    #[cfg(unix)]
    let opts = crate::server::ServeOptions {
        idle_exit,
        notify: true,
    };
    #[cfg(unix)]
    let result = crate::server::run_with(listener, daemon.clone(), shutdown_signal(), opts).await;
    #[cfg(windows)]
    let result = crate::server::run_pipe(listener, daemon.clone(), shutdown_signal()).await;
    #[cfg(unix)]
    extras.stop().await;
    crate::audit::flush(&daemon.audit, std::time::Duration::from_secs(2));
    // Only the file this twgd bound: a socket the service manager owns, or one it put in
    // our place meanwhile, keeps queuing connections for the next twgd.
    #[cfg(unix)]
    crate::listen::remove_own_socket(&socket, bound);
    #[cfg(windows)]
    crate::listen::remove_socket(&socket);
    drop(pid);
    match result {
        Ok(()) => {
            tracing::info!("twgd stopped");
            exit::OK
        }
        Err(e) => fail(format!("server error: {e}"), exit::FAILURE),
    }
}

/// Windows: Task Scheduler starts a console program with a new console window of its own.
/// twgd gives it up at once (it flashes, then closes) when it is the only process on it, so
/// never a console a user started twgd from. Without a console no Ctrl-C ever arrives: the
/// task's twgd is stopped through its Shutdown RPC (`twg daemon stop`, `twg upkeep
/// disable`), which saves before exiting. A GUI-subsystem twgd would have no window at all,
/// but would also lose its stderr and Ctrl-C when run by hand.
pub fn detach_console() {
    #[cfg(windows)]
    if let Err(e) = twg_common::win::free_own_console() {
        eprintln!("twgd: warning: cannot close the console window: {e}");
    }
}

/// Keeps the tokens in this process's memory out of core dumps and away from same-user
/// debuggers (`ptrace`, `/proc/<pid>/mem`), as ssh-agent does.
fn harden() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!("twgd: warning: cannot make the process non-dumpable: {e}");
    }
    #[cfg(unix)]
    {
        let none = rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Core, none) {
            eprintln!("twgd: warning: cannot disable core dumps: {e}");
        }
    }
}

/// Removes temp files an interrupted save left in the config root (they may hold tokens).
/// Only under the credential lock, so a save in progress in another process is left alone.
fn remove_stray_temp_files(root: &std::path::Path) {
    let lock = twg_common::paths::auth_lock_file(root);
    let Ok(Some(_guard)) = twg_common::lock::try_lock(&lock) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".twg-tmp-") || name.starts_with(".twg-preflight-") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a temp file left by an interrupted save")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a stray temp file")
                }
            }
        }
    }
}

/// Resolves on Ctrl-C, for a twgd run by hand in a console. The Task Scheduler's twgd has
/// no console (`--no-console`) and `schtasks /End` kills without any signal: it is stopped
/// through its Shutdown call (`twg daemon stop`, `twg upkeep disable`).
#[cfg(windows)]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("Ctrl-C received");
}

/// Resolves on SIGTERM (service managers) or SIGINT (Ctrl-C).
#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
