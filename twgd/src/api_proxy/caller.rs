//! Who is calling the proxy. `curl` or an agent's HTTP library sends no `ClientInfo`, so
//! the agent is read from the caller's environment (`/proc/<pid>/environ`, readable because
//! the peer check proved it runs as our uid) with the same rules `twg` itself uses.
//! Only the detection result is kept; the environment is never stored or logged.

/// The agent the caller's environment reveals, if any.
#[cfg(target_os = "linux")]
pub fn agent_of(pid: Option<i32>) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{}/environ", pid?)).ok()?;
    let lookup = |name: &str| {
        environ.split(|b| *b == 0).find_map(|entry| {
            let rest = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
            Some(String::from_utf8_lossy(rest).into_owned())
        })
    };
    twg_common::agent::detect(&lookup).map(|a| a.as_str().to_owned())
}

#[cfg(not(target_os = "linux"))]
pub fn agent_of(_pid: Option<i32>) -> Option<String> {
    None
}
