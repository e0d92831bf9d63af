//! Shell completions (`twg completion SHELL`) and man pages (`twg __man DIR`,
//! `twgd --write-man DIR`) come from the clap definitions: the real shells (bash, zsh, fish
//! from Debian's packages) load the scripts and complete real subcommands, and `man` renders
//! every page without a warning.

use std::path::Path;
use std::process::{Command, Output};
use twg_e2e::{bin, text};

fn completion(shell: &str) -> String {
    let out = Command::new(bin("twg"))
        .args(["completion", shell])
        .output()
        .unwrap();
    let (script, err) = text(&out);
    assert!(out.status.success(), "twg completion {shell}: {err}");
    assert!(err.is_empty(), "{err}");
    script
}

/// Runs `shell` with `args` in a throwaway HOME (fish and zsh write state there); returns
/// (success, stdout, stderr).
fn shell(program: &str, args: &[&str], home: &Path) -> (bool, String, String) {
    let out: Output = Command::new(program)
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "dumb")
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (scripts/install-test-deps.sh): {e}"));
    let (o, e) = text(&out);
    (out.status.success(), o, e)
}

#[test]
fn bash_loads_the_script_and_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("twg.bash");
    std::fs::write(&script, completion("bash")).unwrap();
    // `complete -p twg` names the function the script registered; then that function
    // completes a top-level and a nested subcommand from the clap definition.
    let probe = format!(
        r#"source {script} || exit 1
complete -p twg || exit 1
COMP_WORDS=(twg au); COMP_CWORD=1; _twg twg au twg; echo "top: ${{COMPREPLY[*]}}"
COMP_WORDS=(twg auth to); COMP_CWORD=2; _twg twg to auth; echo "nested: ${{COMPREPLY[*]}}"
COMP_WORDS=(twg completion ""); COMP_CWORD=2; _twg twg "" completion; echo "shells: ${{COMPREPLY[*]}}""#,
        script = script.display()
    );
    let (ok, out, err) = shell("bash", &["--norc", "--noprofile", "-c", &probe], dir.path());
    assert!(ok, "{out}{err}");
    assert!(err.is_empty(), "bash complained while loading: {err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("complete ") && l.contains(" -F _twg ") && l.ends_with(" twg")),
        "{out}"
    );
    assert!(out.contains("top: auth\n"), "{out}");
    assert!(out.contains("nested: token\n"), "{out}");
    for sh in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("shells: ") && l.split(' ').any(|w| w == sh)),
            "{sh} missing: {out}"
        );
    }
}

#[test]
fn zsh_parses_and_registers_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("_twg");
    std::fs::write(&script, completion("zsh")).unwrap();
    let (ok, out, err) = shell("zsh", &["-n", &script.to_string_lossy()], dir.path());
    assert!(ok && out.is_empty() && err.is_empty(), "zsh -n: {out}{err}");
    // Loaded the way a user's .zshrc would: compinit, then the script registers `_twg`.
    let probe = format!(
        "autoload -Uz compinit && compinit -u -D && source {} && print -r -- \"twg=${{_comps[twg]}}\"",
        script.display()
    );
    let (ok, out, err) = shell("zsh", &["-f", "-c", &probe], dir.path());
    assert!(ok && err.is_empty(), "{out}{err}");
    assert_eq!(out.trim(), "twg=_twg");
}

#[test]
fn fish_parses_the_script_and_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("twg.fish");
    std::fs::write(&script, completion("fish")).unwrap();
    let path = script.to_string_lossy();
    let (ok, out, err) = shell("fish", &["--no-config", "-n", &path], dir.path());
    assert!(
        ok && out.is_empty() && err.is_empty(),
        "fish -n: {out}{err}"
    );
    let probe = format!("source {path}; complete -C 'twg au'; complete -C 'twg auth to'");
    let (ok, out, err) = shell("fish", &["--no-config", "-c", &probe], dir.path());
    assert!(ok && err.is_empty(), "{out}{err}");
    let words: Vec<&str> = out.lines().filter_map(|l| l.split('\t').next()).collect();
    assert!(words.contains(&"auth"), "{out}");
    assert!(words.contains(&"token"), "{out}");
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for sh in ["powershell", "elvish"] {
        assert!(completion(sh).contains("twg"), "{sh}");
    }
    let out = Command::new(bin("twg"))
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("possible values"), "{err}");
}

/// `man --warnings` as lintian runs it: groff's warnings go to stderr.
fn man_warnings(page: &Path) -> (bool, String) {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANROFFSEQ", "")
        .env("MANWIDTH", "80")
        .output()
        .expect("man is installed (Debian package man-db)");
    let (_, err) = text(&out);
    (out.status.success(), err)
}

fn rendered(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "200")
        .env("MAN_KEEP_FORMATTING", "")
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    o
}

#[test]
fn man_pages_cover_every_command_and_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man");
    let out = Command::new(bin("twg"))
        .arg("__man")
        .arg(&man)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let out = Command::new(bin("twgd"))
        .arg("--write-man")
        .arg(&man)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);

    let mut pages: Vec<String> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "twg.1",
        "twgd.1",
        "twg-auth-token.1",
        "twg-login.1",
        "twg-completion.1",
        "twg-update.1",
        "twg-admin-auth-login.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} missing: {pages:?}");
    }
    // Hidden commands and clap's own `help` are not documented.
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("__man") || p.contains("help")),
        "{pages:?}"
    );

    for page in &pages {
        let (ok, warnings) = man_warnings(&man.join(page));
        assert!(ok && warnings.is_empty(), "{page}: {warnings}");
    }
    // The text is the clap definition's: options and their help, the exit codes.
    let token = rendered(&man.join("twg-auth-token.1"));
    assert!(token.contains("--min-valid"), "{token}");
    let twg = rendered(&man.join("twg.1"));
    assert!(
        twg.contains("completion") && twg.contains("77 login needed"),
        "{twg}"
    );
    let twgd = rendered(&man.join("twgd.1"));
    assert!(twgd.contains("--socket"), "{twgd}");
    assert!(
        !twgd.contains("write-man"),
        "the hidden flag is documented: {twgd}"
    );
}
