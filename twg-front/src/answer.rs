//! The hot path: `twg auth token` answered by twgd, with the full CLI's trust checks
//! (`twg_common::rpc`: the socket directory, the socket's owner and the peer's uid, all
//! before anything is sent; see `call.rs`) and its exact output.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use twg_common::error_code::ErrorCode;
use twg_common::hot_path::{self, CallFailure};
use twg_common::rpc::{self, pb};

/// Variables that change what `auth token` does, so the full CLI must see them: env-mode
/// credentials win over twgd (`TWG_OAUTH_ACCESS_TOKEN`, then `TWG_TOKEN`, whose checks and
/// messages live in the full CLI), and `TWG_LOG` asks for the full CLI's logs. Present at
/// all, even empty, is enough: the full CLI decides what an odd value means.
const FULL_CLI_VARIABLES: &[&str] = &["TWG_OAUTH_ACCESS_TOKEN", "TWG_TOKEN", "TWG_LOG"];

/// The exit code when the front answered, `None` to hand the command over.
pub fn hot_path(args: &[OsString]) -> Option<ExitCode> {
    let parsed = hot_path::parse(args)?;
    let json = parsed.json_output()?;
    if FULL_CLI_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        return None;
    }
    let socket = twg_common::paths::socket_path().ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let outcome = runtime.block_on(get_token(&socket, parsed.min_valid));
    // No thread or socket of the runtime outlives this point (nor reaches the full CLI).
    drop(runtime);
    match outcome? {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    hot_path::token_json(
                        &r.access_token,
                        r.expires_at,
                        &r.token_type,
                        &r.site,
                        "daemon"
                    )
                );
            } else {
                println!("{}", r.access_token);
            }
            Some(ExitCode::SUCCESS)
        }
        Err((code, message)) => {
            if json {
                eprintln!("{}", hot_path::error_envelope(code, &message, None));
            } else {
                eprintln!("twg: {message}");
            }
            Some(ExitCode::from(code.exit() as u8))
        }
    }
}

/// twgd's answer: a token or its own error. `None` when it did not answer (not running,
/// stale, untrusted, not responding, too old), which is the full CLI's to handle.
async fn get_token(
    socket: &Path,
    min_valid: Option<u64>,
) -> Option<Result<pb::GetTokenResponse, (ErrorCode, String)>> {
    let agent = twg_common::agent::detect_from_process_env();
    let request = pb::GetTokenRequest {
        client: Some(rpc::client_info(agent.map(|a| a.as_str()))),
        min_valid_seconds: min_valid,
    };
    match crate::call::get_token(socket, &request).await? {
        Ok(r) => Some(Ok(r)),
        Err(status) => match hot_path::classify(&status) {
            CallFailure::Answered(code, message) => Some(Err((code, message))),
            CallFailure::Unimplemented | CallFailure::NotResponding => None,
        },
    }
}
