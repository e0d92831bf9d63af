//! `twg setup git [--host H]… [--username U] [--remove]`: makes git ask twg for Bitbucket
//! credentials, through `git config --global` (so `HOME` and `GIT_CONFIG_GLOBAL` decide
//! which file, as for any git command).
//!
//! For each origin it sets `credential.<origin>.helper` to an empty value and then to twg,
//! as `gh auth setup-git` does: the empty value clears helpers inherited from wider
//! scopes (a system-wide `store`), so git neither asks them first nor saves the token in
//! them. Running it again gives the same configuration.

use super::hosts::{BITBUCKET_CLOUD, GitSettings, Origin};
use crate::ctx::Ctx;
use crate::report::CliError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The arguments git runs the helper with (after the program).
const HELPER_ARGS: &str = "auth git-credential";

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// A self-hosted Bitbucket (Data Center) to use the token with: a host name (https) or
    /// an origin URL such as `https://git.example.com:8443` (plain http only for loopback
    /// addresses). Repeat for several. Without it: bitbucket.org.
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Answer git with this username instead of `x-bitbucket-api-token-auth` (for example
    /// your Bitbucket username); saved in config.toml. A username in the repository's URL
    /// always wins.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Remove twg from git's configuration instead: for the given hosts, or without
    /// `--host` for bitbucket.org and every host twg was set up for.
    #[arg(long)]
    pub remove: bool,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let mut origins = Vec::new();
        for raw in &self.host {
            origins.push(Origin::parse_user(raw).map_err(CliError::usage)?);
        }
        if let Some(u) = &self.username
            && (u.trim().is_empty() || u.contains(['\n', '\r', '\0']))
        {
            return Err(CliError::usage(
                "--username needs a name on one line (your Bitbucket username, or leave it out \
                 for x-bitbucket-api-token-auth)",
            ));
        }
        let root = ctx.root()?;
        let config_path = twg_common::paths::config_file(&root);
        if self.remove {
            if origins.is_empty() {
                origins = GitSettings::load(&root)?.hosts;
            }
            for origin in &origins {
                unset_helper(origin)?;
            }
            edit_git_config(&config_path, &origins, None, false)?;
            return report(ctx, "removed", &origins, None);
        }
        if origins.is_empty() {
            origins.push(Origin::parse_user(BITBUCKET_CLOUD).map_err(CliError::failure)?);
        }
        // config.toml first: git asking twg about a host twg does not list yet would get
        // no answer.
        edit_git_config(&config_path, &origins, self.username.as_deref(), true)?;
        let helper = helper_value(&helper_program());
        for origin in &origins {
            set_helper(origin, &helper)?;
        }
        let settings = GitSettings::load(&root)?;
        report(ctx, "configured", &origins, Some(&settings.username))?;
        if !ctx.json && !has_token(ctx) {
            eprintln!(
                "! No Bitbucket token is stored yet: run `twg setup bitbucket` (an API token with the \
                 read:repository:bitbucket and write:repository:bitbucket scopes)"
            );
        }
        Ok(())
    }
}

fn report(
    ctx: &Ctx,
    what: &str,
    origins: &[Origin],
    username: Option<&str>,
) -> Result<(), CliError> {
    let list: Vec<&str> = origins.iter().map(Origin::as_str).collect();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ what: list, "username": username, "git_config": git_config_file() })
        );
    } else if what == "removed" {
        println!(
            "✔ git no longer asks twg for {} ({})",
            list.join(", "),
            git_config_file()
        );
    } else {
        println!(
            "✔ git asks twg for {} credentials ({}); username {}",
            list.join(", "),
            git_config_file(),
            username.unwrap_or_default()
        );
    }
    Ok(())
}

/// The global git config file git writes, for messages.
fn git_config_file() -> String {
    if let Some(p) = std::env::var_os("GIT_CONFIG_GLOBAL") {
        return PathBuf::from(p).display().to_string();
    }
    "~/.gitconfig".into()
}

fn has_token(ctx: &Ctx) -> bool {
    super::credential::bitbucket_token(ctx).is_ok_and(|t| t.is_some())
}

