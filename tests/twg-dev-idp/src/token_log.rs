//! A bounded log of token-endpoint requests for `/admin/token-requests`, so a test can check how
//! a particular request authenticated ("did the refresh carry the secret?") and how it ended.

use std::collections::VecDeque;

use serde::Serialize;

use crate::clients::AuthMethod;

/// Old entries are dropped past this, so a long-running server cannot grow without bound.
const CAPACITY: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRequest {
    /// Counts from 1 across the server's life; a reset does not restart it.
    pub seq: u64,
    pub grant_type: Option<String>,
    /// As presented, not as authenticated.
    pub client_id: Option<String>,
    /// `None` when the credentials could not be read (malformed, or two methods at once).
    pub client_auth: Option<AuthMethod>,
    /// `"issued"`, an OAuth error code, or `None` if an injected fault answered instead.
    pub outcome: Option<String>,
}

#[derive(Debug, Default)]
pub struct TokenLog {
    last_seq: u64,
    entries: VecDeque<TokenRequest>,
}

impl TokenLog {
    /// Logs a request as it arrives (faulted ones too); returns its `seq` for [`Self::finish`].
    pub fn start(
        &mut self,
        grant_type: Option<String>,
        client_id: Option<String>,
        client_auth: Option<AuthMethod>,
    ) -> u64 {
        self.last_seq += 1;
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(TokenRequest {
            seq: self.last_seq,
            grant_type,
            client_id,
            client_auth,
            outcome: None,
        });
        self.last_seq
    }

    pub fn finish(&mut self, seq: u64, outcome: &str) {
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.seq == seq) {
            entry.outcome = Some(outcome.to_owned());
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &TokenRequest> {
        self.entries.iter()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_and_their_outcomes() {
        let mut log = TokenLog::default();
        let first = log.start(Some("refresh_token".to_owned()), None, None);
        for _ in 0..CAPACITY {
            let seq = log.start(None, None, Some(AuthMethod::ClientSecretBasic));
            log.finish(seq, "issued");
        }
        log.finish(first, "issued");
        assert_eq!(log.entries().count(), CAPACITY);
        assert_eq!(log.entries().next().unwrap().seq, first + 1);
        assert_eq!(
            log.entries().last().unwrap().outcome.as_deref(),
            Some("issued")
        );
        log.clear();
        assert_eq!(log.entries().count(), 0);
        assert_eq!(log.start(None, None, None), first + CAPACITY as u64 + 1);
    }
}
