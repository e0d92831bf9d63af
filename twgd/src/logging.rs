//! Logging to stderr, filtered by `TWG_LOG` (default `info`). Secrets never reach a log
//! line: they are wrapped in `Secret`, whose `Debug` prints `REDACTED`.

/// Installs the subscriber once: to stderr, or appended to `file` (for a twgd started
/// without a console or a journal to catch stderr, as by Task Scheduler).
pub fn init(file: Option<&std::path::Path>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TWG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        None => {
            let _ = builder
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init();
        }
        Some(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    format!(
                        "cannot open the log file {}: {e}; check the directory's permissions or pass another --log",
                        path.display()
                    )
                })?;
            let _ = builder
                .with_writer(std::sync::Mutex::new(log))
                .with_ansi(false)
                .try_init();
        }
    }
    Ok(())
}
