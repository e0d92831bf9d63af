//! The interfaces TWG users already type: a delegated `TWG_OAUTH_ACCESS_TOKEN`,
//! `--output json|text`, `doctor`'s report of duplicate binaries, the Bitbucket prompt of a
//! first login on a terminal, and decoration only where it belongs (a real pty through
//! util-linux `script`).

use std::io::{BufRead, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use twg_e2e::{Env, Idp, bin, text};

/// A JWT-shaped token whose payload carries `exp` (the signature is never checked by twg).
fn jwt(exp: i64) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&format!(r#"{{"exp":{exp},"sub":"delegated-user"}}"#))
    )
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(out)))
}

#[test]
fn a_delegated_token_is_used_as_it_is_never_refreshed_nor_stored() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.login(&idp, &[]);
    env.make_stale();
    let stored = std::fs::read(env.auth_path()).unwrap();
    idp.reset_counters();
    let token = jwt(twg_common::time::now_unix() + 3600);
    env.set("TWG_OAUTH_ACCESS_TOKEN", &token);
    env.set("TWG_SITE", "https://delegated.example.net");
    env.set("TWG_CLOUD_ID", "cloud-1234");
    // TWG_TOKEN is documented to lose against the delegated token.
    env.set("TWG_TOKEN", "api-token-not-this-one");
    env.set("TWG_USER", "ci@example.com");

    let out = env.twg(&["auth", "token"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), token);
    let out = env.twg(&["auth", "token", "--output", "json"]);
    let v = json(&out);
    assert_eq!(v["source"], "delegated");
    assert_eq!(v["access_token"], token.as_str());
    assert_eq!(v["site"], "https://delegated.example.net");
    assert!(v["expires_at"].as_i64().unwrap() > twg_common::time::now_unix());

    // Even a stale stored login is neither refreshed nor rewritten.
    assert_eq!(
        idp.refresh_requests(),
        0,
        "a delegated token is never refreshed"
    );
    assert_eq!(std::fs::read(env.auth_path()).unwrap(), stored);

    let out = env.twg(&["auth", "status"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("delegated access token"), "{stdout}");
    assert!(stdout.contains("cloud-1234"), "{stdout}");
    assert!(!stdout.contains(&token), "status never prints the token");
    let v = json(&env.twg(&["auth", "status", "--json"]));
    assert_eq!(v["source"], "delegated");
    assert_eq!(v["cloud_id"], "cloud-1234");
    let v = json(&env.twg(&["doctor", "--json"]));
    let method = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "auth method")
        .unwrap()
        .clone();
    assert_eq!(method["status"], "ok", "{v}");
    assert!(method["detail"].as_str().unwrap().contains("delegated"));

    let out = env.twg(&["auth", "refresh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("TWG_OAUTH_ACCESS_TOKEN"),
        "{:?}",
        text(&out)
    );
    assert_eq!(idp.refresh_requests(), 0);
}

#[test]
fn an_expired_delegated_token_is_an_error_that_says_who_must_renew_it() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    let expired = jwt(twg_common::time::now_unix() - 5);
    env.set("TWG_OAUTH_ACCESS_TOKEN", &expired);
    let out = env.twg(&["auth", "token", "--json"]);
    assert_eq!(out.status.code(), Some(77), "{:?}", text(&out));
    let (stdout, stderr) = text(&out);
    assert!(stdout.is_empty(), "no token is printed: {stdout}");
    let err: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(err["error"]["code"], "DELEGATED_TOKEN_EXPIRED", "{err}");
    assert!(
        !stderr.contains(&expired),
        "the error never carries the token"
    );

    // Valid for 100 s: served by default, refused with --min-valid above that.
    let short = jwt(twg_common::time::now_unix() + 100);
    env.set("TWG_OAUTH_ACCESS_TOKEN", &short);
    assert!(env.twg(&["auth", "token"]).status.success());
    let out = env.twg(&["auth", "token", "--min-valid", "300"]);
    assert_eq!(out.status.code(), Some(77), "{:?}", text(&out));
    assert!(text(&out).1.contains("application that set it"));

    // An opaque token has no readable expiry: it is served as it is.
    env.set("TWG_OAUTH_ACCESS_TOKEN", "opaque-delegated-token");
    let out = env.twg(&["auth", "token", "--min-valid", "300"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), "opaque-delegated-token");
}

