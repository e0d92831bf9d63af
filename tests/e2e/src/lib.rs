//! The end-to-end harness: spawns the real dev authorization server, real `twgd` and real
//! `twg` processes with a hermetic environment (temp HOME, XDG dirs, config root, socket),
//! and talks to them over real sockets on 127.0.0.1.
//!
//! Binaries come from the same target directory as the running test (`target/<profile>/`),
//! or from `TWG_E2E_BIN_DIR`.

pub mod http;
pub mod tls;
pub mod web;
pub mod wine;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the built binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TWG_E2E_BIN_DIR") {
        return PathBuf::from(d);
    }
    // target/<profile>/deps/<test-binary>, or target/<profile>/<binary>
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("executable directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target/<profile>").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// A built binary by name (`twg`, `twgd`, `twg-dev-idp`).
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (`cargo build --release --workspace`)",
        p.display()
    );
    p
}

/// Kills the child on drop, so a failing test never leaks processes.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to 10 s; returns the exit status code (None if killed by signal).
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            if Instant::now() > deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `twg-dev-idp`.
#[derive(Debug)]
pub struct Idp {
    pub proc: Proc,
    pub url: String,
}

impl Idp {
    /// Starts the dev server with `--interval 1` plus `args`.
    pub fn start(args: &[&str]) -> Idp {
        let mut proc = Proc {
            child: Command::new(bin("twg-dev-idp"))
                .args(["--interval", "1"])
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn twg-dev-idp"),
        };
        let stdout = proc.child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the URL line");
        let url = line
            .trim()
            .strip_prefix("TWG_DEV_IDP_URL=")
            .unwrap_or_else(|| panic!("unexpected first line from twg-dev-idp: {line:?}"))
            .to_string();
        // Keep draining stdout: a closed pipe would fail the server's next write.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Idp { proc, url }
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        http::json("GET", &format!("{}{path}", self.url), None)
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        http::json("POST", &format!("{}{path}", self.url), Some(&body))
    }

    /// The server's request counters.
    pub fn counters(&self) -> serde_json::Value {
        self.get("/admin/counters")
    }

    /// Number of refresh-token grant requests received.
    pub fn refresh_requests(&self) -> u64 {
        self.counters()["refresh_requests"]
            .as_u64()
            .expect("refresh_requests")
    }

    /// Number of POSTs to the token endpoint of any grant type.
    pub fn token_requests(&self) -> u64 {
        self.counters()["token_requests"]
            .as_u64()
            .expect("token_requests")
    }

    pub fn reset_counters(&self) {
        self.post("/admin/counters/reset", serde_json::json!({}));
    }

    /// Injects a fault (see twg-dev-idp's `/admin/faults`).
    pub fn fault(&self, spec: serde_json::Value) {
        self.post("/admin/faults", spec);
    }

    /// What the server thinks of a refresh token, without spending it.
    pub fn refresh_token_state(&self, token: &str) -> serde_json::Value {
        self.post(
            "/admin/check-refresh-token",
            serde_json::json!({ "token": token }),
        )
    }
}

