//! README promises about the command line itself: `--json` on every command (found by
//! walking `twg --help`), `twg doctor`'s exit code, `twg update --channel beta` into
//! `TWG_INSTALL_DIR`/`TWG_BIN_DIR`, `[update] check = false`, `twg setup --no-upkeep`,
//! `twg uninstall -y`, and which coding agent wins when several are detected.
//!
//! Every process runs under a deadline ([`run`]), so a hung `twg` fails its test by name.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, Proc, UserManager, bin, text, wait_until};

/// Longest any single `twg` (or helper) process may take.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `cmd` with `stdin` (or nothing) on its stdin; kills it and fails the test if it
/// has not finished within [`LIMIT`].
fn run(mut cmd: Command, stdin: Option<&[u8]>, what: &str) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut proc = Proc {
        child: cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}")),
    };
    if let Some(input) = stdin {
        // A process that refuses before reading closes the pipe: that is its answer.
        let mut pipe = proc.child.stdin.take().expect("stdin piped");
        match pipe.write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.expect("write stdin"),
        }
    }
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(proc.child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(proc.child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = proc.child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            proc.kill();
            panic!("{what} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn twg(env: &Env, args: &[&str]) -> Output {
    run(env.twg_cmd(args), None, &format!("twg {}", args.join(" ")))
}

/// `twg login --no-browser <extra>`, approved through the dev server's admin API.
fn login(env: &Env, idp: &Idp, extra: &[&str]) -> Output {
    let mut args = vec!["login", "--no-browser"];
    args.extend_from_slice(extra);
    let mut proc = Proc {
        child: env
            .twg_cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn twg login"),
    };
    let code = twg_e2e::read_user_code(&mut proc.child);
    let mut stdout = proc.child.stdout.take().expect("stdout piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = proc.child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "twg login did not finish");
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        status,
        stdout: out.join().expect("stdout reader"),
        // read_user_code keeps draining stderr on its own thread.
        stderr: Vec::new(),
    };
    assert!(out.status.success(), "twg login failed: {:?}", text(&out));
    out
}

fn logged_in(idp: &Idp) -> Env {
    let env = Env::new(&idp.url);
    login(&env, idp, &[]);
    env
}

/// Stops whichever twgd serves `env` (one started by `twg daemon start`, `twg update` or a
/// failed `twg upkeep enable` is detached from the test), even when an assertion failed.
struct StopDaemon<'a>(&'a Env);

impl Drop for StopDaemon<'_> {
    fn drop(&mut self) {
        let _ = twg(self.0, &["daemon", "stop"]);
    }
}

// ---------------------------------------------------------------------------------------
// 1. "Every command accepts `--json`. Errors then come as one JSON line on stderr."

/// Every command path `twg --help` lists that can run on its own, found by walking each
/// `--help`: a leaf, or a command whose first usage line needs no subcommand (`twg setup
/// [OPTIONS]`, beside `twg setup <COMMAND>`; not `twg auth [OPTIONS] <COMMAND>`).
fn runnable_commands(env: &Env) -> BTreeSet<String> {
    fn walk(env: &Env, path: &mut Vec<String>, found: &mut BTreeSet<String>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = twg(env, &args);
        assert!(out.status.success(), "twg {args:?}: {:?}", text(&out));
        let help = text(&out).0;
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no usage line in:\n{help}"));
        let subcommands: Vec<String> = help
            .lines()
            .skip_while(|l| l.trim() != "Commands:")
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|c| c != "help")
            .collect();
        if !path.is_empty() && !usage.contains("<COMMAND>") {
            found.insert(path.join(" "));
        }
        for c in subcommands {
            path.push(c);
            walk(env, path, found);
            path.pop();
        }
    }
    let mut found = BTreeSet::new();
    walk(env, &mut Vec::new(), &mut found);
    found
}

/// Runs `twg --json <args>` and checks the promise whatever the outcome: on success stdout
/// is one JSON document; on failure stderr's last line is the envelope, whose `exit_code`
/// is the process's. Records the command path it exercised.
struct JsonRunner<'a> {
    env: &'a Env,
    covered: BTreeSet<String>,
}

