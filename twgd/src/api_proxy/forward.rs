//! One proxied request: check it, take the current token through the daemon's single-flight
//! path, forward it with the caller's body streamed (and capped), stream the answer back,
//! and on an upstream 401 refresh once and retry if the request can be repeated.
//!
//! The token appears only in the upstream request's `Authorization` header (marked
//! sensitive); no answer, error or log line carries it.

use super::{Proxy, caller, headers};
use crate::audit::Via;
use crate::peer::Peer;
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use twg_common::engine::Need;
use twg_common::error::EngineError;
use twg_common::secret::Secret;

type Answer = Response<reqwest::Body>;

pub async fn handle(proxy: &Proxy, req: Request<Incoming>, peer: Peer) -> Answer {
    let method = req.method().clone();
    // The query string is never logged or audited: it may carry secrets.
    let path = req.uri().path().to_owned();
    let (answer, token) = forward(proxy, req).await;
    let status = answer.status();
    tracing::info!(%method, %path, status = status.as_u16(), pid = ?peer.pid, "API proxy request");
    if let Some(token) = token {
        let via = Via {
            via: Some("api"),
            agent: caller::agent_of(peer.pid),
            method: Some(method.to_string()),
            path: Some(path),
            status: Some(status.as_u16()),
        };
        crate::audit::record_via(&proxy.daemon.audit, peer, None, &token, via);
    }
    answer
}

/// The answer, and the token last sent upstream (for the audit log) if any was.
async fn forward(proxy: &Proxy, req: Request<Incoming>) -> (Answer, Option<Secret>) {
    let settings = &proxy.settings;
    if req.method() == Method::CONNECT || req.uri().authority().is_some() {
        return (
            refuse(
                StatusCode::BAD_REQUEST,
                "send requests in origin form, as `curl --unix-socket api.sock http://twg/<path>` \
                 does; the proxy forwards only to api.base_url, never to a URL you name",
            ),
            None,
        );
    }
    if settings.read_only && !is_safe(req.method()) {
        return (
            refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "the API proxy is read-only (api.read_only in config.toml) and forwards only \
                     GET, HEAD and OPTIONS, not {}",
                    req.method()
                ),
            ),
            None,
        );
    }
    if content_length(&req).is_some_and(|n| n > settings.max_request_bytes) {
        return (too_large(settings.max_request_bytes), None);
    }
    let site = site_url(proxy);
    if !settings.allowed(site.as_deref()) {
        return (
            refuse(
                StatusCode::FORBIDDEN,
                &format!(
                    "api.base_url {} is neither {} nor the site you logged in to ({}); twg sends \
                     your token only there. Fix api.base_url in config.toml",
                    settings.base_url,
                    twg_common::agent_access::DEFAULT_API_BASE,
                    site.as_deref().unwrap_or("none")
                ),
            ),
            None,
        );
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Some(url) = upstream_url(&settings.base_url, path_and_query) else {
        return (
            refuse(
                StatusCode::BAD_REQUEST,
                "the request path is not valid under api.base_url; send a path such as /me",
            ),
            None,
        );
    };
    let token = match proxy.daemon.token(Need::default()).await {
        Ok(view) => view.oauth.access_token,
        Err(e) => return (no_token(&e), None),
    };
    let (parts, body) = req.into_parts();
    let upstream_headers = headers::to_upstream(&parts.headers);
    // Only a request without a body can be sent twice: a streamed body is gone once sent.
    let repeatable = is_idempotent(&parts.method) && body.is_end_stream();
    let first_body = if repeatable {
        reqwest::Body::from(Vec::new())
    } else {
        reqwest::Body::wrap(http_body_util::Limited::new(
            body,
            settings.max_request_bytes as usize,
        ))
    };
    let send = |token: &Secret, body: reqwest::Body| {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .expect("a token is a valid header value");
        auth.set_sensitive(true);
        let mut h = upstream_headers.clone();
        h.insert(header::AUTHORIZATION, auth);
        proxy
            .client
            .request(parts.method.clone(), url.clone())
            .headers(h)
            .body(body)
            .send()
    };
    let mut sent = token;
    let mut resp = send(&sent, first_body).await;
    if matches!(&resp, Ok(r) if r.status() == StatusCode::UNAUTHORIZED) {
        // The token was refused: refresh once (unless another request already did), so the
        // next request works; repeat this one only if it has no body.
        match fresh_token(proxy, &sent).await {
            Ok(fresh) if repeatable => {
                sent = fresh;
                resp = send(&sent, reqwest::Body::from(Vec::new())).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "API proxy: refresh after a 401 failed"),
        }
    }
    let answer = match resp {
        Ok(r) => {
            let mut out = Response::builder().status(r.status());
            if let Some(h) = out.headers_mut() {
                *h = headers::to_caller(r.headers());
            }
            out.body(reqwest::Body::from(r))
                .unwrap_or_else(|_| refuse(StatusCode::BAD_GATEWAY, "upstream sent a bad answer"))
        }
        Err(e) => upstream_failed(e, settings.max_request_bytes),
    };
    (answer, Some(sent))
}