/// The twg git should run: the stable launcher path `twg update` keeps (through
/// `current`) when that is this binary, so an update never leaves git pointing at a
/// removed version; otherwise the `twg` beside this binary (the name users know; it hands
/// `auth git-credential` to this one).
fn helper_program() -> PathBuf {
    let me = crate::path_check::front().ok();
    if let (Some(me), Some(layout)) = (&me, crate::os_service::layout::Layout::resolve()) {
        let stable = layout.stable("twg");
        if let (Ok(a), Ok(b)) = (std::fs::canonicalize(&stable), std::fs::canonicalize(me))
            && a == b
        {
            return stable;
        }
    }
    me.unwrap_or_else(|| PathBuf::from("twg"))
}

/// `!'<twg>' auth git-credential`: git runs a value starting with `!` through the shell,
/// so the path is single-quoted (sh also runs it on Windows, in Git for Windows).
fn helper_value(program: &Path) -> String {
    let mut path = program.display().to_string();
    if cfg!(windows) {
        path = path.replace('\\', "/");
    }
    format!("!'{}' {HELPER_ARGS}", path.replace('\'', r"'\''"))
}

fn helper_key(origin: &Origin) -> String {
    format!("credential.{origin}.helper")
}

fn set_helper(origin: &Origin, helper: &str) -> Result<(), CliError> {
    let key = helper_key(origin);
    git_config(&["--replace-all", &key, ""])?;
    git_config(&["--add", &key, helper])?;
    Ok(())
}

/// Removes twg's two values (the empty one and twg itself), leaving any other helper the
/// user added for this origin.
fn unset_helper(origin: &Origin) -> Result<(), CliError> {
    let pattern = format!("^(!.* {HELPER_ARGS})?$");
    match git_config(&["--unset-all", &helper_key(origin), &pattern]) {
        // 5: nothing to unset (already removed, or never set up).
        Err(GitFailed { code: Some(5), .. }) => Ok(()),
        other => other.map(drop).map_err(CliError::from),
    }
}

/// `git config --global …` failed.
#[derive(Debug)]
struct GitFailed {
    code: Option<i32>,
    message: String,
}

impl From<GitFailed> for CliError {
    fn from(e: GitFailed) -> Self {
        CliError::failure(e.message)
    }
}

fn git_config(args: &[&str]) -> Result<(), GitFailed> {
    let mut cmd = Command::new("git");
    cmd.args(["config", "--global"]).args(args);
    twg_common::child_env::scrub(&mut cmd);
    let out = cmd.output().map_err(|e| GitFailed {
        code: None,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "git is not installed (or not on PATH); install git, then run `twg setup git` again"
                .into()
        } else {
            format!("cannot run git: {e}; check that git works, then run `twg setup git` again")
        },
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(GitFailed {
        code: out.status.code(),
        message: format!(
            "`git config --global {}` failed: {}; fix git's global configuration ({}), then run \
             `twg setup git` again",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim(),
            git_config_file()
        ),
    })
}

/// Adds (`add`) or removes the non-default origins in `[git] hosts` of config.toml and sets
/// `username`, keeping the rest of the file (comments included). Atomic, like every save.
fn edit_git_config(
    path: &Path,
    origins: &[Origin],
    username: Option<&str>,
    add: bool,
) -> Result<(), CliError> {
    crate::config_edit::edit_table(path, "git", |git| {
        let mut hosts: Vec<String> = git
            .get("hosts")
            .and_then(|h| h.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let same = |raw: &str, o: &Origin| Origin::parse_user(raw).is_ok_and(|p| &p == o);
        for origin in origins.iter().filter(|o| !o.is_cloud()) {
            hosts.retain(|h| !same(h, origin));
            if add {
                hosts.push(origin.as_str().to_string());
            }
        }
        if hosts.is_empty() {
            git.remove("hosts");
        } else {
            git.insert(
                "hosts",
                toml_edit::value(toml_edit::Array::from_iter(hosts)),
            );
        }
        if let Some(u) = username {
            git.insert("username", toml_edit::value(u.trim()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_value_quotes_the_path_for_the_shell() {
        assert_eq!(
            helper_value(Path::new("/opt/my twg/twg")),
            "!'/opt/my twg/twg' auth git-credential"
        );
        assert_eq!(
            helper_value(Path::new("/o'brien/twg")),
            r"!'/o'\''brien/twg' auth git-credential"
        );
    }
}
