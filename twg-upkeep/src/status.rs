//! The saved upkeep state as `twg upkeep status` and the `UpkeepStatus` RPC show it.

use crate::schedule;
use crate::state::{self, UpkeepState};
use std::path::Path;
use twg_common::manifest::Version;
use twg_common::rpc::pb;
use twg_common::time::now_unix;

/// The saved state for display. A corrupt file is left in place here (the next pass moves
/// it aside under the lock) and reported as the error.
pub fn read_for_status(root: &Path) -> UpkeepState {
    match state::read(root) {
        Ok(s) => s,
        Err(e) => {
            let mut s = UpkeepState::fresh();
            s.set_error(now_unix(), e.to_string());
            s
        }
    }
}

/// The wire form of `state`. `last_refresh_at` also counts refreshes made outside upkeep.
pub fn to_proto(
    state: &UpkeepState,
    daemon_running: bool,
    other_refresh_at: i64,
) -> pb::UpkeepStatus {
    pb::UpkeepStatus {
        daemon_running,
        last_run_at: state.last_run_at,
        next_run_at: if daemon_running { state.next_run_at } else { 0 },
        last_refresh_at: state.last_refresh_at.max(other_refresh_at),
        last_update_check_at: state.last_check_at,
        latest_version: state.latest_version.clone().unwrap_or_default(),
        pending_notification: schedule::describe_pending(state, &Version::current(), now_unix()),
        last_error: state.last_error.clone().unwrap_or_default(),
        state_json: state.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_hides_next_run_when_the_daemon_is_down() {
        let s = UpkeepState {
            next_run_at: 42,
            last_refresh_at: 5,
            ..UpkeepState::fresh()
        };
        assert_eq!(to_proto(&s, true, 9).next_run_at, 42);
        assert_eq!(to_proto(&s, true, 9).last_refresh_at, 9);
        assert_eq!(to_proto(&s, false, 0).next_run_at, 0);
        assert!(
            to_proto(&s, false, 0)
                .state_json
                .contains("\"next_run_at\": 42")
        );
    }
}
