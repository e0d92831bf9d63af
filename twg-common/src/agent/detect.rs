//! Which coding agent (or other sandbox) this process runs under, read from the environment.
//!
//! Detection only names the sandbox so the guidance can point at the right settings file; it
//! never decides whether twg may write. That is the persistence preflight's job.

use std::fmt;

/// A coding agent whose sandbox may keep twg from writing its config directory, or a
/// sandbox we recognise without knowing which tool set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agent {
    Codex,
    ClaudeCode,
    Cursor,
    GeminiCli,
    UnknownSandbox,
}

impl Agent {
    /// Every variant, for exhaustive tests and documentation.
    pub const ALL: [Agent; 5] = [
        Agent::Codex,
        Agent::ClaudeCode,
        Agent::Cursor,
        Agent::GeminiCli,
        Agent::UnknownSandbox,
    ];

    /// Stable machine name, used in `--json` output and sent to the daemon.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Codex => "codex",
            Agent::ClaudeCode => "claude-code",
            Agent::Cursor => "cursor",
            Agent::GeminiCli => "gemini-cli",
            Agent::UnknownSandbox => "unknown-sandbox",
        }
    }

    /// Name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Agent::Codex => "Codex",
            Agent::ClaudeCode => "Claude Code",
            Agent::Cursor => "Cursor",
            Agent::GeminiCli => "Gemini CLI",
            Agent::UnknownSandbox => "an unrecognised sandbox",
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// What a variable's value must look like for its signal to count. An empty value never
/// counts, because people clear variables with `VAR=` as often as with `unset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any non-empty value.
    Present,
    /// Exactly this value.
    Equals(&'static str),
    /// A value starting with this prefix.
    Prefix(&'static str),
}

impl Expect {
    fn matches(self, value: &str) -> bool {
        !value.is_empty()
            && match self {
                Expect::Present => true,
                Expect::Equals(want) => value == want,
                Expect::Prefix(prefix) => value.starts_with(prefix),
            }
    }
}

/// One environment variable that reveals an agent or sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub var: &'static str,
    pub expect: Expect,
    pub agent: Agent,
}

const fn signal(var: &'static str, expect: Expect, agent: Agent) -> Signal {
    Signal { var, expect, agent }
}

/// Every signal, checked in order; the first match wins.
///
/// Variables that exist only *inside* a sandbox come first: when agents nest (Claude Code
/// started from a Cursor terminal, say) the agent whose sandbox is actually in force is
/// the one whose settings can help. Plain "this agent started you" markers come next, and
/// generic sandboxes last, so a Flatpak editor running Claude Code still reports Claude Code.
/// Keep `README.md` next to this file in step (a test checks every variable is listed there).
pub static SIGNALS: &[Signal] = &[
    // Codex sets CODEX_SANDBOX=seatbelt on commands it runs under macOS Seatbelt
    // (CODEX_SANDBOX_ENV_VAR in codex-rs; documented in openai/codex AGENTS.md).
    signal("CODEX_SANDBOX", Expect::Present, Agent::Codex),
    // Codex sets CODEX_SANDBOX_NETWORK_DISABLED=1 whenever its sandbox cuts the network
    // (CODEX_SANDBOX_NETWORK_DISABLED_ENV_VAR; openai/codex AGENTS.md).
    signal(
        "CODEX_SANDBOX_NETWORK_DISABLED",
        Expect::Equals("1"),
        Agent::Codex,
    ),
    // Cursor's agent sandbox sets CURSOR_SANDBOX. Seen in third-party detectors only; Cursor's
    // own docs do not list it.
    signal("CURSOR_SANDBOX", Expect::Present, Agent::Cursor),
    // Gemini CLI sets SANDBOX=sandbox-exec inside its macOS Seatbelt sandbox
    // (packages/cli/src/utils/sandbox.ts).
    signal("SANDBOX", Expect::Equals("sandbox-exec"), Agent::GeminiCli),
    // In a Docker/Podman sandbox Gemini CLI sets SANDBOX to the container name, derived from
    // the image: the default ghcr.io/google/gemini-cli:latest gives `gemini-cli-latest-0`
    // (parseImageName in packages/cli/src/utils/sandboxUtils.ts). Custom images are caught
    // by GEMINI_CLI below when the command comes from Gemini's shell tool.
    signal("SANDBOX", Expect::Prefix("gemini-cli"), Agent::GeminiCli),
    // Claude Code sets CLAUDECODE=1 in the shells it starts (anthropics/claude-code#531).
    signal("CLAUDECODE", Expect::Equals("1"), Agent::ClaudeCode),
    // Claude Code exports how it was started (`cli`, `sdk-ts`, ...) to its children.
    signal("CLAUDE_CODE_ENTRYPOINT", Expect::Present, Agent::ClaudeCode),
    // Codex injects the thread id into every command's environment
    // (CODEX_THREAD_ID_ENV_VAR, populate_env in codex-rs).
    signal("CODEX_THREAD_ID", Expect::Present, Agent::Codex),
    // Codex's unified exec sets CODEX_CI=1 next to NO_COLOR/PAGER=cat (apply_unified_exec_env).
    signal("CODEX_CI", Expect::Equals("1"), Agent::Codex),
    // Cursor sets CURSOR_AGENT=1 in agent terminals. Third-party observation; not in Cursor's
    // docs. CURSOR_TRACE_ID is deliberately absent: every Cursor terminal has it, agent or not.
    signal("CURSOR_AGENT", Expect::Equals("1"), Agent::Cursor),
    // Gemini CLI sets GEMINI_CLI=1 on every shell command it runs
    // (packages/core/src/services/shellExecutionService.ts).
    signal("GEMINI_CLI", Expect::Equals("1"), Agent::GeminiCli),
    // Anthropic's sandbox-runtime (`srt`, also used by Claude Code) starts bubblewrap with
    // `--setenv SANDBOX_RUNTIME 1` (command line quoted in anthropics/claude-code#35986).
    signal(
        "SANDBOX_RUNTIME",
        Expect::Equals("1"),
        Agent::UnknownSandbox,
    ),
    // The container-interface convention: Flatpak (`--setenv container flatpak` in
    // flatpak-run.c), Firejail (`container=firejail`), systemd-nspawn, Podman and LXC set it.
    signal("container", Expect::Present, Agent::UnknownSandbox),
    // Flatpak also names the sandboxed app.
    signal("FLATPAK_ID", Expect::Present, Agent::UnknownSandbox),
];