impl JsonRunner<'_> {
    fn run(&mut self, args: &[&str], stdin: Option<&[u8]>, codes: &[i32]) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let what = format!("twg {}", full.join(" "));
        let out = run(self.env.twg_cmd(&full), stdin, &what);
        let path: Vec<&str> = args
            .iter()
            .copied()
            .take_while(|a| !a.starts_with('-'))
            .collect();
        self.covered.insert(path.join(" "));
        check_json_contract(&what, &out, codes)
    }
}

/// The `--json` contract for one finished process; returns stdout's JSON on success and
/// the envelope's `error` on failure.
fn check_json_contract(what: &str, out: &Output, codes: &[i32]) -> serde_json::Value {
    let (stdout, stderr) = text(out);
    let code = out.status.code().expect("exited, not killed by a signal");
    assert!(
        codes.contains(&code),
        "{what}: exit {code}, expected one of {codes:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    if code == 0 {
        return serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{what}: stdout is not one JSON document ({e}):\n{stdout}\nstderr: {stderr}")
        });
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("{what}: exit {code} with an empty stderr"));
    let envelope: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("{what}: stderr's last line is not the JSON envelope ({e}):\n{stderr}")
    });
    let err = &envelope["error"];
    assert!(
        err["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{what}: {envelope}"
    );
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {envelope}"
    );
    assert_eq!(
        err["exit_code"].as_i64(),
        Some(i64::from(code)),
        "{what}: the envelope's exit_code is the process's: {envelope}"
    );
    err.clone()
}

