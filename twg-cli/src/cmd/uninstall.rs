//! `twg uninstall`: disable the service, revoke and remove the credentials, and delete every
//! local twg file: config root (auth.conf, config.toml, admin.conf, upkeep.json), state,
//! runtime directory, the install layout and its launchers.
//!
//! The plan is computed once and shown by `--dry-run`; a real run removes exactly that list.
//! A directory is only removed when it is twg's own: never `/`, the home directory or one
//! of its ancestors, even if an environment variable points there.

use crate::ctx::Ctx;
use crate::os_service::layout::Layout;
use crate::report::CliError;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use twg_common::logout::Revocation;

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// List exactly what would be removed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// One path to remove and why it is twg's.
#[derive(Debug, Clone, serde::Serialize)]
struct Item {
    path: PathBuf,
    what: String,
}

#[derive(Debug, serde::Serialize)]
struct Plan {
    service: Option<String>,
    credentials: Option<String>,
    remove: Vec<Item>,
    /// Paths that look like twg's but are not removed (shared directories).
    kept: Vec<Item>,
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let plan = plan(ctx)?;
        if self.dry_run {
            print_plan(ctx, &plan, true);
            return Ok(());
        }
        if !self.yes {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "`twg uninstall` removes your credentials and all twg files, so it asks first, but stdin is not a terminal; see the list with `twg uninstall --dry-run`, then pass --yes",
                ));
            }
            print_plan(ctx, &plan, true);
            if !crate::ui::prompt::confirm("Remove all of this?", false) {
                return Err(CliError::failure(
                    "uninstall cancelled; nothing was changed",
                ));
            }
        }
        execute(ctx, plan).await
    }
}

fn plan(ctx: &Ctx) -> Result<Plan, CliError> {
    let mut candidates: Vec<Item> = Vec::new();
    let mut add = |path: PathBuf, what: &str| {
        candidates.push(Item {
            path,
            what: what.to_string(),
        })
    };
    let root = ctx.root()?;
    if owned_by_twg(&root) {
        let contents = list_names(&root);
        add(
            root.clone(),
            &if contents.is_empty() {
                "config root".to_string()
            } else {
                format!("config root: {}", contents.join(", "))
            },
        );
    } else {
        // A config root twg shares with others (say TWG_CONFIG_DIR=~/.config): only twg's
        // own files go.
        for name in CONFIG_FILES {
            add(root.join(name), &format!("{name} in the config root"));
        }
    }
    add(
        twg_common::paths::state_dir()?,
        "state (audit log, daemon log)",
    );
    let runtime = twg_common::paths::runtime_dir()?;
    add(runtime.clone(), "runtime directory (daemon socket)");
    let socket = ctx.socket()?;
    for (path, what) in [
        (
            twg_common::paths::agent_socket_path(&socket),
            "agent socket",
        ),
        (
            twg_common::paths::api_socket_path(&socket),
            "API proxy socket",
        ),
    ] {
        if path.parent() != Some(runtime.as_path()) {
            add(path, what);
        }
    }
    if socket.parent() != Some(runtime.as_path()) {
        add(twg_common::paths::pid_file(&socket), "daemon pidfile");
        add(socket, "daemon socket");
    }
    if let Some(layout) = Layout::resolve() {
        for (link, _) in layout.launchers() {
            if layout.is_our_launcher(&link) {
                add(link, "launcher");
            }
        }
        let versions = layout.installed_versions();
        add(
            layout.root.clone(),
            &if versions.is_empty() {
                "install directory".to_string()
            } else {
                format!("install directory: versions {}", versions.join(", "))
            },
        );
    }
    let mut remove: Vec<Item> = Vec::new();
    let mut kept = Vec::new();
    for item in candidates {
        if std::fs::symlink_metadata(&item.path).is_err() {
            continue;
        }
        if remove.iter().any(|r| item.path.starts_with(&r.path)) {
            continue; // inside a directory already listed
        }
        let is_dir = std::fs::symlink_metadata(&item.path).is_ok_and(|m| m.is_dir());
        if is_shared(&item.path)
            || (is_dir && !owned_by_twg(&item.path) && !item.path.starts_with(&root))
        {
            kept.push(item);
        } else {
            // A later, wider directory swallows earlier entries inside it.
            remove.retain(|r| !r.path.starts_with(&item.path));
            remove.push(item);
        }
    }
    let config = ctx.config().ok();
    let credentials = config.as_ref().and_then(|c| {
        let store = ctx.store(c);
        store.load().ok().flatten().map(|_| {
            format!(
                "revoke the stored credentials at the server, then remove them ({})",
                store.auth_path().display()
            )
        })
    });
    Ok(Plan {
        service: crate::os_service::describe(),
        credentials,
        remove,
        kept,
    })
}

fn list_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What twg creates in its config root; removed one by one when the root is shared.
const CONFIG_FILES: &[&str] = &[
    "auth.conf",
    "auth.conf.lock",
    "config.toml",
    "admin.conf",
    "admin.conf.lock",
    "upkeep.json",
    "upkeep.json.lock",
    "state",
];

