//! What to tell the user when a rotated refresh token could not be saved from inside a sandbox.
//!
//! The order is deliberate: the daemon fix first, because it keeps credentials out of the
//! agent's reach; write access second, with its cost spelled out; a plain terminal last.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::Agent;
use super::snippets::{self, Snippet};

/// The operating system the guidance is for; it decides paths and which settings exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Also used for the other Unix-likes, whose agents behave like their Linux builds.
    Linux,
    MacOs,
    Windows,
}

impl Os {
    /// The OS this binary was built for.
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else {
            Os::Linux
        }
    }
}

/// Guidance for a config directory the agent's sandbox will not let twg write.
///
/// `Display` gives the terminal text; `--json` serializes the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guidance {
    /// What went wrong, and that nothing was sent.
    pub problem: String,
    pub config_dir: String,
    pub socket_path: String,
    /// [`Agent::as_str`] of the detected agent.
    pub agent: Option<&'static str>,
    /// Run the daemon outside the sandbox and let the agent reach its socket.
    pub preferred_fix: String,
    /// The agent's own setting granting write access to `config_dir`, when one is known.
    pub agent_setting: Option<Snippet>,
    /// Refresh from a normal terminal; without an agent setting, also the generic advice.
    pub terminal_fallback: String,
    /// What granting write access costs.
    pub warning: String,
}

/// Builds the guidance for `agent` (if detected), naming `config_root` and `socket_path`
/// exactly as given: the root may come from TWG_CONFIG_DIR, XDG or %APPDATA%.
pub fn guidance(agent: Option<Agent>, config_root: &Path, socket_path: &Path, os: Os) -> Guidance {
    let config_dir = config_root.to_string_lossy().into_owned();
    let socket = socket_path.to_string_lossy().into_owned();
    // A lossy path would name a different file inside a snippet; there only the exact
    // text will do, so a path that is not valid UTF-8 gets prose and no snippet.
    let exact_dir = config_root.to_str();
    let exact_socket = socket_path.to_str();

    let inside = match agent {
        Some(Agent::UnknownSandbox) => " (it appears to run inside a sandbox)".to_owned(),
        Some(a) => format!(" (it appears to run inside {a}'s sandbox)"),
        None => String::new(),
    };
    let problem = format!(
        "twg cannot write to its config directory {config_dir} from this process{inside}. \
         Nothing was sent to the server, so your refresh token is still valid."
    );

    // The socket path ends its line: a full stop after it would get copied along with it.
    let mut preferred_fix = format!(
        "Run the twg daemon outside the sandbox and let the agent talk to it: in a normal \
         terminal, run `twg upkeep enable` (keeps twgd running) or `twg daemon start` (starts \
         it once).\nThen give the agent twgd's agent socket, which serves tokens but cannot log \
         you out, log in or stop twgd: allow it to connect there and set TWG_SOCKET to it: {socket}"
    );
    if let (Some(a), Some(sock)) = (agent, exact_socket)
        && let Some(hint) = snippets::socket_access(a, sock, os)
    {
        preferred_fix.push('\n');
        preferred_fix.push_str(&hint);
    }

    let agent_setting = match (agent, exact_dir) {
        (Some(a), Some(dir)) => snippets::write_access(a, dir, os),
        _ => None,
    };

    let mut terminal_fallback =
        "Or run `twg auth refresh` in a normal terminal, outside the agent.".to_owned();
    if agent_setting.is_none() {
        terminal_fallback.push_str(&format!(
            " If your sandbox can grant write access to a single directory, allowing writes to \
             {config_dir} also works."
        ));
    }

    Guidance {
        problem,
        config_dir,
        socket_path: socket,
        agent: agent.map(Agent::as_str),
        preferred_fix,
        agent_setting,
        terminal_fallback,
        warning: "Granting write access lets the agent modify (and read) your credentials; \
                  that is why the agent socket is preferred."
            .into(),
    }
}

impl fmt::Display for Guidance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.problem)?;
        writeln!(f)?;
        writeln!(f, "Preferred fix: {}", self.preferred_fix)?;
        if let Some(s) = &self.agent_setting {
            writeln!(f)?;
            writeln!(
                f,
                "Alternative: let the agent write {}. Add to {}:",
                self.config_dir, s.file
            )?;
            writeln!(f)?;
            for line in s.content.lines() {
                // Indenting keeps the snippet visibly apart and stays valid in all three
                // formats, none of which uses multi-line strings here.
                match line {
                    "" => writeln!(f)?,
                    line => writeln!(f, "    {line}")?,
                }
            }
            writeln!(f)?;
            for note in &s.notes {
                writeln!(f, "Note: {note}")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "{}", self.terminal_fallback)?;
        writeln!(f)?;
        write!(f, "Warning: {}", self.warning)
    }
}