#[test]
fn every_command_accepts_json_and_fails_with_the_json_envelope() {
    let idp = Idp::start(&[]);
    let server = Server::start();
    server.publish(&serde_json::json!({
        "stable": { "version": running_version(), "assets": {} }
    }));
    let mut env = Env::new(&idp.url);
    env.set("TWG_UPDATE_MANIFEST_URL", &server.manifest_url());
    let _stop = StopDaemon(&env);
    let mut j = JsonRunner {
        env: &env,
        covered: BTreeSet::new(),
    };

    // Not logged in yet: failures, each with its documented code.
    let e = j.run(&["auth", "token"], None, &[77]);
    assert_eq!(e["code"], "NOT_LOGGED_IN", "{e}");
    j.run(&["auth", "status"], None, &[77]);
    j.run(&["doctor"], None, &[1]);
    j.run(&["admin", "auth", "status"], None, &[77]);
    // Bad usage that clap itself refuses is an envelope too.
    let e = j.run(&["auth", "token", "--min-valid", "soon"], None, &[2]);
    assert_eq!(e["code"], "USAGE", "{e}");
    j.run(&["auth", "audit", "--since", "yesterday-ish"], None, &[2]);
    j.run(&["no-such-command"], None, &[2]);

    // The device-flow login itself.
    let out = login(&env, &idp, &["--json"]);
    let done = check_json_contract("twg login --json", &out, &[0]);
    assert_eq!(done["grant"], "device", "{done}");
    j.covered.insert("login".into());

    let t = j.run(&["auth", "token"], None, &[0]);
    assert!(t["access_token"].is_string(), "{t}");
    let e = j.run(&["auth", "token", "--min-valid", "86400"], None, &[1]);
    assert_eq!(e["code"], "MIN_VALID_UNMEETABLE", "{e}");
    j.run(&["auth", "status"], None, &[0]);
    j.run(&["auth", "refresh"], None, &[0]);
    j.run(&["auth", "refresh", "--force"], None, &[0]);
    j.run(&["auth", "audit"], None, &[0]);
    let d = j.run(&["doctor"], None, &[0]);
    assert_eq!(d["ok"], true, "{d}");

    let e = j.run(&["daemon", "status"], None, &[69]);
    assert_eq!(e["code"], "DAEMON_NOT_RUNNING", "{e}");
    j.run(&["daemon", "start"], None, &[0]);
    j.run(&["daemon", "status"], None, &[0]);
    let t = j.run(&["auth", "token"], None, &[0]);
    assert_eq!(t["source"], "daemon", "{t}");
    j.run(&["upkeep", "status"], None, &[0]);
    j.run(&["upkeep", "run"], None, &[0]);
    let p = j.run(&["upkeep", "enable", "--print"], None, &[0]);
    assert!(p["service_file"].is_string(), "{p}");
    // No service manager reachable from this hermetic env: an honest failure (or, were
    // one reachable, a success); either way the contract holds.
    j.run(&["upkeep", "enable"], None, &[0, 1]);
    j.run(&["upkeep", "disable"], None, &[0]);

    let u = j.run(&["update"], None, &[0]);
    assert_eq!(u["updated"], false, "{u}");
    j.run(&["update", "--channel", "beta"], None, &[1]);
    j.run(&["uninstall", "--dry-run"], None, &[0]);
    j.run(&["uninstall"], None, &[2]);

    let s = j.run(&["setup", "--no-upkeep"], None, &[0]);
    assert_eq!(s["upkeep"]["enabled"], false, "{s}");
    j.run(
        &["setup", "bitbucket", "--with-token"],
        Some(b"bb-token\n"),
        &[0],
    );
    j.run(&["setup", "bitbucket"], None, &[2]);
    j.run(
        &[
            "setup",
            "oauth-app",
            "--client-id",
            "my-app",
            "--with-secret",
        ],
        Some(b"app-secret\n"),
        &[0],
    );
    j.run(&["setup", "oauth-app", "--client-id", "my-app"], None, &[2]);

    // `twg exec` prints what its command prints (here one JSON document), or the envelope.
    let x = j.run(
        &[
            "exec",
            "--",
            "sh",
            "-c",
            r#"printf '{"site":"%s"}' "$TWG_SITE""#,
        ],
        None,
        &[0],
    );
    assert!(x["site"].as_str().is_some_and(|s| !s.is_empty()), "{x}");
    let e = j.run(&["exec", "--", "twg-no-such-command"], None, &[127]);
    assert_eq!(e["code"], "EXEC_NOT_FOUND", "{e}");
    j.run(&["setup", "git"], None, &[0]);
    j.run(
        &["setup", "git", "--host", "http://git.example.test"],
        None,
        &[2],
    );
    // The git helper speaks git's protocol whatever the flags (git never passes --json).
    let out = run(
        env.twg_cmd(&["--json", "auth", "git-credential", "get"]),
        Some(b"protocol=https\nhost=bitbucket.org\n\n"),
        "twg --json auth git-credential get",
    );
    assert!(
        text(&out).0.ends_with("password=bb-token\n"),
        "{:?}",
        text(&out)
    );
    j.covered.insert("auth git-credential".into());

    j.run(
        &[
            "admin",
            "auth",
            "login",
            "--email",
            "a@example.test",
            "--org",
            "o1",
        ],
        None,
        &[2],
    );
    j.run(
        &[
            "admin",
            "auth",
            "login",
            "--email",
            "a@example.test",
            "--org",
            "o1",
            "--with-key",
        ],
        Some(b"admin-key\n"),
        &[0],
    );
    j.run(&["admin", "auth", "status"], None, &[0]);
    j.run(&["admin", "auth", "logout"], None, &[0]);

    j.run(&["logout"], None, &[0]);
    j.run(&["auth", "token"], None, &[77]);
    j.run(
        &["login", "--with-token", "--user", "a@example.test"],
        Some(b"api-token\n"),
        &[0],
    );
    j.run(&["logout", "--all"], None, &[0]);
    j.run(&["daemon", "stop"], None, &[0]);
    let c = j.run(&["completion", "bash"], None, &[0]);
    j.covered.insert("completion".into()); // `bash` is an argument, not a subcommand
    assert!(
        c["script"].as_str().is_some_and(|s| s.contains("_twg")),
        "{c}"
    );

    let covered = j.covered.clone();
    let commands = runnable_commands(&env);
    for expected in [
        "setup",
        "setup oauth-app",
        "auth token",
        "admin auth status",
    ] {
        assert!(commands.contains(expected), "{expected} in {commands:?}");
    }
    assert!(!commands.contains("auth"), "{commands:?}");
    let missing: Vec<_> = commands
        .into_iter()
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "commands in `twg --help` this test never ran with --json: {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. "`twg doctor` … Exits 1 when something is wrong."

#[test]
fn doctor_exits_1_on_a_problem_and_0_when_all_is_well() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    let exit = |env: &Env, json: bool| {
        let args: &[&str] = if json {
            &["--json", "doctor"]
        } else {
            &["doctor"]
        };
        let out = twg(env, args);
        (out.status.code(), text(&out))
    };

    // Not logged in.
    let (code, (o, e)) = exit(&env, false);
    assert_eq!(code, Some(1), "{o}\n{e}");
    assert!(o.contains("✘ auth method"), "{o}");
    let out = twg(&env, &["--json", "doctor"]);
    let err = check_json_contract("twg --json doctor", &out, &[1]);
    assert_eq!(err["exit_code"], 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false, "{report}");

    // The one documented exception: TWG_TOKEN without TWG_USER stops doctor before any
    // check, with exit 78 like every command (`envmode.rs` covers the message).
    env.set("TWG_TOKEN", "ci-token");
    let out = twg(&env, &["--json", "doctor"]);
    let err = check_json_contract("twg --json doctor (TWG_TOKEN only)", &out, &[78]);
    assert_eq!(err["code"], "ENV_INCOMPLETE", "{err}");
    env.unset("TWG_TOKEN");

    login(&env, &idp, &[]);
    // An invalid config.toml.
    std::fs::write(env.config_dir.join("config.toml"), "no_such_key = 1\n").unwrap();
    let (code, (o, e)) = exit(&env, false);
    assert_eq!(code, Some(1), "{o}\n{e}");
    assert!(o.contains("✘ config"), "{o}");
    std::fs::remove_file(env.config_dir.join("config.toml")).unwrap();

    // All is well: logged in, twgd running, every check ok. PATH holds only the binaries
    // under test: doctor rightly warns when another twg (or none) is the one that runs.
    env.set("PATH", &twg_e2e::bin_dir().display().to_string());
    let _daemon = env.start_daemon();
    let (code, (o, e)) = exit(&env, false);
    assert_eq!(code, Some(0), "{o}\n{e}");
    assert!(o.lines().all(|l| l.starts_with('✔')), "{o}");
    let (code, (o, e)) = exit(&env, true);
    assert_eq!(code, Some(0), "{o}\n{e}");
    let report: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "ok", "{check}");
    }
}