/// A directory is twg's own, and may go whole, only when its name says so (`twg`,
/// `twg-0`, ...): a `TWG_*` variable pointing at a shared directory must not empty it.
fn owned_by_twg(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().contains("twg"))
}

/// True for directories that must never be removed wholesale.
fn is_shared(path: &Path) -> bool {
    if !path.is_absolute() || path.parent().is_none() {
        return true;
    }
    if path == std::env::temp_dir() || path == Path::new("/tmp") {
        return true;
    }
    match crate::os_service::layout::home() {
        Some(home) => home.starts_with(path),
        None => false,
    }
}

fn print_plan(ctx: &Ctx, plan: &Plan, dry_run: bool) {
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "dry_run": dry_run, "plan": plan })
        );
        return;
    }
    println!("twg uninstall will:");
    match &plan.service {
        Some(s) => println!("  • disable and remove the {s}"),
        None => println!("  • (no upkeep service is installed)"),
    }
    println!("  • stop twgd if it runs");
    match &plan.credentials {
        Some(c) => println!("  • {c}"),
        None => println!("  • (no stored credentials to revoke)"),
    }
    if plan.remove.is_empty() {
        println!("  • (no twg files to remove)");
    } else {
        println!("  • remove:");
        for i in &plan.remove {
            println!("      {}  ({})", i.path.display(), i.what);
        }
    }
    for i in &plan.kept {
        println!(
            "  • keep {} ({}): it is a shared directory, not twg's own",
            i.path.display(),
            i.what
        );
    }
    if dry_run {
        println!("Nothing was changed (dry run).");
    }
}

async fn execute(ctx: &Ctx, plan: Plan) -> Result<(), CliError> {
    let mut log: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    match crate::upkeep_service::disable(ctx).await {
        Ok(r) => {
            if !r.removed.is_empty() || r.warning.is_some() {
                log.push("disabled the upkeep service".into());
            }
            if let Some(w) = r.warning {
                problems.push(w);
            }
        }
        Err(e) => problems.push(e.message),
    }
    if let Ok(true) = crate::daemon_client::stop_and_warn(ctx).await {
        log.push("stopped twgd".into());
    }
    let revocation = revoke(ctx).await;
    match &revocation {
        Ok(Some(Revocation::Revoked)) => log.push("revoked the credentials at the server".into()),
        Ok(Some(Revocation::Skipped(why))) => problems.push(format!("credentials not revoked ({why}); they were removed locally")),
        Ok(Some(Revocation::Failed(why))) => problems.push(format!("could not revoke the credentials ({why}); they were removed locally, so revoke access in your Atlassian account settings")),
        Ok(None) => {}
        Err(e) => problems.push(format!("could not revoke the credentials ({e}); they are removed with the config root below, so revoke access in your Atlassian account settings")),
    }
    let mut removed = Vec::new();
    for item in &plan.remove {
        let result = match std::fs::symlink_metadata(&item.path) {
            Err(_) => continue,
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&item.path),
            Ok(_) => std::fs::remove_file(&item.path),
        };
        match result {
            Ok(()) => removed.push(item.path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => removed.push(item.path.clone()),
            Err(e) => problems.push(format!(
                "cannot remove {}: {e}; remove it by hand",
                item.path.display()
            )),
        }
    }
    // Named by the front users run; its full CLI, `twg-cli`, sits beside it.
    let leftover = crate::path_check::front()
        .ok()
        .filter(|exe| exe.exists() && !plan.remove.iter().any(|i| exe.starts_with(&i.path)));
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "removed": removed, "done": log, "problems": problems,
                "revoked": matches!(revocation, Ok(Some(Revocation::Revoked))),
                "binary_left": leftover,
            })
        );
    } else {
        for l in &log {
            println!("✔ {}{}", l[..1].to_uppercase(), &l[1..]);
        }
        for p in &removed {
            println!("✔ Removed {}", p.display());
        }
        for p in &problems {
            eprintln!("! {p}");
        }
        if let Some(exe) = &leftover {
            if cfg!(target_os = "linux") && crate::cmd::update::packaged::is_package_path(exe) {
                println!(
                    "  This twg binary ({}) belongs to the twg Debian package; remove it with `sudo apt remove twg`.",
                    exe.display()
                );
            } else {
                println!(
                    "  This twg binary ({}, with twg-cli beside it) was not installed by `twg update`; delete both by hand.",
                    exe.display()
                );
            }
        }
        println!("twg is uninstalled.");
    }
    if problems.iter().any(|p| p.starts_with("cannot remove")) {
        return Err(CliError::failure(
            "some files could not be removed; see above",
        ));
    }
    Ok(())
}

/// Revokes and removes every stored credential (the Bitbucket token too). `Ok(None)` when
/// nothing was stored.
async fn revoke(ctx: &Ctx) -> Result<Option<Revocation>, String> {
    let engine = ctx.engine().map_err(|e| e.message)?;
    if engine.store().load().map_err(|e| e.to_string())?.is_none() {
        return Ok(None);
    }
    let http = engine.http().map_err(|e| e.to_string())?;
    let out = twg_common::logout::logout(engine.store(), http, true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(out.revocation))
}
