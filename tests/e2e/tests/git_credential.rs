//! The git credential helper with real git: `twg setup git` writes git's global config
//! (idempotently, where `GIT_CONFIG_GLOBAL` says), `git credential fill` gets the stored
//! Bitbucket token for Bitbucket origins and nothing for others, `store`/`erase` never
//! change the token, and `git clone` from a loopback server that requires the token
//! (`git http-backend` behind Basic auth) succeeds without a prompt.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use twg_e2e::{Env, Proc, bin, text};

const BB: &str = "bb-api-token-8c2f";
const STATIC_USER: &str = "x-bitbucket-api-token-auth";

/// An environment whose git reads and writes only `<dir>/gitconfig` and never prompts.
fn git_env() -> Env {
    let mut env = Env::new("http://127.0.0.1:9");
    let global = env.dir.path().join("gitconfig");
    env.set("GIT_CONFIG_GLOBAL", global.to_str().unwrap());
    env.set("GIT_CONFIG_NOSYSTEM", "1");
    env.set("GIT_TERMINAL_PROMPT", "0");
    env
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{:?}", text(&out));
    out
}

fn set_bitbucket_token(env: &Env, token: &str) {
    ok(env.twg_with_stdin(&["setup", "bitbucket", "--with-token"], token.as_bytes()));
}

fn git(env: &Env, args: &[&str]) -> Output {
    env.command("git").args(args).output().expect("run git")
}

fn git_with_stdin(env: &Env, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = env
        .command("git")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn git");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn fill(env: &Env, request: &str) -> Output {
    git_with_stdin(env, &["credential", "fill"], request)
}

fn helper_values(env: &Env, origin: &str) -> Vec<String> {
    let out = git(
        env,
        &[
            "config",
            "--global",
            "--get-all",
            &format!("credential.{origin}.helper"),
        ],
    );
    text(&out).0.lines().map(str::to_string).collect()
}

fn helper(env: &Env, op: &str, request: &str) -> Output {
    ok(env.twg_with_stdin(&["auth", "git-credential", op], request.as_bytes()))
}

#[test]
fn git_credential_fill_answers_for_bitbucket_and_nothing_else() {
    let env = git_env();
    set_bitbucket_token(&env, BB);
    for _ in 0..2 {
        ok(env.twg(&["setup", "git"]));
    }
    assert_eq!(
        helper_values(&env, "https://bitbucket.org"),
        [
            String::new(),
            format!("!'{}' auth git-credential", bin("twg").display())
        ],
        "a reset, then twg, once however often setup runs"
    );
    assert!(
        !env.home.join(".gitconfig").exists(),
        "GIT_CONFIG_GLOBAL decides where"
    );

    let out = ok(fill(
        &env,
        "protocol=https\nhost=bitbucket.org\npath=ws/repo.git\n\n",
    ));
    assert!(
        text(&out)
            .0
            .ends_with(&format!("username={STATIC_USER}\npassword={BB}\n")),
        "{:?}",
        text(&out)
    );
    // A username in the URL is kept.
    let out = ok(fill(
        &env,
        "protocol=https\nhost=bitbucket.org\nusername=ada\n\n",
    ));
    assert!(
        text(&out)
            .0
            .contains(&format!("username=ada\npassword={BB}\n"))
    );

    // Other origins: no answer from the helper itself...
    for request in [
        "protocol=https\nhost=github.com\n",
        "protocol=http\nhost=bitbucket.org\n",
        "protocol=https\nhost=bitbucket.org.evil.test\n",
        "protocol=https\nhost=bitbucket.org:8443\n",
    ] {
        let out = helper(&env, "get", request);
        assert!(out.stdout.is_empty(), "{request}: {:?}", text(&out));
    }
    // ...and, with twg as every host's helper, real git gets nothing for them either.
    let twg_everywhere = format!(
        "credential.helper=!'{}' auth git-credential",
        bin("twg").display()
    );
    let out = git_with_stdin(
        &env,
        &["-c", &twg_everywhere, "credential", "fill"],
        "protocol=https\nhost=github.com\n\n",
    );
    assert!(!out.status.success());
    assert!(!text(&out).0.contains(BB));

    // git run by `twg exec` (whose command holds an OAuth token in its environment) still
    // gets the stored Bitbucket token.
    let out = env
        .twg_cmd(&["exec", "--", "git", "credential", "fill"])
        .env("TWG_TOKEN", "ci-oauth-token")
        .env("TWG_USER", "ci@example.test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"protocol=https\nhost=bitbucket.org\n\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        text(&out).0.ends_with(&format!("password={BB}\n")),
        "{:?}",
        text(&out)
    );

    // store and erase never touch the stored token.
    let rejected =
        format!("protocol=https\nhost=bitbucket.org\nusername={STATIC_USER}\npassword={BB}\n\n");
    let out = ok(git_with_stdin(&env, &["credential", "reject"], &rejected));
    assert!(
        text(&out).1.contains("twg setup bitbucket"),
        "{:?}",
        text(&out)
    );
    ok(git_with_stdin(
        &env,
        &["credential", "approve"],
        "protocol=https\nhost=bitbucket.org\nusername=x\npassword=typed-at-a-prompt\n\n",
    ));
    assert_eq!(env.credentials().bitbucket_token.unwrap().expose(), BB);

    // A configured username; then removal leaves git without an answer.
    ok(env.twg(&["setup", "git", "--username", "ada-bb"]));
    let out = ok(fill(&env, "protocol=https\nhost=bitbucket.org\n\n"));
    assert!(
        text(&out)
            .0
            .contains(&format!("username=ada-bb\npassword={BB}\n"))
    );
    ok(env.twg(&["setup", "git", "--remove"]));
    assert!(helper_values(&env, "https://bitbucket.org").is_empty());
    assert!(
        !fill(&env, "protocol=https\nhost=bitbucket.org\n\n")
            .status
            .success()
    );
}

