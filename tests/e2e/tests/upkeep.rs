//! Upkeep end to end: the update check against a real local manifest server, the Notify call
//! seen on a real session D-Bus, `upkeep.json` across daemon restarts and corruption,
//! `twg upkeep status` with the daemon down, and refresh only inside the 15-minute window.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use twg_e2e::{Env, Idp, text};

/// A newer version than any build of this workspace.
const NEWER: &str = "9.9.9";

/// Serves one manifest body at every path on 127.0.0.1 and counts requests.
struct ManifestServer {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl ManifestServer {
    fn start(version: &str) -> Self {
        let body = serde_json::json!({
            "schema": 1,
            "channels": {
                "stable": {
                    "version": version,
                    "released_at": "2026-03-01T12:00:00Z",
                    "notes_url": "https://twg.atlassian.com/releases/notes",
                    "assets": {
                        "x86_64-unknown-linux-gnu": {
                            "url": "https://twg.atlassian.com/releases/twg.tar.gz",
                            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                            "size": 1234
                        }
                    }
                }
            }
        })
        .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/releases/manifest.json",
            listener.local_addr().unwrap()
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                // Read the request head; the manifest GET has no body.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An environment whose manifest URL points at `server`. The issuer is unreachable on
/// purpose unless an IdP is given: upkeep without credentials must never contact it.
fn env_for(server: &ManifestServer, idp: Option<&Idp>) -> Env {
    let mut env = Env::new(idp.map_or("http://127.0.0.1:9", |i| i.url.as_str()));
    env.set("TWG_UPDATE_MANIFEST_URL", &server.url);
    env
}

fn json_of(out: &Output) -> serde_json::Value {
    let (o, e) = text(out);
    assert!(out.status.success(), "twg failed:\n{o}\n{e}");
    serde_json::from_str(&o).unwrap_or_else(|err| panic!("not JSON ({err}):\n{o}\n{e}"))
}

fn state_file(env: &Env) -> std::path::PathBuf {
    env.config_dir.join("upkeep.json")
}

fn saved_state(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(state_file(env)).expect("upkeep.json")).expect("JSON")
}

fn leftover_temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".twg-"))
        .collect()
}

