//! Socket activation: twgd serves a listening socket passed by a real service manager
//! (`systemd-socket-activate`, and a real `systemd --user` with the units `twg upkeep
//! enable` installs), refuses a passed socket it must not serve, exits on its own when idle
//! only when activated, and never removes a socket it did not bind.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use twg_e2e::{Env, Idp, Proc, UserManager, bin, text, wait_until, wait_within};

fn write_config(env: &Env, text: &str) {
    std::fs::create_dir_all(&env.config_dir).unwrap();
    std::fs::set_permissions(&env.config_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(env.config_dir.join("config.toml"), text).unwrap();
}

/// `systemd-socket-activate` listening on `listen` with `extra` flags, passing this env's
/// variables to the twgd it execs on the first connection (stderr to `<dir>/activated.log`).
fn activate(env: &Env, listen: &Path, extra: &[&str]) -> Proc {
    let dir = listen.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let log = std::fs::File::create(env.dir.path().join("activated.log")).unwrap();
    let mut cmd = env.command("systemd-socket-activate");
    cmd.args(extra).arg("-l").arg(listen);
    for (k, _) in &env.vars {
        cmd.args(["-E", k]);
    }
    cmd.arg(bin("twgd")).stdout(Stdio::null()).stderr(log);
    let proc = Proc {
        child: cmd
            .spawn()
            .expect("systemd-socket-activate (Debian package `systemd`)"),
    };
    wait_until("the activator to listen", Duration::from_secs(10), || {
        listen.exists()
    });
    proc
}

fn activated_log(env: &Env) -> String {
    std::fs::read_to_string(env.dir.path().join("activated.log")).unwrap_or_default()
}

#[test]
fn systemd_socket_activate_serves_twg_auth_token_then_twgd_exits_when_idle() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    write_config(&env, "[daemon]\nidle_exit = \"2s\"\n");
    env.make_stale();
    idp.reset_counters();
    let proc = activate(&env, &env.socket, &[]);

    let out = env.twg(&["--json", "auth", "token"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}\n{}", activated_log(&env));
    let token: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    assert_eq!(
        token["source"], "daemon",
        "served by the activated twgd: {token}"
    );
    assert_eq!(
        idp.refresh_requests(),
        1,
        "the stale token was refreshed once"
    );
    // systemd-socket-activate execs twgd in its own process on the first connection.
    assert_eq!(env.daemon_pid(), Some(proc.pid() as u64));

    // Idle exit: a clean stop, with the socket left to the service manager.
    let out = wait_within(proc, Duration::from_secs(30), "the idle twgd to exit");
    let log = activated_log(&env);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("activated=true"), "{log}");
    assert!(log.contains("no requests for the idle period"), "{log}");
    assert!(
        env.socket.exists(),
        "twgd must not unlink the socket the service manager owns"
    );
}

#[test]
fn an_activated_twgd_stays_up_while_a_client_holds_a_connection_open() {
    use std::io::Write;
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    write_config(&env, "[daemon]\nidle_exit = \"1s\"\n");
    let mut proc = activate(&env, &env.socket, &[]);
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{}", activated_log(&env));

    // A gRPC client between calls (a `Login` stream waiting for the browser looks the same
    // from here): the HTTP/2 preface and an empty SETTINGS frame, then nothing. The
    // connection goes through the quick protocol's sorting of first bytes, and must still
    // count as activity while tonic holds it.
    let mut held = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
    held.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // The log, not the process: an idle exit first waits for open connections to close.
    let log = activated_log(&env);
    assert!(
        !log.contains("no requests for the idle period"),
        "twgd decided to idle out with a connection open: {log}"
    );
    assert!(proc.child.try_wait().unwrap().is_none(), "{log}");
    drop(held);
    let out = wait_within(
        proc,
        Duration::from_secs(30),
        "twgd to idle out after the close",
    );
    assert_eq!(out.status.code(), Some(0), "{}", activated_log(&env));
}

/// `auth.conf` bind-mounted over itself read-only (as in `faults.rs`): a save cannot
/// replace it, so a rotation goes to a recovery record. Unmounted on drop.
struct PinnedFile(std::path::PathBuf);

impl PinnedFile {
    fn pin(path: &Path) -> PinnedFile {
        let mount = |args: &[&str], twice: bool| {
            let mut c = Command::new("mount");
            c.args(args).arg(path);
            if twice {
                c.arg(path);
            }
            assert!(c.status().unwrap().success(), "mount {args:?} (needs root)");
        };
        mount(&["--bind"], true);
        let pinned = PinnedFile(path.to_path_buf());
        mount(&["-o", "remount,bind,ro"], false);
        pinned
    }
}