/// The token after `rejected` was refused upstream: the current one if it is already
/// newer (another request refreshed meanwhile), else a forced, single-flight refresh.
async fn fresh_token(proxy: &Proxy, rejected: &Secret) -> Result<Secret, EngineError> {
    let current = proxy.daemon.token(Need::default()).await?;
    if current.oauth.access_token != *rejected {
        return Ok(current.oauth.access_token);
    }
    let forced = Need {
        min_valid: None,
        force: true,
    };
    Ok(proxy.daemon.token(forced).await?.oauth.access_token)
}

/// `base` + the caller's path and query, refused unless the result keeps `base`'s origin
/// and path prefix. Concatenated, never `Url::join`ed: joining `//evil.example/x` would
/// change the host.
fn upstream_url(base: &str, path_and_query: &str) -> Option<reqwest::Url> {
    if !path_and_query.starts_with('/') {
        return None;
    }
    let base_url = reqwest::Url::parse(base).ok()?;
    let url = reqwest::Url::parse(&format!("{base}{path_and_query}")).ok()?;
    let same_origin = url.origin() == base_url.origin();
    let prefix = base_url.path().trim_end_matches('/');
    // Whole segments only: `/ex/jira/abc` must not admit `/../abcdef` (= `/ex/jira/abcdef`).
    let under = url
        .path()
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    (same_origin && under).then_some(url)
}

fn site_url(proxy: &Proxy) -> Option<String> {
    proxy
        .daemon
        .current()
        .ok()
        .flatten()
        .and_then(|l| l.credentials.site.map(|s| s.url))
        .filter(|u| !u.is_empty())
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_idempotent(m: &Method) -> bool {
    is_safe(m) || matches!(*m, Method::PUT | Method::DELETE)
}

fn content_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn refuse(status: StatusCode, message: &str) -> Answer {
    let mut r = Response::new(reqwest::Body::from(format!("twg API proxy: {message}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn too_large(max: u64) -> Answer {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the request body is larger than {max} bytes; send less, or raise \
             api.max_request_bytes in config.toml"
        ),
    )
}

/// No token to send: say why in the terms `twg` itself uses (the message never holds one).
fn no_token(e: &EngineError) -> Answer {
    let status = match e.exit_code() {
        twg_common::exit::AUTH_EXPIRED => StatusCode::UNAUTHORIZED,
        twg_common::exit::TEMPORARY => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, &format!("twgd has no token to send: {e}"))
}

fn upstream_failed(e: reqwest::Error, max: u64) -> Answer {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return too_large(max);
        }
        source = err.source();
    }
    let (status, what) = if e.is_timeout() {
        (StatusCode::GATEWAY_TIMEOUT, "timed out")
    } else {
        (StatusCode::BAD_GATEWAY, "failed")
    };
    // Without the URL: its query string may carry secrets.
    let detail = twg_common::oauth::error::chain(&e.without_url());
    refuse(
        status,
        &format!(
            "the request to the API {what} ({detail}); check your network, network.ca_file and \
             api.base_url, then retry"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_url_never_leaves_the_base() {
        let base = "https://api.example.com/ex/jira";
        assert_eq!(
            upstream_url(base, "/rest/x?a=1").unwrap().as_str(),
            "https://api.example.com/ex/jira/rest/x?a=1"
        );
        let odd = upstream_url(base, "//evil.example/x").unwrap();
        assert_eq!(odd.host_str(), Some("api.example.com"));
        assert!(upstream_url(base, "@evil.example/x").is_none());
        assert!(upstream_url(base, "/../../admin").is_none());
        assert!(upstream_url("https://api.example.com", "/me").is_some());
        // A sibling path sharing the prefix's characters is outside the base.
        assert!(upstream_url(base, "/../jiraother/x").is_none());
        assert!(upstream_url(base, "/%2e%2e/jiraother/x").is_none());
        assert!(upstream_url(base, "").is_none());
    }
}
