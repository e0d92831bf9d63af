//! The upkeep schedule as pure functions of (state, now, versions, random jitter), so every
//! rule is tested with injected time instead of waiting for days.
//!
//! - A pass runs every [`PASS_INTERVAL`] plus a little jitter; the first one shortly after start.
//! - A pass refreshes OAuth only when the 75% mark falls within [`REFRESH_WINDOW`].
//! - The update check runs at most once a day: the next one is 24 h plus up to
//!   [`CHECK_JITTER_MAX`] after the previous attempt, successful or not.
//! - Notifications for a newer version: one initial, then up to three daily reminders, then up
//!   to three weekly reminders, then silence until a newer version appears (which restarts
//!   the sequence).
//!
//! Over 400 lines only with its unit tests, which stay beside the code they pin.

use crate::state::UpkeepState;
use std::time::Duration;
use twg_common::manifest::Version;
use twg_common::time::format_unix;

pub const PASS_INTERVAL: Duration = Duration::from_secs(12 * 60);
/// Added to each interval so many daemons behind one proxy do not fire together.
pub const PASS_JITTER_MAX: Duration = Duration::from_secs(30);
/// The first pass waits this long after start (plus jitter): start-up stays quiet.
pub const FIRST_PASS_MIN: Duration = Duration::from_secs(20);
pub const FIRST_PASS_MAX: Duration = Duration::from_secs(60);
/// Refresh early when the 75% mark is this close.
pub const REFRESH_WINDOW: i64 = 15 * 60;
pub const DAY: i64 = 86_400;
pub const WEEK: i64 = 7 * DAY;
pub const CHECK_INTERVAL: i64 = DAY;
pub const CHECK_JITTER_MAX: i64 = 2 * 3600;
pub const DAILY_REMINDERS: u32 = 3;
pub const WEEKLY_REMINDERS: u32 = 3;
/// Initial + daily + weekly.
pub const TOTAL_NOTIFICATIONS: u32 = 1 + DAILY_REMINDERS + WEEKLY_REMINDERS;

/// Delay before the first pass after start.
pub fn first_pass_delay(rng: &mut fastrand::Rng) -> Duration {
    let span = (FIRST_PASS_MAX - FIRST_PASS_MIN).as_millis() as u64;
    FIRST_PASS_MIN + Duration::from_millis(rng.u64(0..=span))
}

/// Delay between passes.
pub fn next_pass_delay(rng: &mut fastrand::Rng) -> Duration {
    PASS_INTERVAL + Duration::from_millis(rng.u64(0..=PASS_JITTER_MAX.as_millis() as u64))
}

/// True when a token whose 75% mark is `refresh_due_at` should be refreshed by this pass.
/// `0` means the token does not expire.
pub fn refresh_due(refresh_due_at: i64, now: i64) -> bool {
    refresh_due_at > 0 && refresh_due_at <= now + REFRESH_WINDOW
}

/// True when the daily update check is due.
pub fn check_due(state: &UpkeepState, now: i64) -> bool {
    // Both bounds: `next_check_at` carries the jitter, and the day since the last attempt
    // holds even if the file was edited or the clock went backwards.
    now >= state.next_check_at
        && (state.last_check_at <= 0 || now >= state.last_check_at + CHECK_INTERVAL)
}

/// When the check after one made at `now` may run: at least a day later, plus jitter.
pub fn next_check_at(now: i64, rng: &mut fastrand::Rng) -> i64 {
    now + CHECK_INTERVAL + rng.i64(0..=CHECK_JITTER_MAX)
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub version: String,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Initial,
    /// Daily reminder number `n` (1-based, of [`DAILY_REMINDERS`]).
    Daily(u32),
    /// Weekly reminder number `n` (1-based, of [`WEEKLY_REMINDERS`]).
    Weekly(u32),
}

/// What the notifier should do in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No newer version is known.
    UpToDate,
    /// Show this now.
    Show(Notice),
    /// The next notification is due at `at`.
    Wait { notice: Notice, at: i64 },
    /// The sequence for `version` is over.
    Done { version: String },
}

/// Decides from the state alone (the caller has already stored the latest version seen).
pub fn decide(state: &UpkeepState, current: &Version, now: i64) -> Decision {
    let Some(latest) = state
        .latest_version
        .as_deref()
        .and_then(|v| Version::parse(v).ok())
        .filter(|v| v > current)
    else {
        return Decision::UpToDate;
    };
    let version = state.latest_version.clone().expect("parsed above");
    let same_version = state
        .notified_version
        .as_deref()
        .and_then(|v| Version::parse(v).ok())
        .is_some_and(|n| n == latest);
    // A different version (normally a newer one) restarts the sequence.
    let sent = if same_version {
        state.notifications_sent
    } else {
        0
    };
    let (kind, wait) = match sent {
        0 => (NoticeKind::Initial, 0),
        n if n <= DAILY_REMINDERS => (NoticeKind::Daily(n), DAY),
        n if n < TOTAL_NOTIFICATIONS => (NoticeKind::Weekly(n - DAILY_REMINDERS), WEEK),
        _ => return Decision::Done { version },
    };
    let notice = Notice { version, kind };
    let at = if sent == 0 {
        now
    } else {
        state.last_notified_at + wait
    };
    if now >= at {
        Decision::Show(notice)
    } else {
        Decision::Wait { notice, at }
    }
}

