//! The HTML behind `/authorize`: a consent form a headless browser can complete without
//! JavaScript, and the page shown when a request cannot be sent back to its client.

use crate::html::escape;
use crate::oauth_errors::OAuthError;
use crate::state::AuthorizationRequest;

// The button ids match the device page's, which the project's browser scripts look for
// verbatim; buttons inside a form submit by default, so no `type` is needed.

/// The consent form; it posts `request_id` and `decision=approve|deny` back to `/authorize`.
pub fn consent(request_id: &str, request: &AuthorizationRequest) -> String {
    let scopes: String = request
        .scope
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    format!(
        "<h1>Authorize this application?</h1>\n\
         <p>Application: <strong id=\"client_id\">{client}</strong></p>\n\
         <p>It asks for:</p>\n<ul id=\"scopes\">{scopes}</ul>\n\
         <p>You will be sent back to <code id=\"redirect_uri\">{redirect}</code>.</p>\n\
         <form method=\"post\" action=\"/authorize\">\n\
         <input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\n\
         <button id=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\n\
         <button id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n\
         </form>\n",
        client = escape(&request.client_id),
        redirect = escape(&request.redirect_uri),
        request_id = escape(request_id),
    )
}

/// Shown instead of redirecting: RFC 6749 §4.1.2.1 forbids sending anything to a redirect URI
/// that is not the client's own.
pub fn refusal(error: &OAuthError) -> String {
    format!(
        "<h1>Authorization error</h1>\n\
         <p id=\"error\" role=\"alert\"><code id=\"error_code\">{code}</code>: {description}</p>\n\
         <p>Nothing was sent back to the application.</p>\n",
        code = error.code(),
        description = escape(&error.description()),
    )
}

/// Shown when a consent answer cannot be acted on (unknown, answered or expired request).
pub fn stale(message: &str) -> String {
    format!(
        "<h1>Authorization error</h1>\n<p id=\"error\" role=\"alert\">{}</p>\n",
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    #[test]
    fn the_consent_form_carries_the_ids_browsers_look_for() {
        let request = AuthorizationRequest {
            client_id: "<script>".to_owned(),
            redirect_uri: "http://127.0.0.1:9/cb?a=1&b=2".to_owned(),
            scope: Scope::parse("read:me offline_access").unwrap(),
            state: Some("xyz".to_owned()),
            code_challenge: "c".repeat(43),
        };
        let page = consent("ar_123", &request);
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("<li>offline_access</li>"));
        assert!(page.contains("cb?a=1&amp;b=2"));
        assert!(page.contains("<form method=\"post\" action=\"/authorize\">"));
        assert!(page.contains("<input type=\"hidden\" name=\"request_id\" value=\"ar_123\">"));
        assert!(page.contains("<button id=\"approve\" name=\"decision\" value=\"approve\">"));
        assert!(page.contains("<button id=\"deny\" name=\"decision\" value=\"deny\">"));
    }

    #[test]
    fn refusals_name_the_error() {
        let page = refusal(&OAuthError::InvalidClient("unknown <client>".to_owned()));
        assert!(page.contains("<code id=\"error_code\">invalid_client</code>"));
        assert!(page.contains("unknown &lt;client&gt;"));
    }
}
