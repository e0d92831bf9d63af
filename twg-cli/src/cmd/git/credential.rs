//! `twg auth git-credential get|store|erase`: git's credential-helper protocol
//! (`git help credential`), answering for Bitbucket origins with the stored Bitbucket token.
//!
//! `get` answers only for an origin in the helper's list (see `hosts`); for any other it
//! prints nothing, so git asks its next helper. `store` and `erase` are ignored, as
//! `gh auth git-credential` ignores them: git sends `store` with whatever credential just
//! worked (possibly typed at a prompt) and `erase` whenever a server rejects one (a
//! repository the token has no scope for), and neither should replace or delete the token
//! twg keeps. It changes only through `twg setup bitbucket`.

use super::hosts::{GitSettings, Origin};
use crate::ctx::Ctx;
use crate::report::CliError;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use twg_common::secret::Secret;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// What git asks: `get` (answered for Bitbucket origins), `store` or `erase` (ignored:
    /// the token changes only with `twg setup bitbucket`). Other operations are ignored, as
    /// the protocol asks.
    #[arg(value_name = "get|store|erase")]
    pub operation: String,
}

/// A request from git: its `key=value` attributes (the last value of a repeated key).
#[derive(Default)]
pub struct Request {
    attrs: BTreeMap<String, String>,
}

/// Names only: `store` and `erase` requests carry a password.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.attrs.keys()).finish()
    }
}

impl Request {
    /// Reads attributes up to a blank line or the end of input.
    pub fn read(input: impl BufRead) -> std::io::Result<Request> {
        let mut attrs = BTreeMap::new();
        for line in input.lines() {
            let line = line?;
            if line.is_empty() {
                break;
            }
            if let Some((key, value)) = line.split_once('=') {
                attrs.insert(key.to_string(), value.to_string());
            }
        }
        Ok(Request { attrs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The origin asked about: `protocol` and `host`, else the `url` git may send instead.
    pub fn origin(&self) -> Option<Origin> {
        match (self.get("protocol"), self.get("host")) {
            (Some(p), Some(h)) => Origin::from_git(p, h),
            _ => {
                let url = url::Url::parse(self.get("url")?).ok()?;
                let host = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str()?),
                    None => url.host_str()?.to_string(),
                };
                Origin::from_git(url.scheme(), &host)
            }
        }
    }
}

/// The answer to `get`: the username git already has (from the URL) is kept, else the
/// configured one; the password is the token.
pub fn answer(request: &Request, username: &str, token: &Secret) -> Option<String> {
    let token = token.expose();
    // A value with a line break would end the answer early or inject attributes.
    if token.is_empty() || token.contains(['\n', '\r', '\0']) {
        return None;
    }
    let mut out = String::new();
    if request.get("username").is_none() {
        out.push_str(&format!("username={username}\n"));
    }
    out.push_str(&format!("password={token}\n"));
    Some(out)
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        // Read the whole request whatever the operation: git writes it before reading any
        // answer, and a helper that exits early would make that write fail.
        let request = Request::read(std::io::stdin().lock()).map_err(|e| {
            CliError::failure(format!(
                "cannot read git's request on stdin: {e}; this command is run by git (`twg setup git`)"
            ))
        })?;
        let Some(origin) = request.origin() else {
            return Ok(());
        };
        let settings = GitSettings::load(&ctx.root()?)?;
        if !settings.answers_for(&origin) {
            return Ok(());
        }
        match self.operation.as_str() {
            "get" => get(ctx, &request, &origin, &settings),
            "erase" => {
                // git erases after the server refused the credential: say how to fix it,
                // keep the token (it may be valid for other repositories).
                eprintln!(
                    "twg: {origin} refused the Bitbucket token; if it expired, was revoked or lacks the \
                     repository scopes (read:repository:bitbucket, write:repository:bitbucket), replace \
                     it with `twg setup bitbucket`"
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn get(
    ctx: &Ctx,
    request: &Request,
    origin: &Origin,
    settings: &GitSettings,
) -> Result<(), CliError> {
    let Some(token) = bitbucket_token(ctx)? else {
        eprintln!(
            "twg: no Bitbucket token is stored for {origin}; run `twg setup bitbucket` (or set \
             TWG_BBC_TOKEN with TWG_TOKEN in CI)"
        );
        return Ok(());
    };
    let Some(text) = answer(request, &settings.username, &token) else {
        eprintln!(
            "twg: the stored Bitbucket token is empty or spans several lines; replace it with `twg setup bitbucket`"
        );
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failure(format!("cannot answer git on stdout: {e}")))
}

/// The Bitbucket token: `TWG_BBC_TOKEN` in CI mode (`TWG_TOKEN` set), else the stored one.
/// Only CI mode replaces the store: an OAuth access token in the environment (the command
/// of `twg exec`) says nothing about Bitbucket, so git run from there still gets the token.
pub fn bitbucket_token(ctx: &Ctx) -> Result<Option<Secret>, CliError> {
    if std::env::var_os("TWG_TOKEN").is_some_and(|v| !v.is_empty())
        && let Some(env) = crate::envmode::from_env()?
    {
        return Ok(env.bitbucket_token);
    }
    let config = ctx.config()?;
    Ok(ctx
        .store(&config)
        .load()?
        .and_then(|l| l.credentials.bitbucket_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        Request::read(text.as_bytes()).unwrap()
    }

    #[test]
    fn reads_until_the_blank_line_and_finds_the_origin() {
        let r = request("protocol=https\nhost=bitbucket.org\npath=ws/repo.git\n\nhost=evil.test\n");
        assert_eq!(r.origin().unwrap().as_str(), "https://bitbucket.org");
        let r = request("url=http://127.0.0.1:7990/scm/x.git\n");
        assert_eq!(r.origin().unwrap().as_str(), "http://127.0.0.1:7990");
        assert!(request("protocol=https\n").origin().is_none());
    }

    #[test]
    fn the_answer_keeps_git_s_username_and_refuses_line_breaks() {
        let token = Secret::new("tok");
        let plain = request("protocol=https\nhost=bitbucket.org\n");
        assert_eq!(
            answer(&plain, "x-bitbucket-api-token-auth", &token).unwrap(),
            "username=x-bitbucket-api-token-auth\npassword=tok\n"
        );
        let named = request("protocol=https\nhost=bitbucket.org\nusername=ada\n");
        assert_eq!(answer(&named, "other", &token).unwrap(), "password=tok\n");
        assert!(answer(&plain, "u", &Secret::new("a\nhost=evil")).is_none());
        assert!(answer(&plain, "u", &Secret::new("")).is_none());
    }
}
