//! The device-flow login shared by `twg login` (direct) and twgd's `Login` RPC.

use crate::config::Config;
use crate::error::EngineError;
use crate::oauth::device::{self, DeviceAuthorization, DeviceError};
use crate::oauth::discovery::{self, Endpoints};
use crate::oauth::http::HttpClient;
use crate::oauth::{OAuthError, TokenSet, resources};
use crate::store::{Credentials, OAuthCredentials, SiteInfo, Store, UserInfo};

/// A login in progress.
#[derive(Debug)]
pub struct LoginFlow {
    pub endpoints: Endpoints,
    pub client_id: String,
    pub scopes: Vec<String>,
    http: HttpClient,
}

/// The scopes to request: the configured ones plus `offline_access`, so a refresh token is issued.
pub fn login_scopes(configured: &[String]) -> Vec<String> {
    let mut scopes = configured.to_vec();
    if !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    scopes
}

impl LoginFlow {
    /// Resolves the endpoints (discovery when needed).
    pub async fn new(config: &Config, http: HttpClient) -> Result<Self, OAuthError> {
        let endpoints = discovery::resolve(&http, &config.oauth).await?;
        Ok(Self {
            endpoints,
            client_id: config.oauth.client_id.clone(),
            scopes: login_scopes(&config.oauth.scopes),
            http,
        })
    }

    /// Asks for the device and user codes.
    pub async fn start(&self) -> Result<DeviceAuthorization, OAuthError> {
        device::start(&self.http, &self.endpoints, &self.client_id, &self.scopes).await
    }

    /// Polls until approved, denied or expired.
    pub async fn wait(
        &self,
        auth: &DeviceAuthorization,
        on_wait: impl Fn(std::time::Duration) + Send + Sync,
    ) -> Result<TokenSet, DeviceError> {
        device::poll(&self.http, &self.endpoints, &self.client_id, auth, on_wait).await
    }

    /// Who the user is and which sites the token reaches. Best effort: servers without these
    /// endpoints (plain OAuth servers) give `None` / an empty list.
    pub async fn identify(
        &self,
        tokens: &TokenSet,
    ) -> (Option<UserInfo>, Result<Vec<SiteInfo>, OAuthError>) {
        let user = match &self.endpoints.userinfo {
            Some(url) => match resources::user(&self.http, url, &tokens.access_token).await {
                Ok(u) => Some(u),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the user profile");
                    None
                }
            },
            None => None,
        };
        let sites = match &self.endpoints.resources {
            Some(url) => resources::sites(&self.http, url, &tokens.access_token).await,
            None => Ok(Vec::new()),
        };
        (user, sites)
    }

    /// The credentials to store. The Bitbucket token of `previous` is kept unless `force`.
    pub fn credentials(
        &self,
        tokens: &TokenSet,
        user: Option<UserInfo>,
        site: Option<SiteInfo>,
        previous: Option<&Credentials>,
        force: bool,
    ) -> Credentials {
        // Lifetimes count from when the tokens arrived, not from this (later) save.
        let now = tokens.obtained_at;
        Credentials {
            oauth: Some(OAuthCredentials {
                issuer: self.endpoints.issuer.clone(),
                client_id: self.client_id.clone(),
                token_endpoint: self.endpoints.token.clone(),
                revocation_endpoint: self.endpoints.revocation.clone(),
                scopes: tokens.scopes.clone().unwrap_or_else(|| self.scopes.clone()),
                access_token: tokens.access_token.clone(),
                token_type: tokens.token_type.clone(),
                expires_at: crate::engine::expires_at(now, tokens.expires_in),
                obtained_at: now,
                refresh_token: tokens.refresh_token.clone(),
                refresh_token_issued_at: now,
                halted: None,
            }),
            user,
            site,
            bitbucket_token: if force {
                None
            } else {
                previous.and_then(|p| p.bitbucket_token.clone())
            },
        }
    }
}

/// The outcome of matching `--site` against the accessible sites.
#[derive(Debug, PartialEq)]
pub enum SiteChoice {
    Chosen(SiteInfo),
    /// Several sites and no `--site`: ask the user.
    Ask(Vec<SiteInfo>),
    /// The server lists no sites (plain OAuth servers).
    NoSites,
    /// `--site` matched nothing.
    NotFound {
        wanted: String,
        available: Vec<SiteInfo>,
    },
}

