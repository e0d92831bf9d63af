//! The exact settings that let each agent write the config directory or reach the daemon.
//!
//! Every snippet is built with its format's own serializer, so a path with spaces, quotes or
//! backslashes comes out escaped correctly; a path an agent cannot express gets no snippet.

use serde::Serialize;
use serde_json::json;

use super::{Agent, Os};

/// Name of the Codex permission profile the snippet defines.
const CODEX_PROFILE: &str = "twg";

/// How a [`Snippet`]'s content is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnippetFormat {
    Toml,
    Json,
    /// A POSIX shell assignment, `NAME='value'`.
    Env,
}

/// A setting to paste into one of the agent's own files (or environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// Where it goes, in the agent's own home (for example `~/.codex/config.toml`).
    pub file: String,
    pub format: SnippetFormat,
    pub content: String,
    pub notes: Vec<String>,
}

/// The setting that lets `agent` write `dir`, when one is known for this layout.
pub(super) fn write_access(agent: Agent, dir: &str, os: Os) -> Option<Snippet> {
    // Every agent resolves relative paths against something other than twg's working
    // directory, so a relative root would grant the wrong directory.
    if !is_absolute(dir, os) {
        return None;
    }
    match agent {
        Agent::Codex => Some(codex(dir, os)),
        Agent::ClaudeCode => Some(claude_code(dir, os)),
        Agent::Cursor => Some(cursor(dir, os)),
        Agent::GeminiCli => gemini(dir, os),
        Agent::UnknownSandbox => None,
    }
}

/// How to let `agent` connect to the daemon socket, when its sandbox needs telling.
pub(super) fn socket_access(agent: Agent, socket: &str, os: Os) -> Option<String> {
    match (agent, os) {
        (Agent::Codex, Os::Linux | Os::MacOs) => Some(format!(
            "Codex: in {}, add to the [permissions.<profile>.network.unix_sockets] table of the \
             permission profile you use: {} (permission profiles are beta; some Codex releases \
             do not apply this table yet).",
            home_file(os, ".codex/config.toml"),
            toml_entry(socket, "allow"),
        )),
        (Agent::ClaudeCode, Os::MacOs) => Some(format!(
            "Claude Code: in {}, set {}.",
            home_file(os, ".claude/settings.json"),
            json!({"sandbox": {"network": {"allowUnixSockets": [socket]}}}),
        )),
        // Claude Code's Linux sandbox filters sockets with seccomp, which cannot look at
        // paths, so the only switch there opens every Unix socket.
        (Agent::ClaudeCode, Os::Linux) => Some(format!(
            "Claude Code: on Linux its sandbox cannot allow a single socket; {} in {} allows \
             all Unix sockets.",
            json!({"sandbox": {"network": {"allowAllUnixSockets": true}}}),
            home_file(os, ".claude/settings.json"),
        )),
        _ => None,
    }
}

fn codex(dir: &str, os: Os) -> Snippet {
    let mut filesystem = toml::Table::new();
    filesystem.insert(dir.to_owned(), "write".into());
    let mut profile = toml::Table::new();
    profile.insert("extends".into(), ":workspace".into());
    profile.insert("filesystem".into(), filesystem.into());
    let mut permissions = toml::Table::new();
    permissions.insert(CODEX_PROFILE.into(), profile.into());
    let mut root = toml::Table::new();
    root.insert("default_permissions".into(), CODEX_PROFILE.into());
    root.insert("permissions".into(), permissions.into());
    Snippet {
        file: home_file(os, ".codex/config.toml"),
        format: SnippetFormat::Toml,
        content: to_toml(&root),
        notes: vec![
            "Permission profiles replace the legacy `sandbox_mode` / `[sandbox_workspace_write]` \
             settings: configure one form or the other, never both. While `sandbox_mode` is set \
             in any config file (or you pass --sandbox), Codex ignores this profile."
                .into(),
            "If you already select a profile with `default_permissions`, add the `filesystem` \
             line to that profile instead."
                .into(),
            "If you set CODEX_HOME, the file is config.toml in that directory. Restart Codex \
             after editing."
                .into(),
        ],
    }
}

fn claude_code(dir: &str, os: Os) -> Snippet {
    let value = json!({"sandbox": {"enabled": true, "filesystem": {"allowWrite": [dir]}}});
    let mut notes = vec![
        "Merge these keys into the existing file rather than replacing it; `allowWrite` alone \
         does not turn the sandbox on, hence `enabled`. Restart Claude Code after editing."
            .into(),
    ];
    if os != Os::Windows {
        notes.push(format!(
            "Older Claude Code releases read a leading / in sandbox paths as relative to the \
             settings file; if the grant has no effect, write the path as {}.",
            json!(format!("/{dir}")),
        ));
    }
    Snippet {
        file: home_file(os, ".claude/settings.json"),
        format: SnippetFormat::Json,
        content: to_json(&value),
        notes,
    }
}

