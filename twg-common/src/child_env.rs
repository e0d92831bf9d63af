//! Environments for child processes: no secret twg knows about leaves through them.
//!
//! twgd started by the client, browser openers, `systemctl`, `launchctl`, `schtasks` and the
//! `--version` probe of an update all inherit the caller's environment by default, which
//! may hold `TWG_TOKEN` (CI) or a proxy URL with a password.

use std::process::Command;

/// Variables that hold secrets outright.
pub const SECRET_VARS: &[&str] = &[
    "TWG_TOKEN",
    "TWG_BBC_TOKEN",
    "TWG_OAUTH_ACCESS_TOKEN",
    "TWG_OAUTH_CLIENT_SECRET",
];

/// Proxy variables, which carry credentials when written `scheme://user:pass@host`.
const PROXY_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The service manager's hand-over to the process it started (socket activation,
/// readiness). A child that inherited them could take itself for the activated twgd or
/// report readiness in its name.
pub const SERVICE_MANAGER_VARS: &[&str] = &[
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
];

/// True when `name=value` must not reach a child.
pub fn is_secret(name: &str, value: &str) -> bool {
    if SECRET_VARS.contains(&name) {
        return true;
    }
    PROXY_VARS.contains(&name)
        && url::Url::parse(value).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// Removes every secret variable of this process's environment from `cmd`'s, and the
/// service manager's hand-over variables.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for name in SERVICE_MANAGER_VARS {
        cmd.env_remove(name);
    }
    for (name, value) in std::env::vars_os() {
        let (Some(n), v) = (name.to_str(), value.to_string_lossy()) else {
            continue;
        };
        if is_secret(n, &v) {
            cmd.env_remove(&name);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_proxy_passwords_are_caught() {
        assert!(is_secret("TWG_TOKEN", "x"));
        assert!(is_secret("TWG_BBC_TOKEN", "x"));
        assert!(is_secret("HTTPS_PROXY", "http://u:p@proxy:3128"));
        assert!(!is_secret("HTTPS_PROXY", "http://proxy:3128"));
        assert!(!is_secret("PATH", "/usr/bin"));
    }
}
