//! Renders the service files in `packaging/` (embedded at build time) with real paths.
//!
//! Each format has its own quoting rules; a path with a space, `%`, `$`, `"` or `&` must
//! reach the service manager unchanged, so every value is escaped for its format here.
//! The systemd units are the package's own static files (`/usr/bin`, `%t`): the lines that
//! name a path are replaced, so the package and `twg upkeep enable` install the same units.

use std::path::Path;

pub const SYSTEMD_UNIT: &str = include_str!("../../../packaging/systemd/twgd.service");
pub const SYSTEMD_SOCKET: &str = include_str!("../../../packaging/systemd/twgd.socket");
pub const UPKEEP_SERVICE: &str = include_str!("../../../packaging/systemd/twg-upkeep.service");
pub const UPKEEP_TIMER: &str = include_str!("../../../packaging/systemd/twg-upkeep.timer");
pub const LAUNCHD_PLIST: &str = include_str!("../../../packaging/macos/com.atlassian.twgd.plist");
pub const TASK_XML: &str = include_str!("../../../packaging/windows/twgd-task.xml");

/// The systemd user unit running `daemon` with `env`.
pub fn systemd_unit(daemon: &Path, env: &[(String, String)]) -> String {
    exec_with_env(SYSTEMD_UNIT, daemon, "", env)
}

/// The socket unit listening on `socket`.
pub fn systemd_socket(socket: &Path) -> String {
    // ListenStream= takes the rest of the line as the path; only specifiers need escaping.
    let path = socket.to_string_lossy().replace('%', "%%");
    replace_line(
        SYSTEMD_SOCKET,
        "ListenStream=",
        &format!("ListenStream={path}"),
    )
}

/// The oneshot unit the upkeep timer starts: `client upkeep run` with `env`.
pub fn upkeep_service(client: &Path, env: &[(String, String)]) -> String {
    exec_with_env(UPKEEP_SERVICE, client, " upkeep run", env)
}

/// `ExecStart=` running `program` (quoted) with `args`, followed by one `Environment=` line
/// per variable.
fn exec_with_env(template: &str, program: &Path, args: &str, env: &[(String, String)]) -> String {
    let mut lines = vec![format!(
        "ExecStart={}{args}",
        systemd_quote(&program.to_string_lossy())
    )];
    lines.extend(
        env.iter()
            .map(|(k, v)| format!("Environment={}", systemd_quote(&format!("{k}={v}")))),
    );
    replace_line(template, "ExecStart=", &lines.join("\n"))
}

/// Replaces the one line of `template` starting with `key` (comments never do).
fn replace_line(template: &str, key: &str, with: &str) -> String {
    let mut found = 0;
    let out: Vec<&str> = template
        .lines()
        .map(|line| {
            if line.starts_with(key) {
                found += 1;
                with
            } else {
                line
            }
        })
        .collect();
    debug_assert_eq!(found, 1, "one {key} line in a unit template");
    out.join("\n") + "\n"
}

