//! The upkeep service: generated systemd units pass `systemd-analyze verify`, and on a
//! machine without a systemd user instance `twg upkeep enable` fails honestly, leaving
//! nothing installed and a hand-started daemon running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use twg_e2e::{Env, UserManager, bin, text};

/// Runs `systemd-analyze --user verify` on `unit` and every unit file beside it (twgd.service
/// needs its socket); returns (success, all output).
fn verify(unit: &Path, runtime_dir: &Path) -> (bool, String) {
    let dir = unit.parent().unwrap();
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != unit)
        .collect();
    others.sort();
    let out = Command::new("systemd-analyze")
        .args(["--user", "--man=no", "verify"])
        .arg(unit)
        .args(&others)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .output()
        .expect("systemd-analyze is installed (Debian package `systemd`)");
    let (o, e) = text(&out);
    (out.status.success(), format!("{o}{e}"))
}

/// The units `twg upkeep enable` would install in `env`, saved in `<dir>/<sub>/`; returns
/// the path and text of `twgd.service`.
fn generated_unit(env: &Env, sub: &str) -> (PathBuf, String) {
    let out = env.twg(&["--json", "upkeep", "enable", "--print"]);
    let (o, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let printed: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    let files = printed["files"].as_object().unwrap();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names.len(),
        4,
        "service, socket, upkeep service and timer: {names:?}"
    );
    let dir = env.dir.path().join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text.as_str().unwrap()).unwrap();
    }
    let unit = files["twgd.service"].as_str().unwrap().to_string();
    assert_eq!(printed["service_file"].as_str(), Some(unit.as_str()));
    (dir.join("twgd.service"), unit)
}

fn runtime(env: &Env) -> PathBuf {
    std::fs::create_dir_all(&env.runtime_dir).unwrap();
    env.runtime_dir.clone()
}

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    // 1. twgd found through TWG_DAEMON_BIN (a build outside the install layout).
    let env = Env::new("http://127.0.0.1:9");
    let (path, unit) = generated_unit(&env, "plain");
    assert!(
        unit.contains(&format!("ExecStart=\"{}\"", bin("twgd").display())),
        "{unit}"
    );
    assert!(
        unit.contains(&format!(
            "Environment=\"TWG_SOCKET={}\"",
            env.socket.display()
        )),
        "{unit}"
    );
    let (ok, output) = verify(&path, &runtime(&env));
    assert!(ok && output.trim().is_empty(), "verify: {output}\n{unit}");
    let socket = std::fs::read_to_string(path.with_file_name("twgd.socket")).unwrap();
    assert!(
        socket.contains(&format!("\nListenStream={}\n", env.socket.display())),
        "the socket unit listens where twg looks: {socket}"
    );
    let upkeep = std::fs::read_to_string(path.with_file_name("twg-upkeep.service")).unwrap();
    assert!(
        upkeep.contains(&format!(
            "ExecStart=\"{}\" upkeep run\n",
            bin("twg").display()
        )),
        "{upkeep}"
    );

    // 2. The install layout: the unit names the stable launcher, not a version.
    let mut env = Env::new("http://127.0.0.1:9");
    env.unset("TWG_DAEMON_BIN");
    let install = env.home.join(".local/share/twg");
    std::fs::create_dir_all(install.join("versions/1.2.3")).unwrap();
    std::os::unix::fs::symlink(bin("twgd"), install.join("versions/1.2.3/twgd")).unwrap();
    std::os::unix::fs::symlink(bin("twg"), install.join("versions/1.2.3/twg")).unwrap();
    std::os::unix::fs::symlink("versions/1.2.3", install.join("current")).unwrap();
    let (path, unit) = generated_unit(&env, "layout");
    assert!(
        unit.contains(&format!("ExecStart=\"{}/current/twgd\"", install.display())),
        "{unit}"
    );
    let upkeep = std::fs::read_to_string(path.with_file_name("twg-upkeep.service")).unwrap();
    assert!(
        upkeep.contains(&format!(
            "ExecStart=\"{}/current/twg\" upkeep run",
            install.display()
        )),
        "the timer runs the stable launcher too: {upkeep}"
    );
    let (ok, output) = verify(&path, &runtime(&env));
    assert!(ok && output.trim().is_empty(), "verify: {output}\n{unit}");

    // 3. A path systemd would misread unless escaped (space, specifier, variable).
    let mut env = Env::new("http://127.0.0.1:9");
    let odd = env.dir.path().join("odd dir 100% $HOME");
    std::fs::create_dir_all(&odd).unwrap();
    std::os::unix::fs::symlink(bin("twgd"), odd.join("twgd")).unwrap();
    env.set("TWG_DAEMON_BIN", &odd.join("twgd").display().to_string());
    env.set("TWG_SOCKET", &odd.join("twgd.sock").display().to_string());
    let (path, unit) = generated_unit(&env, "odd");
    let (ok, output) = verify(&path, &runtime(&env));
    assert!(ok && output.trim().is_empty(), "verify: {output}\n{unit}");
    // And verify does catch a bad path, so the checks above mean something.
    std::fs::remove_file(odd.join("twgd")).unwrap();
    let (ok, output) = verify(&path, &runtime(&env));
    assert!(!ok, "a missing ExecStart must fail verification: {output}");
    assert!(
        output.contains("odd dir 100% $HOME/twgd"),
        "systemd read the unescaped path: {output}"
    );
}

