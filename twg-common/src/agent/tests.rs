//! Guidance tests: every snippet parses in its own format and names the exact config root.

use std::path::Path;

use serde_json::Value;

use super::snippets::tests::parse_shell_assignment;
use super::*;

const OSES: [Os; 3] = [Os::Linux, Os::MacOs, Os::Windows];
const SOCKET_UNIX: &str = "/run/user/1000/twg/twgd.sock";
const SOCKET_WINDOWS: &str = r"\\.\pipe\twg-me";

/// Roots a user could really have, including the awkward ones.
fn roots(os: Os) -> &'static [&'static str] {
    match os {
        Os::Windows => &[
            r"C:\Users\me\AppData\Roaming\twg",
            r"C:\Users\Jane Doe\AppData\Roaming\twg",
            r"D:\odd 'dir' #1\twg",
            r"\\server\share\twg",
        ],
        Os::Linux | Os::MacOs => &[
            "/home/me/.config/twg",
            "/home/me/My Stuff/it's \"twg\"",
            "/tmp/back\\slash/[twg] #1",
            "/home/ünïcode/twg",
        ],
    }
}

fn socket(os: Os) -> &'static str {
    if os == Os::Windows {
        SOCKET_WINDOWS
    } else {
        SOCKET_UNIX
    }
}

fn agents() -> impl Iterator<Item = Option<Agent>> {
    Agent::ALL.into_iter().map(Some).chain([None])
}

/// The directory the snippet grants, read back from the parsed snippet.
fn granted_dir(agent: Agent, s: &Snippet) -> String {
    match agent {
        Agent::Codex => {
            assert_eq!(s.format, SnippetFormat::Toml);
            let v: toml::Value = toml::from_str(&s.content).unwrap();
            assert_eq!(v["default_permissions"].as_str(), Some("twg"));
            let profile = &v["permissions"]["twg"];
            assert_eq!(profile["extends"].as_str(), Some(":workspace"));
            let fs = profile["filesystem"].as_table().unwrap();
            assert_eq!(fs.len(), 1);
            let (dir, access) = fs.iter().next().unwrap();
            assert_eq!(access.as_str(), Some("write"));
            dir.clone()
        }
        Agent::ClaudeCode => {
            assert_eq!(s.format, SnippetFormat::Json);
            let v: Value = serde_json::from_str(&s.content).unwrap();
            assert_eq!(v["sandbox"]["enabled"], Value::Bool(true));
            let list = v["sandbox"]["filesystem"]["allowWrite"].as_array().unwrap();
            assert_eq!(list.len(), 1);
            list[0].as_str().unwrap().to_owned()
        }
        Agent::Cursor => {
            assert_eq!(s.format, SnippetFormat::Json);
            let v: Value = serde_json::from_str(&s.content).unwrap();
            let list = v["additionalReadwritePaths"].as_array().unwrap();
            assert_eq!(list.len(), 1);
            list[0].as_str().unwrap().to_owned()
        }
        Agent::GeminiCli => {
            assert_eq!(s.format, SnippetFormat::Env);
            let (name, value) = parse_shell_assignment(&s.content);
            assert_eq!(name, "SANDBOX_MOUNTS");
            let parts: Vec<_> = value.split(':').collect();
            assert_eq!(parts.len(), 3, "{value}");
            assert_eq!(parts[0], parts[1]);
            assert_eq!(parts[2], "rw");
            parts[0].to_owned()
        }
        Agent::UnknownSandbox => panic!("no snippet expected"),
    }
}

