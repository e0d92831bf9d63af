//! Desktop notifications for `twg upkeep run` when twgd is down, shown by the desktop's own
//! tool rather than a D-Bus stack linked into the client (that stack lives in twgd, which
//! shows them itself whenever it runs): `gdbus` (GLib) making the same `Notify` call twgd
//! makes, else `notify-send` (libnotify) on Linux and the BSDs; `osascript` on macOS;
//! PowerShell's toast API on Windows. The next tool is tried only when one is not installed:
//! a tool that ran and failed (no notification server) is the answer.
//!
//! The texts are not secret, but they are passed as separate arguments (or environment
//! variables for PowerShell), never spliced into a script.

use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A notification server that never answers must not stall the pass.
const SHOW_TIMEOUT: Duration = Duration::from_secs(10);

/// Notifications through the platform's command-line tool.
#[derive(Debug, Clone, Copy)]
pub struct DesktopTool;

impl twg_upkeep::Notifier for DesktopTool {
    async fn show(&self, summary: &str, body: &str) -> Result<(), String> {
        let mut missing = Vec::new();
        for mut cmd in commands(summary, body) {
            let tool = cmd.as_std().get_program().to_string_lossy().into_owned();
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing.push(tool);
                    continue;
                }
                Err(e) => return Err(failed(format!("cannot run {tool}: {e}"))),
            };
            return match tokio::time::timeout(SHOW_TIMEOUT, child.wait_with_output()).await {
                Ok(Ok(out)) if out.status.success() => Ok(()),
                Ok(Ok(out)) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    Err(failed(format!("{tool} failed: {}", err.trim())))
                }
                Ok(Err(e)) => Err(failed(format!("{tool} failed: {e}"))),
                Err(_) => Err(failed(format!(
                    "the notification server did not answer {tool} within {}s",
                    SHOW_TIMEOUT.as_secs()
                ))),
            };
        }
        Err(failed(format!(
            "none of {} is installed; install one, or keep twgd running (it shows notifications itself)",
            missing.join(", ")
        )))
    }
}

fn failed(why: String) -> String {
    format!("cannot show the update notification ({why}); run `twg update` to install it")
}

#[cfg(all(unix, not(target_os = "macos")))]
fn commands(summary: &str, body: &str) -> Vec<Command> {
    let mut notify_send = Command::new("notify-send");
    notify_send.args(["--app-name=twg", "--", summary, body]);
    let mut gdbus = Command::new("gdbus");
    gdbus.args([
        "call",
        "--session",
        "--dest=org.freedesktop.Notifications",
        "--object-path=/org/freedesktop/Notifications",
        "--method=org.freedesktop.Notifications.Notify",
        // Each argument is GVariant text, typed: the call is made without introspection
        // (the server may not be running yet; the bus activates it).
        "--",
        "\"twg\"",
        "uint32 0",
        "\"\"",
        &gvariant_string(summary),
        &gvariant_string(body),
        "@as []",
        "@a{sv} {}",
        "int32 -1",
    ]);
    vec![gdbus, notify_send]
}

/// A GVariant text literal: gdbus parses each argument, so quotes and backslashes in the
/// text must be escaped.
#[cfg(all(unix, not(target_os = "macos")))]
fn gvariant_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(target_os = "macos")]
fn commands(summary: &str, body: &str) -> Vec<Command> {
    // AppleScript reads the texts from its argv, so nothing is interpolated into the script.
    let mut cmd = Command::new("osascript");
    cmd.args([
        "-e",
        "on run argv",
        "-e",
        "display notification (item 2 of argv) with title (item 1 of argv)",
        "-e",
        "end run",
        summary,
        body,
    ]);
    vec![cmd]
}

#[cfg(windows)]
fn commands(summary: &str, body: &str) -> Vec<Command> {
    const SCRIPT: &str = "\
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null; \
$t = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02); \
$x = $t.GetElementsByTagName('text'); \
$x.Item(0).AppendChild($t.CreateTextNode($env:TWG_NOTIFY_SUMMARY)) > $null; \
$x.Item(1).AppendChild($t.CreateTextNode($env:TWG_NOTIFY_BODY)) > $null; \
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('twg').Show([Windows.UI.Notifications.ToastNotification]::new($t))";
    let mut cmd = Command::new("powershell");
    cmd.args(["-NoProfile", "-NonInteractive", "-Command", SCRIPT])
        .env("TWG_NOTIFY_SUMMARY", summary)
        .env("TWG_NOTIFY_BODY", body);
    vec![cmd]
}

#[cfg(test)]
mod tests {
    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn gvariant_strings_escape_quotes_and_backslashes() {
        assert_eq!(super::gvariant_string("twg 1.2"), "\"twg 1.2\"");
        assert_eq!(super::gvariant_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
