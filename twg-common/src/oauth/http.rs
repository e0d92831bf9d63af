//! The HTTP client for OAuth calls: rustls (ring), sane timeouts, no redirects, a response
//! size cap, `HTTPS_PROXY`/`NO_PROXY`, and an optional extra CA bundle.

use super::error::chain;
use crate::config::Config;
use std::time::Duration;

/// The largest response body accepted from any endpoint; a hostile server cannot exhaust memory.
pub const MAX_BODY: usize = 1024 * 1024;

/// Building the client failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read the CA bundle {path}: {source}; fix SSL_CERT_FILE or network.ca_file")]
    CaFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the CA bundle {path} holds no usable PEM certificate; fix SSL_CERT_FILE or network.ca_file"
    )]
    CaParse { path: std::path::PathBuf },
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// Everything but the trust roots: timeouts, no redirects, the user agent, and the system's
/// proxy settings (`HTTPS_PROXY`/`NO_PROXY`, and the registry's on Windows).
fn base_builder(config: &Config) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(config.timeout))
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("twg/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
}

/// The certificates of an extra CA bundle (`SSL_CERT_FILE` or `network.ca_file`).
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let pem = std::fs::read(path).map_err(|source| HttpSetupError::CaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| HttpSetupError::CaParse {
            path: path.to_path_buf(),
        })?;
    if certs.is_empty() {
        return Err(HttpSetupError::CaParse {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Extra CA roots where the Windows chain engine refuses them (Wine).
///
/// With an extra CA bundle, reqwest's rustls-platform-verifier builds a Windows chain engine
/// (`CertCreateCertificateChainEngine`) whose `CERT_CHAIN_ENGINE_CONFIG` carries
/// `dwExclusiveFlags`, a field of Windows 8 and later. Wine 8.0's crypt32 accepts only the two
/// older sizes of that structure and fails with `E_INVALIDARG` ("Invalid parameter", os error
/// -2147024809), so under Wine every `twg.exe` with `SSL_CERT_FILE` set (Wine passes the Linux
/// environment through, and many Linux hosts set it) could not build its HTTP client (seen
/// with `WINEDEBUG=+crypt`: the last call before the error is that one). Real Windows 10 and
/// later (the oldest Rust's standard library runs on) accept the structure, so this path is
/// not taken there. When it is taken, verification stays complete: rustls's own verifier
/// (chain and host name) over the system's root store plus the extra bundle, which is what
/// the platform verifier would have trusted; only Windows-specific policy (revocation) is
/// not consulted.
#[cfg(windows)]
mod windows_roots {
    use super::{HttpSetupError, base_builder, chain};
    use crate::config::Config;

    pub(super) fn fallback(
        config: &Config,
        extra: Vec<reqwest::Certificate>,
        first: reqwest::Error,
    ) -> Result<reqwest::Client, HttpSetupError> {
        // A partly readable system store still yields the roots it could read.
        let system = rustls_native_certs::load_native_certs().certs;
        let roots: Vec<reqwest::Certificate> = system
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok())
            .chain(extra)
            .collect();
        base_builder(config)
            .tls_certs_only(roots)
            .build()
            .map_err(|_| HttpSetupError::Build(chain(&first)))
    }
}

/// A cheap-to-clone HTTP client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

fn install_crypto_provider() {
    // Idempotent: the first caller wins; later calls return Err, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    pub fn new(config: &Config) -> Result<Self, HttpSetupError> {
        install_crypto_provider();
        let extra = match &config.ca_file {
            Some(path) => Some(read_ca_file(path)?),
            None => None,
        };
        let mut builder = base_builder(config);
        if let Some(certs) = &extra {
            builder = builder.tls_certs_merge(certs.clone());
        }
        match builder.build() {
            Ok(inner) => Ok(Self { inner }),
            #[cfg(windows)]
            Err(e) if extra.is_some() => {
                windows_roots::fallback(config, extra.unwrap_or_default(), e)
                    .map(|inner| Self { inner })
            }
            Err(e) => Err(HttpSetupError::Build(chain(&e))),
        }
    }

    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Executes an `oauth2` request, reading at most [`MAX_BODY`] bytes of the response.
    pub async fn execute(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .inner
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in parts.headers.iter() {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(TransportError::from_reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_capped(resp).await?;
        let mut out = oauth2::http::Response::builder().status(status);
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        out.body(body)
            .map_err(|e| TransportError(format!("bad response: {e}")))
    }

    /// An `oauth2::AsyncHttpClient` over this client.
    pub fn oauth2(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send>,
    > + Send
    + Sync
    + '_ {
        move |req| {
            let me = self.clone();
            Box::pin(async move { me.execute(req).await })
        }
    }
}

/// Reads a response body, refusing more than [`MAX_BODY`] bytes.
pub async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(TransportError::from_reqwest)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(TransportError(format!(
                "response larger than {MAX_BODY} bytes; refusing it"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A network-level failure (connect, TLS, timeout, oversized body).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

impl TransportError {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        // reqwest's Display includes the URL, which never carries a secret in twg (tokens go
        // in bodies and headers only).
        TransportError(format!("{what}: {}", chain(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigFile};
    use std::path::Path;

    fn config_with_ca(ca: &Path) -> Config {
        let mut c = Config::resolve(Path::new("/r"), ConfigFile::default(), &|_| None).unwrap();
        c.ca_file = Some(ca.to_path_buf());
        c
    }

    #[test]
    fn an_extra_ca_bundle_is_loaded() {
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-ca.pem");
        HttpClient::new(&config_with_ca(&ca)).expect("a valid PEM bundle is accepted");
    }

    #[test]
    fn a_missing_or_bad_ca_bundle_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = HttpClient::new(&config_with_ca(&missing)).unwrap_err();
        assert!(matches!(err, HttpSetupError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains("SSL_CERT_FILE"));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = HttpClient::new(&config_with_ca(&junk)).unwrap_err();
        assert!(matches!(err, HttpSetupError::CaParse { .. }), "{err}");
    }
}