/// Records that `notice` was shown at `now`.
pub fn record_shown(state: &mut UpkeepState, notice: &Notice, now: i64) {
    state.notified_version = Some(notice.version.clone());
    state.notifications_sent = match notice.kind {
        NoticeKind::Initial => 1,
        NoticeKind::Daily(n) => 1 + n,
        NoticeKind::Weekly(n) => 1 + DAILY_REMINDERS + n,
    };
    state.last_notified_at = now;
}

/// The notification's title and body.
pub fn notification_text(notice: &Notice, current: &Version) -> (String, String) {
    let summary = format!("twg {} is available", notice.version);
    let mut body = format!(
        "You have twg {current}. Run `twg update` to install {}.",
        notice.version
    );
    match notice.kind {
        NoticeKind::Initial => {}
        NoticeKind::Daily(n) => {
            body.push_str(&format!(" (daily reminder {n} of {DAILY_REMINDERS})"))
        }
        NoticeKind::Weekly(n) => {
            body.push_str(&format!(" (weekly reminder {n} of {WEEKLY_REMINDERS})"))
        }
    }
    (summary, body)
}

/// One line for `twg upkeep status`: the update waiting to be announced, if any.
pub fn describe_pending(state: &UpkeepState, current: &Version, now: i64) -> String {
    match decide(state, current, now) {
        Decision::UpToDate => String::new(),
        Decision::Show(n) => format!(
            "twg {} is available; {} due at the next upkeep pass. Run `twg update`",
            n.version,
            kind_text(n.kind)
        ),
        Decision::Wait { notice, at } => format!(
            "twg {} is available; {} due at {}. Run `twg update`",
            notice.version,
            kind_text(notice.kind),
            format_unix(at)
        ),
        Decision::Done { version } => {
            format!("twg {version} is available (all reminders shown). Run `twg update`")
        }
    }
}