// ---------------------------------------------------------------------------------------
// 3. `twg update --channel beta`, `TWG_INSTALL_DIR`/`TWG_BIN_DIR`, `[update] check = false`.

/// A tiny HTTP/1.1 release server that records every request path.
#[derive(Debug, Clone)]
struct Server {
    url: String,
    routes: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = Server {
            url,
            routes: Arc::default(),
            hits: Arc::default(),
        };
        let s = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                s.hits.lock().unwrap().push(path.clone());
                let body = s.routes.lock().unwrap().get(&path).cloned();
                let _ = match body {
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                    Some(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&body)),
                };
                let _ = stream.flush();
            }
        });
        server
    }

    fn manifest_url(&self) -> String {
        format!("{}/manifest.json", self.url)
    }

    fn publish(&self, channels: &serde_json::Value) {
        let manifest = serde_json::json!({ "schema": 1, "channels": channels });
        self.routes
            .lock()
            .unwrap()
            .insert("/manifest.json".into(), manifest.to_string().into_bytes());
    }

    fn manifest_requests(&self) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == "/manifest.json")
            .count()
    }
}

/// The built twg and twgd in a signed release archive served by a [`Server`].
struct Release {
    archive: Vec<u8>,
    sha256: String,
    stage: PathBuf,
}

impl Release {
    /// Packs the built binaries (debug info stripped) and serves them at `/twg.tar.gz`.
    fn build(dir: &Path, server: &Server) -> Release {
        let stage = dir.join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        // The front, the full CLI it hands commands to, and the daemon.
        for name in ["twg", "twg-cli", "twgd"] {
            let mut strip = Command::new("strip");
            strip
                .arg("--strip-debug")
                .arg("-o")
                .arg(stage.join(name))
                .arg(bin(name));
            let out = run(strip, None, "strip (binutils)");
            assert!(out.status.success(), "strip {name}: {:?}", text(&out));
        }
        let path = dir.join("twg.tar.gz");
        let mut tar = Command::new("tar");
        tar.arg("czf")
            .arg(&path)
            .arg("-C")
            .arg(&stage)
            .args(["twg", "twg-cli", "twgd"]);
        assert!(run(tar, None, "tar").status.success());
        let archive = std::fs::read(&path).unwrap();
        let mut sum = Command::new("sha256sum");
        sum.arg(&path);
        let sha256 = text(&run(sum, None, "sha256sum")).0[..64].to_string();
        server
            .routes
            .lock()
            .unwrap()
            .insert("/twg.tar.gz".into(), archive.clone());
        Release {
            archive,
            sha256,
            stage,
        }
    }