#[test]
fn notify_call_carries_the_version_and_twg_update_on_a_session_bus() {
    if Command::new("dbus-run-session")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("dbus-run-session is missing: apt-get install dbus dbus-x11");
    }
    let server = ManifestServer::start(NEWER);
    let env = env_for(&server, None);
    let monitor_log = env.dir.path().join("monitor.log");
    let out_file = env.dir.path().join("run.json");
    // dbus-monitor prints its own NameAcquired signal once it listens; wait for that before
    // running twg, and give it a moment afterwards to flush the Notify call.
    let script = format!(
        r#"dbus-monitor --session "interface=org.freedesktop.Notifications,member=Notify" > '{mon}' 2>&1 &
MON=$!
i=0; while [ ! -s '{mon}' ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
'{twg}' --json upkeep run > '{out}'
rc=$?
sleep 0.5
kill $MON
exit $rc"#,
        mon = monitor_log.display(),
        twg = twg_e2e::bin("twg").display(),
        out = out_file.display(),
    );
    let out = env
        .command("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .output()
        .expect("dbus-run-session");
    let (o, e) = text(&out);
    assert!(
        out.status.success(),
        "upkeep run under D-Bus failed:\n{o}\n{e}"
    );
    let monitor = std::fs::read_to_string(&monitor_log).unwrap();
    assert!(
        monitor.contains("member=Notify"),
        "no Notify call seen:\n{monitor}"
    );
    assert!(
        monitor.contains(&format!("string \"twg {NEWER} is available\"")),
        "summary missing:\n{monitor}"
    );
    assert!(
        monitor.contains("`twg update`"),
        "body must say to run twg update:\n{monitor}"
    );
    assert!(
        monitor.contains(&format!("to install {NEWER}")),
        "{monitor}"
    );
    assert!(monitor.contains("string \"twg\""), "app name:\n{monitor}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(report["latest_version"], NEWER);
    assert_eq!(report["daemon_running"], false);
    assert_eq!(server.hits(), 1);
    // No notification server on this bus: the call is made, fails, and that is recorded
    // without failing the pass; the initial notification stays pending.
    let state = saved_state(&env);
    assert_eq!(state["notifications_sent"], 0, "{state}");
    let err = state["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("notification"), "{state}");
    // Logged out: no auth work, no complaint about it.
    assert_eq!(state["last_auth_result"], "not logged in");
    assert!(!err.contains("refresh"), "{err}");
}

#[test]
fn without_a_session_bus_the_pass_still_succeeds_and_records_why() {
    let server = ManifestServer::start(NEWER);
    let mut env = env_for(&server, None);
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(report["latest_version"], NEWER);
    let pending = report["pending_notification"].as_str().unwrap();
    assert!(
        pending.contains(NEWER) && pending.contains("twg update"),
        "{pending}"
    );
    assert!(
        report["last_error"]
            .as_str()
            .unwrap()
            .contains("notification"),
        "{report}"
    );
}

#[test]
fn state_survives_restarts_and_status_works_with_the_daemon_down() {
    let server = ManifestServer::start(NEWER);
    let mut env = env_for(&server, None);
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");

    // Nothing saved yet, daemon down: status says where the answer comes from.
    let out = env.twg(&["upkeep", "status"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("twgd is not running; showing the last saved state"),
        "{o}"
    );
    assert!(o.contains("Upkeep service:"), "{o}");
    assert!(!state_file(&env).exists(), "status must not write state");

    // A pass in-process (daemon down) checks for updates and saves the state.
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert!(
        report["note"]
            .as_str()
            .unwrap()
            .contains("ran the upkeep pass in this process")
    );
    let saved = saved_state(&env);
    assert_eq!(saved["latest_version"], NEWER);
    assert_eq!(saved["last_run_by"], "twg upkeep run");
    let checked_at = saved["last_check_at"].as_i64().unwrap();
    assert!(checked_at > 0);
    assert!(saved["next_check_at"].as_i64().unwrap() >= checked_at + 86_400);
    assert!(leftover_temp_files(&env.config_dir).is_empty());
    assert!(env.config_dir.join("upkeep.json.lock").exists());

    let status = json_of(&env.twg(&["--json", "upkeep", "status"]));
    assert_eq!(status["daemon_running"], false);
    assert_eq!(status["source"], "saved_state");
    assert_eq!(
        status["note"],
        "twgd is not running; showing the last saved state"
    );
    assert_eq!(status["latest_version"], NEWER);
    assert_eq!(status["last_update_check_at"], checked_at);
    assert_eq!(status["state"], saved);
    // Nothing installed a service in this environment: it says so, without an error.
    assert_eq!(status["service_enabled"], false, "{status}");
    assert!(status["service_error"].is_null(), "{status}");

    // The daemon reads the same state; a pass through it does not check again the same day.
    let mut daemon = env.start_daemon();
    let status = json_of(&env.twg(&["--json", "upkeep", "status"]));
    assert_eq!(status["daemon_running"], true, "{status}");
    assert_eq!(status["latest_version"], NEWER);
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(report["daemon_running"], true);
    assert_eq!(report["state"]["last_run_by"], "twgd (requested)");
    assert_eq!(report["last_update_check_at"], checked_at);
    assert_eq!(server.hits(), 1, "at most one update check a day");

    // A crash loses nothing: the file is whole and the fallback reads it.
    daemon.kill();
    let after = saved_state(&env);
    assert_eq!(after["last_run_by"], "twgd (requested)");
    let status = json_of(&env.twg(&["--json", "upkeep", "status"]));
    assert_eq!(status["daemon_running"], false);
    assert_eq!(status["state"], after);
    assert_eq!(status["next_run_at"], 0);
}

#[test]
fn a_corrupt_state_file_is_reported_then_moved_aside_not_overwritten() {
    let server = ManifestServer::start(NEWER);
    let mut env = env_for(&server, None);
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    std::fs::create_dir_all(&env.config_dir).unwrap();
    let garbage = b"{\"last_run_at\": 12, oops";
    std::fs::write(state_file(&env), garbage).unwrap();

    let status = json_of(&env.twg(&["--json", "upkeep", "status"]));
    let err = status["last_error"].as_str().unwrap();
    assert!(err.contains("not valid upkeep state"), "{err}");
    assert_eq!(
        std::fs::read(state_file(&env)).unwrap(),
        garbage,
        "status only reads"
    );

    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    let err = report["last_error"].as_str().unwrap();
    assert!(err.contains("upkeep.json was corrupt"), "{err}");
    let backups: Vec<_> = std::fs::read_dir(&env.config_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("upkeep.json.corrupt-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read(&backups[0]).unwrap(), garbage);
    assert_eq!(saved_state(&env)["latest_version"], NEWER);
}

#[test]
fn upkeep_refreshes_only_inside_the_fifteen_minute_window() {
    let server = ManifestServer::start(NEWER);
    // 10-minute tokens: the 75% mark (7.5 min) is always within 15 minutes.
    let short = Idp::start(&["--access-token-ttl", "600"]);
    let mut env = env_for(&server, Some(&short));
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    env.login(&short, &[]);
    let before = short.refresh_requests();
    let old = env.refresh_token();
    // In-process (daemon down): the engine refreshes under the lock.
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(report["state"]["last_auth_result"], "refreshed", "{report}");
    assert_eq!(short.refresh_requests(), before + 1);
    assert_ne!(env.refresh_token(), old, "rotated token saved");
    // Through the daemon (its own first pass is at least 20 s away).
    let _daemon = env.start_daemon();
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(report["state"]["last_auth_result"], "refreshed", "{report}");
    assert_eq!(short.refresh_requests(), before + 2);
    assert!(report["last_refresh_at"].as_i64().unwrap() > 0);

    // 1-hour tokens: the 75% mark is 45 minutes away, so nothing is sent.
    let long = Idp::start(&[]);
    let mut env = env_for(&server, Some(&long));
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    env.login(&long, &[]);
    let before = long.refresh_requests();
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(report["state"]["last_auth_result"], "not due", "{report}");
    assert_eq!(long.refresh_requests(), before);
    // After logout upkeep stays quiet about auth.
    let out = env.twg(&["logout"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let report = json_of(&env.twg(&["--json", "upkeep", "run"]));
    assert_eq!(
        report["state"]["last_auth_result"], "not logged in",
        "{report}"
    );
}

#[test]
fn a_real_notification_server_shows_it_once_and_the_sequence_advances() {
    for tool in ["dbus-run-session", "Xvfb", "dunst", "dunstctl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: apt-get install dbus dbus-x11 xvfb dunst"
        );
    }
    let server = ManifestServer::start(NEWER);
    let env = env_for(&server, None);
    let dir = env.dir.path();
    let twg = twg_e2e::bin("twg");
    // Xvfb picks a free display (-displayfd); dunst is the notification server on it.
    let script = format!(
        r#"Xvfb -displayfd 1 -nolisten tcp > '{d}/display' 2>/dev/null &
X=$!
i=0; while [ ! -s '{d}/display' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
export DISPLAY=:$(cat '{d}/display')
dunst > '{d}/dunst.log' 2>&1 &
D=$!
i=0; while ! dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications | grep -q true && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
'{twg}' --json upkeep run > '{d}/first.json'
r1=$?
'{twg}' --json upkeep run > '{d}/second.json'
r2=$?
dunstctl count > '{d}/count'
dunstctl close-all
sleep 0.3
dunstctl history > '{d}/history.json'
kill $D $X
[ $r1 -eq 0 ] && [ $r2 -eq 0 ]"#,
        d = dir.display(),
        twg = twg.display(),
    );
    let out = env
        .command("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .output()
        .expect("dbus-run-session");
    let (o, e) = text(&out);
    let dunst_log = std::fs::read_to_string(dir.join("dunst.log")).unwrap_or_default();
    assert!(out.status.success(), "{o}\n{e}\ndunst: {dunst_log}");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let first: serde_json::Value = serde_json::from_str(&read("first.json")).unwrap();
    assert!(first["last_error"].is_null(), "{first}");
    assert_eq!(first["state"]["notifications_sent"], 1);
    assert_eq!(first["state"]["notified_version"], NEWER);
    // The next reminder is a day away: the second pass stays silent.
    let second: serde_json::Value = serde_json::from_str(&read("second.json")).unwrap();
    assert_eq!(second["state"]["notifications_sent"], 1, "{second}");
    assert!(
        second["pending_notification"]
            .as_str()
            .unwrap()
            .contains("daily reminder 1 of 3"),
        "{second}"
    );
    let count = read("count");
    assert!(count.contains("Currently displayed: 1"), "{count}");
    let history = read("history.json");
    assert!(
        history.contains(&format!("twg {NEWER} is available")),
        "{history}"
    );
    assert!(history.contains("Run `twg update` to install"), "{history}");
    assert_eq!(server.hits(), 1);
}

#[test]
fn twgd_runs_its_own_first_pass_shortly_after_start() {
    let server = ManifestServer::start(NEWER);
    let mut env = env_for(&server, None);
    env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let started = twg_common::time::now_unix();
    let _daemon = env.start_daemon();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let state = loop {
        if let Ok(bytes) = std::fs::read(state_file(&env))
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pass within 90 s:\n{}",
            env.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(state["last_run_by"], "twgd");
    let ran = state["last_run_at"].as_i64().unwrap();
    assert!(
        (started + 19..=started + 62).contains(&ran),
        "first pass {}s after start",
        ran - started
    );
    let next = state["next_run_at"].as_i64().unwrap();
    assert!(
        (ran + 12 * 60..=ran + 12 * 60 + 31).contains(&next),
        "next pass in {}s",
        next - ran
    );
    assert_eq!(state["latest_version"], NEWER);
    assert_eq!(server.hits(), 1);
}

/// `twg upkeep run` without twgd shows notifications through the desktop's own tool (the
/// client links no D-Bus stack): `gdbus` first, `notify-send` when gdbus is not installed,
/// and a clear "none is installed" otherwise. Each run here sees only the tools named.
#[test]
fn without_gdbus_the_client_falls_back_to_notify_send_and_says_when_neither_exists() {
    for tool in [
        "dbus-run-session",
        "Xvfb",
        "dunst",
        "dunstctl",
        "notify-send",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: apt-get install dbus dbus-x11 xvfb dunst libnotify-bin"
        );
    }
    let server = ManifestServer::start(NEWER);
    let env = env_for(&server, None);
    let dir = env.dir.path();
    // One directory with notify-send only, one with nothing.
    let only_notify_send = dir.join("bin-notify-send");
    let nothing = dir.join("bin-empty");
    std::fs::create_dir_all(&only_notify_send).unwrap();
    std::fs::create_dir_all(&nothing).unwrap();
    let real = Command::new("sh")
        .args(["-c", "command -v notify-send"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    std::os::unix::fs::symlink(real.trim(), only_notify_send.join("notify-send")).unwrap();
    let twg = twg_e2e::bin("twg");
    let script = format!(
        r#"Xvfb -displayfd 1 -nolisten tcp > '{d}/display' 2>/dev/null &
X=$!
i=0; while [ ! -s '{d}/display' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
export DISPLAY=:$(cat '{d}/display')
dunst > '{d}/dunst.log' 2>&1 &
D=$!
i=0; while ! dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications | grep -q true && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
PATH='{empty}' '{twg}' --json upkeep run > '{d}/none.json'
r1=$?
PATH='{ns}' '{twg}' --json upkeep run > '{d}/ns.json'
r2=$?
dunstctl close-all
sleep 0.3
dunstctl history > '{d}/history.json'
kill $D $X
[ $r1 -eq 0 ] && [ $r2 -eq 0 ]"#,
        d = dir.display(),
        twg = twg.display(),
        empty = nothing.display(),
        ns = only_notify_send.display(),
    );
    let out = env
        .command("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .output()
        .expect("dbus-run-session");
    let (o, e) = text(&out);
    let dunst_log = std::fs::read_to_string(dir.join("dunst.log")).unwrap_or_default();
    assert!(out.status.success(), "{o}\n{e}\ndunst: {dunst_log}");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let none: serde_json::Value = serde_json::from_str(&read("none.json")).unwrap();
    let err = none["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("none of gdbus, notify-send is installed") && err.contains("twgd"),
        "{none}"
    );
    assert_eq!(none["state"]["notifications_sent"], 0, "{none}");
    // The same pending notification, shown by notify-send at the next run.
    let shown: serde_json::Value = serde_json::from_str(&read("ns.json")).unwrap();
    assert!(shown["last_error"].is_null(), "{shown}");
    assert_eq!(shown["state"]["notifications_sent"], 1, "{shown}");
    let history = read("history.json");
    assert!(
        history.contains(&format!("twg {NEWER} is available"))
            && history.contains("Run `twg update` to install"),
        "{history}"
    );
    assert!(history.contains("\"twg\""), "app name:\n{history}");
}
