//! Authorization server metadata (RFC 8414, with OpenID Connect discovery as a fallback),
//! resolved into the endpoints twg uses.

use super::error::{OAuthError, sanitize};
use super::http::{HttpClient, read_capped};
use crate::config::{OAuthSettings, validate_url};
use serde::Deserialize;

/// The endpoints a login, refresh and logout need.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    pub issuer: String,
    /// RFC 8628; `None` when the server has no device grant (Atlassian for 3LO apps).
    pub device_authorization: Option<String>,
    /// RFC 6749 §3.1; `None` when the server offers only the device grant.
    pub authorization: Option<String>,
    pub token: String,
    pub revocation: Option<String>,
    pub resources: Option<String>,
    pub userinfo: Option<String>,
    /// `token_endpoint_auth_methods_supported`, when the metadata lists it.
    pub token_auth_methods: Option<Vec<String>>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`: the server promises `iss`
    /// in every authorization response, so an answer without one is refused.
    pub iss_in_response: bool,
    /// `code_challenge_methods_supported`, when the metadata lists it.
    pub code_challenge_methods: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: String,
    token_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    /// twg extension: where the list of accessible sites lives.
    accessible_resources_endpoint: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// The RFC 8414 §3 well-known URL, then the OpenID Connect one.
pub fn metadata_urls(issuer: &str) -> Vec<String> {
    let issuer = issuer.trim_end_matches('/');
    let mut urls = Vec::new();
    if let Ok(u) = url::Url::parse(issuer) {
        let path = u.path().trim_end_matches('/');
        let origin = u.origin().ascii_serialization();
        urls.push(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls.push(format!("{issuer}/.well-known/openid-configuration"));
    urls
}

/// Fills the endpoints `settings` does not give from the issuer's metadata.
pub async fn resolve(http: &HttpClient, settings: &OAuthSettings) -> Result<Endpoints, OAuthError> {
    let meta = if settings.is_complete() && settings.revocation_endpoint.is_some() {
        None
    } else {
        Some(fetch(http, &settings.issuer).await?)
    };
    let pick = |explicit: &Option<String>, found: Option<&String>| {
        explicit.clone().or_else(|| found.cloned())
    };
    let m = meta.as_ref();
    let device = pick(
        &settings.device_authorization_endpoint,
        m.and_then(|m| m.device_authorization_endpoint.as_ref()),
    );
    let authorization = pick(
        &settings.authorization_endpoint,
        m.and_then(|m| m.authorization_endpoint.as_ref()),
    );
    if device.is_none() && authorization.is_none() {
        return Err(OAuthError::Config(format!(
            "the authorization server {} advertises neither a device_authorization_endpoint (RFC 8628) \
             nor an authorization_endpoint; set oauth.device_authorization_endpoint or \
             oauth.authorization_endpoint in config.toml",
            settings.issuer
        )));
    }
    let token = pick(&settings.token_endpoint, m.and_then(|m| m.token_endpoint.as_ref()))
        .ok_or_else(|| {
            OAuthError::Config(format!(
                "the authorization server {} does not advertise a token_endpoint; set oauth.token_endpoint in config.toml",
                settings.issuer
            ))
        })?;
    let endpoints = Endpoints {
        issuer: settings.issuer.clone(),
        device_authorization: device,
        authorization,
        token,
        revocation: pick(
            &settings.revocation_endpoint,
            m.and_then(|m| m.revocation_endpoint.as_ref()),
        ),
        resources: pick(
            &settings.resources_endpoint,
            m.and_then(|m| m.accessible_resources_endpoint.as_ref()),
        ),
        userinfo: pick(
            &settings.userinfo_endpoint,
            m.and_then(|m| m.userinfo_endpoint.as_ref()),
        ),
        token_auth_methods: m.and_then(|m| m.token_endpoint_auth_methods_supported.clone()),
        iss_in_response: m.is_some_and(|m| m.authorization_response_iss_parameter_supported),
        code_challenge_methods: m.and_then(|m| m.code_challenge_methods_supported.clone()),
    };
    for (what, url) in [
        (
            "device authorization endpoint",
            endpoints.device_authorization.as_ref(),
        ),
        ("authorization endpoint", endpoints.authorization.as_ref()),
        ("token endpoint", Some(&endpoints.token)),
        ("revocation endpoint", endpoints.revocation.as_ref()),
        ("resources endpoint", endpoints.resources.as_ref()),
        ("userinfo endpoint", endpoints.userinfo.as_ref()),
    ] {
        if let Some(url) = url {
            validate_url(what, url, "the server's metadata")
                .map_err(|e| OAuthError::Config(e.to_string()))?;
        }
    }
    Ok(endpoints)
}

async fn fetch(http: &HttpClient, issuer: &str) -> Result<Metadata, OAuthError> {
    let mut last = String::new();
    for url in metadata_urls(issuer) {
        let resp = match http
            .reqwest()
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(OAuthError::Transient(format!(
                    "cannot reach the authorization server at {url}: {}",
                    super::error::chain(&e)
                )));
            }
        };
        let status = resp.status();
        if status.is_server_error() {
            return Err(OAuthError::Transient(format!(
                "{url} answered HTTP {status}; try again later"
            )));
        }
        if !status.is_success() {
            last = format!("{url} answered HTTP {status}");
            continue;
        }
        let body = read_capped(resp)
            .await
            .map_err(|e| OAuthError::Transient(e.0))?;
        let meta: Metadata = serde_json::from_slice(&body).map_err(|e| {
            OAuthError::Config(format!(
                "{url} is not a valid metadata document: {}",
                sanitize(&e.to_string())
            ))
        })?;
        // RFC 8414 §3.3: the issuer in the document must be the one we asked about.
        if meta.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OAuthError::Config(format!(
                "{url} names issuer `{}`, not `{issuer}`; refusing it (RFC 8414 §3.3). Check TWG_OAUTH_ISSUER",
                sanitize(&meta.issuer)
            )));
        }
        return Ok(meta);
    }
    Err(OAuthError::Config(format!(
        "no authorization server metadata for issuer {issuer} ({last}); check TWG_OAUTH_ISSUER or oauth.issuer"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_urls_follow_rfc8414_path_insertion() {
        assert_eq!(
            metadata_urls("https://a.example/tenant/x/"),
            vec![
                "https://a.example/.well-known/oauth-authorization-server/tenant/x",
                "https://a.example/tenant/x/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            metadata_urls("http://127.0.0.1:8080")[0],
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server"
        );
    }
}
