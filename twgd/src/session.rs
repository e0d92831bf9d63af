//! Login and logout inside the daemon (the `Login` stream and `Logout` RPCs).

use crate::service::{LoginStream, Service};
use tonic::{Request, Response, Status};
use twg_common::rpc::pb;

pub async fn login(
    _svc: &Service,
    _request: Request<pb::LoginRequest>,
) -> Result<Response<LoginStream>, Status> {
    Err(Status::unimplemented(
        "login through twgd is not built yet; twg logs in directly",
    ))
}

pub async fn logout(
    _svc: &Service,
    _request: Request<pb::LogoutRequest>,
) -> Result<Response<pb::LogoutResponse>, Status> {
    Err(Status::unimplemented("logout through twgd is not built yet"))
}
