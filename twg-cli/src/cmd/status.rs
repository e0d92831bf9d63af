//! `twg auth status`: who is logged in, from which source, and the token's state.

use crate::ctx::Ctx;
use crate::daemon_client::{self, Reply};
use crate::report::CliError;
use serde::Serialize;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;
use twg_common::time::{format_unix, relative};

#[derive(Debug, clap::Args)]
pub struct Cmd {}

/// What `auth status` and `doctor` report. Never a secret.
#[derive(Debug, Serialize, Default)]
pub struct Snapshot {
    /// "delegated" (`TWG_OAUTH_ACCESS_TOKEN`), "env" (`TWG_TOKEN`), "oauth" or "none".
    pub source: String,
    pub user: String,
    pub site: String,
    /// The cloud id (`TWG_CLOUD_ID`) that comes with a delegated token.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cloud_id: String,
    pub issuer: String,
    /// The OAuth client of the login (never its secret).
    pub client_id: String,
    /// "none" (public client), "client_secret_basic" or "client_secret_post".
    pub client_auth: String,
    /// How the login was made: "device", "authorization_code" (`--web`), or "" when unknown.
    pub grant: String,
    pub backend: String,
    pub access_expires_at: i64,
    pub next_refresh_at: i64,
    pub last_refresh_at: i64,
    pub has_refresh_token: bool,
    pub has_bitbucket_token: bool,
    pub credentials_path: String,
    pub daemon: Option<DaemonInfo>,
    pub daemon_error: Option<String>,
    pub last_error: Option<String>,
    pub load_error: Option<String>,
    /// Set when the newest credentials are not in auth.conf: where they are, what to do.
    pub unsaved: Option<String>,
    /// Set when the refresh token must not be sent again: why, and what to do.
    pub halted: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DaemonInfo {
    pub version: String,
    pub protocol_version: u32,
    pub pid: u32,
    pub uptime_seconds: u64,
    pub socket: String,
}

/// Gathers the snapshot: environment first, then the daemon, then the file.
pub async fn snapshot(ctx: &Ctx) -> Result<Snapshot, CliError> {
    let mut s = Snapshot::default();
    let root = ctx.root()?;
    s.credentials_path = twg_common::paths::auth_file(&root).display().to_string();
    // An untrusted or silent daemon is reported here, not fatal: status still shows the
    // stored state.
    let req = pb::StatusRequest {
        client: Some(ctx.client_info()),
    };
    match daemon_client::ask(ctx, |mut c| async move {
        c.status(daemon_client::quick(req)).await
    })
    .await
    {
        Ok(Reply::Answered(r)) => {
            s.daemon = Some(DaemonInfo {
                version: r.package_version,
                protocol_version: r.protocol_version,
                pid: r.pid,
                uptime_seconds: r.uptime_seconds,
                socket: r.socket_path,
            });
            if let Some(c) = r.credentials {
                s.next_refresh_at = c.next_refresh_at;
                s.last_refresh_at = c.last_refresh_at;
                s.last_error = Some(c.last_error).filter(|e| !e.is_empty());
                s.unsaved = Some(c.unsaved).filter(|e| !e.is_empty());
            }
        }
        Ok(Reply::NotRunning(why) | Reply::NotResponding(why)) => s.daemon_error = Some(why),
        Err(e) => s.daemon_error = Some(e.message),
    }
    if let Some(env) = crate::envmode::from_env()? {
        s.source = env.kind.source().into();
        s.user = env.user;
        s.site = env.site.unwrap_or_default();
        s.cloud_id = env.cloud_id.unwrap_or_default();
        s.access_expires_at = env.expires_at.unwrap_or(0);
        s.has_bitbucket_token = env.bitbucket_token.is_some();
        s.backend = "environment".into();
        return Ok(s);
    }
    let config = ctx.config();
    let backend = config.as_ref().map(|c| c.backend).unwrap_or_default();
    s.backend = backend.as_str().into();
    let store = twg_common::store::Store::new(&root, backend);
    match store.load() {
        Ok(Some(mut l)) => {
            s.backend = l.backend.as_str().into();
            let records = twg_common::recovery::read_all(&root);
            let newest =
                twg_common::recovery::newest(&l.credentials, records.iter().map(|f| &f.pending))
                    .map(|p| p.spent.clone());
            if let Some(found) =
                newest.and_then(|spent| records.iter().find(|f| f.pending.spent == spent))
            {
                l.credentials = found.pending.credentials.clone();
                s.unsaved.get_or_insert_with(|| {
                    format!(
                        "the newest credentials are in the recovery record {} because {} could not be written; \
                         make the config directory writable, then run `twg auth refresh`",
                        found.path.display(),
                        s.credentials_path
                    )
                });
            }
            let c = &l.credentials;
            s.has_bitbucket_token = c.bitbucket_token.is_some();
            s.user = c
                .user
                .as_ref()
                .map(twg_common::store::UserInfo::label)
                .unwrap_or_default();
            s.site = c
                .site
                .as_ref()
                .map(twg_common::store::SiteInfo::label)
                .unwrap_or_default();
            if let Some(o) = &c.oauth {
                s.source = "oauth".into();
                s.issuer = o.issuer.clone();
                if !twg_common::api_token::is_api_token(o) {
                    s.client_id = o.client_id.clone();
                    s.client_auth = o.client_auth.as_str().into();
                    s.grant = o.grant_name().to_string();
                }
                s.access_expires_at = o.expires_at;
                s.has_refresh_token = o.refresh_token.is_some();
                s.halted = o.halted.as_ref().map(|h| match h.reason {
                    twg_common::store::HaltReason::Revoked => {
                        "the server rejected the refresh token; run `twg login`".to_string()
                    }
                    twg_common::store::HaltReason::AnswerLost => {
                        "the answer to the last refresh was lost and the server may have rotated the refresh \
                         token, so twg will not send it again; run `twg login`"
                            .to_string()
                    }
                });
                if s.daemon.is_none() {
                    s.next_refresh_at = o.refresh_due_at();
                    s.last_refresh_at = o.obtained_at;
                }
            } else {
                s.source = "none".into();
            }
        }
        Ok(None) => s.source = "none".into(),
        Err(e) => {
            s.source = "none".into();
            s.load_error = Some(e.to_string());
        }
    }
    Ok(s)
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let s = snapshot(ctx).await?;
        if ctx.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&s).expect("serialisable")
            );
        } else {
            print_text(&s);
        }
        if let Some(e) = s.load_error {
            return Err(CliError::new(ErrorCode::ConfigCorrupt, e));
        }
        if s.source == "none" {
            return Err(CliError::new(
                ErrorCode::NotLoggedIn,
                "not logged in; run `twg login` (or set TWG_TOKEN and TWG_USER for CI)",
            ));
        }
        Ok(())
    }
}

