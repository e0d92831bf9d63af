//! The one table of error codes: each code's wire string (in `--json` envelopes and in the
//! `twg-error-code` metadata of twgd's gRPC errors), its exit code and its gRPC code.
//!
//! twgd attaches the code to every error it returns, so the client takes the exit code from
//! the code, never from the message. A code this build does not know (from a newer daemon)
//! parses as [`ErrorCode::Unknown`], as cargo's credential protocol does with
//! `#[serde(other)]`; the client then falls back on the gRPC code.

use crate::exit;
use tonic::Code;

/// The gRPC metadata key carrying [`ErrorCode::as_str`] on twgd's errors.
pub const METADATA_KEY: &str = "twg-error-code";

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $wire:literal, $exit:expr, $grpc:ident; )*) => {
        /// A stable machine-readable error code. Never rename a wire string: scripts match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $wire)] $name, )*
            /// A code from a newer twg that this build does not know.
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every known code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The wire string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $wire,)*
                    ErrorCode::Unknown => "UNKNOWN",
                }
            }

            /// The documented process exit code.
            pub fn exit(self) -> i32 {
                match self {
                    $(ErrorCode::$name => $exit,)*
                    ErrorCode::Unknown => exit::FAILURE,
                }
            }

            /// The gRPC status code twgd answers with.
            pub fn grpc(self) -> Code {
                match self {
                    $(ErrorCode::$name => Code::$grpc,)*
                    ErrorCode::Unknown => Code::Unknown,
                }
            }

            /// Parses a wire string; an unknown one is [`ErrorCode::Unknown`].
            pub fn parse(wire: &str) -> ErrorCode {
                match wire {
                    $($wire => ErrorCode::$name,)*
                    _ => ErrorCode::Unknown,
                }
            }
        }
    };
}

