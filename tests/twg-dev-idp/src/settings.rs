//! Run-time settings: token lifetimes, accepted clients, and the sites and user the server reports.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clients::ConfidentialClient;

/// The client id accepted when no `--client-id` is given.
pub const DEFAULT_CLIENT_ID: &str = "twg-dev-client";

/// Everything an operator or a test can tune; the `/admin/config` endpoint edits it live.
#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl: Duration,
    /// How long a rotated refresh token stays usable after its rotation.
    pub reuse_leeway: Duration,
    /// Polling interval handed out with new device codes.
    pub interval: Duration,
    pub device_code_ttl: Duration,
    /// Lifetime of authorization codes (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub auth_code_ttl: Duration,
    pub auto_approve: bool,
    /// Public clients: an id, no secret, device grant only.
    pub client_ids: Vec<String>,
    /// Clients with a secret and one redirect URI; they may also use the authorization-code
    /// grant. An id listed here is confidential even if it is in `client_ids` too.
    pub confidential_clients: Vec<ConfidentialClient>,
    pub sites: Vec<Site>,
    pub user: User,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            reuse_leeway: Duration::from_secs(600),
            interval: Duration::from_secs(5),
            device_code_ttl: Duration::from_secs(600),
            auth_code_ttl: Duration::from_secs(60),
            auto_approve: false,
            client_ids: vec![DEFAULT_CLIENT_ID.to_owned()],
            confidential_clients: Vec::new(),
            sites: vec![Site::default()],
            user: User::default(),
        }
    }
}

impl Settings {
    pub fn confidential_client(&self, client_id: &str) -> Option<&ConfidentialClient> {
        self.confidential_clients
            .iter()
            .find(|c| c.client_id == client_id)
    }

    pub fn is_public_client(&self, client_id: &str) -> bool {
        self.confidential_client(client_id).is_none()
            && self.client_ids.iter().any(|c| c == client_id)
    }
}

/// A resource (an Atlassian "cloud site") listed by the accessible-resources endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub url: String,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            id: "site-1".to_owned(),
            name: "dev-site".to_owned(),
            url: "https://dev-site.example.test".to_owned(),
        }
    }
}

impl Site {
    /// Checks the fields a client will rely on, so bad test input fails loudly at the source.
    pub fn validate(&self) -> Result<(), SiteError> {
        if self.id.is_empty() {
            return Err(SiteError::EmptyId);
        }
        if self.name.is_empty() {
            return Err(SiteError::EmptyName);
        }
        url::Url::parse(&self.url).map_err(|source| SiteError::BadUrl {
            url: self.url.clone(),
            source,
        })?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("expected ID,NAME,URL (for example site-2,my-site,https://my-site.example.test)")]
    Shape,
    #[error("the site id is empty; give it an id such as site-2")]
    EmptyId,
    #[error("the site name is empty; give it a name such as my-site")]
    EmptyName,
    #[error("{url:?} is not an absolute URL; use something like https://my-site.example.test")]
    BadUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
}

impl FromStr for Site {
    type Err = SiteError;

    /// Parses `ID,NAME,URL`; the name may itself contain commas because the id is taken up to the
    /// first comma and the URL from the last one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, rest) = s.split_once(',').ok_or(SiteError::Shape)?;
        let (name, url) = rest.rsplit_once(',').ok_or(SiteError::Shape)?;
        let site = Site {
            id: id.trim().to_owned(),
            name: name.trim().to_owned(),
            url: url.trim().to_owned(),
        };
        site.validate()?;
        Ok(site)
    }
}

/// The single user every grant belongs to.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub email: String,
}

impl Default for User {
    fn default() -> Self {
        Self {
            name: "Dev User".to_owned(),
            email: "dev@example.test".to_owned(),
        }
    }
}

impl User {
    /// A stable account id derived from the email, so restarts of the server keep the same `sub`.
    pub fn account_id(&self) -> String {
        let digest = Sha256::digest(self.email.as_bytes());
        format!("dev-{}", hex::encode(&digest[..12]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_parses_with_commas_in_the_name() {
        let site: Site = "s2,Team, Inc.,https://team.example.test".parse().unwrap();
        assert_eq!(site.id, "s2");
        assert_eq!(site.name, "Team, Inc.");
        assert_eq!(site.url, "https://team.example.test");
    }

    #[test]
    fn site_rejects_bad_shapes() {
        assert!(matches!("only-id".parse::<Site>(), Err(SiteError::Shape)));
        assert!(matches!(
            "id,name,not a url".parse::<Site>(),
            Err(SiteError::BadUrl { .. })
        ));
        assert!(matches!(
            ",name,https://x.test".parse::<Site>(),
            Err(SiteError::EmptyId)
        ));
    }

    #[test]
    fn account_id_is_stable() {
        let user = User::default();
        assert_eq!(user.account_id(), user.account_id());
        assert!(user.account_id().starts_with("dev-"));
    }
}