/// Picks a site: `wanted` matches id, name or URL (with or without scheme); one site is
/// chosen automatically.
pub fn choose_site(sites: Vec<SiteInfo>, wanted: Option<&str>) -> SiteChoice {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    if let Some(w) = wanted.filter(|w| !w.trim().is_empty()) {
        let w = norm(w);
        let found = sites
            .iter()
            .find(|s| norm(&s.id) == w || norm(&s.name) == w || norm(&s.url) == w);
        return match found {
            Some(s) => SiteChoice::Chosen(s.clone()),
            None if sites.is_empty() => SiteChoice::Chosen(SiteInfo {
                id: String::new(),
                name: w.clone(),
                url: String::new(),
            }),
            None => SiteChoice::NotFound {
                wanted: w,
                available: sites,
            },
        };
    }
    match sites.len() {
        0 => SiteChoice::NoSites,
        1 => SiteChoice::Chosen(sites.into_iter().next().expect("one")),
        _ => SiteChoice::Ask(sites),
    }
}

/// Saves new credentials under the lock, after the persistence preflight.
pub async fn save(store: &Store, credentials: &Credentials) -> Result<(), EngineError> {
    crate::paths::ensure_private_dir(store.root()).map_err(|e| EngineError::Sandbox {
        config_dir: store.root().to_path_buf(),
        detail: e.to_string(),
    })?;
    let guard = crate::lock::lock(&store.lock_path(), crate::engine::LOCK_TIMEOUT)
        .await
        .map_err(|e| EngineError::from_lock(store.root(), e))?;
    store.save(credentials, &guard)?;
    // A new login supersedes any rotation that was waiting to be saved.
    crate::recovery::remove_all(store.root());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_count_from_when_the_tokens_arrived_not_from_the_save() {
        let config = Config::resolve(
            std::path::Path::new("/r"),
            crate::config::ConfigFile::default(),
            &|_| None,
        )
        .unwrap();
        let flow = LoginFlow {
            endpoints: Endpoints {
                issuer: "https://i.example".into(),
                device_authorization: "https://i.example/d".into(),
                token: "https://i.example/t".into(),
                revocation: None,
                resources: None,
                userinfo: None,
            },
            client_id: "c".into(),
            scopes: vec![],
            http: HttpClient::new(&config).unwrap(),
        };
        // The answer arrived 10 minutes ago (a login parked at the site prompt).
        let arrived = crate::time::now_unix() - 600;
        let tokens = TokenSet {
            access_token: crate::secret::Secret::new("a"),
            token_type: "Bearer".into(),
            expires_in: Some(3600),
            refresh_token: Some(crate::secret::Secret::new("r")),
            scopes: None,
            obtained_at: arrived,
        };
        let o = flow
            .credentials(&tokens, None, None, None, false)
            .oauth
            .unwrap();
        assert_eq!(o.obtained_at, arrived);
        assert_eq!(o.expires_at, arrived + 3600);
    }

    fn site(id: &str, name: &str) -> SiteInfo {
        SiteInfo {
            id: id.into(),
            name: name.into(),
            url: format!("https://{name}.example.net"),
        }
    }

    #[test]
    fn one_site_is_chosen_automatically() {
        assert_eq!(
            choose_site(vec![site("1", "a")], None),
            SiteChoice::Chosen(site("1", "a"))
        );
    }

    #[test]
    fn site_matches_id_name_or_url() {
        let sites = vec![site("1", "a"), site("2", "b")];
        assert_eq!(
            choose_site(sites.clone(), None),
            SiteChoice::Ask(sites.clone())
        );
        for w in ["2", "B", "https://b.example.net/", "b.example.net"] {
            assert_eq!(
                choose_site(sites.clone(), Some(w)),
                SiteChoice::Chosen(site("2", "b")),
                "{w}"
            );
        }
        assert!(matches!(
            choose_site(sites, Some("zzz")),
            SiteChoice::NotFound { .. }
        ));
    }

    #[test]
    fn offline_access_is_always_requested() {
        assert_eq!(
            login_scopes(&["openid".into()]),
            vec!["openid", "offline_access"]
        );
        assert_eq!(
            login_scopes(&["offline_access".into()]),
            vec!["offline_access"]
        );
    }
}