#[test]
fn every_snippet_parses_and_grants_the_exact_root() {
    for os in OSES {
        for root in roots(os) {
            for agent in Agent::ALL {
                let g = guidance(Some(agent), Path::new(root), Path::new(socket(os)), os);
                let expected = match agent {
                    Agent::UnknownSandbox => false,
                    Agent::GeminiCli => os != Os::Windows,
                    _ => true,
                };
                let ctx = format!("{agent:?} {os:?} {root}");
                assert_eq!(g.agent_setting.is_some(), expected, "{ctx}");
                if let Some(s) = &g.agent_setting {
                    assert_eq!(granted_dir(agent, s), *root, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn the_printed_snippet_still_parses() {
    for os in OSES {
        for agent in [
            Agent::Codex,
            Agent::ClaudeCode,
            Agent::Cursor,
            Agent::GeminiCli,
        ] {
            let root = roots(os)[1];
            let g = guidance(Some(agent), Path::new(root), Path::new(socket(os)), os);
            let Some(s) = &g.agent_setting else { continue };
            let text = g.to_string();
            let printed: Vec<_> = text
                .lines()
                .filter_map(|l| l.strip_prefix("    "))
                .collect();
            let printed = printed.join("\n");
            let reparsed = Snippet {
                content: printed,
                ..s.clone()
            };
            assert_eq!(granted_dir(agent, &reparsed), root, "{agent:?} {os:?}");
        }
    }
}

#[test]
fn text_names_the_root_given_and_never_the_default() {
    for os in OSES {
        let root = roots(os)[1];
        for agent in agents() {
            let g = guidance(agent, Path::new(root), Path::new(socket(os)), os);
            let text = g.to_string();
            let json = serde_json::to_string(&g).unwrap();
            for out in [&text, &json] {
                assert!(!out.contains("~/.config/twg"), "{agent:?} {os:?}: {out}");
            }
            assert!(text.contains(root), "{agent:?} {os:?}");
            assert!(text.contains(socket(os)), "{agent:?} {os:?}");
        }
    }
}

#[test]
fn text_keeps_its_order() {
    let g = guidance(
        Some(Agent::Codex),
        Path::new("/srv/conf/twg"),
        Path::new(SOCKET_UNIX),
        Os::Linux,
    );
    let text = g.to_string();
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
    let order = [
        at("cannot write to its config directory /srv/conf/twg"),
        at("Nothing was sent"),
        at("Preferred fix:"),
        at("twg upkeep enable"),
        at(SOCKET_UNIX),
        at("Alternative:"),
        at("Add to ~/.codex/config.toml:"),
        at("twg auth refresh"),
        at("Warning:"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn json_has_the_expected_fields() {
    let g = guidance(
        Some(Agent::ClaudeCode),
        Path::new("/srv/conf/twg"),
        Path::new(SOCKET_UNIX),
        Os::MacOs,
    );
    let v: Value = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    let mut want = [
        "problem",
        "config_dir",
        "socket_path",
        "agent",
        "preferred_fix",
        "agent_setting",
        "terminal_fallback",
        "warning",
    ];
    let mut keys = keys;
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(v["agent"], "claude-code");
    assert_eq!(v["config_dir"], "/srv/conf/twg");
    assert_eq!(v["socket_path"], SOCKET_UNIX);
    assert_eq!(v["preferred_fix"], g.preferred_fix.as_str());
    assert_eq!(v["warning"], g.warning.as_str());
    let setting = &v["agent_setting"];
    assert_eq!(setting["file"], "~/.claude/settings.json");
    assert_eq!(setting["format"], "json");
    assert_eq!(
        setting["content"],
        g.agent_setting.as_ref().unwrap().content.as_str()
    );
    assert!(setting["notes"].as_array().is_some_and(|n| !n.is_empty()));

    let none = guidance(
        None,
        Path::new("/srv/conf/twg"),
        Path::new(SOCKET_UNIX),
        Os::Linux,
    );
    let v = serde_json::to_value(&none).unwrap();
    assert_eq!(v["agent"], Value::Null);
    assert_eq!(v["agent_setting"], Value::Null);
    assert!(
        v["terminal_fallback"]
            .as_str()
            .unwrap()
            .contains("/srv/conf/twg")
    );
}

#[test]
fn without_a_setting_the_fallback_gives_the_generic_advice() {
    let dir = r"C:\Users\me\AppData\Roaming\twg";
    for agent in [None, Some(Agent::UnknownSandbox), Some(Agent::GeminiCli)] {
        let g = guidance(
            agent,
            Path::new(dir),
            Path::new(SOCKET_WINDOWS),
            Os::Windows,
        );
        assert!(g.agent_setting.is_none());
        assert!(g.terminal_fallback.contains("twg auth refresh"));
        assert!(g.terminal_fallback.contains(dir));
    }
    let g = guidance(
        Some(Agent::Codex),
        Path::new(dir),
        Path::new(SOCKET_WINDOWS),
        Os::Windows,
    );
    assert!(g.terminal_fallback.contains("twg auth refresh"));
    assert!(!g.terminal_fallback.contains(dir));
    assert_eq!(
        g.agent_setting.unwrap().file,
        r"%USERPROFILE%\.codex\config.toml"
    );
}

#[test]
fn claude_socket_hint_names_the_exact_socket() {
    let sock = "/Users/Jane Doe/Library/twg \"x\"/twgd.sock";
    let g = guidance(
        Some(Agent::ClaudeCode),
        Path::new("/Users/jane/.config/twg"),
        Path::new(sock),
        Os::MacOs,
    );
    let hint = g.preferred_fix.lines().last().unwrap();
    let json = &hint[hint.find('{').unwrap()..=hint.rfind('}').unwrap()];
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["sandbox"]["network"]["allowUnixSockets"][0], sock);
}

#[test]
fn codex_socket_hint_names_the_exact_socket() {
    let g = guidance(
        Some(Agent::Codex),
        Path::new("/home/me/.config/twg"),
        Path::new(SOCKET_UNIX),
        Os::Linux,
    );
    assert!(
        g.preferred_fix
            .contains(&format!("\"{SOCKET_UNIX}\" = \"allow\""))
    );
}

#[cfg(unix)]
#[test]
fn a_root_that_is_not_utf8_gets_no_snippet() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = Path::new(OsStr::from_bytes(b"/home/me/\xff/twg"));
    let g = guidance(Some(Agent::Codex), root, Path::new(SOCKET_UNIX), Os::Linux);
    assert!(g.agent_setting.is_none());
    assert!(g.terminal_fallback.contains("/home/me/"));
}

#[test]
fn os_current_matches_the_build() {
    let os = Os::current();
    assert_eq!(os == Os::Windows, cfg!(windows));
    assert_eq!(os == Os::MacOs, cfg!(target_os = "macos"));
}