    /// A manifest channel offering this archive as `version`, signed with the test release
    /// key the suite's build trusts.
    fn channel(&self, server: &Server, version: &str) -> serde_json::Value {
        let target = twg_common::manifest::current_target();
        serde_json::json!({
            "version": version,
            "assets": { target: {
                "url": format!("{}/twg.tar.gz", server.url),
                "sha256": self.sha256,
                "size": self.archive.len(),
                "minisig": sign(&self.archive, &format!("twg {version} {target}")),
            }}
        })
    }
}

/// Signs like the release process, with `tests/data/release-test.key`.
fn sign(archive: &[u8], comment: &str) -> String {
    assert!(
        option_env!("TWG_RELEASE_PUBKEY").is_some(),
        "build with TWG_RELEASE_PUBKEY=$(cat tests/data/release-test.pub), as scripts/test.sh does"
    );
    let key = include_str!("../../data/release-test.key");
    let sk = minisign::SecretKey::from_bytes(&hex::decode(key.trim()).unwrap()).unwrap();
    minisign::sign(
        None,
        &sk,
        std::io::Cursor::new(archive),
        Some(comment),
        None,
    )
    .unwrap()
    .to_string()
}

fn running_version() -> String {
    let out = run(
        {
            let mut c = Command::new(bin("twg"));
            c.arg("--version");
            c
        },
        None,
        "twg --version",
    );
    text(&out)
        .0
        .split_whitespace()
        .nth(1)
        .expect("`twg <version>`")
        .to_string()
}

/// `TWG_INSTALL_DIR` and `TWG_BIN_DIR` outside HOME, so the defaults are told apart.
fn custom_layout(env: &mut Env) -> (PathBuf, PathBuf) {
    let install = env.dir.path().join("opt/twg");
    let bin_dir = env.dir.path().join("launchers");
    env.set("TWG_INSTALL_DIR", &install.display().to_string());
    env.set("TWG_BIN_DIR", &bin_dir.display().to_string());
    (install, bin_dir)
}

#[test]
fn update_channel_beta_installs_the_beta_into_twg_install_dir_and_twg_bin_dir() {
    let server = Server::start();
    let mut env = Env::new("http://127.0.0.1:9");
    env.set("TWG_UPDATE_MANIFEST_URL", &server.manifest_url());
    let (install, bin_dir) = custom_layout(&mut env);
    let release = Release::build(env.dir.path(), &server);
    let beta = "9.9.9-beta.1";
    server.publish(&serde_json::json!({
        "stable": { "version": running_version(), "assets": {} },
        "beta": release.channel(&server, beta),
    }));

    // The default channel is stable, which this build already is.
    let out = twg(&env, &["update"]);
    let (o, e) = text(&out);
    assert!(out.status.success() && o.contains("up to date"), "{o}\n{e}");
    assert!(!install.exists(), "nothing installed from stable");

    let out = twg(&env, &["--json", "update", "--channel", "beta"]);
    let r = check_json_contract("twg update --channel beta", &out, &[0]);
    assert_eq!(r["updated"], true, "{r}");
    assert_eq!(r["to"], beta, "{r}");
    let dir = install.join("versions").join(beta);
    assert!(
        std::fs::read(dir.join("twg-cli")).unwrap()
            == std::fs::read(release.stage.join("twg-cli")).unwrap(),
        "twg-cli is installed byte for byte beside the front (it has no launcher)"
    );
    for name in ["twg", "twgd"] {
        assert!(
            std::fs::read(dir.join(name)).unwrap()
                == std::fs::read(release.stage.join(name)).unwrap(),
            "{name} is installed byte for byte under TWG_INSTALL_DIR"
        );
        assert_eq!(
            std::fs::read_link(bin_dir.join(name)).unwrap(),
            install.join("current").join(name),
            "the {name} launcher is in TWG_BIN_DIR"
        );
    }
    assert_eq!(
        std::fs::read_link(install.join("current")).unwrap(),
        Path::new("versions").join(beta)
    );
    assert!(
        !env.home.join(".local/share/twg").exists() && !env.home.join(".local/bin").exists(),
        "nothing went to the default locations"
    );
    let out = run(
        {
            let mut c = env.command(bin_dir.join("twg"));
            c.arg("--version");
            c
        },
        None,
        "the installed launcher",
    );
    assert!(out.status.success(), "the launcher runs: {:?}", text(&out));
}