codes! {
    /// A failure not covered by a more specific code.
    Failure = "FAILURE", exit::FAILURE, Internal;
    /// Bad command-line usage.
    Usage = "USAGE", exit::USAGE, InvalidArgument;

    // The token path (`EngineError`).
    /// No credentials: run `twg login`.
    NotLoggedIn = "NOT_LOGGED_IN", exit::AUTH_EXPIRED, Unauthenticated;
    /// The refresh token was rejected or is too old: run `twg login`.
    AuthExpired = "AUTH_EXPIRED", exit::AUTH_EXPIRED, Unauthenticated;
    /// A refresh's answer was lost and the server has no reuse leeway, so the refresh token
    /// is never sent again: the access token is served until it expires, then `twg login`.
    RefreshHalted = "REFRESH_HALTED", exit::AUTH_EXPIRED, Unauthenticated;
    /// A refresh's answer was lost twice within the server's reuse leeway: retry.
    RefreshAnswerLost = "REFRESH_ANSWER_LOST", exit::TEMPORARY, Unavailable;
    /// The config directory cannot be written, so nothing was sent.
    SandboxCannotPersist = "SANDBOX_CANNOT_PERSIST", exit::SANDBOX_CANNOT_PERSIST, FailedPrecondition;
    /// Another process held the credential lock too long.
    LockBusy = "LOCK_BUSY", exit::TEMPORARY, Unavailable;
    /// The network or the server failed; retrying later may work.
    Temporary = "TEMPORARY", exit::TEMPORARY, Unavailable;
    /// The server refused the refresh for a reason other than an expired grant.
    RefreshRejected = "REFRESH_REJECTED", exit::FAILURE, Internal;
    /// The credentials cannot be refreshed (an API token, or no refresh token).
    NotRefreshable = "NOT_REFRESHABLE", exit::FAILURE, Internal;
    /// `auth.conf` cannot be parsed.
    ConfigCorrupt = "CONFIG_CORRUPT", exit::CONFIG, FailedPrecondition;
    /// `config.toml` or the environment is invalid.
    ConfigInvalid = "CONFIG_INVALID", exit::CONFIG, FailedPrecondition;
    /// The store failed for another reason (I/O, keyring).
    StoreError = "STORE_ERROR", exit::FAILURE, Internal;
    /// The HTTP client cannot be built (CA bundle, proxy).
    HttpSetup = "HTTP_SETUP", exit::FAILURE, Internal;
    /// The tokens were refreshed but could not be saved.
    PersistFailed = "PERSIST_FAILED", exit::FAILURE, Internal;
    /// `--min-valid` asks for more than the server's token lifetime allows.
    MinValidUnmeetable = "MIN_VALID_UNMEETABLE", exit::FAILURE, OutOfRange;
    /// An endpoint in `auth.conf` is not on the issuer's origin.
    EndpointNotPinned = "ENDPOINT_NOT_PINNED", exit::CONFIG, FailedPrecondition;
    /// The stored credentials belong to another issuer than the configured one.
    IssuerChanged = "ISSUER_CHANGED", exit::CONFIG, FailedPrecondition;
    /// A path (home, config or runtime directory) cannot be determined.
    PathError = "PATH_ERROR", exit::FAILURE, Internal;
    /// `TWG_OAUTH_ACCESS_TOKEN` has expired (or expires within `--min-valid`): twg never
    /// refreshes a delegated token, so whoever set it must give a fresh one.
    DelegatedExpired = "DELEGATED_TOKEN_EXPIRED", exit::AUTH_EXPIRED, Unauthenticated;
    /// `TWG_TOKEN_MODE=env` without the variables it needs.
    EnvIncomplete = "ENV_INCOMPLETE", exit::CONFIG, FailedPrecondition;

    // Reaching twgd.
    /// The daemon speaks another protocol version.
    ProtocolMismatch = "PROTOCOL_MISMATCH", exit::PROTOCOL_MISMATCH, FailedPrecondition;
    /// The daemon cannot be reached and the command needs it.
    DaemonUnreachable = "DAEMON_UNREACHABLE", exit::DAEMON_UNREACHABLE, Unavailable;
    /// `twg daemon` commands that need a running daemon.
    DaemonNotRunning = "DAEMON_NOT_RUNNING", exit::DAEMON_UNREACHABLE, Unavailable;
    /// `twg daemon start` could not start it.
    DaemonSpawn = "DAEMON_SPAWN", exit::DAEMON_UNREACHABLE, Unavailable;
    /// The daemon stopped in the middle of a command.
    DaemonGone = "DAEMON_GONE", exit::TEMPORARY, Unavailable;
    /// The socket (or its directory) is not the user's own.
    UntrustedSocket = "UNTRUSTED_SOCKET", exit::DAEMON_UNREACHABLE, PermissionDenied;
    /// twgd refused the caller.
    PermissionDenied = "PERMISSION_DENIED", exit::FAILURE, PermissionDenied;
    /// twgd failed without a code this build knows.
    DaemonError = "DAEMON_ERROR", exit::FAILURE, Internal;

    // Login.
    /// The user denied the login in the browser.
    LoginDenied = "LOGIN_DENIED", exit::AUTH_EXPIRED, PermissionDenied;
    /// The login was not completed in time.
    LoginExpired = "LOGIN_EXPIRED", exit::AUTH_EXPIRED, DeadlineExceeded;
    /// The server refused the login.
    LoginFailed = "LOGIN_FAILED", exit::FAILURE, FailedPrecondition;
    /// The login could not be set up (discovery, the HTTP client, the app's settings).
    LoginSetup = "LOGIN_SETUP", exit::FAILURE, FailedPrecondition;
    /// The login could not be started (the loopback listener, the browser).
    LoginStart = "LOGIN_START", exit::FAILURE, FailedPrecondition;

    // Update, upkeep, admin.
    /// Another `twg update` is running.
    UpdateBusy = "UPDATE_BUSY", exit::TEMPORARY, Unavailable;
    /// The release manifest or an archive could not be fetched.
    UpdateDownload = "UPDATE_DOWNLOAD", exit::TEMPORARY, Unavailable;
    /// The release manifest is invalid or has no such channel.
    UpdateManifest = "UPDATE_MANIFEST", exit::FAILURE, FailedPrecondition;
    /// The update's HTTP client cannot be built.
    UpdateSetup = "UPDATE_SETUP", exit::FAILURE, Internal;
    /// No home directory to install into.
    UpdateNoHome = "UPDATE_NO_HOME", exit::FAILURE, FailedPrecondition;
    /// The release has no build for this platform.
    UpdateNoBuild = "UPDATE_NO_BUILD", exit::FAILURE, FailedPrecondition;
    /// This twg belongs to a system package (`/usr/bin`): the package manager updates it.
    UpdatePackaged = "UPDATE_PACKAGED", exit::FAILURE, FailedPrecondition;
    /// `twg update` cannot replace itself on this platform.
    UpdateUnsupported = "UPDATE_UNSUPPORTED", exit::FAILURE, Unimplemented;
    /// The installation could not be written.
    UpdateInstall = "UPDATE_INSTALL", exit::FAILURE, Internal;
    /// The download is not signed by twg's release key.
    UpdateSignature = "UPDATE_SIGNATURE", exit::FAILURE, FailedPrecondition;
    /// The download does not match the manifest's checksum.
    UpdateChecksum = "UPDATE_CHECKSUM", exit::FAILURE, FailedPrecondition;
    /// The archive cannot be unpacked.
    UpdateArchive = "UPDATE_ARCHIVE", exit::FAILURE, FailedPrecondition;
    /// The new build does not run on this machine.
    UpdateBadBuild = "UPDATE_BAD_BUILD", exit::FAILURE, FailedPrecondition;
    /// The new version could not be switched to.
    UpdateSwitch = "UPDATE_SWITCH", exit::FAILURE, Internal;
    /// The upkeep timer could not be installed.
    UpkeepEnableFailed = "UPKEEP_ENABLE_FAILED", exit::FAILURE, Internal;
    /// The admin key's store failed.
    AdminStore = "ADMIN_STORE", exit::FAILURE, Internal;

    // `twg exec`: the shell's codes, so scripts read them the way they read a shell's.
    /// The command to run does not exist (or is not on PATH).
    ExecNotFound = "EXEC_NOT_FOUND", exit::COMMAND_NOT_FOUND, NotFound;
    /// The command exists but cannot be run (no execute permission, not a program).
    ExecNotExecutable = "EXEC_NOT_EXECUTABLE", exit::CANNOT_EXECUTE, PermissionDenied;
}