fn cursor(dir: &str, os: Os) -> Snippet {
    let mut notes = vec![
        "Merge this key into the file if it exists. It applies while the sandbox type is \
         \"workspace_readwrite\" (the default); a workspace's own .cursor/sandbox.json takes \
         priority over this one."
            .into(),
    ];
    if os == Os::Windows {
        notes.push(
            "On Windows, Cursor runs its sandbox inside WSL2: if the agent's commands run \
             there, list the directory as WSL sees it (under /mnt/)."
                .into(),
        );
    }
    Snippet {
        file: home_file(os, ".cursor/sandbox.json"),
        format: SnippetFormat::Json,
        content: to_json(&json!({"additionalReadwritePaths": [dir]})),
        notes,
    }
}

/// Gemini CLI splits SANDBOX_MOUNTS on `,` and each mount on `:` (sandbox.ts), so a path
/// containing either, and every Windows path, cannot be expressed.
fn gemini(dir: &str, os: Os) -> Option<Snippet> {
    if os == Os::Windows || dir.contains([':', ',']) {
        return None;
    }
    let mut notes = vec![
        "For example, `export` it in your shell profile, then restart Gemini CLI. It applies \
         to Docker and Podman sandboxes."
            .into(),
    ];
    if os == Os::MacOs {
        notes.push(format!(
            "Under the default macOS Seatbelt sandbox (SANDBOX=sandbox-exec) SANDBOX_MOUNTS is \
             ignored; start Gemini CLI with --include-directories {} instead, which makes the \
             directory writable there.",
            shell_quote(dir),
        ));
    }
    Some(Snippet {
        file: "the environment that starts gemini".into(),
        format: SnippetFormat::Env,
        content: format!("SANDBOX_MOUNTS={}", shell_quote(&format!("{dir}:{dir}:rw"))),
        notes,
    })
}

/// A file in the user's home, spelled the way that OS's users write it.
fn home_file(os: Os, relative: &str) -> String {
    match os {
        Os::Windows => format!(r"%USERPROFILE%\{}", relative.replace('/', r"\")),
        Os::Linux | Os::MacOs => format!("~/{relative}"),
    }
}

/// Absolute for the *target* OS, which in tests need not be the host's.
fn is_absolute(path: &str, os: Os) -> bool {
    match os {
        Os::Linux | Os::MacOs => path.starts_with('/'),
        Os::Windows => {
            let b = path.as_bytes();
            path.starts_with(r"\\")
                || (b.len() >= 3
                    && b[0].is_ascii_alphabetic()
                    && b[1] == b':'
                    && matches!(b[2], b'\\' | b'/'))
        }
    }
}

/// Single-quoted for a POSIX shell; a `'` inside becomes `'\''`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One `key = "value"` line, with the key quoted however TOML needs.
fn toml_entry(key: &str, value: &str) -> String {
    let mut table = toml::Table::new();
    table.insert(key.to_owned(), value.into());
    to_toml(&table).trim_end().to_owned()
}

fn to_toml(table: &toml::Table) -> String {
    // A table of strings and tables always serializes; an error here is a bug in toml.
    toml::to_string(table).expect("serialize a TOML table of strings")
}

fn to_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("serialize a JSON value")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Undoes [`shell_quote`]-style quoting: the words of a POSIX assignment's value.
    pub(crate) fn parse_shell_assignment(line: &str) -> (String, String) {
        let (name, rest) = line.split_once('=').expect("NAME=value");
        let mut value = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => value.extend(chars.by_ref().take_while(|&c| c != '\'')),
                '\\' => value.extend(chars.next()),
                c if c.is_whitespace() => panic!("unquoted whitespace in {line:?}"),
                c => value.push(c),
            }
        }
        (name.to_owned(), value)
    }

    #[test]
    fn windows_and_unix_absolute_paths() {
        assert!(is_absolute(r"C:\Users\me\AppData\Roaming\twg", Os::Windows));
        assert!(is_absolute(r"\\server\share\twg", Os::Windows));
        assert!(!is_absolute(r"twg\conf", Os::Windows));
        assert!(is_absolute("/home/me/.config/twg", Os::Linux));
        assert!(!is_absolute("relative/twg", Os::MacOs));
    }

    #[test]
    fn relative_roots_get_no_snippet() {
        for agent in Agent::ALL {
            assert_eq!(write_access(agent, "conf/twg", Os::Linux), None);
        }
    }

    #[test]
    fn gemini_refuses_paths_its_parser_would_split() {
        assert_eq!(gemini("/home/me/a:b/twg", Os::Linux), None);
        assert_eq!(gemini("/home/me/a,b/twg", Os::Linux), None);
        assert_eq!(gemini(r"C:\Users\me\twg", Os::Windows), None);
    }

    #[test]
    fn shell_quoting_round_trips() {
        for s in ["/plain", "/with space", "/it's", "/a\"b\\c", "/new\nline"] {
            let (name, value) = parse_shell_assignment(&format!("X={}", shell_quote(s)));
            assert_eq!((name.as_str(), value.as_str()), ("X", s));
        }
    }

    #[test]
    fn codex_socket_hint_is_a_valid_toml_line() {
        let sock = r#"/run/user/1000/tw"g\d.sock"#;
        let line = toml_entry(sock, "allow");
        let parsed: toml::Table = toml::from_str(&line).unwrap();
        assert_eq!(parsed[sock].as_str(), Some("allow"));
    }
}
