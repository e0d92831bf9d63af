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
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("twg/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| HttpSetupError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|_| HttpSetupError::CaParse { path: path.clone() })?;
            if certs.is_empty() {
                return Err(HttpSetupError::CaParse { path: path.clone() });
            }
            builder = builder.tls_certs_merge(certs);
        }
        let inner = builder
            .build()
            .map_err(|e| HttpSetupError::Build(chain(&e)))?;
        Ok(Self { inner })
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
