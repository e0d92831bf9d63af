//! `twg auth audit`: which processes twgd handed tokens to, read straight from the audit
//! files so it also works while the daemon is down.

use crate::ctx::Ctx;
use crate::report::CliError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use twg_common::audit::{self, AuditRecord};

#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Only hand-outs since then: a duration back from now (`30m`, `2h`, `7days`) or an
    /// RFC 3339 time (`2025-01-31T09:00:00Z`).
    #[arg(long, value_name = "DURATION|RFC3339", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Show at most this many, the newest ones.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// A lower bound in Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Since(i64);

fn parse_since(s: &str) -> Result<Since, String> {
    let at = if let Ok(d) = humantime::parse_duration(s) {
        SystemTime::now().checked_sub(d).unwrap_or(UNIX_EPOCH)
    } else if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        t
    } else {
        return Err(format!(
            "`{s}` is neither a duration (`30m`, `2h`, `7days`) nor an RFC 3339 time \
             (`2025-01-31T09:00:00Z`)"
        ));
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64;
    Ok(Since(ms))
}

impl Cmd {
    pub async fn run(self, ctx: &Ctx) -> Result<(), CliError> {
        let dir = twg_common::paths::state_dir()?;
        let read = audit::read(&dir, self.since.map_or(i64::MIN, |s| s.0))
            .map_err(|e| CliError::failure(e.to_string()))?;
        let mut records = read.records;
        if let Some(n) = self.limit {
            records.drain(..records.len().saturating_sub(n));
        }
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({
                    "audit_dir": dir.display().to_string(),
                    "records": records,
                    "skipped_lines": read.skipped,
                })
            );
            return Ok(());
        }
        if read.skipped > 0 {
            eprintln!(
                "twg: skipped {} unreadable line(s) in {} (a torn write, or records from a newer twg)",
                read.skipped,
                dir.display()
            );
        }
        if records.is_empty() {
            println!(
                "No token hand-outs recorded{} in {}.",
                if self.since.is_some() {
                    " in that period"
                } else {
                    ""
                },
                dir.display()
            );
            return Ok(());
        }
        print!("{}", table(&records));
        Ok(())
    }
}

/// Columns: time, pid, exe, agent, via (socket, and the proxied request), fingerprint;
/// oldest first, so the newest is last.
fn table(records: &[AuditRecord]) -> String {
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            [
                r.time.clone(),
                r.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                r.exe.clone().unwrap_or_else(|| "-".into()),
                r.agent.clone().unwrap_or_else(|| "-".into()),
                via(r),
                r.fingerprint.clone(),
            ]
        })
        .collect();
    let header = ["TIME", "PID", "EXE", "AGENT", "VIA", "FINGERPRINT"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `-` for the main socket, `agent` for the agent socket, `api GET /path 200` for the proxy.
fn via(r: &AuditRecord) -> String {
    let mut parts: Vec<String> = r.via.iter().cloned().collect();
    parts.extend(r.method.iter().cloned());
    parts.extend(r.path.iter().cloned());
    parts.extend(r.status.map(|s| s.to_string()));
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_rfc3339() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let Since(ms) = parse_since("2h").unwrap();
        assert!((now_ms - 7_200_000 - ms).abs() < 5_000, "{ms}");
        assert_eq!(
            parse_since("2025-01-31T09:00:00Z").unwrap().0,
            1_738_314_000_000
        );
        assert!(parse_since("yesterday-ish").is_err());
    }

    #[test]
    fn the_table_aligns_columns_and_marks_unknowns() {
        let mut a = AuditRecord::now("aaaaaaaaaaaa".into());
        a.time = "2025-01-31T09:00:00Z".into();
        a.pid = Some(12345);
        a.exe = Some("/usr/local/bin/twg".into());
        a.agent = Some("codex".into());
        a.via = Some("api".into());
        a.method = Some("GET".into());
        a.path = Some("/me".into());
        a.status = Some(200);
        let mut b = AuditRecord::now("bbbbbbbbbbbb".into());
        b.time = "2025-01-31T09:00:01Z".into();
        let t = table(&[a, b]);
        assert_eq!(
            t,
            "TIME                  PID    EXE                 AGENT  VIA              FINGERPRINT\n\
             2025-01-31T09:00:00Z  12345  /usr/local/bin/twg  codex  api GET /me 200  aaaaaaaaaaaa\n\
             2025-01-31T09:00:01Z  -      -                   -      -                bbbbbbbbbbbb\n"
        );
    }
}
