//! Defence in depth on the socket: every request's peer uid must be the daemon's own.

use tonic::{Request, Status};
#[cfg(unix)]
use twg_common::error_code::ErrorCode;

/// The peer of a request, as seen by the kernel (Linux: SO_PEERCRED; macOS: getpeereid and
/// LOCAL_PEEREPID, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer {
    pub uid: Option<u32>,
    pub pid: Option<i32>,
}

/// Reads the peer credentials tonic attached to the request.
#[cfg(unix)]
pub fn peer_of<T>(req: &Request<T>) -> Peer {
    req.extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .map(peer_from)
        .unwrap_or_default()
}

#[cfg(not(unix))]
pub fn peer_of<T>(_req: &Request<T>) -> Peer {
    Peer::default()
}

/// The peer of a connection, from what tokio read at accept.
#[cfg(unix)]
pub fn peer_from(info: &tonic::transport::server::UdsConnectInfo) -> Peer {
    match info.peer_cred {
        Some(cred) => Peer {
            uid: Some(cred.uid()),
            pid: cred.pid(),
        },
        None => Peer::default(),
    }
}

/// Interceptor: reject any request whose peer is not our own uid.
#[cfg(unix)]
pub fn check(req: Request<()>) -> Result<Request<()>, Status> {
    check_peer(peer_of(&req)).map(|()| req)
}

/// Our own uid may call; anyone else, or a peer the kernel did not name, may not.
#[cfg(unix)]
pub fn check_peer(peer: Peer) -> Result<(), Status> {
    let me = rustix::process::geteuid().as_raw();
    match peer.uid {
        Some(uid) if uid == me => Ok(()),
        Some(uid) => {
            tracing::warn!(peer_uid = uid, "rejected a request from another user");
            Err(ErrorCode::PermissionDenied.status(format!(
                "twgd serves only uid {me}; this request came from uid {uid}. Run twg as that user, \
                 or start your own twgd"
            )))
        }
        None => Err(ErrorCode::PermissionDenied.status(
            "twgd could not verify who is calling (no peer credentials); connect over its Unix socket",
        )),
    }
}

/// Windows: the named pipe's ACL admits only the owner.
#[cfg(not(unix))]
pub fn check(req: Request<()>) -> Result<Request<()>, Status> {
    Ok(req)
}