/// "web (authorization code + PKCE)" / "device code", for people.
pub fn grant_label(grant: &str) -> Option<&'static str> {
    match grant {
        "authorization_code" => Some("web (authorization code with PKCE)"),
        "device" => Some("device code"),
        _ => None,
    }
}

fn print_text(s: &Snapshot) {
    let source = match s.source.as_str() {
        "delegated" => "delegated access token (TWG_OAUTH_ACCESS_TOKEN; never refreshed or stored)",
        "env" => "environment variables (TWG_TOKEN)",
        "oauth" => "OAuth login",
        _ => "none",
    };
    println!("Credentials source: {source}");
    if !s.user.is_empty() {
        println!("User:               {}", s.user);
    }
    if !s.site.is_empty() {
        println!("Site:               {}", s.site);
    }
    if !s.cloud_id.is_empty() {
        println!("Cloud id:           {}", s.cloud_id);
    }
    if s.source == "delegated" {
        if s.access_expires_at > 0 {
            println!(
                "Access token:       expires {} ({})",
                relative(s.access_expires_at),
                format_unix(s.access_expires_at)
            );
        } else {
            println!("Access token:       opaque (its expiry is known only to the server)");
        }
    }
    if s.source == "oauth" {
        println!("Issuer:             {}", s.issuer);
        if !s.client_id.is_empty() {
            println!("Client:             {} ({})", s.client_id, s.client_auth);
        }
        if let Some(how) = grant_label(&s.grant) {
            println!("Login method:       {how}");
        }
        println!(
            "Access token:       expires {} ({})",
            relative(s.access_expires_at),
            format_unix(s.access_expires_at)
        );
        println!("Next refresh:       {}", relative(s.next_refresh_at));
        println!("Last refresh:       {}", relative(s.last_refresh_at));
        println!(
            "Refresh token:      {}",
            if s.has_refresh_token {
                "present"
            } else {
                "none"
            }
        );
        println!(
            "Stored in:          {} ({} backend)",
            s.credentials_path, s.backend
        );
    }
    println!(
        "Bitbucket token:    {}",
        if s.has_bitbucket_token {
            "set"
        } else {
            "not set"
        }
    );
    match &s.daemon {
        Some(d) => println!(
            "Daemon:             running (twgd {}, pid {}, up {}s)",
            d.version, d.pid, d.uptime_seconds
        ),
        None => match &s.daemon_error {
            Some(e) if e.contains("refusing") || e.contains("not responding") => {
                println!("⚠ Daemon:           {e}")
            }
            _ => println!("Daemon:             not reachable; twg refreshes directly"),
        },
    }
    if let Some(u) = &s.unsaved {
        println!("⚠ Unsaved:          {u}");
    }
    if let Some(h) = &s.halted {
        println!("⚠ Session halted:   {h}");
    }
    if let Some(e) = &s.last_error {
        println!("Last error:         {e}");
    }
}
