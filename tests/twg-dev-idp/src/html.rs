//! The HTML shell and escaping shared by the browser-facing pages (`/device`, `/authorize`).

use axum::http::StatusCode;
use axum::response::Response;

use crate::responses::no_store_body;

/// A complete page around `body`, never cached: the pages carry one-time codes and request ids.
pub fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>twg dev IdP</title></head>\n<body>\n{body}</body>\n</html>\n"
    );
    no_store_body(status, "text/html; charset=utf-8", html)
}

/// Client ids, scopes and URIs come from the client, so they are escaped before landing in HTML.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
