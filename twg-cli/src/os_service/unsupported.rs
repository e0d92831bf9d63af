//! Platforms without a supported service manager: upkeep is never enabled there.

use super::{Disabled, Pending, ServiceError, ServiceSpec};

pub const GUIDANCE: &str =
    "This platform has no supported service manager; start the daemon with `twg daemon start`.";

pub fn is_enabled() -> Result<bool, String> {
    Ok(false)
}

pub fn describe() -> Option<String> {
    None
}

pub fn install(_spec: &ServiceSpec) -> Result<Pending, ServiceError> {
    Err(ServiceError::Unsupported(
        "no supported service manager on this platform",
    ))
}

pub fn activate(_pending: &Pending) -> Result<(), ServiceError> {
    Err(ServiceError::Unsupported(
        "no supported service manager on this platform",
    ))
}

pub fn restart() -> Result<(), ServiceError> {
    Err(ServiceError::Unsupported(
        "no supported service manager on this platform",
    ))
}

pub fn rolled_back(_had_previous: bool) {}

pub fn disable() -> Result<Disabled, ServiceError> {
    Ok(Disabled::NotInstalled)
}