#[test]
fn output_json_is_the_json_flag_and_contradictions_are_refused() {
    let idp = Idp::start(&[]);
    let env = Env::new(&idp.url);
    env.login(&idp, &[]);
    for args in [
        &["--output", "json", "auth", "status"][..],
        &["auth", "status", "--output=json"],
        &["auth", "status", "--json"],
        &["auth", "token", "--output", "json"],
        &["--output=json", "auth", "token"],
    ] {
        let out = env.twg(args);
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
        json(&out);
    }
    let out = env.twg(&["auth", "token", "--output", "text"]);
    assert_eq!(text(&out).0.trim(), env.access_token());

    // Usage errors: with JSON asked for, the envelope is JSON.
    for args in [
        &["auth", "status", "--json", "--output", "text"][..],
        &["auth", "token", "--output", "text", "--json"],
    ] {
        let out = env.twg(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(err["error"]["code"], "USAGE", "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = env.twg(&["auth", "status", "--output", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.twg(&["auth", "status", "--output", "json", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], "USAGE");
}

fn doctor_binaries(env: &Env) -> Vec<serde_json::Value> {
    let v = json(&env.twg(&["doctor", "--json"]));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "binaries")
        .cloned()
        .collect()
}

#[test]
fn doctor_reports_duplicate_binaries_on_path_and_which_one_runs() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.login(&idp, &[]);
    let real = bin("twg");
    let real_dir = real.parent().unwrap().to_path_buf();
    // Only the binaries under test on PATH (twgd beside twg): one clean line naming both.
    // (Nothing of the system's PATH: a package test may install /usr/bin/twg meanwhile.)
    env.set("PATH", &real_dir.display().to_string());
    let checks = doctor_binaries(&env);
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["status"], "ok", "{checks:?}");
    let detail = checks[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&real.display().to_string()), "{detail}");
    assert!(detail.contains("twgd"), "{detail}");

    // A stale copy of each, earlier on PATH; a symlink to the real one is not a duplicate.
    let stale = env.dir.path().join("stale-bin");
    let links = env.dir.path().join("links");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::create_dir_all(&links).unwrap();
    for name in ["twg", "twgd"] {
        std::fs::copy(bin(name), stale.join(name)).unwrap();
        std::os::unix::fs::symlink(bin(name), links.join(name)).unwrap();
    }
    env.set(
        "PATH",
        &format!(
            "{}:{}:{}",
            links.display(),
            stale.display(),
            real_dir.display()
        ),
    );
    let checks = doctor_binaries(&env);
    let all: String = checks
        .iter()
        .map(|c| format!("{} {}\n", c["status"], c["detail"]))
        .collect();
    assert!(checks.iter().all(|c| c["status"] == "warn"), "{all}");
    let stale_twg = stale.join("twg").display().to_string();
    let stale_twgd = stale.join("twgd").display().to_string();
    assert!(
        all.contains("several different twg binaries") && all.contains(&stale_twg),
        "{all}"
    );
    assert!(all.contains(&stale_twgd), "{all}");
    assert!(
        !all.contains(&links.join("twgd").display().to_string()),
        "a link to the twgd that runs is not a duplicate: {all}"
    );
}

/// A process on a pseudo-terminal (util-linux `script`): its output, read on a thread,
/// and its input.
struct Pty {
    child: Child,
    lines: Receiver<String>,
    seen: String,
}