/// The LaunchAgent plist running `daemon` with `env`, stderr appended to `log`.
pub fn launchd_plist(daemon: &Path, env: &[(String, String)], log: &Path) -> String {
    let environment = env
        .iter()
        .map(|(k, v)| {
            format!(
                "    <key>{}</key>\n    <string>{}</string>",
                xml_escape(k),
                xml_escape(v)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    fill(
        LAUNCHD_PLIST,
        &[
            ("{{TWGD}}", &xml_escape(&daemon.to_string_lossy())),
            ("{{ENVIRONMENT}}", &environment),
            ("{{LOG}}", &xml_escape(&log.to_string_lossy())),
        ],
    )
}

/// The Task Scheduler definition running `daemon args` at `user`'s logon.
pub fn task_xml(daemon: &Path, args: &[String], user: &str) -> String {
    let args = args
        .iter()
        .map(|a| windows_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    fill(
        TASK_XML,
        &[
            ("{{TWGD}}", &xml_escape(&daemon.to_string_lossy())),
            ("{{ARGUMENTS}}", &xml_escape(&args)),
            ("{{USER}}", &xml_escape(user)),
        ],
    )
}

/// The task definition as schtasks reads it: UTF-16LE with a byte-order mark (the encoding
/// the template declares).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn task_xml_bytes(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// twgd's arguments in the task: everything it would otherwise take from the client's
/// environment, which a task does not carry.
pub fn task_arguments(socket: &Path, config: &Path, state: &Path, log: &Path) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    vec![
        "--no-console".into(),
        "--socket".into(),
        path(socket),
        "--config-dir".into(),
        path(config),
        "--state-dir".into(),
        path(state),
        "--log".into(),
        path(log),
    ]
}

/// One argument quoted for a Windows command line, as the C runtime (and Rust's
/// `std::env::args`) splits it: quotes around anything with a space or tab, backslashes
/// doubled only where they precede a quote.
fn windows_quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_string();
    }
    let mut out = String::from('"');
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// Fills each `{{NAME}}` of `template` in one pass over the template, so a value that itself
/// contains `{{LOG}}` (an environment value, a path) is copied as it is, never filled again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        match values.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                debug_assert!(false, "unfilled placeholder in a service template");
                out.push_str("{{");
                rest = &rest[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A double-quoted systemd word. `%` starts a specifier everywhere. `$` is left alone:
/// systemd expands variables only in arguments, never in the executable path (checked with
/// `systemd-analyze verify`), and the unit passes no arguments.
fn systemd_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes text for XML element content. A carriage return is written as a character
/// reference, because an XML parser turns a literal one (or CR LF) into LF.
fn xml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
        .replace('\r', "&#13;")
}

#[cfg(test)]
mod plist_check;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_unit_quotes_paths_and_environment() {
        let unit = systemd_unit(
            Path::new("/home/a b/100%/$x/twgd"),
            &[("TWG_SOCKET".into(), "/run/user/1/twg/twgd.sock".into())],
        );
        assert!(
            unit.contains("ExecStart=\"/home/a b/100%%/$x/twgd\"\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"TWG_SOCKET=/run/user/1/twg/twgd.sock\"\n"),
            "{unit}"
        );
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("Type=notify"));
        // The packaged path stays only in the header comment that describes the shipped file.
        assert!(
            unit.lines()
                .filter(|l| !l.starts_with('#'))
                .all(|l| !l.contains("/usr/bin")),
            "{unit}"
        );
        let socket = systemd_socket(Path::new("/home/a b/100%/twgd.sock"));
        assert!(
            socket.contains("\nListenStream=/home/a b/100%%/twgd.sock\n"),
            "{socket}"
        );
        assert!(!socket.contains("%t"), "{socket}");
        let upkeep = upkeep_service(Path::new("/opt/t w g/twg"), &[("K".into(), "v".into())]);
        assert!(
            upkeep.contains("\nExecStart=\"/opt/t w g/twg\" upkeep run\nEnvironment=\"K=v\"\n"),
            "{upkeep}"
        );
    }

    #[test]
    fn plist_and_task_escape_xml() {
        let plist = launchd_plist(
            Path::new("/Users/a&b/twgd"),
            &[("K".into(), "<v>".into())],
            Path::new("/tmp/log"),
        );
        assert!(
            plist.contains("<string>/Users/a&amp;b/twgd</string>"),
            "{plist}"
        );
        assert!(
            plist.contains("<key>K</key>\n    <string>&lt;v&gt;</string>"),
            "{plist}"
        );
        assert!(!plist.contains("{{"));
    }

    /// The task XML as schtasks gets it (UTF-16 with a BOM), read by Python's
    /// `xml.etree`: the command, each argument as Windows splits the command line
    /// (`subprocess.list2cmdline` is the C runtime's rule), the user, and the settings
    /// that keep twgd hidden and running.
    #[test]
    fn task_xml_parses_and_carries_twgds_paths_as_arguments() {
        let daemon = Path::new(r"C:\Users\a&b\Programs\twg\current\twgd.exe");
        let args = task_arguments(
            Path::new(r"C:\Users\a&b\AppData\Local\Temp\twg\twgd.sock"),
            Path::new(r"C:\Users\a&b\App Data\Roaming\twg"),
            Path::new(r"C:\dir with space\"),
            Path::new(r"C:\x\twgd.log"),
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("twgd-task.xml");
        std::fs::write(&file, task_xml_bytes(&task_xml(daemon, &args, r"DOM\a<b>"))).unwrap();
        let script = r#"
import json, subprocess, sys, xml.etree.ElementTree as ET
ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
root = ET.parse(sys.argv[1]).getroot()
get = lambda p: root.find(p, ns).text
print(json.dumps({
    "command": get("t:Actions/t:Exec/t:Command"),
    "arguments": get("t:Actions/t:Exec/t:Arguments"),
    "expected_arguments": subprocess.list2cmdline(json.loads(sys.argv[2])),
    "hidden": get("t:Settings/t:Hidden"),
    "user": get("t:Principals/t:Principal/t:UserId"),
    "logon_user": get("t:Triggers/t:LogonTrigger/t:UserId"),
    "logon_type": get("t:Principals/t:Principal/t:LogonType"),
    "time_limit": get("t:Settings/t:ExecutionTimeLimit"),
    "instances": get("t:Settings/t:MultipleInstancesPolicy"),
}))
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&file)
            .arg(serde_json::to_string(&args).unwrap())
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["command"], daemon.to_str().unwrap());
        assert_eq!(v["arguments"], v["expected_arguments"], "{v}");
        assert_eq!(
            v["arguments"],
            r#"--no-console --socket C:\Users\a&b\AppData\Local\Temp\twg\twgd.sock --config-dir "C:\Users\a&b\App Data\Roaming\twg" --state-dir "C:\dir with space\\" --log C:\x\twgd.log"#
        );
        assert_eq!(v["hidden"], "true");
        assert_eq!(v["user"], r"DOM\a<b>");
        assert_eq!(v["logon_user"], r"DOM\a<b>");
        assert_eq!(v["logon_type"], "InteractiveToken");
        assert_eq!(v["time_limit"], "PT0S");
        assert_eq!(v["instances"], "IgnoreNew");
    }

    #[test]
    fn windows_quoting_follows_the_c_runtime() {
        assert_eq!(windows_quote(r"C:\a\b"), r"C:\a\b");
        assert_eq!(windows_quote(""), r#""""#);
        assert_eq!(windows_quote(r"C:\a b\"), r#""C:\a b\\""#);
        assert_eq!(windows_quote(r#"a\"b"#), r#""a\\\"b""#);
    }
}
