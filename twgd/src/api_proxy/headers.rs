//! Which headers cross the proxy. The caller's credentials never reach upstream (the
//! proxy's token replaces them), cookies never cross in either direction (they are
//! credentials too), and hop-by-hop headers (RFC 9110 §7.6.1) describe one connection only.

use hyper::header::{self, HeaderMap, HeaderName};

/// Hop-by-hop headers, plus `Host` (the upstream's comes from its URL).
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Not standard, but hop-by-hop wherever they are used.
const HOP_BY_HOP_NAMES: &[&str] = &["keep-alive", "proxy-connection"];

/// The caller's headers as sent upstream: without its `Authorization` and `Cookie`, and
/// without anything hop-by-hop.
pub fn to_upstream(from_caller: &HeaderMap) -> HeaderMap {
    let mut out = without_hop_by_hop(from_caller);
    out.remove(header::AUTHORIZATION);
    out.remove(header::COOKIE);
    out
}

/// Upstream's headers as returned to the caller: without `Set-Cookie` (a session an agent
/// could replay without the proxy) and without anything hop-by-hop.
pub fn to_caller(from_upstream: &HeaderMap) -> HeaderMap {
    let mut out = without_hop_by_hop(from_upstream);
    out.remove(header::SET_COOKIE);
    out
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    // Headers the `Connection` header names are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let drop = HOP_BY_HOP.contains(name)
            || HOP_BY_HOP_NAMES.contains(&name.as_str())
            || named.iter().any(|n| n == name.as_str());
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn credentials_and_hop_by_hop_headers_never_cross() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer forged"),
        );
        h.insert(header::COOKIE, HeaderValue::from_static("session=1"));
        h.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic x"),
        );
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, X-Secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("5"));
        h.insert(header::HOST, HeaderValue::from_static("twg"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let up = to_upstream(&h);
        assert_eq!(up.len(), 1, "{up:?}");
        assert_eq!(up[header::ACCEPT], "application/json");

        let mut r = HeaderMap::new();
        r.insert(header::SET_COOKIE, HeaderValue::from_static("session=2"));
        r.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        r.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let back = to_caller(&r);
        assert_eq!(back.len(), 1, "{back:?}");
        assert_eq!(back[header::CONTENT_TYPE], "text/plain");
    }
}
