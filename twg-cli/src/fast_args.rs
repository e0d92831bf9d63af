//! The one hot command, `twg [--json | --output F] auth token [--min-valid N]` (the flags
//! may come anywhere, as clap allows), without clap.
//!
//! clap builds the whole command tree (every subcommand and flag) before parsing, which
//! costs more than the rest of `twg auth token` together. The front `twg` answers this
//! command itself when twgd does, but hands it here when twgd is down (the fallback) or
//! env-mode credentials are set, so this binary skips clap for it too; anything else (help,
//! typos, other commands) goes through clap as usual. The tests below hold the shared
//! parser (`twg_common::hot_path`) to clap's reading of the same line.

use crate::cli::{AuthCommand, Cli, Command, OutputFormat};
use std::ffi::OsString;

/// The parsed command line when it is a plain `auth token`, else `None`. The parser is
/// shared with the front `twg` (`twg_common::hot_path`), so both agree on the hot path.
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let t = twg_common::hot_path::parse(args)?;
    Some(Cli {
        json: t.json,
        output: t.output_json.map(|json| {
            if json {
                OutputFormat::Json
            } else {
                OutputFormat::Text
            }
        }),
        command: Command::Auth(AuthCommand::Token(crate::cmd::token::Cmd {
            min_valid: t.min_valid,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    /// Whatever the fast path accepts, clap must parse to the same thing.
    fn same_as_clap(line: &str) {
        let fast = parse(&args(line)).unwrap_or_else(|| panic!("fast path refused {line:?}"));
        let mut full = vec![OsString::from("twg")];
        full.extend(args(line));
        let slow = Cli::try_parse_from(full).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{line}");
    }

    #[test]
    fn plain_forms_match_clap() {
        for line in [
            "auth token",
            "--json auth token",
            "auth token --json",
            "auth token --min-valid 300",
            "auth --json token --min-valid=5",
            "auth token --min-valid 0 --json",
            "auth token --output json",
            "--output=text auth token",
            "auth --output json token --json",
        ] {
            same_as_clap(line);
        }
    }

    #[test]
    fn anything_else_goes_to_clap() {
        for line in [
            "auth token --help",
            "auth token -h",
            "auth token --min-valid",
            "auth token --min-valid -1",
            "auth token --min-valid x",
            "auth token --output",
            "auth token --output yaml",
            "auth token --output=JSON",
            "auth token extra",
            "auth status",
            "token auth",
            "--version",
            "",
        ] {
            assert!(parse(&args(line)).is_none(), "{line:?}");
        }
    }
}
