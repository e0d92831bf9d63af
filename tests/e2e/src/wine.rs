//! The Windows build under Wine: runs `twg.exe` and `twgd.exe` (built by
//! `scripts/build-windows.sh`) with Debian's `wine64` against the dev authorization server,
//! which runs natively on 127.0.0.1. Each [`WineEnv`] has its own config root and socket path
//! (so its own named pipe) inside one shared Wine prefix: a prefix costs about ten seconds to
//! create, a config root nothing.
//!
//! Binaries come from `TWG_WINE_BIN_DIR`, else `<workspace>/target/wine`; the Wine loader
//! from `TWG_WINE`, else `/usr/lib/wine/wine64` (where Debian's `wine64` package puts it; it
//! is not on PATH without the `wine` package). Missing pieces fail the test with what to run:
//! a Wine test never skips itself.

use crate::{Env, Idp, Proc, read_user_code, wait_within};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Where `scripts/build-windows.sh` put `twg.exe`, `twgd.exe` and `bcryptprimitives.dll`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TWG_WINE_BIN_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wine")
}

/// A Windows executable from [`bin_dir`], checked to exist with its loader shim beside it.
pub fn exe(name: &str) -> PathBuf {
    let dir = bin_dir();
    for file in [name, "bcryptprimitives.dll"] {
        assert!(
            dir.join(file).exists(),
            "{} is missing: run `bash scripts/build-windows.sh` (or point TWG_WINE_BIN_DIR at its output)",
            dir.join(file).display()
        );
    }
    dir.join(name)
}

/// The `wine64` loader.
pub fn loader() -> PathBuf {
    let candidate = std::env::var_os("TWG_WINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/wine/wine64"));
    assert!(
        candidate.exists(),
        "the Wine loader {} is missing: run `bash scripts/install-test-deps.sh` (Debian package \
         wine64), or set TWG_WINE to a wine64 binary",
        candidate.display()
    );
    candidate
}

/// A Unix path as Wine shows it to Windows programs (its `Z:` drive is `/`).
pub fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// The Wine prefix every test shares: `TWG_WINEPREFIX`, else `<workspace>/target/wine-prefix`.
/// A prefix is about 700 MB and ten seconds to create, so it is made once per machine and
/// reused; nothing of twg's lives in it (each test has its own config root). A new one is
/// built beside it and renamed into place, so concurrent test runs never see half a prefix.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let dir = std::env::var_os("TWG_WINEPREFIX")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wine-prefix")
            });
        if dir.join("system.reg").exists() {
            start_session(&dir);
            return dir;
        }
        let parent = dir.parent().expect("prefix parent");
        std::fs::create_dir_all(parent).expect("prefix parent directory");
        let building = tempfile::Builder::new()
            .prefix(".wine-prefix-")
            .tempdir_in(parent)
            .expect("temp prefix");
        let started = Instant::now();
        let out = Command::new(loader())
            .arg("wineboot")
            .arg("--init")
            .env("WINEPREFIX", building.path())
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko download prompts: twg needs neither.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .stdin(Stdio::null())
            .output()
            .expect("run wineboot");
        assert!(
            out.status.success(),
            "wineboot --init failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "wine: prefix {} created in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        // Another run may have won the race: its prefix is as good as ours.
        if std::fs::rename(building.path(), &dir).is_ok() {
            let _ = building.keep();
        }
        start_session(&dir);
        dir
    })
}

