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

/// The Task Scheduler definition running `daemon` at `user`'s logon.
pub fn task_xml(daemon: &Path, user: &str) -> String {
    fill(
        TASK_XML,
        &[
            ("{{TWGD}}", &xml_escape(&daemon.to_string_lossy())),
            ("{{USER}}", &xml_escape(user)),
        ],
    )
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
        let task = task_xml(Path::new(r"C:\Users\a\twgd.exe"), r"DOM\a");
        assert!(
            task.contains(r"<Command>C:\Users\a\twgd.exe</Command>"),
            "{task}"
        );
        assert!(task.contains(r"<UserId>DOM\a</UserId>"));
        assert!(!task.contains("{{"));
    }
}
