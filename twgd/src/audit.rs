//! The token hand-out audit log: who got a token, never the token itself.

use crate::daemon::Daemon;
use crate::peer::Peer;
use twg_common::rpc::pb::ClientInfo;
use twg_common::secret::Secret;

/// Records one `GetToken` hand-out.
pub fn record(_daemon: &Daemon, _peer: Peer, _client: Option<&ClientInfo>, _token: &Secret) {}