/// The agent or sandbox this environment reveals, if any. `env` looks a variable up.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<Agent> {
    SIGNALS
        .iter()
        .find(|s| env(s.var).is_some_and(|v| s.expect.matches(&v)))
        .map(|s| s.agent)
}

/// [`detect`] on this process's environment.
pub fn detect_from_process_env() -> Option<Agent> {
    detect(&|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_with(vars: &[(&str, &str)]) -> Option<Agent> {
        detect(&|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// A value that satisfies `expect`, and one that must not.
    fn sample(expect: Expect) -> (String, Option<String>) {
        match expect {
            Expect::Present => ("x".into(), None),
            Expect::Equals(v) => (v.into(), Some(format!("{v}0"))),
            Expect::Prefix(p) => (format!("{p}-latest-0"), Some(format!("x{p}"))),
        }
    }

    #[test]
    fn every_row_detects_its_agent_on_its_own() {
        for s in SIGNALS {
            let (good, bad) = sample(s.expect);
            assert_eq!(detect_with(&[(s.var, &good)]), Some(s.agent), "{s:?}");
            if let Some(bad) = bad {
                // Another row may still match the same variable (SANDBOX has two).
                let other = SIGNALS
                    .iter()
                    .filter(|o| o.var == s.var)
                    .find(|o| o.expect.matches(&bad));
                assert_eq!(detect_with(&[(s.var, &bad)]), other.map(|o| o.agent));
            }
            assert_eq!(detect_with(&[(s.var, "")]), None, "empty {}", s.var);
        }
    }

    #[test]
    fn the_documented_values_are_recognised() {
        let cases: &[(&str, &str, Agent)] = &[
            ("CODEX_SANDBOX", "seatbelt", Agent::Codex),
            ("CODEX_SANDBOX_NETWORK_DISABLED", "1", Agent::Codex),
            (
                "CODEX_THREAD_ID",
                "0199a213-81c0-7800-8aa1-bbab2a035a53",
                Agent::Codex,
            ),
            ("CODEX_CI", "1", Agent::Codex),
            ("CLAUDECODE", "1", Agent::ClaudeCode),
            ("CLAUDE_CODE_ENTRYPOINT", "cli", Agent::ClaudeCode),
            ("CURSOR_AGENT", "1", Agent::Cursor),
            ("CURSOR_SANDBOX", "1", Agent::Cursor),
            ("GEMINI_CLI", "1", Agent::GeminiCli),
            ("SANDBOX", "sandbox-exec", Agent::GeminiCli),
            ("SANDBOX", "gemini-cli-latest-0", Agent::GeminiCli),
            ("SANDBOX", "gemini-cli-sandbox-1", Agent::GeminiCli),
            ("SANDBOX_RUNTIME", "1", Agent::UnknownSandbox),
            ("container", "flatpak", Agent::UnknownSandbox),
            ("container", "firejail", Agent::UnknownSandbox),
            ("FLATPAK_ID", "org.example.Editor", Agent::UnknownSandbox),
        ];
        for (var, value, agent) in cases {
            assert_eq!(detect_with(&[(var, value)]), Some(*agent), "{var}={value}");
        }
    }

    #[test]
    fn unrelated_or_lookalike_values_are_ignored() {
        assert_eq!(detect_with(&[]), None);
        assert_eq!(detect_with(&[("CLAUDECODE", "0")]), None);
        assert_eq!(detect_with(&[("CURSOR_TRACE_ID", "abc")]), None);
        assert_eq!(detect_with(&[("SANDBOX", "true")]), None);
        assert_eq!(detect_with(&[("CODEX_HOME", "/home/me/.codex")]), None);
        assert_eq!(detect_with(&[("GEMINI_API_KEY", "k")]), None);
    }

    #[test]
    fn a_sandbox_marker_outranks_an_agent_name() {
        // Claude Code started from a Cursor agent terminal runs inside Cursor's sandbox.
        let env = [("CLAUDECODE", "1"), ("CURSOR_SANDBOX", "1")];
        assert_eq!(detect_with(&env), Some(Agent::Cursor));
    }

    #[test]
    fn an_agent_outranks_a_generic_sandbox() {
        let env = [("container", "flatpak"), ("CLAUDECODE", "1")];
        assert_eq!(detect_with(&env), Some(Agent::ClaudeCode));
    }

    #[test]
    fn names_are_stable() {
        let names: Vec<_> = Agent::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "codex",
                "claude-code",
                "cursor",
                "gemini-cli",
                "unknown-sandbox"
            ]
        );
        assert_eq!(Agent::GeminiCli.to_string(), "Gemini CLI");
    }

    #[test]
    fn the_readme_lists_every_signal() {
        let readme = include_str!("README.md");
        for s in SIGNALS {
            assert!(
                readme.contains(&format!("`{}`", s.var)),
                "{} missing",
                s.var
            );
        }
    }
}