#[test]
fn update_check_false_keeps_upkeep_from_fetching_the_manifest() {
    let idp = Idp::start(&[]);
    let server = Server::start();
    server.publish(&serde_json::json!({
        "stable": { "version": "9.9.9", "assets": {} }
    }));
    let mut env = Env::new(&idp.url);
    env.set("TWG_UPDATE_MANIFEST_URL", &server.manifest_url());
    login(&env, &idp, &[]);
    let config = env.config_dir.join("config.toml");
    std::fs::write(&config, "[update]\ncheck = false\n").unwrap();

    // A pass in this process (no twgd), then one through twgd, and twgd's own first pass.
    let status = |env: &Env, args: &[&str]| {
        let out = twg(env, args);
        check_json_contract(&format!("twg {args:?}"), &out, &[0])
    };
    let s = status(&env, &["--json", "upkeep", "run"]);
    assert_eq!(s["daemon_running"], false, "{s}");
    assert_eq!(s["last_update_check_at"], 0, "{s}");
    let _daemon = env.start_daemon();
    let s = status(&env, &["--json", "upkeep", "run"]);
    assert_eq!(s["daemon_running"], true, "{s}");
    assert_eq!(s["last_update_check_at"], 0, "{s}");
    assert!(s["latest_version"].is_null(), "{s}");
    assert_eq!(
        server.manifest_requests(),
        0,
        "check = false: the manifest was fetched"
    );

    // The same pass with the check on does fetch it: the counter above could see one.
    std::fs::write(&config, "[update]\ncheck = true\n").unwrap();
    let s = status(&env, &["--json", "upkeep", "run"]);
    assert_eq!(s["latest_version"], "9.9.9", "{s}");
    assert!(server.manifest_requests() >= 1);
}

// ---------------------------------------------------------------------------------------
// 4. `twg setup --no-upkeep`.