fn kind_text(kind: NoticeKind) -> String {
    match kind {
        NoticeKind::Initial => "notification".into(),
        NoticeKind::Daily(n) => format!("daily reminder {n} of {DAILY_REMINDERS}"),
        NoticeKind::Weekly(n) => format!("weekly reminder {n} of {WEEKLY_REMINDERS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn with_latest(latest: &str) -> UpkeepState {
        UpkeepState {
            latest_version: Some(latest.into()),
            ..UpkeepState::fresh()
        }
    }

    /// Runs a pass every 12 minutes from `from` to `to`, recording when notifications show.
    fn simulate(
        state: &mut UpkeepState,
        current: &Version,
        from: i64,
        to: i64,
    ) -> Vec<(i64, NoticeKind)> {
        let mut shown = Vec::new();
        let mut now = from;
        while now <= to {
            if let Decision::Show(n) = decide(state, current, now) {
                record_shown(state, &n, now);
                shown.push((now, n.kind));
            }
            now += PASS_INTERVAL.as_secs() as i64;
        }
        shown
    }

    #[test]
    fn exact_reminder_sequence_then_silence() {
        let current = v("1.0.0");
        let mut s = with_latest("1.1.0");
        let shown = simulate(&mut s, &current, T0, T0 + 120 * DAY);
        let kinds: Vec<_> = shown.iter().map(|(_, k)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                NoticeKind::Initial,
                NoticeKind::Daily(1),
                NoticeKind::Daily(2),
                NoticeKind::Daily(3),
                NoticeKind::Weekly(1),
                NoticeKind::Weekly(2),
                NoticeKind::Weekly(3),
            ]
        );
        // Exact spacing on a 12-minute pass grid: a day (or a week) after the previous one.
        let times: Vec<_> = shown.iter().map(|(t, _)| t - T0).collect();
        assert_eq!(
            times,
            vec![0, DAY, 2 * DAY, 3 * DAY, 10 * DAY, 17 * DAY, 24 * DAY]
        );
        assert_eq!(s.notifications_sent, TOTAL_NOTIFICATIONS);
        assert_eq!(
            decide(&s, &current, T0 + 365 * DAY),
            Decision::Done {
                version: "1.1.0".into()
            }
        );
    }

    #[test]
    fn a_reminder_is_never_early_and_the_count_is_recorded() {
        let current = v("1.0.0");
        let mut s = with_latest("1.1.0");
        let Decision::Show(n) = decide(&s, &current, T0) else {
            panic!()
        };
        record_shown(&mut s, &n, T0);
        assert_eq!(s.notifications_sent, 1);
        assert!(matches!(
            decide(&s, &current, T0 + DAY - 1),
            Decision::Wait { at, .. } if at == T0 + DAY
        ));
        for (i, day) in (1..=3).zip(1..) {
            let now = T0 + day * DAY;
            let Decision::Show(n) = decide(&s, &current, now) else {
                panic!("day {day}")
            };
            assert_eq!(n.kind, NoticeKind::Daily(i));
            record_shown(&mut s, &n, now);
            assert_eq!(s.notifications_sent, 1 + i);
        }
        // After the third daily reminder the next is a week later, not a day.
        assert!(matches!(
            decide(&s, &current, T0 + 4 * DAY),
            Decision::Wait { at, notice } if at == T0 + 10 * DAY && notice.kind == NoticeKind::Weekly(1)
        ));
    }

    #[test]
    fn a_newer_version_restarts_the_sequence() {
        let current = v("1.0.0");
        let mut s = with_latest("1.1.0");
        simulate(&mut s, &current, T0, T0 + 60 * DAY);
        assert_eq!(s.notifications_sent, TOTAL_NOTIFICATIONS);
        // Mid-sequence or after it: a newer version is announced at once.
        s.latest_version = Some("1.2.0".into());
        let later = T0 + 61 * DAY;
        let shown = simulate(&mut s, &current, later, later + 60 * DAY);
        assert_eq!(shown.len(), TOTAL_NOTIFICATIONS as usize);
        assert_eq!(shown[0], (later, NoticeKind::Initial));
        assert_eq!(s.notified_version.as_deref(), Some("1.2.0"));
        // In the middle of a sequence, too.
        let mut s = with_latest("1.1.0");
        simulate(&mut s, &current, T0, T0 + 2 * DAY);
        assert_eq!(s.notifications_sent, 3);
        s.latest_version = Some("1.1.1".into());
        assert!(matches!(
            decide(&s, &current, T0 + 2 * DAY + 1),
            Decision::Show(Notice {
                kind: NoticeKind::Initial,
                ..
            })
        ));
    }

    #[test]
    fn nothing_when_up_to_date_or_unknown() {
        let current = v("1.2.0");
        assert_eq!(
            decide(&UpkeepState::fresh(), &current, T0),
            Decision::UpToDate
        );
        assert_eq!(
            decide(&with_latest("1.2.0"), &current, T0),
            Decision::UpToDate
        );
        assert_eq!(
            decide(&with_latest("1.2.0-rc.1"), &current, T0),
            Decision::UpToDate
        );
        assert_eq!(
            decide(&with_latest("garbage"), &current, T0),
            Decision::UpToDate
        );
        assert_eq!(describe_pending(&with_latest("1.1.0"), &current, T0), "");
    }

    #[test]
    fn update_check_at_most_once_a_day_with_bounded_jitter() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut s = UpkeepState::fresh();
        assert!(check_due(&s, T0), "a fresh state checks at the first pass");
        let mut checks = Vec::new();
        let mut now = T0;
        while now < T0 + 30 * DAY {
            if check_due(&s, now) {
                checks.push(now);
                s.last_check_at = now;
                s.next_check_at = next_check_at(now, &mut rng);
            }
            now += PASS_INTERVAL.as_secs() as i64;
        }
        for pair in checks.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= DAY, "checks {gap}s apart");
            assert!(
                gap <= DAY + CHECK_JITTER_MAX + PASS_INTERVAL.as_secs() as i64,
                "{gap}"
            );
        }
        assert!((27..=30).contains(&checks.len()), "{}", checks.len());
        // The jitter really varies and stays within bounds.
        let picks: Vec<_> = (0..500).map(|_| next_check_at(T0, &mut rng) - T0).collect();
        assert!(
            picks
                .iter()
                .all(|p| (DAY..=DAY + CHECK_JITTER_MAX).contains(p))
        );
        assert!(picks.iter().max().unwrap() - picks.iter().min().unwrap() > CHECK_JITTER_MAX / 2);
        // A clock set back does not cause a second check the same day.
        s.last_check_at = T0;
        s.next_check_at = T0 + DAY;
        assert!(!check_due(&s, T0 - 3600));
    }

    #[test]
    fn refresh_only_when_the_75_percent_mark_is_within_15_minutes() {
        assert!(!refresh_due(0, T0), "non-expiring tokens are left alone");
        assert!(refresh_due(T0 - 5, T0));
        assert!(refresh_due(T0 + REFRESH_WINDOW, T0));
        assert!(!refresh_due(T0 + REFRESH_WINDOW + 1, T0));
    }

    #[test]
    fn pass_delays_stay_in_bounds() {
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..200 {
            let d = first_pass_delay(&mut rng);
            assert!((FIRST_PASS_MIN..=FIRST_PASS_MAX).contains(&d));
            let d = next_pass_delay(&mut rng);
            assert!((PASS_INTERVAL..=PASS_INTERVAL + PASS_JITTER_MAX).contains(&d));
        }
    }

    #[test]
    fn text_names_the_version_and_twg_update() {
        let n = Notice {
            version: "1.1.0".into(),
            kind: NoticeKind::Weekly(2),
        };
        let (summary, body) = notification_text(&n, &v("1.0.0"));
        assert_eq!(summary, "twg 1.1.0 is available");
        assert_eq!(
            body,
            "You have twg 1.0.0. Run `twg update` to install 1.1.0. (weekly reminder 2 of 3)"
        );
    }
}