/// A hermetic user environment: its own HOME, XDG dirs, config root and socket.
#[derive(Debug)]
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub socket: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// An environment pointed at `issuer` with the dev client id.
    pub fn new(issuer: &str) -> Env {
        Self::with_client(issuer, "twg-dev-client", "read:me offline_access")
    }

    pub fn with_client(issuer: &str, client_id: &str, scopes: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("twg-e2e-")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        let config_dir = home.join(".config").join("twg");
        let runtime_dir = dir.path().join("run");
        std::fs::create_dir_all(&home).expect("home");
        let socket = runtime_dir.join("twg").join("twgd.sock");
        let p = |p: &Path| p.display().to_string();
        let vars = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), p(&home)),
            ("XDG_CONFIG_HOME".into(), p(&home.join(".config"))),
            ("XDG_STATE_HOME".into(), p(&home.join(".local/state"))),
            ("XDG_RUNTIME_DIR".into(), p(&runtime_dir)),
            ("TWG_CONFIG_DIR".into(), p(&config_dir)),
            ("TWG_SOCKET".into(), p(&socket)),
            ("TWG_OAUTH_ISSUER".into(), issuer.to_string()),
            ("TWG_OAUTH_CLIENT_ID".into(), client_id.to_string()),
            ("TWG_OAUTH_SCOPES".into(), scopes.to_string()),
            ("TWG_DAEMON_BIN".into(), p(&bin("twgd"))),
            ("RUST_BACKTRACE".into(), "0".into()),
        ];
        Env {
            dir,
            home,
            config_dir,
            runtime_dir,
            socket,
            vars,
        }
    }

    /// Sets or replaces an environment variable for every process started from here.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    pub fn unset(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// A command with a cleared environment plus this env's variables.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    /// `program <args>` run as uid and gid 65534 (`setpriv`), with this env's variables: the
    /// other user of the tests that prove only the owner is served.
    pub fn as_nobody(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
        self.command("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program)
            .args(args)
            .output()
            .expect("setpriv")
    }

    /// A copy of the front `twg` alone in a directory of this env: no `twg-cli` beside it, or
    /// one with `full_cli` as its content that nobody may execute. What such a front answers,
    /// it answered itself (a hand-over fails with "reinstall twg").
    pub fn front_alone(&self, full_cli: Option<&[u8]>) -> PathBuf {
        let dir = self.dir.path().join("front-alone");
        std::fs::create_dir_all(&dir).unwrap();
        let front = dir.join("twg");
        std::fs::copy(bin("twg"), &front).unwrap();
        if let Some(content) = full_cli {
            let p = dir.join("twg-cli");
            std::fs::write(&p, content).unwrap();
            // Not executable by anyone, root included.
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
        }
        front
    }

    /// `twg <args>` as a command.
    pub fn twg_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.command(bin("twg"));
        c.args(args);
        c
    }

    /// Spawns `twg <args>` with `input` written to its stdin (then closed), output piped.
    /// This is how secrets reach twg non-interactively: never through argv.
    pub fn twg_spawn_with_stdin(&self, args: &[&str], input: &[u8]) -> Child {
        use std::io::Write;
        let mut child = self
            .twg_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn twg");
        // twg may refuse the command and exit before reading its input (bad usage): a
        // closed pipe is that answer, not a harness failure.
        match child.stdin.take().expect("stdin piped").write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.expect("write stdin"),
        }
        child
    }

    /// Runs `twg <args>` with `input` on stdin to completion.
    pub fn twg_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.twg_spawn_with_stdin(args, input)
            .wait_with_output()
            .expect("wait for twg")
    }

    /// Runs `twg <args>` to completion.
    pub fn twg(&self, args: &[&str]) -> Output {
        self.twg_cmd(args).output().expect("run twg")
    }

    /// Starts `twgd` in the foreground (stderr to `<dir>/twgd.log`) and waits for its socket.
    pub fn start_daemon(&self) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.daemon_log_path())
            .expect("daemon log");
        let mut cmd = self.command(bin("twgd"));
        cmd.stdout(Stdio::null()).stderr(log);
        // Wrapped at once, so a start-up failure below kills the process instead of leaking it.
        let mut proc = Proc {
            child: cmd.spawn().expect("spawn twgd"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return proc;
            }
            if let Ok(Some(s)) = proc.child.try_wait() {
                panic!("twgd exited at start-up ({s}); log:\n{}", self.daemon_log());
            }
            assert!(
                Instant::now() < deadline,
                "twgd did not bind its socket; log:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The pid of the twgd that answers `twg daemon status`, or `None` when none does.
    pub fn daemon_pid(&self) -> Option<u64> {
        let out = self.twg(&["--json", "daemon", "status"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice::<serde_json::Value>(&out.stdout).ok()?["pid"].as_u64()
    }

    pub fn daemon_log_path(&self) -> PathBuf {
        self.dir.path().join("twgd.log")
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.daemon_log_path()).unwrap_or_default()
    }

    pub fn auth_path(&self) -> PathBuf {
        self.config_dir.join("auth.conf")
    }

    /// Logs in with `twg login --no-browser`, approving through the dev server's admin API.
    pub fn login(&self, idp: &Idp, extra: &[&str]) -> Output {
        let mut args = vec!["login", "--no-browser"];
        args.extend_from_slice(extra);
        let mut proc = Proc {
            child: self
                .twg_cmd(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn twg login"),
        };
        let code = read_user_code(&mut proc.child);
        idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
        let out = wait_within(proc, Duration::from_secs(60), "twg login");
        assert!(
            out.status.success(),
            "twg login failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The stored credentials, parsed with the real store.
    pub fn credentials(&self) -> twg_common::store::Credentials {
        let store =
            twg_common::store::Store::new(&self.config_dir, twg_common::config::BackendKind::File);
        store
            .load()
            .expect("auth.conf parses")
            .expect("auth.conf exists")
            .credentials
    }

    /// The stored refresh token (test-only exposure).
    pub fn refresh_token(&self) -> String {
        self.credentials()
            .oauth
            .and_then(|o| o.refresh_token)
            .map(|t| t.expose().to_string())
            .expect("a refresh token is stored")
    }

    pub fn access_token(&self) -> String {
        self.credentials()
            .oauth
            .map(|o| o.access_token.expose().to_string())
            .expect("an access token is stored")
    }

    /// Rewrites `auth.conf` so the access token looks expired (the refresh token is untouched).
    pub fn make_stale(&self) {
        let path = self.auth_path();
        let text = std::fs::read_to_string(&path).expect("auth.conf");
        let mut doc: toml::Table = text.parse().expect("auth.conf is TOML");
        let now = twg_common::time::now_unix();
        let oauth = doc
            .get_mut("oauth")
            .and_then(|o| o.as_table_mut())
            .expect("[oauth]");
        oauth.insert("expires_at".into(), toml::Value::Integer(now - 10));
        oauth.insert("obtained_at".into(), toml::Value::Integer(now - 3610));
        let generation = doc
            .get("generation")
            .and_then(|g| g.as_integer())
            .unwrap_or(1);
        doc.insert("generation".into(), toml::Value::Integer(generation + 1));
        twg_common::atomic::write_atomic(&path, toml::to_string(&doc).expect("toml").as_bytes())
            .expect("write auth.conf");
    }
}

/// Reads `twg login`'s stderr until the user code appears; keeps draining it afterwards.
/// The reading happens on a thread, so a `twg` that prints nothing fails the test at the
/// deadline instead of blocking it forever.
pub fn read_user_code(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        // Nobody listens any more: keep draining so twg never blocks.
                        let mut sink = Vec::new();
                        let _ = reader.read_to_end(&mut sink);
                        return;
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                if let Some(code) = line.split("one-time code:").nth(1) {
                    return code.trim().to_string();
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no user code within 20 s; twg login printed:\n{seen}")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("twg login ended before printing a code:\n{seen}")
            }
        }
    }
}

/// A real systemd user manager in a private mount namespace (where `/run/systemd/system`
/// exists, so systemd agrees to run), using the environment's runtime and config
/// directories. Dropping it stops the manager with SIGTERM, which stops its services too.
#[derive(Debug)]
pub struct UserManager {
    proc: Proc,
}

impl UserManager {
    pub fn start(env: &Env) -> UserManager {
        std::fs::create_dir_all(&env.runtime_dir).unwrap();
        let child = env
            .command("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec /lib/systemd/systemd --user",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare");
        let mgr = UserManager {
            proc: Proc { child },
        };
        let pid = mgr.proc.pid().to_string();
        wait_until(
            "the systemd user manager to run",
            Duration::from_secs(20),
            || {
                // Inside the namespace: outside it systemctl says "offline" (no
                // /run/systemd/system) although the manager serves every other request.
                let out = env
                    .command("nsenter")
                    .args([
                        "-t",
                        &pid,
                        "-m",
                        "--",
                        "systemctl",
                        "--user",
                        "is-system-running",
                    ])
                    .output()
                    .unwrap();
                let state = String::from_utf8_lossy(&out.stdout);
                state.contains("running") || state.contains("degraded")
            },
        );
        mgr
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        self.proc.terminate();
    }
}

/// Polls `done` until it holds; fails the test with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the process to exit within `limit` (killing it and failing the test
/// otherwise), then collects its output.
pub fn wait_within(mut proc: Proc, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = proc.child.try_wait() {
            return wait_with_output(proc);
        }
        if Instant::now() > deadline {
            proc.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `Child::wait_with_output` for a `Proc`; the process is killed if waiting panics.
pub fn wait_with_output(mut proc: Proc) -> Output {
    let mut stdout = proc.child.stdout.take();
    let mut stderr = proc.child.stderr.take();
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let mut out = Vec::new();
    if let Some(s) = stdout.as_mut() {
        let _ = s.read_to_end(&mut out);
    }
    let stderr = err.join().expect("stderr reader");
    let status = proc.child.wait().expect("wait");
    Output {
        status,
        stdout: out,
        stderr,
    }
}

/// Text of a process's stdout and stderr.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
