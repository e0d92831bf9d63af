//! The hot path, `twg auth token`, as both binaries see it: the small front `twg` answers it
//! through twgd without loading the full CLI, and the full CLI (`twg-cli`) skips clap for it.
//! One parser and one failure classification, so the two can never disagree on what the
//! hot path is or on when twgd has answered.

use crate::error_code::ErrorCode;
use std::ffi::OsString;

/// `twg [--json | --output F] auth token [--min-valid N]`, the flags anywhere (as clap
/// allows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenArgs {
    pub json: bool,
    /// `--output json` (`Some(true)`) or `--output text` (`Some(false)`).
    pub output_json: Option<bool>,
    pub min_valid: Option<u64>,
}

impl TokenArgs {
    /// Whether to print JSON; `None` for `--json --output text`, which the full CLI refuses
    /// as a contradiction.
    pub fn json_output(&self) -> Option<bool> {
        match (self.json, self.output_json) {
            (true, Some(false)) => None,
            (json, output) => Some(json || output == Some(true)),
        }
    }
}

/// The arguments (without the program name) when they are exactly a plain `auth token`,
/// else `None`: help, typos and every other command go to clap.
pub fn parse(args: &[OsString]) -> Option<TokenArgs> {
    let mut parsed = TokenArgs {
        json: false,
        output_json: None,
        min_valid: None,
    };
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let arg = arg.to_str()?;
        match arg {
            "--json" => parsed.json = true,
            "--min-valid" => parsed.min_valid = Some(it.next()?.to_str()?.parse::<u64>().ok()?),
            "--output" => parsed.output_json = Some(format(it.next()?.to_str()?)?),
            _ => {
                if let Some(v) = arg.strip_prefix("--output=") {
                    parsed.output_json = Some(format(v)?);
                } else if let Some(v) = arg.strip_prefix("--min-valid=") {
                    parsed.min_valid = Some(v.parse::<u64>().ok()?);
                } else if arg.starts_with('-') {
                    return None;
                } else {
                    words.push(arg);
                }
            }
        }
    }
    (words == ["auth", "token"]).then_some(parsed)
}

/// `--output`'s value, exactly as clap spells it (anything else goes to clap for its error).
fn format(v: &str) -> Option<bool> {
    match v {
        "json" => Some(true),
        "text" => Some(false),
        _ => None,
    }
}

/// What a failed call to twgd came to.
#[derive(Debug)]
pub enum CallFailure {
    /// twgd answered with this error: final, since twgd already tried (asking again could
    /// make it try a refresh again).
    Answered(ErrorCode, String),
    /// twgd does not know the request (an older daemon): nothing was done.
    Unimplemented,
    /// No answer from twgd (it died, hung or was stopped mid-call): the transport's words.
    NotResponding,
}

/// Classifies a failed call. Every error twgd itself produces carries a `twg-error-code`;
/// one without it and with a transport's gRPC code came from the connection, not from twgd.
pub fn classify(status: &tonic::Status) -> CallFailure {
    if status.code() == tonic::Code::Unimplemented {
        return CallFailure::Unimplemented;
    }
    let from_daemon = ErrorCode::of_status(status).is_some();
    let transport = matches!(
        status.code(),
        tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unavailable
    );
    if !from_daemon && transport {
        return CallFailure::NotResponding;
    }
    let message = if status.message().is_empty() {
        format!("twgd answered {:?}", status.code())
    } else {
        status.message().to_string()
    };
    CallFailure::Answered(ErrorCode::of_daemon_status(status), message)
}

/// The `--json` error envelope printed on stderr: `{"error":{"code","message","exit_code"}}`
/// plus `detail` when there is one.
pub fn error_envelope(
    code: ErrorCode,
    message: &str,
    detail: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut err = serde_json::json!({
        "code": code,
        "message": message,
        "exit_code": code.exit(),
    });
    if let Some(d) = detail {
        err["detail"] = d.clone();
    }
    serde_json::json!({ "error": err })
}

/// What `twg auth token --json` prints: one object, the same from every source.
pub fn token_json(
    access_token: &str,
    expires_at: i64,
    token_type: &str,
    site: &str,
    source: &str,
) -> serde_json::Value {
    serde_json::json!({
        "access_token": access_token,
        "expires_at": expires_at,
        "token_type": token_type,
        "site": site,
        "source": source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn plain_forms_are_parsed() {
        let p = parse(&args("auth --output json token --min-valid=5")).unwrap();
        assert_eq!(
            p,
            TokenArgs {
                json: false,
                output_json: Some(true),
                min_valid: Some(5)
            }
        );
        assert_eq!(p.json_output(), Some(true));
        let p = parse(&args("--json auth token --output text")).unwrap();
        assert_eq!(p.json_output(), None, "a contradiction is clap's to refuse");
        assert_eq!(
            parse(&args("auth token")).unwrap().json_output(),
            Some(false)
        );
    }

    #[test]
    fn a_transport_failure_is_not_an_answer_but_a_coded_error_is() {
        let s = tonic::Status::unavailable("connection reset");
        assert!(matches!(classify(&s), CallFailure::NotResponding));
        let s = tonic::Status::unimplemented("unknown method");
        assert!(matches!(classify(&s), CallFailure::Unimplemented));
        let s = ErrorCode::AuthExpired.status("run `twg login`");
        match classify(&s) {
            CallFailure::Answered(code, msg) => {
                assert_eq!(code, ErrorCode::AuthExpired);
                assert_eq!(msg, "run `twg login`");
            }
            other => panic!("{other:?}"),
        }
        // A code twgd attached is an answer even with a transport's gRPC code.
        let s = ErrorCode::Temporary.status("the server is down");
        assert!(matches!(classify(&s), CallFailure::Answered(..)));
    }

    #[test]
    fn the_envelope_has_code_message_and_exit_code() {
        let e = error_envelope(ErrorCode::AuthExpired, "m", None);
        assert_eq!(
            e.to_string(),
            r#"{"error":{"code":"AUTH_EXPIRED","exit_code":77,"message":"m"}}"#
        );
    }
}
