//! Which `twg` and `twgd` binaries are on `PATH`, and which of them actually run.
//!
//! A stale copy earlier on `PATH` (an old `cargo install`, a package next to a manual
//! install) is the classic "I updated but nothing changed" trap: `setup` warns about it and
//! `doctor` reports it.

use std::path::{Path, PathBuf};

/// The `twg` users run: the front beside this full CLI (`twg-cli`), which answers
/// `twg auth token` itself and hands every other command here. It is the path to name in
/// messages, in the upkeep service and in git's helper, since `twg-cli` is not meant to be
/// typed.
pub fn front() -> std::io::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or_else(|| std::io::Error::other("the executable has no directory"))?;
    Ok(dir.join(crate::os_service::layout::exe("twg")))
}

/// Every `name` on `PATH`, in search order (absolute directories only, as a shell does
/// for security).
pub fn on_path(name: &str) -> Vec<PathBuf> {
    let name = crate::os_service::layout::exe(name);
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(&name))
        .filter(|p| p.is_file())
        .collect()
}

/// Whether two paths are the same file (after following links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The entries of `found` that are different files (links to one file count once).
pub fn distinct(found: &[PathBuf]) -> Vec<&PathBuf> {
    let mut out: Vec<&PathBuf> = Vec::new();
    for p in found {
        if !out.iter().any(|d| same_file(d, p)) {
            out.push(p);
        }
    }
    out
}

/// "a, b, c".
pub fn list(paths: &[&PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Is `twg` on PATH this install's front, is it the only one, and is it there at all?
pub fn twg_warnings() -> Vec<String> {
    let Ok(me) = front() else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    if !me.is_file() {
        warnings.push(format!(
            "{} is missing: this full twg command line has no `twg` beside it, so `twg` runs \
             another copy or nothing; reinstall twg",
            me.display()
        ));
    }
    let found = on_path("twg");
    let hint = crate::os_service::layout::Layout::resolve()
        .map(|l| {
            format!(
                "`twg update` installs a launcher in {}; put that directory on your PATH",
                l.bin_dir.display()
            )
        })
        .unwrap_or_else(|| "put the directory holding twg on your PATH".into());
    match found.first() {
        None => warnings.push(format!(
            "twg is not on your PATH (this one is {}); {hint}",
            me.display()
        )),
        Some(first) if !same_file(first, &me) => warnings.push(format!(
            "`twg` on your PATH is {}, not this binary ({}); remove or reorder it so the right twg runs",
            first.display(),
            me.display()
        )),
        Some(_) => {}
    }
    let distinct = distinct(&found);
    if distinct.len() > 1 {
        warnings.push(format!(
            "several different twg binaries are on your PATH: {}; remove the ones you do not use",
            list(&distinct)
        ));
    }
    warnings
}

/// Copies of `twgd` on PATH other than the one twg starts (`daemon`), which is what runs
/// whatever PATH says.
pub fn twgd_warning(daemon: &Path) -> Option<String> {
    let found = on_path("twgd");
    let others: Vec<&PathBuf> = distinct(&found)
        .into_iter()
        .filter(|p| !same_file(p, daemon))
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(format!(
        "twg starts {}, but other twgd binaries are on your PATH: {}; remove the ones you do not use so a twgd started by hand is the same version",
        daemon.display(),
        list(&others)
    ))
}
