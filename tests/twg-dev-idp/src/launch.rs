//! Start-up: bind 127.0.0.1, announce the URL (stdout line and optional ready file), serve.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;

use crate::cli::Args;
use crate::clients::{self, ClientError};
use crate::{server, shutdown};

/// The prefix of the single stdout line that tests parse.
pub const URL_LINE_PREFIX: &str = "TWG_DEV_IDP_URL=";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("the --confidential-client options do not fit together")]
    Clients(#[source] ClientError),
    #[error("cannot listen on 127.0.0.1:{port}; pick another --port, or 0 for a free one")]
    Bind {
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("cannot install the SIGTERM/SIGINT handlers")]
    Signals(#[source] io::Error),
    #[error("cannot print the URL line to stdout; is stdout closed?")]
    Announce(#[source] io::Error),
    #[error("cannot write the ready file {}; check that its directory exists and is writable", path.display())]
    ReadyFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the server stopped with an error")]
    Serve(#[source] io::Error),
}

pub async fn launch(args: Args) -> Result<(), LaunchError> {
    let settings = args.settings();
    clients::check_unique(&settings.confidential_clients).map_err(LaunchError::Clients)?;
    let stop = shutdown::signal().map_err(LaunchError::Signals)?;
    // Loopback only: this server hands out tokens to anyone who asks.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .await
        .map_err(|source| LaunchError::Bind {
            port: args.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| LaunchError::Bind {
        port: args.port,
        source,
    })?;
    let url = server::issuer_for(addr);

    announce(&url).map_err(LaunchError::Announce)?;
    if let Some(path) = &args.ready_file {
        write_ready_file(path, &url).map_err(|source| LaunchError::ReadyFile {
            path: path.clone(),
            source,
        })?;
    }
    let confidential: Vec<&str> = settings
        .confidential_clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    tracing::info!(%url, clients = ?settings.client_ids, ?confidential, "twg-dev-idp listening");
    server::serve(listener, settings, stop)
        .await
        .map_err(LaunchError::Serve)
}

fn announce(url: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{URL_LINE_PREFIX}{url}")?;
    // Whoever spawned us is blocked reading this line; a pipe would otherwise sit in a buffer.
    stdout.flush()
}

/// Written to a temporary sibling and renamed, so a watcher never reads half a URL.
fn write_ready_file(path: &Path, url: &str) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{url}\n"))?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