impl Drop for PinnedFile {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_activated_twgd_stays_up_while_credentials_wait_to_be_saved() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    write_config(&env, "[daemon]\nidle_exit = \"1s\"\n");
    let old = env.refresh_token();
    let mut proc = activate(&env, &env.socket, &[]);
    idp.fault(serde_json::json!({"mode": "delay", "delay_ms": 1500, "count": 1}));
    let sent = idp.token_requests();
    let refresh = env
        .twg_cmd(&["auth", "refresh", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The rotation is at the server; auth.conf becomes unreplaceable before the answer.
    wait_until(
        "the refresh to reach the server",
        Duration::from_secs(20),
        || idp.token_requests() > sent,
    );
    let pin = PinnedFile::pin(&env.auth_path());
    let out = wait_within(
        Proc { child: refresh },
        Duration::from_secs(30),
        "twg auth refresh",
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(env.refresh_token(), old, "auth.conf could not change");
    // Three idle periods with no connection: the rotated tokens are not in auth.conf yet.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        proc.child.try_wait().unwrap().is_none(),
        "twgd idled out with unsaved credentials: {}",
        activated_log(&env)
    );
    // Writable again: twgd's retry saves them, and only then does it exit.
    drop(pin);
    let out = wait_within(proc, Duration::from_secs(30), "twgd to save, then idle out");
    assert_eq!(out.status.code(), Some(0), "{}", activated_log(&env));
    assert_ne!(env.refresh_token(), old, "the rotation reached auth.conf");
}

#[test]
fn a_passed_socket_twgd_must_not_serve_is_refused_with_what_to_fix() {
    let env = Env::new("http://127.0.0.1:9");
    // Another path than the one twg looks for.
    let elsewhere = env.runtime_dir.join("other").join("twgd.sock");
    let proc = activate(&env, &elsewhere, &[]);
    let _ = std::os::unix::net::UnixStream::connect(&elsewhere).unwrap();
    let out = wait_within(proc, Duration::from_secs(20), "twgd on a foreign path");
    let log = activated_log(&env);
    assert_eq!(out.status.code(), Some(78), "{log}");
    assert!(
        log.contains(&elsewhere.display().to_string())
            && log.contains(&env.socket.display().to_string())
            && log.contains("ListenStream="),
        "names both paths and the fix: {log}"
    );
    assert!(
        elsewhere.exists(),
        "the refused socket is left to its owner"
    );

    // A connection instead of a listening socket (Accept=yes).
    let _ = std::fs::remove_file(&env.socket);
    let proc = activate(&env, &env.socket, &["--accept"]);
    let _conn = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
    wait_until(
        "the per-connection twgd to refuse",
        Duration::from_secs(20),
        || activated_log(&env).contains("twgd:"),
    );
    drop(proc);
    let log = activated_log(&env);
    assert!(
        log.contains("is not listening") && log.contains("Accept=yes"),
        "{log}"
    );

    // A datagram socket.
    let _ = std::fs::remove_file(&env.socket);
    let proc = activate(&env, &env.socket, &["--datagram"]);
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    client.send_to(b"x", &env.socket).unwrap();
    let out = wait_within(proc, Duration::from_secs(20), "twgd on a datagram socket");
    let log = activated_log(&env);
    assert_eq!(out.status.code(), Some(78), "{log}");
    assert!(log.contains("not a Unix stream socket"), "{log}");
}

#[test]
fn a_twgd_started_by_hand_never_exits_when_idle() {
    let env = Env::new("http://127.0.0.1:9");
    write_config(&env, "[daemon]\nidle_exit = \"1s\"\n");
    let mut daemon = env.start_daemon();
    let pid = env.daemon_pid().expect("twgd answers");
    // Three idle periods without a request.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "a twgd nothing would restart must not idle out: {}",
        env.daemon_log()
    );
    assert_eq!(env.daemon_pid(), Some(pid));
}

#[test]
fn a_twgd_that_twg_starts_inherits_no_service_manager_hand_over() {
    let mut env = Env::new("http://127.0.0.1:9");
    // As if `twg` ran inside a Type=notify service (the upkeep timer's, say).
    let notify = env.dir.path().join("notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    listener.set_nonblocking(true).unwrap();
    env.set("NOTIFY_SOCKET", &notify.display().to_string());
    env.set("LISTEN_FDS", "1");
    env.set("LISTEN_FDNAMES", "twgd.socket");
    let out = env.twg(&["daemon", "start"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let pid = env.daemon_pid().expect("twgd answers");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for var in ["NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_FDNAMES="] {
        assert!(!environ.contains(var), "{var} reached twgd: {environ}");
    }
    let mut buf = [0u8; 64];
    let got = listener.recv(&mut buf);
    assert!(
        got.is_err(),
        "twgd notified the service manager of the twg that started it: {:?}",
        got.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    );
    assert!(env.twg(&["daemon", "stop"]).status.success());
}

#[test]
fn an_activated_twgd_beside_a_hand_started_one_exits_and_neither_removes_the_managers_socket() {
    let env = Env::new("http://127.0.0.1:9");
    let mut by_hand = env.start_daemon();
    let first = env.daemon_pid().expect("twgd answers");
    // The service manager takes the path over (as systemd does when its socket unit starts
    // while a twgd runs), and activates a second twgd on the next connection.
    std::fs::remove_file(&env.socket).unwrap();
    let proc = activate(&env, &env.socket, &[]);
    let _conn = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
    let out = wait_within(proc, Duration::from_secs(20), "the second twgd");
    let log = activated_log(&env);
    assert_eq!(out.status.code(), Some(10), "{log}");
    assert!(
        log.contains(&format!("pid {first}")) && log.contains("twg daemon stop"),
        "says who runs and what to do: {log}"
    );
    assert!(env.socket.exists(), "the second twgd left the socket alone");

    // The hand-started twgd's exit must not unlink the socket that replaced its own.
    assert_eq!(by_hand.terminate(), Some(0), "{}", env.daemon_log());
    assert!(
        env.socket.exists(),
        "a twgd removes only the socket file it bound: {}",
        env.daemon_log()
    );
    // Without activation, the file a twgd bound itself still goes on exit.
    std::fs::remove_file(&env.socket).unwrap();
    let mut again = env.start_daemon();
    assert_eq!(again.terminate(), Some(0));
    assert!(!env.socket.exists(), "its own socket is removed on exit");
}

fn systemctl(env: &Env, args: &[&str]) -> String {
    let out = env
        .command("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .unwrap();
    text(&out).0.trim().to_string()
}

fn main_pid(env: &Env) -> u64 {
    systemctl(env, &["show", "-p", "MainPID", "--value", "twgd.service"])
        .parse()
        .unwrap()
}

#[test]
fn after_enable_the_first_token_starts_twgd_through_the_socket_under_systemd() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    write_config(&env, "[daemon]\nidle_exit = \"2s\"\n");
    let _manager = UserManager::start(&env);
    let out = env.twg(&["upkeep", "enable"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert_eq!(systemctl(&env, &["is-active", "twgd.socket"]), "active");
    let mode = std::fs::metadata(env.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "systemd made the socket directory private"
    );

    // Enable started twgd; once it has idled out (exit 0: Restart=on-failure leaves it
    // stopped), nothing runs but the socket.
    wait_until(
        "the enabled twgd to exit when idle",
        Duration::from_secs(30),
        || main_pid(&env) == 0,
    );
    assert_eq!(systemctl(&env, &["is-active", "twgd.service"]), "inactive");
    assert_eq!(systemctl(&env, &["is-active", "twgd.socket"]), "active");

    // The first token after that starts twgd through the socket.
    env.make_stale();
    idp.reset_counters();
    let out = env.twg(&["--json", "auth", "token"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let token: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    assert_eq!(token["source"], "daemon", "{token}");
    assert_eq!(idp.refresh_requests(), 1);
    let started = main_pid(&env);
    assert_ne!(started, 0, "systemd started twgd for the connection");
    assert_eq!(env.daemon_pid(), Some(started));
    // Type=notify: "active" only once twgd said READY=1 (else "activating" until a timeout).
    wait_until("twgd's READY=1", Duration::from_secs(10), || {
        systemctl(&env, &["is-active", "twgd.service"]) == "active"
    });

    // `twg daemon stop` stops twgd but not the socket; the next request starts it again.
    let out = env.twg(&["daemon", "stop"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(main_pid(&env), 0);
    assert_eq!(systemctl(&env, &["is-active", "twgd.socket"]), "active");
    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let again = main_pid(&env);
    assert!(again != 0 && again != started, "a new twgd: {again}");

    // Uninstall takes the socket unit with the rest (`upkeep disable` does the same: service.rs).
    let out = env.twg(&["uninstall", "--dry-run"]);
    let (o, _) = text(&out);
    assert!(
        o.contains("twgd.socket") && o.contains("twg-upkeep.timer"),
        "{o}"
    );
    let out = env.twg(&["uninstall", "--yes"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(systemctl(&env, &["is-active", "twgd.socket"]), "inactive");
    let unit_dir = env.home.join(".config/systemd/user");
    assert!(!unit_dir.join("twgd.socket").exists());
    assert!(!unit_dir.join("sockets.target.wants/twgd.socket").exists());
    assert!(!env.socket.exists());
    assert_eq!(env.daemon_pid(), None);
    assert!(
        Command::new("kill")
            .args(["-0", &again.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| !s.success()),
        "the service's twgd is gone"
    );
}
