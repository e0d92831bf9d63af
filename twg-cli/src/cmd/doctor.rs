//! `twg doctor`: check every part of the setup, mask secrets, exit non-zero on problems.

use crate::cmd::status::snapshot;
use crate::ctx::Ctx;
use crate::report::CliError;
use serde::Serialize;
use twg_common::time::relative;

#[derive(Debug, clap::Args)]
pub struct Cmd {}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    /// "ok", "warn" or "fail".
    status: &'static str,
    detail: String,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let mut checks = Vec::new();
        let mut add = |name, status, detail: String| {
            checks.push(Check {
                name,
                status,
                detail,
            })
        };
        let root = ctx.root()?;
        match ctx.config() {
            Ok(c) => add(
                "config",
                "ok",
                format!(
                    "{} (issuer {})",
                    twg_common::paths::config_file(&root).display(),
                    c.oauth.issuer
                ),
            ),
            Err(e) => add("config", "fail", e.message),
        }
        let s = snapshot(ctx).await?;
        match s.source.as_str() {
            "env" => add(
                "auth method",
                "ok",
                format!("environment variables (TWG_TOKEN) for {}", s.user),
            ),
            "delegated" => add(
                "auth method",
                if s.access_expires_at > 0 && s.access_expires_at <= twg_common::time::now_unix() {
                    "fail"
                } else {
                    "ok"
                },
                format!(
                    "delegated access token (TWG_OAUTH_ACCESS_TOKEN){}; twg never refreshes or stores it",
                    if s.access_expires_at > 0 {
                        format!(", expires {}", relative(s.access_expires_at))
                    } else {
                        String::new()
                    }
                ),
            ),
            "oauth" => add(
                "auth method",
                "ok",
                format!(
                    "OAuth login as {}{}",
                    if s.user.is_empty() {
                        "unknown user"
                    } else {
                        &s.user
                    },
                    match (
                        crate::cmd::status::grant_label(&s.grant),
                        s.client_id.is_empty()
                    ) {
                        (_, true) => String::new(),
                        (Some(how), false) =>
                            format!(" ({how}, client {} with {})", s.client_id, s.client_auth),
                        (None, false) =>
                            format!(" (client {} with {})", s.client_id, s.client_auth),
                    }
                ),
            ),
            _ => add(
                "auth method",
                "fail",
                s.load_error
                    .clone()
                    .unwrap_or_else(|| "not logged in; run `twg login`".into()),
            ),
        }
        if s.source == "oauth" {
            let now = twg_common::time::now_unix();
            if s.access_expires_at > now || s.access_expires_at == 0 {
                add(
                    "access token",
                    "ok",
                    format!("valid, expires {}", relative(s.access_expires_at)),
                );
            } else if s.has_refresh_token {
                add(
                    "access token",
                    "warn",
                    format!(
                        "expired {}; it is refreshed on next use",
                        relative(s.access_expires_at)
                    ),
                );
            } else {
                add(
                    "access token",
                    "fail",
                    "expired and no refresh token; run `twg login`".into(),
                );
            }
            add(
                "refresh token",
                if s.has_refresh_token { "ok" } else { "warn" },
                if s.has_refresh_token {
                    "present (masked)".into()
                } else {
                    "none: the session ends when the access token expires".into()
                },
            );
            add(
                "site",
                if s.site.is_empty() { "warn" } else { "ok" },
                if s.site.is_empty() {
                    "no site selected; run `twg login --site <site>`".into()
                } else {
                    s.site.clone()
                },
            );
            add(
                "backend",
                "ok",
                format!("{} ({})", s.backend, s.credentials_path),
            );
            if let Some(e) = &s.last_error {
                add("last refresh", "warn", e.clone());
            }
            if let Some(u) = &s.unsaved {
                add("unsaved credentials", "fail", u.clone());
            }
            if let Some(h) = &s.halted {
                add("session", "fail", h.clone());
            }
        }
        match &s.daemon {
            Some(d) if d.protocol_version == twg_common::rpc::PROTOCOL_VERSION => add(
                "daemon",
                "ok",
                format!(
                    "twgd {} running (pid {}, socket {})",
                    d.version, d.pid, d.socket
                ),
            ),
            Some(d) => add(
                "daemon",
                "fail",
                format!(
                    "twgd {} speaks protocol {}, twg speaks {}; run `twg daemon stop && twg daemon start`",
                    d.version,
                    d.protocol_version,
                    twg_common::rpc::PROTOCOL_VERSION
                ),
            ),
            None => add(
                "daemon",
                "warn",
                format!(
                    "{}; twg will refresh directly. Start it with `twg daemon start` or `twg upkeep enable`",
                    s.daemon_error.clone().unwrap_or_default()
                ),
            ),
        }
        let daemon = crate::daemon_client::daemon_binary();
        let mut path_warnings = crate::path_check::twg_warnings();
        path_warnings.extend(crate::path_check::twgd_warning(&daemon));
        let path_ok = path_warnings.is_empty();
        for w in path_warnings {
            add("binaries", "warn", w);
        }
        if path_ok {
            add(
                "binaries",
                "ok",
                format!(
                    "twg {} runs from {}; it starts {}",
                    env!("CARGO_PKG_VERSION"),
                    crate::path_check::front()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "an unknown path".into()),
                    daemon.display()
                ),
            );
        }
        match writable(&root) {
            Ok(()) => add(
                "config dir",
                "ok",
                format!("{} is writable", root.display()),
            ),
            // Env-mode credentials are never refreshed or saved, so CI sandboxes may be read-only.
            Err(e) if s.source == "env" || s.source == "delegated" => add(
                "config dir",
                "ok",
                format!("{e}; not needed while credentials come from the environment"),
            ),
            Err(e) if s.daemon.is_some() => add(
                "config dir",
                "warn",
                format!("{e}; fine while twgd serves tokens"),
            ),
            Err(e) => add(
                "config dir",
                "fail",
                format!(
                    "{e}; refreshing is impossible here. Start twgd outside this sandbox or run `twg auth refresh` in a normal terminal"
                ),
            ),
        }
        let failed = checks.iter().filter(|c| c.status == "fail").count();
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"ok": failed == 0, "checks": checks})
            );
        } else {
            for c in &checks {
                let mark = match c.status {
                    "ok" => "✔",
                    "warn" => "!",
                    _ => "✘",
                };
                println!("{mark} {:<14} {}", c.name, c.detail);
            }
        }
        if failed > 0 {
            let mut e = CliError::failure(format!(
                "doctor found {failed} problem(s); see the ✘ lines above"
            ));
            if ctx.json {
                e.message = format!("doctor found {failed} problem(s)");
            }
            return Err(e);
        }
        Ok(())
    }
}

fn writable(root: &std::path::Path) -> Result<(), String> {
    if !root.exists() {
        return match twg_common::atomic::parent_dir(root).metadata() {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "{} does not exist and its parent is unusable: {e}",
                root.display()
            )),
        };
    }
    twg_common::preflight::check_dir_writable(root).map_err(|e| e.to_string())
}