/// `twg-git-server` serving `root`, accepting `user` and `password` only; the request log.
fn git_server(
    env: &Env,
    root: &Path,
    user: &str,
    password: &str,
) -> (Proc, String, Arc<Mutex<Vec<String>>>) {
    let mut proc = Proc {
        child: env
            .command(bin("twg-git-server"))
            .arg(root)
            .arg(user)
            .env("TWG_GIT_SERVER_PASSWORD", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn twg-git-server"),
    };
    let mut reader = BufReader::new(proc.child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("TWG_GIT_SERVER_URL=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    (proc, url, log)
}

/// A bare repository `repo.git` under `root` with one commit holding `README`.
fn make_repo(env: &Env, root: &Path) {
    let work = env.dir.path().join("work");
    let w = work.to_str().unwrap();
    ok(git(env, &["init", "-q", "-b", "main", w]));
    std::fs::write(work.join("README"), "hello from the server\n").unwrap();
    ok(git(env, &["-C", w, "add", "README"]));
    ok(git(
        env,
        &[
            "-C",
            w,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.test",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    ));
    let bare = root.join("repo.git");
    ok(git(
        env,
        &["clone", "-q", "--bare", w, bare.to_str().unwrap()],
    ));
}

#[test]
fn git_clone_over_http_uses_the_stored_token_without_a_prompt() {
    let env = git_env();
    let root = env.dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    make_repo(&env, &root);
    let (_server, url, log) = git_server(&env, &root, STATIC_USER, BB);
    let repo_url = format!("{url}/repo.git");
    let clone = |dir: &str| {
        let dest = env.dir.path().join(dir);
        (
            git(&env, &["clone", "-q", &repo_url, dest.to_str().unwrap()]),
            dest,
        )
    };

    // The server requires the token: without the helper, no prompt, no clone.
    let (out, _) = clone("no-helper");
    assert!(!out.status.success());

    set_bitbucket_token(&env, BB);
    // Plain http to a non-loopback host would expose the token: refused, nothing written.
    let out = env.twg(&["setup", "git", "--host", "http://git.example.test"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(!env.config_dir.join("config.toml").exists());

    ok(env.twg(&["setup", "git", "--host", &url]));
    let config = std::fs::read_to_string(env.config_dir.join("config.toml")).unwrap();
    assert!(config.contains(&format!("hosts = [\"{url}\"]")), "{config}");
    let (out, dest) = clone("with-helper");
    assert!(
        out.status.success(),
        "{:?}\nserver: {:?}",
        text(&out),
        log.lock().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("README")).unwrap(),
        "hello from the server\n"
    );
    assert!(
        log.lock().unwrap().iter().any(|l| l.ends_with(" 200")),
        "the server served the clone: {:?}",
        log.lock().unwrap()
    );

    // A token the server refuses: the clone fails, git's erase says what to do, and the
    // stored token stays (erase never deletes it).
    set_bitbucket_token(&env, "revoked-token");
    let (out, _) = clone("refused");
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("twg setup bitbucket"),
        "{:?}",
        text(&out)
    );
    assert_eq!(
        env.credentials().bitbucket_token.unwrap().expose(),
        "revoked-token"
    );
}
