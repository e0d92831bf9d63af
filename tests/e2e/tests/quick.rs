//! The quick protocol (`twg_common::quick`): the front's hot path to a real twgd, attacked
//! and broken from outside. Another uid on either side of the socket, malformed and silent
//! clients, another protocol version, the agent socket's cap, and a twgd too old to speak it.
//! Each test says what it would see if the defence it names were missing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use twg_e2e::{Env, Idp, bin, text, wait_until};

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    env.login(idp, &[]);
    env
}

fn raw(env: &Env, args: &[&str]) -> String {
    let out = env
        .command(bin("twg-raw-client"))
        .args(args)
        .output()
        .unwrap();
    text(&out).0.trim().to_string()
}

/// Without the peer-uid check in twgd's quick path, the request from uid 65534 would be
/// answered with the token.
#[test]
fn twgd_refuses_a_quick_request_from_another_uid_on_both_sockets() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let token = env.access_token();
    // As deployed the 0700 directory keeps other users out; open everything up, so only
    // twgd's own check stands between uid 65534 and the token.
    let sock_dir = env.socket.parent().unwrap();
    for dir in [env.dir.path(), env.runtime_dir.as_path(), sock_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for socket in [env.socket.clone(), env.socket.with_file_name("agent.sock")] {
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
        let s = socket.display().to_string();
        let out = env.as_nobody(bin("twg-raw-client"), &["--quick", &s]);
        let (stdout, stderr) = text(&out);
        assert!(
            stdout.starts_with("QUICK PERMISSION_DENIED") && stdout.contains("uid 65534"),
            "{}: expected twgd's uid refusal: {stdout}{stderr}",
            socket.display()
        );
        assert!(!stdout.contains(&token) && !stderr.contains(&token));
    }
    // The owner is still served over the same protocol.
    let s = env.socket.display().to_string();
    assert_eq!(raw(&env, &["--quick", &s]), format!("QUICK OK {token}"));
}

/// A squatter: a socket at twgd's path, in the user's own 0700 directory and owned by the
/// user, but served by a process of another uid (a socket renamed into place and chowned,
/// which the directory and owner checks cannot see). Without the front's peer-uid check it
/// would receive the request; the full CLI it hands over to refuses the socket by name.
#[test]
fn the_front_sends_nothing_to_a_socket_served_by_another_uid() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let token = env.access_token();
    let sock_dir = env.socket.parent().unwrap();
    std::fs::create_dir_all(sock_dir).unwrap();
    std::fs::set_permissions(sock_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The squatter binds in a directory nobody can write, then the socket is moved into
    // place on the same file system.
    let staging = env.dir.path().join("squat");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o777)).unwrap();
    for dir in [env.dir.path(), env.runtime_dir.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let squat_socket = staging.join("s.sock");
    let log = staging.join("received");
    let script = r#"
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16)
print("READY", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(3)
    got = b""
    try:
        while True:
            b = c.recv(4096)
            if not b: break
            got += b
    except OSError:
        pass
    with open(sys.argv[2], "a") as f:
        f.write("connection %d\n" % len(got))
    c.close()
"#;
    let mut squatter = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(script)
        .arg(&squat_socket)
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 under setpriv");
    wait_until("the squatter listens", Duration::from_secs(10), || {
        squat_socket.exists()
    });
    std::fs::rename(&squat_socket, &env.socket).unwrap();
    std::os::unix::fs::lchown(&env.socket, Some(0), Some(0)).unwrap();

    let out = env.twg(&["auth", "token"]);
    let (stdout, stderr) = text(&out);
    // The squatter logs a connection once its client has closed it.
    wait_until("the squatter logs", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| !l.is_empty())
    });
    let _ = squatter.kill();
    let _ = squatter.wait();
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("refusing") && stderr.contains("uid 65534"),
        "the full CLI names the squatter: {stderr}"
    );
    assert!(!stdout.contains(&token) && !stderr.contains(&token));
    let received = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        received.lines().count() >= 1,
        "the squatter was reached (else this test proves nothing): {received:?}"
    );
    assert!(
        received.lines().all(|l| l == "connection 0"),
        "not one byte may reach a socket served by another uid: {received:?}"
    );
}

