//! Upkeep inside twgd: the 12-minute pass, update checks and notifications.

use crate::service::Service;
use tonic::{Request, Response, Status};
use twg_common::rpc::pb;

pub async fn rpc_run(
    _svc: &Service,
    _request: Request<pb::RunUpkeepRequest>,
) -> Result<Response<pb::UpkeepStatus>, Status> {
    Err(Status::unimplemented("upkeep is not built yet"))
}

pub async fn rpc_status(
    _svc: &Service,
    _request: Request<pb::UpkeepStatusRequest>,
) -> Result<Response<pb::UpkeepStatus>, Status> {
    Err(Status::unimplemented("upkeep is not built yet"))
}
