//! Who the user is and which sites the token can reach (Atlassian's accessible-resources
//! shape; OpenID Connect userinfo for standard servers).

use super::error::{OAuthError, sanitize};
use super::http::{HttpClient, read_capped};
use crate::secret::Secret;
use crate::store::{SiteInfo, UserInfo};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Resource {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
}

async fn get_json(
    http: &HttpClient,
    url: &str,
    token: &Secret,
) -> Result<serde_json::Value, OAuthError> {
    let resp = http
        .reqwest()
        .get(url)
        .bearer_auth(token.expose())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            OAuthError::Transient(format!(
                "request to {url} failed: {}",
                super::error::chain(&e)
            ))
        })?;
    let status = resp.status();
    let body = read_capped(resp)
        .await
        .map_err(|e| OAuthError::Transient(e.0))?;
    if status.is_server_error() {
        return Err(OAuthError::Transient(format!(
            "{url} answered HTTP {status}"
        )));
    }
    if !status.is_success() {
        return Err(OAuthError::Rejected {
            code: format!("http_{}", status.as_u16()),
            description: Some(format!("{url} refused the new access token")),
        });
    }
    serde_json::from_slice(&body).map_err(|_| {
        OAuthError::Transient(format!("{url} sent {}", super::error::body_summary(&body)))
    })
}

/// The sites the token can reach.
pub async fn sites(
    http: &HttpClient,
    url: &str,
    token: &Secret,
) -> Result<Vec<SiteInfo>, OAuthError> {
    let v = get_json(http, url, token).await?;
    let list: Vec<Resource> = serde_json::from_value(v).map_err(|e| {
        OAuthError::Transient(format!(
            "{url} sent an unexpected site list: {}",
            sanitize(&e.to_string())
        ))
    })?;
    Ok(list
        .into_iter()
        .map(|r| SiteInfo {
            id: r.id,
            name: r.name,
            url: r.url,
        })
        .collect())
}

/// The signed-in user (Atlassian `/me` or OIDC userinfo).
pub async fn user(http: &HttpClient, url: &str, token: &Secret) -> Result<UserInfo, OAuthError> {
    let v = get_json(http, url, token).await?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let name = [
        s("name"),
        s("nickname"),
        s("preferred_username"),
        s("email"),
    ]
    .into_iter()
    .find(|x| !x.is_empty())
    .unwrap_or_default();
    let account_id = if s("account_id").is_empty() {
        s("sub")
    } else {
        s("account_id")
    };
    Ok(UserInfo {
        name,
        email: s("email"),
        account_id,
    })
}