impl Pty {
    fn spawn(env: &Env, args: &str) -> Pty {
        let mut child = env
            .command("script")
            .args([
                "-q",
                "-e",
                "-c",
                &format!("{} {args}", bin("twg").display()),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            loop {
                // The prompt has no newline: read what is there, line or not.
                let mut buf = vec![0u8; 4096];
                match reader.fill_buf() {
                    Ok([]) | Err(_) => return,
                    Ok(_) => {}
                }
                let n = reader.read(&mut buf).unwrap_or(0);
                if tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        Pty {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads until `what` was printed; the whole output so far.
    fn expect(&mut self, what: &str) -> &str {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.seen.contains(what) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(s) => self.seen.push_str(&s),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what:?} within 20 s; the terminal showed:\n{}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "twg ended before {what:?}; the terminal showed:\n{}",
                        self.seen
                    )
                }
            }
        }
        &self.seen
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the end; the exit status and everything shown.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "twg did not end:\n{}", self.seen);
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(s) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push_str(&s);
        }
        (status, std::mem::take(&mut self.seen))
    }

    fn user_code(&mut self) -> String {
        self.expect("one-time code:");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Only the code itself: a spinner may redraw its line right after it.
            let after = self.seen.split("one-time code:").nth(1).unwrap_or("");
            let code: String = after
                .trim_start_matches(' ')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let whole = after.trim_start_matches(' ').len() > code.len();
            if !code.is_empty() && whole {
                return code;
            }
            // The rest of the line may come in the next chunk.
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(s) => self.seen.push_str(&s),
                Err(_) => panic!("no whole code in:\n{}", self.seen),
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BB_PROMPT: &str = "Bitbucket Cloud API token";

#[test]
fn a_first_login_on_a_terminal_asks_for_the_bitbucket_token_and_a_second_keeps_it() {
    let idp = Idp::start(&[]);
    let mut env = Env::new(&idp.url);
    env.set("TERM", "xterm");
    let mut pty = Pty::spawn(&env, "login --no-browser");
    pty.expect(BB_PROMPT);
    assert!(
        !pty.seen.contains("one-time code:"),
        "asked before the browser step"
    );
    // rpassword turns echo off just after printing its prompt: give it that moment, as a
    // person would, so a typed-ahead token is not echoed by the terminal itself.
    pty.expect("Bitbucket token: ");
    std::thread::sleep(Duration::from_millis(300));
    pty.type_line("bb-typed-7d1e");
    let code = pty.user_code();
    idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
    let (status, shown) = pty.finish();
    assert!(status.success(), "{shown}");
    assert!(
        !shown.contains("bb-typed-7d1e"),
        "typed without echo: {shown}"
    );
    assert_eq!(
        env.credentials()
            .bitbucket_token
            .map(|t| t.expose().to_string()),
        Some("bb-typed-7d1e".into())
    );

    // A token is stored: a second login does not ask, and keeps it.
    let mut pty = Pty::spawn(&env, "login --no-browser");
    let code = pty.user_code();
    idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
    let (status, shown) = pty.finish();
    assert!(status.success(), "{shown}");
    assert!(!shown.contains(BB_PROMPT), "{shown}");
    assert_eq!(
        env.credentials()
            .bitbucket_token
            .map(|t| t.expose().to_string()),
        Some("bb-typed-7d1e".into())
    );

    // Without a terminal, a first login never asks (stdin is /dev/null in the harness).
    let other = Env::new(&idp.url);
    let out = other.login(&idp, &[]);
    assert!(!text(&out).1.contains(BB_PROMPT));
    assert!(other.credentials().bitbucket_token.is_none());
}

#[test]
fn the_spinner_draws_only_on_a_terminal_without_no_color_or_term_dumb() {
    let idp = Idp::start(&[]);
    let spinner = |extra: &[(&str, &str)]| {
        let mut env = Env::new(&idp.url);
        env.set("TERM", "xterm");
        for (k, v) in extra {
            env.set(k, v);
        }
        // A stored Bitbucket token, so the login goes straight to the device code.
        let out = env.twg_with_stdin(&["setup", "bitbucket", "--with-token"], b"bb\n");
        assert!(out.status.success(), "{:?}", text(&out));
        let mut pty = Pty::spawn(&env, "login --no-browser");
        let code = pty.user_code();
        // Long enough for several ticks of a 100 ms spinner.
        std::thread::sleep(Duration::from_millis(800));
        idp.post("/admin/approve", serde_json::json!({ "user_code": code }));
        let (status, shown) = pty.finish();
        assert!(status.success(), "{shown}");
        shown.chars().any(|c| ('⠋'..='⠿').contains(&c))
    };
    assert!(spinner(&[]), "a terminal shows the spinner");
    assert!(!spinner(&[("NO_COLOR", "1")]), "NO_COLOR: no spinner");
    assert!(!spinner(&[("TERM", "dumb")]), "TERM=dumb: no spinner");
}
