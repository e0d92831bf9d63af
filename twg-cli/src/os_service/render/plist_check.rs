//! The rendered LaunchAgent read back by a real plist parser (Python's `plistlib`, the same
//! XML plist format launchd reads), so a value that breaks the XML or changes on the way
//! through fails here rather than in `launchctl bootstrap` on a Mac.

use super::launchd_plist;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// Parses `plist` with `plistlib` and returns it as JSON (plistlib's types map one to one:
/// dict, array, string, bool, integer).
fn parse_with_plistlib(plist: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("com.atlassian.twgd.plist");
    std::fs::write(&file, plist).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, plistlib, sys\n\
             with open(sys.argv[1], 'rb') as f:\n    \
                 print(json.dumps(plistlib.load(f)))",
        ])
        .arg(&file)
        .output()
        .expect("python3 is needed to validate the LaunchAgent plist (apt-get install python3)");
    assert!(
        out.status.success(),
        "plistlib rejected the rendered plist: {}\n{plist}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn launchd_plist_parses_with_every_key_and_hostile_values_intact() {
    // Every character XML treats specially, quotes, non-ASCII, a space, tab, CR and LF.
    let daemon = "/Users/zoë & <co>/\"q\" 'a'/.local/share/twg/current/twgd";
    let log = "/Users/zoë & <co>/Library/Logs/twg]]>/twgd.log";
    let env = vec![
        (
            "TWG_SOCKET".to_string(),
            "/Users/zoë & <co>/Library/Caches/twg/run/twgd.sock".to_string(),
        ),
        (
            "TWG_CONFIG_DIR".to_string(),
            "/Users/zoë/a&amp;b/<x>/\"y\"/'z'/日本".to_string(),
        ),
        (
            "TWG_OAUTH_SCOPES".to_string(),
            "read:jira-work\toffline_access\r\nwrite".to_string(),
        ),
        ("TWG_LOG".to_string(), "twgd=debug,{{LOG}}".to_string()),
    ];
    let got = parse_with_plistlib(&launchd_plist(Path::new(daemon), &env, Path::new(log)));
    // The whole dictionary, so a missing or extra key fails too: launchd needs Label and
    // ProgramArguments; the job relies on the rest (start at login, restart after a crash,
    // the client's paths, a private umask, and a log to read when it fails).
    assert_eq!(
        got,
        json!({
            "Label": "com.atlassian.twgd",
            "ProgramArguments": [daemon],
            "EnvironmentVariables": {
                "TWG_SOCKET": env[0].1,
                "TWG_CONFIG_DIR": env[1].1,
                "TWG_OAUTH_SCOPES": env[2].1,
                "TWG_LOG": env[3].1,
            },
            "RunAtLoad": true,
            "KeepAlive": {"SuccessfulExit": false},
            "ThrottleInterval": 5,
            "ProcessType": "Background",
            "Umask": 0o077,
            "StandardErrorPath": log,
        })
    );
}

#[test]
fn launchd_plist_without_environment_still_parses() {
    let got = parse_with_plistlib(&launchd_plist(
        Path::new("/usr/local/bin/twgd"),
        &[],
        Path::new("/tmp/twgd.log"),
    ));
    assert_eq!(got["EnvironmentVariables"], json!({}));
    assert_eq!(got["ProgramArguments"], json!(["/usr/local/bin/twgd"]));
}
