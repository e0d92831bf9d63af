//! The hot path: `twg auth token` answered by twgd over the quick protocol
//! (`twg_common::quick`: one blocking call on a std socket, after the full CLI's trust
//! checks of the socket's directory, the socket's owner and the peer's uid; on Windows on
//! twgd's named pipe, after the check of the serving process's user), with the full CLI's
//! exact output.

use std::ffi::OsString;
use std::process::ExitCode;
use twg_common::hot_path;

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
    Some(print(ask_twgd(parsed.min_valid)?, json))
}

/// twgd's answer, or `None` when it gave none (not running, stale, untrusted, too slow, too
/// old to speak the quick protocol): that is the full CLI's to handle, and nothing was
/// printed yet.
fn ask_twgd(min_valid: Option<u64>) -> Option<twg_common::quick::Answer> {
    use twg_common::rpc::{self, pb};
    let socket = twg_common::paths::socket_path().ok()?;
    let agent = twg_common::agent::detect_from_process_env();
    let request = pb::GetTokenRequest {
        client: Some(rpc::client_info(agent.map(|a| a.as_str()))),
        min_valid_seconds: min_valid,
    };
    twg_common::quick::get_token(&socket, &request).ok()
}

fn print(answer: twg_common::quick::Answer, json: bool) -> ExitCode {
    use twg_common::quick::Answer;
    match answer {
        Answer::Token(r) => {
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
            ExitCode::SUCCESS
        }
        Answer::Error(code, message) => {
            if json {
                eprintln!("{}", hot_path::error_envelope(code, &message, None));
            } else {
                eprintln!("twg: {message}");
            }
            ExitCode::from(code.exit() as u8)
        }
    }
}
