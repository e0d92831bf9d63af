//! Wall-clock helpers. Stored times are Unix seconds, which survive restarts and reboots.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The clock the refresh engine and twgd decide by: the system's, or a manual one that
/// tests set and advance (token lifetimes, the 75% mark and backoff without waiting).
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start` (Unix seconds).
    pub fn manual(start: i64) -> Self {
        Clock::Manual(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            start,
        )))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => now_unix(),
            Clock::Manual(t) => t.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, secs: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// RFC 3339 rendering of a Unix time for people, or `"never"` for 0.
pub fn format_unix(ts: i64) -> String {
    if ts <= 0 {
        return "never".to_string();
    }
    let t = UNIX_EPOCH + std::time::Duration::from_secs(ts as u64);
    humantime_rfc3339(t)
}

fn humantime_rfc3339(t: SystemTime) -> String {
    // Civil-from-days (Howard Hinnant), to avoid a date crate for one format.
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// "in 5m 3s" / "3m ago" relative to now.
pub fn relative(ts: i64) -> String {
    if ts <= 0 {
        return "never".into();
    }
    let delta = ts - now_unix();
    let span = delta.unsigned_abs();
    if span < 2 {
        return "just now".into();
    }
    let text = if span >= 86_400 {
        format!("{}d {}h", span / 86_400, (span % 86_400) / 3600)
    } else if span >= 3600 {
        format!("{}h {}m", span / 3600, (span % 3600) / 60)
    } else if span >= 60 {
        format!("{}m {}s", span / 60, span % 60)
    } else {
        format!("{span}s")
    };
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_unix(0), "never");
        assert_eq!(format_unix(1), "1970-01-01T00:00:01Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_795_996_800), "2026-11-30T00:00:00Z");
    }
}