impl ErrorCode {
    /// A gRPC status carrying this code in its metadata.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        let mut status = tonic::Status::new(self.grpc(), message);
        status.metadata_mut().insert(
            METADATA_KEY,
            tonic::metadata::MetadataValue::from_static(self.as_str()),
        );
        status
    }

    /// The code twgd attached to `status`, or `None` when it carries none: such an error
    /// came from the transport (the daemon died, hung or was stopped mid-call), not from twgd.
    pub fn of_status(status: &tonic::Status) -> Option<ErrorCode> {
        let wire = status.metadata().get(METADATA_KEY)?.to_str().ok()?;
        Some(ErrorCode::parse(wire))
    }

    /// The code for a daemon's error: the attached code, or for an unknown one (from a
    /// newer daemon) the nearest code to its gRPC code, so the exit code still means
    /// "run `twg login`" or "retry".
    pub fn of_daemon_status(status: &tonic::Status) -> ErrorCode {
        match ErrorCode::of_status(status) {
            Some(ErrorCode::Unknown) | None => match status.code() {
                Code::Unauthenticated => ErrorCode::AuthExpired,
                Code::Unavailable => ErrorCode::Temporary,
                Code::PermissionDenied => ErrorCode::PermissionDenied,
                _ => ErrorCode::DaemonError,
            },
            Some(code) => code,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_string_and_serde() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            let status = code.status("m");
            assert_eq!(status.code(), code.grpc());
            assert_eq!(ErrorCode::of_status(&status), Some(code));
        }
    }

    #[test]
    fn a_code_from_a_newer_daemon_falls_back_on_the_grpc_code() {
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"SOMETHING_NEW\"").unwrap(),
            ErrorCode::Unknown
        );
        let mut status = tonic::Status::unauthenticated("later");
        status
            .metadata_mut()
            .insert(METADATA_KEY, "SOMETHING_NEW".parse().unwrap());
        assert_eq!(ErrorCode::of_status(&status), Some(ErrorCode::Unknown));
        assert_eq!(ErrorCode::of_daemon_status(&status), ErrorCode::AuthExpired);
        assert_eq!(
            ErrorCode::of_daemon_status(&tonic::Status::unavailable("x")),
            ErrorCode::Temporary
        );
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        assert_eq!(ErrorCode::NotLoggedIn.exit(), 77);
        assert_eq!(ErrorCode::RefreshHalted.exit(), 77);
        assert_eq!(ErrorCode::RefreshAnswerLost.exit(), 75);
        assert_eq!(ErrorCode::SandboxCannotPersist.exit(), 73);
        assert_eq!(ErrorCode::ProtocolMismatch.exit(), 76);
        assert_eq!(ErrorCode::DaemonUnreachable.exit(), 69);
        assert_eq!(ErrorCode::ConfigCorrupt.exit(), 78);
        assert_eq!(ErrorCode::ExecNotExecutable.exit(), 126);
        assert_eq!(ErrorCode::ExecNotFound.exit(), 127);
        assert_eq!(ErrorCode::Unknown.exit(), 1);
    }
}
