//! Logging to stderr, filtered by `TWG_LOG` (default `info`). Secrets never reach a log
//! line: they are wrapped in `Secret`, whose `Debug` prints `REDACTED`.

/// Installs the subscriber once.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TWG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