/// Each malformed request is closed without a reply (the length bound itself is checked by
/// `twg_common::quick`'s unit tests), and a client that connects and sends nothing holds up
/// nobody: its first bytes are awaited in its own task, not in the accept loop.
#[test]
fn malformed_and_silent_clients_get_nothing_and_twgd_serves_on() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let daemon = env.start_daemon();
    let token = env.access_token();
    let s = env.socket.display().to_string();
    // A silent client, connected for the whole test: were its first bytes awaited in the
    // accept loop, every call below would wait the 10 s twgd gives it.
    let _silent = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(raw(&env, &["--quick", &s]), format!("QUICK OK {token}"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a silent client held up the next one for {:?}",
        started.elapsed()
    );
    let magic = "74776771"; // "twgq"
    for (what, hex) in [
        ("a length over the limit", format!("{magic}ffffffff")),
        (
            "a body that is not protobuf",
            format!("{magic}00000003ffffff"),
        ),
        ("a cut-off length", format!("{magic}0000")),
    ] {
        assert_eq!(
            raw(&env, &["--quick-bytes", &s, &hex]),
            "REPLY 0",
            "{what}: closed without a reply"
        );
    }
    // Neither protocol ("GET / HTTP/1.1"): tonic's HTTP/2 server refuses it, as before.
    let reply = raw(
        &env,
        &["--quick-bytes", &s, "474554202f20485454502f312e310d0a0d0a"],
    );
    // (hyper closes with the request unread, so the client sees the reset.)
    assert!(
        reply == "REPLY 0" || reply.contains("reset by peer"),
        "{reply}"
    );
    assert_eq!(raw(&env, &["--quick", &s]), format!("QUICK OK {token}"));
    // The front alone (a hand-over would fail): it answered through the quick protocol.
    let out = env
        .command(env.front_alone(None))
        .args(["auth", "token"])
        .output()
        .unwrap();
    assert_eq!(text(&out).0.trim(), token, "{:?}", text(&out));
    assert!(
        Path::new(&format!("/proc/{}", daemon.pid())).exists(),
        "twgd is still running"
    );
}

/// The quick path runs the same protocol check as gRPC's GetToken.
#[test]
fn a_quick_request_of_another_protocol_version_is_refused_with_its_code() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let s = env.socket.display().to_string();
    let other = (twg_common::rpc::PROTOCOL_VERSION + 1).to_string();
    let reply = raw(&env, &["--quick", &s, &other]);
    assert!(
        reply.starts_with("QUICK PROTOCOL_MISMATCH") && reply.contains("restart the daemon"),
        "{reply}"
    );
}

/// The agent socket's cap on `--min-valid` holds for the quick protocol too (it goes
/// through the agent service's own `get_token`), and the front prints the refusal exactly
/// as the full CLI does.
#[test]
fn the_agent_sockets_cap_holds_on_the_quick_protocol() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    let agent_socket = env.socket.with_file_name("agent.sock");
    let s = agent_socket.display().to_string();
    let version = twg_common::rpc::PROTOCOL_VERSION.to_string();
    let reply = raw(&env, &["--quick", &s, &version, "100000"]);
    assert!(reply.starts_with("QUICK MIN_VALID_UNMEETABLE"), "{reply}");
    idp.reset_counters();
    let mut agent = Env::new("unused");
    agent.vars = env.vars.clone();
    agent.set("TWG_SOCKET", &s);
    let args = ["auth", "token", "--min-valid", "100000"];
    // The front alone: a hand-over would fail with "reinstall twg", so equal output proves
    // the front printed twgd's quick answer exactly as the full CLI prints it.
    let front_alone = env.front_alone(None);
    let front = agent.command(&front_alone).args(args).output().unwrap();
    let full = agent.command(bin("twg-cli")).args(args).output().unwrap();
    assert_eq!(front.status.code(), full.status.code());
    assert_eq!(text(&front), text(&full));
    assert!(
        text(&front)
            .1
            .contains("agent socket serves tokens valid for at most")
    );
    assert_eq!(
        idp.refresh_requests(),
        0,
        "an agent cannot force a rotation"
    );
    // Within the cap, the agent socket answers the front (alone, so no hand-over).
    let out = agent
        .command(&front_alone)
        .args(["auth", "token"])
        .output()
        .unwrap();
    assert_eq!(text(&out).0.trim(), env.access_token());
}

/// A twgd from before the quick protocol (here a stand-in that speaks gRPC only, of another
/// protocol version) closes the connection; the front hands over, and the user sees the full
/// CLI's answer, exit code included.
#[test]
fn a_twgd_without_the_quick_protocol_is_handed_to_the_full_cli() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    std::fs::create_dir_all(env.socket.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        env.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let mut other = env
        .command(bin("twg-other-daemon"))
        .arg(&env.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the other daemon listens", Duration::from_secs(10), || {
        env.socket.exists()
    });
    let front = env.twg(&["auth", "token"]);
    let full = env
        .command(bin("twg-cli"))
        .args(["auth", "token"])
        .output()
        .unwrap();
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(front.status.code(), Some(76), "{:?}", text(&front));
    assert_eq!(text(&front), text(&full));
}