#[test]
fn the_packaged_unit_files_verify() {
    let env = Env::new("http://127.0.0.1:9");
    let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/systemd");
    let dir = env.dir.path().join("static");
    std::fs::create_dir_all(&dir).unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&packaged).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(!text.contains("{{"), "{name} is a static unit: {text}");
        // The package installs /usr/bin/{twg,twgd}; this machine has the built ones.
        let here = text
            .replace("/usr/bin/twgd", &bin("twgd").display().to_string())
            .replace("/usr/bin/twg ", &format!("{} ", bin("twg").display()));
        std::fs::write(dir.join(&name), here).unwrap();
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "twg-upkeep.service",
            "twg-upkeep.timer",
            "twgd.service",
            "twgd.socket"
        ]
    );
    let service = std::fs::read_to_string(dir.join("twgd.service")).unwrap();
    assert!(service.contains("Type=notify") && service.contains("Requires=twgd.socket"));
    let (ok, output) = verify(&dir.join("twgd.service"), &runtime(&env));
    assert!(ok && output.trim().is_empty(), "verify: {output}");
}

#[test]
fn enable_without_a_user_manager_fails_with_the_real_error_and_leaves_nothing() {
    let env = Env::new("http://127.0.0.1:9");
    std::fs::create_dir_all(&env.runtime_dir).unwrap();
    // What systemctl itself says here (no user instance, no user bus).
    let probe = env
        .command("systemctl")
        .args(["--user", "daemon-reload"])
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "this test needs a machine without a systemd user instance"
    );
    let real_error = text(&probe).1.trim().to_string();
    assert!(!real_error.is_empty());

    // A daemon started by hand keeps running through the failed attempt.
    let daemon = env.start_daemon();
    let out = env.twg(&["upkeep", "enable"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(!o.contains('✔'), "no success claimed: {o}");
    assert!(
        e.contains(&real_error),
        "the real systemctl error `{real_error}` is reported:\n{e}"
    );
    assert!(e.contains("loginctl enable-linger"), "{e}");
    assert!(e.contains("twg daemon start"), "{e}");
    let unit_dir = env.home.join(".config/systemd/user");
    assert!(
        !unit_dir.join("twgd.service").exists(),
        "the unit file was removed again"
    );
    assert!(!unit_dir.join("default.target.wants/twgd.service").exists());
    let status = env.twg(&["--json", "upkeep", "status"]);
    let (so, se) = text(&status);
    let report: serde_json::Value =
        serde_json::from_str(so.trim()).unwrap_or_else(|_| panic!("{so}\n{se}"));
    assert_eq!(
        report["service_enabled"], false,
        "upkeep status says disabled: {report}"
    );
    let status = env.twg(&["--json", "daemon", "status"]);
    assert!(
        status.status.success(),
        "the hand-started daemon still runs: {:?}",
        text(&status)
    );
    let st: serde_json::Value = serde_json::from_str(text(&status).0.trim()).unwrap();
    assert_eq!(st["pid"].as_u64(), Some(daemon.pid() as u64));

    // Disabling what is not enabled is a no-op that says so.
    let out = env.twg(&["upkeep", "disable"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    assert!(o.contains("not enabled"), "{o}");

    // JSON mode carries the guidance too.
    let out = env.twg(&["--json", "upkeep", "enable"]);
    let err: serde_json::Value = serde_json::from_str(text(&out).1.trim()).unwrap();
    assert_eq!(err["error"]["code"], "UPKEEP_ENABLE_FAILED");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&real_error)
    );
    assert!(
        err["error"]["detail"]["guidance"]
            .as_str()
            .unwrap()
            .contains("loginctl")
    );
    assert!(!unit_dir.join("twgd.service").exists());
}

#[test]
fn enable_and_disable_with_a_real_user_manager() {
    let env = Env::new("http://127.0.0.1:9");
    let _manager = UserManager::start(&env);
    // A credential that disable must keep.
    let mut save = env.twg_cmd(&["setup", "bitbucket", "--with-token"]);
    save.stdin(std::process::Stdio::piped());
    let mut child = save.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bb-token\n")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let out = env.twg(&["upkeep", "enable"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("Upkeep enabled"), "{o}");
    let unit_dir = env.home.join(".config/systemd/user");
    let installed = [
        "twgd.service",
        "default.target.wants/twgd.service",
        "twgd.socket",
        "sockets.target.wants/twgd.socket",
        "twg-upkeep.service",
        "twg-upkeep.timer",
        "timers.target.wants/twg-upkeep.timer",
    ];
    for f in installed {
        assert!(unit_dir.join(f).exists(), "{f} installed");
    }
    let active = |unit: &str| {
        let out = env
            .command("systemctl")
            .args(["--user", "is-active", unit])
            .output()
            .unwrap();
        text(&out).0.trim().to_string()
    };
    assert_eq!(active("twgd.socket"), "active");
    assert_eq!(active("twg-upkeep.timer"), "active");
    let main_pid = |env: &Env| -> u64 {
        let out = env
            .command("systemctl")
            .args(["--user", "show", "-p", "MainPID", "--value", "twgd.service"])
            .output()
            .unwrap();
        text(&out).0.trim().parse().unwrap()
    };
    let pid = env.daemon_pid().expect("twgd answers");
    assert_eq!(
        pid,
        main_pid(&env),
        "the twgd that answers is the service's"
    );
    let status: serde_json::Value =
        serde_json::from_str(text(&env.twg(&["--json", "upkeep", "status"])).0.trim()).unwrap();
    assert_eq!(status["service_enabled"], true, "{status}");

    // Restart=on-failure: a crashed twgd comes back.
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let restarted = loop {
        if let Some(p) = env.daemon_pid().filter(|p| *p != pid) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "systemd did not restart twgd"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(restarted, main_pid(&env));

    let out = env.twg(&["upkeep", "disable"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("Upkeep disabled") && o.contains("credentials are kept"),
        "{o}"
    );
    for f in installed {
        assert!(!unit_dir.join(f).exists(), "{f} removed");
    }
    assert_eq!(active("twgd.socket"), "inactive");
    assert!(
        !env.socket.exists(),
        "the socket went with its unit, so nothing starts twgd again"
    );
    assert_eq!(env.daemon_pid(), None, "the service's twgd was stopped");
    assert!(
        std::fs::read_to_string(env.auth_path())
            .unwrap()
            .contains("bitbucket"),
        "credentials kept"
    );
    let status: serde_json::Value =
        serde_json::from_str(text(&env.twg(&["--json", "upkeep", "status"])).0.trim()).unwrap();
    assert_eq!(status["service_enabled"], false, "{status}");
}