/// Starts the prefix's Wine session (wineserver, services.exe, explorer.exe, ...) with no
/// stdio of ours, and keeps it up for this test process.
///
/// Wine starts those long-lived processes from whichever Wine process needs them first, and
/// they inherit its stdout and stderr: when that was a `twg.exe` whose output a test reads to
/// the end, the read never ended (seen: a test hung with wineserver and services.exe holding
/// its pipe). A session started here hands them /dev/null instead. The keeper, `cmd.exe`
/// reading a pipe only this process writes to, keeps the session from shutting down between
/// tests (Wine ends it seconds after its last process) and ends with this process.
fn start_session(prefix: &Path) {
    static KEEPER: OnceLock<Mutex<Child>> = OnceLock::new();
    let wine = |args: &[&str]| {
        let mut c = Command::new(loader());
        c.args(args)
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    KEEPER.get_or_init(|| {
        let keeper = wine(&["cmd.exe"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("start the Wine session's keeper");
        let boot = wine(&["wineboot"])
            .stdin(Stdio::null())
            .status()
            .expect("run wineboot");
        assert!(boot.success(), "wineboot failed: {boot}");
        Mutex::new(keeper)
    });
}

/// One user's twg under Wine: an [`Env`] (its paths are the Unix view, for the test's own
/// reads and writes) whose process variables name the same places as Windows paths.
#[derive(Debug)]
pub struct WineEnv {
    pub env: Env,
}

impl WineEnv {
    pub fn new(issuer: &str) -> WineEnv {
        let prefix = prefix();
        let mut env = Env::new(issuer);
        let socket = env.runtime_dir.join("twg").join("twgd.sock");
        std::fs::create_dir_all(socket.parent().unwrap()).expect("runtime dir");
        let config_dir = env.config_dir.clone();
        for key in [
            "XDG_CONFIG_HOME",
            "XDG_STATE_HOME",
            "XDG_RUNTIME_DIR",
            "TWG_DAEMON_BIN",
        ] {
            env.unset(key);
        }
        env.set("TWG_CONFIG_DIR", &windows_path(&config_dir));
        // Hashed into the pipe name; its directory holds the pidfile.
        env.set("TWG_SOCKET", &windows_path(&socket));
        env.set(
            "TWG_DAEMON_BIN",
            &windows_path(&std::fs::canonicalize(exe("twgd.exe")).unwrap()),
        );
        env.set("WINEPREFIX", &prefix.display().to_string());
        env.set("WINEDEBUG", "-all");
        env.socket = socket;
        WineEnv { env }
    }

    /// `wine64 <exe> <args>` with the cleared environment plus this env's variables.
    pub fn command(&self, exe_name: &str, args: &[&str]) -> Command {
        let mut c = self.env.command(loader());
        c.arg(exe(exe_name)).args(args);
        c
    }

    pub fn twg_cmd(&self, args: &[&str]) -> Command {
        self.command("twg.exe", args)
    }

    /// Runs `twg.exe <args>` to completion; a run past a minute fails the test by name
    /// instead of hanging the whole test binary.
    pub fn twg(&self, args: &[&str]) -> Output {
        let child = self
            .twg_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn twg.exe");
        wait_within(
            Proc { child },
            Duration::from_secs(60),
            &format!("twg.exe {}", args.join(" ")),
        )
    }

    /// The pid (a Windows pid) of the twgd.exe that answers `twg.exe daemon status`.
    pub fn daemon_pid(&self) -> Option<u64> {
        let out = self.twg(&["--json", "daemon", "status"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice::<serde_json::Value>(&out.stdout).ok()?["pid"].as_u64()
    }

    /// Spawns `twgd.exe` in the foreground, stderr to the env's daemon log.
    pub fn spawn_daemon(&self) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.daemon_log_path())
            .expect("daemon log");
        let child = self
            .command("twgd.exe", &[])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn wine64 twgd.exe");
        Proc { child }
    }

    /// Starts `twgd.exe` and waits until `twg.exe daemon status` reaches it over its pipe.
    pub fn start_daemon(&self) -> Proc {
        let mut proc = self.spawn_daemon();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.daemon_pid().is_some() {
                return proc;
            }
            if let Ok(Some(s)) = proc.child.try_wait() {
                panic!(
                    "twgd.exe exited at start-up ({s}); log:\n{}",
                    self.env.daemon_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "twg.exe daemon status did not reach twgd.exe within 30 s; log:\n{}",
                self.env.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `twg.exe login --no-browser`, approved through the dev server's admin API.
    pub fn login(&self, idp: &Idp) -> Output {
        let mut proc = Proc {
            child: self
                .twg_cmd(&["login", "--no-browser"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn twg.exe login"),
        };
        let code = read_user_code(&mut proc.child);
        idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
        let out = wait_within(proc, Duration::from_secs(60), "twg.exe login");
        assert!(
            out.status.success(),
            "twg.exe login failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}