#[test]
fn setup_no_upkeep_says_so_installs_no_service_and_exits_0() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _manager = UserManager::start(&env);
    let _stop = StopDaemon(&env);
    let unit = env.home.join(".config/systemd/user/twgd.service");
    let wants = env
        .home
        .join(".config/systemd/user/default.target.wants/twgd.service");

    let out = twg(&env, &["setup", "--no-upkeep"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(o.contains("Already logged in"), "{o}");
    assert!(
        o.contains("Upkeep not enabled (--no-upkeep)"),
        "says upkeep was not enabled:\n{o}"
    );
    assert!(!o.contains("Upkeep enabled"), "{o}");
    assert!(!unit.exists() && !wants.exists(), "no unit file written");
    let mut c = env.command("systemctl");
    c.args(["--user", "is-enabled", "twgd.service"]);
    let enabled = run(c, None, "systemctl --user is-enabled");
    assert!(
        !enabled.status.success(),
        "the manager knows no twgd service: {:?}",
        text(&enabled)
    );
    assert_eq!(
        twg(&env, &["daemon", "status"]).status.code(),
        Some(69),
        "no twgd was started"
    );
    let out = twg(&env, &["--json", "setup", "--no-upkeep"]);
    let s = check_json_contract("twg --json setup --no-upkeep", &out, &[0]);
    assert_eq!(s["upkeep"]["enabled"], false, "{s}");
    assert_eq!(s["upkeep"]["skipped"], "--no-upkeep", "{s}");
    assert!(!unit.exists());

    // Without the flag, the same setup on the same machine does install the unit: the
    // checks above look where the service would be.
    let out = twg(&env, &["setup"]);
    let (o, e) = text(&out);
    assert!(
        out.status.success() && o.contains("Upkeep enabled"),
        "{o}\n{e}"
    );
    assert!(unit.is_file(), "{}", unit.display());
    let out = twg(&env, &["upkeep", "disable"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!unit.exists());
}

// ---------------------------------------------------------------------------------------
// 5. `twg uninstall -y`. `uninstall::yes_removes_exactly_the_listed_paths_and_revokes`
// covers `--yes` against a hand-made layout in the default places; this one covers the
// short flag, without `--json`, against a layout `twg update` installed in
// `TWG_INSTALL_DIR`/`TWG_BIN_DIR`.

#[test]
fn uninstall_y_removes_credentials_config_root_and_the_installed_layout() {
    let idp = Idp::start(&[]);
    let server = Server::start();
    let mut env = Env::new(&idp.url);
    env.set("TWG_UPDATE_MANIFEST_URL", &server.manifest_url());
    let (install, bin_dir) = custom_layout(&mut env);
    login(&env, &idp, &[]);
    let refresh_token = env.refresh_token();
    let release = Release::build(env.dir.path(), &server);
    server.publish(&serde_json::json!({ "stable": release.channel(&server, "9.9.9") }));
    let out = twg(&env, &["update"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(install.join("versions/9.9.9/twgd").is_file());
    std::fs::write(bin_dir.join("not-twg"), "keep").unwrap();
    let _daemon = env.start_daemon();

    let out = twg(&env, &["uninstall", "-y"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(o.contains("twg is uninstalled"), "{o}");
    assert!(!env.auth_path().exists(), "credentials removed");
    assert!(!env.config_dir.exists(), "config root removed");
    assert!(!install.exists(), "TWG_INSTALL_DIR removed");
    for name in ["twg", "twgd"] {
        assert!(
            std::fs::symlink_metadata(bin_dir.join(name)).is_err(),
            "launcher {name} removed"
        );
    }
    assert_eq!(
        std::fs::read(bin_dir.join("not-twg")).unwrap(),
        b"keep",
        "other files in TWG_BIN_DIR are left alone"
    );
    assert_eq!(
        idp.refresh_token_state(&refresh_token)["usable"],
        false,
        "revoked at the server"
    );
    wait_until("twgd to exit", LIMIT, || !env.socket.exists());
}

// ---------------------------------------------------------------------------------------
// 6. README "Coding agents and sandboxes": the first match wins, in the README's order.

/// The README's signal table: each row's variables with the agent they name, in order.
fn readme_agent_rows() -> Vec<(String, String)> {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("| Signal")
        .expect("the README's agent signal table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

/// The agent the README's table names for `vars` set at once: the earliest row that lists
/// one of them.
fn readme_winner(vars: &[(&str, &str)]) -> String {
    let rows = readme_agent_rows();
    let row_of = |var: &str| {
        rows.iter()
            .position(|(signals, _)| {
                signals.contains(&format!("`{var}`")) || signals.contains(&format!("`{var}="))
            })
            .unwrap_or_else(|| panic!("{var} is not in the README's table: {rows:?}"))
    };
    let first = vars.iter().map(|(v, _)| row_of(v)).min().unwrap();
    match rows[first].1.as_str() {
        "Codex" => "codex",
        "Claude Code" => "claude-code",
        "Cursor" => "cursor",
        "Gemini CLI" => "gemini-cli",
        "unknown sandbox" => "unknown-sandbox",
        other => panic!("unknown agent `{other}` in the README"),
    }
    .to_string()
}

#[test]
fn with_two_agents_detected_the_one_the_readme_puts_first_is_recorded() {
    let idp = Idp::start(&[]);
    let env = logged_in(&idp);
    let _daemon = env.start_daemon();
    // (variables set together, the winner): a sandbox marker outranks an agent's name,
    // an agent's name outranks a generic sandbox.
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("CLAUDECODE", "1"), ("CURSOR_SANDBOX", "1")], "cursor"),
        (
            &[("CODEX_THREAD_ID", "thread-1"), ("CLAUDECODE", "1")],
            "claude-code",
        ),
        (
            &[("CURSOR_AGENT", "1"), ("SANDBOX", "sandbox-exec")],
            "gemini-cli",
        ),
        (
            &[("container", "flatpak"), ("CLAUDECODE", "1")],
            "claude-code",
        ),
    ];
    for (vars, expected) in cases {
        assert_eq!(
            &readme_winner(vars),
            expected,
            "the README's table order for {vars:?}"
        );
        let mut cmd = env.twg_cmd(&["auth", "token"]);
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let mut proc = Proc {
            child: cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        let pid = u64::from(proc.pid());
        let mut status = None;
        wait_until("twg auth token", LIMIT, || {
            status = proc.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(status.unwrap().success(), "twg auth token with {vars:?}");
        let mut agent = serde_json::Value::Null;
        wait_until("the hand-out in the audit log", LIMIT, || {
            let out = twg(&env, &["--json", "auth", "audit"]);
            let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            match log["records"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["pid"] == pid)
            {
                Some(r) => {
                    agent = r["agent"].clone();
                    true
                }
                None => false,
            }
        });
        assert_eq!(agent, *expected, "{vars:?}");
    }
}
