//! The logins shared by `twg login` (direct) and twgd's `Login` RPC: the device flow
//! (RFC 8628) for public clients, and the authorization-code flow with PKCE for a user's own
//! (confidential) OAuth app, which is what Atlassian documents for 3LO apps.
//!
//! Why over 400 lines: both flows and what they share (discovery, the client's
//! authentication, the save of the first token set, errors a user can act on) read
//! together; about a fifth is unit tests.

use crate::config::Config;
use crate::error::EngineError;
use crate::error_code::ErrorCode;
use crate::oauth::authcode::{self, AuthorizationRequest, Callback, CallbackError};
use crate::oauth::client_auth::{AuthMethod, ClientAuth};
use crate::oauth::device::{self, DeviceAuthorization, DeviceError};
use crate::oauth::discovery::{self, Endpoints};
use crate::oauth::http::HttpClient;
use crate::oauth::{OAuthError, TokenSet, resources};
use crate::secret::Secret;
use crate::store::{Credentials, LoginGrant, OAuthCredentials, SiteInfo, Store, UserInfo};

/// The environment variable that supplies the client secret in development and CI.
pub const CLIENT_SECRET_ENV: &str = "TWG_OAUTH_CLIENT_SECRET";

/// A login in progress.
#[derive(Debug)]
pub struct LoginFlow {
    pub endpoints: Endpoints,
    pub client_id: String,
    pub scopes: Vec<String>,
    http: HttpClient,
    client_secret: Option<Secret>,
    client_auth: AuthMethod,
    grant: LoginGrant,
    audience: Option<String>,
}

/// Which login `twg login` runs when not told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Device,
    Web,
}

/// Why a web login stopped. Nothing is saved in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum WebLoginError {
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The code exchange failed (a code injected from another login fails here: its PKCE
    /// challenge is not ours).
    #[error(
        "the authorization server refused the code: {0}. Nothing was saved; run `twg login --web` again"
    )]
    Exchange(OAuthError),
}

impl WebLoginError {
    /// The code twgd and the direct login both report.
    pub fn code(&self) -> ErrorCode {
        match self {
            WebLoginError::Callback(CallbackError::Denied(_)) => ErrorCode::LoginDenied,
            WebLoginError::Exchange(e) if e.is_transient() => ErrorCode::Temporary,
            _ => ErrorCode::LoginFailed,
        }
    }
}

/// The secret for `client_id`: `TWG_OAUTH_CLIENT_SECRET` if given, else the one stored by
/// `twg setup oauth-app` for that same client id.
pub fn client_secret(
    client_id: &str,
    stored: Option<&Credentials>,
    from_env: Option<Secret>,
) -> Option<Secret> {
    from_env.filter(|s| !s.is_empty()).or_else(|| {
        stored
            .and_then(|c| c.oauth_app.as_ref())
            .filter(|a| a.client_id == client_id && !a.client_secret.is_empty())
            .map(|a| a.client_secret.clone())
    })
}

/// `TWG_OAUTH_CLIENT_SECRET` from this process's environment.
pub fn client_secret_from_env() -> Option<Secret> {
    std::env::var(CLIENT_SECRET_ENV)
        .ok()
        .map(|s| Secret::new(s.trim()))
        .filter(|s| !s.is_empty())
}

/// The code, the verifier and the client secret go only to the issuer's own origin: the
/// same rule the refresh engine applies (`engine::pin_endpoints`), checked before the first
/// request of a web login, so no secret goes astray and no login is made that could not be
/// refreshed.
fn pin(endpoints: &Endpoints) -> Result<(), OAuthError> {
    for (what, key, url) in [
        ("token endpoint", "token_endpoint", Some(&endpoints.token)),
        (
            "revocation endpoint",
            "revocation_endpoint",
            endpoints.revocation.as_ref(),
        ),
    ] {
        if let Some(url) = url
            && !crate::config::same_origin(url, &endpoints.issuer)
        {
            return Err(OAuthError::Config(format!(
                "the {what} {url} is not on the issuer's origin ({}); twg sends codes, refresh tokens and \
                 client secrets only to the issuer. Fix oauth.{key} in config.toml, or ask the server's operator \
                 to fix its metadata",
                endpoints.issuer
            )));
        }
    }
    Ok(())
}

/// Device login where the server has a device endpoint, web login otherwise.
pub fn default_method(endpoints: &Endpoints) -> Method {
    if endpoints.device_authorization.is_some() {
        Method::Device
    } else {
        Method::Web
    }
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
    /// Resolves the endpoints (discovery when needed), for a device login.
    pub async fn new(config: &Config, http: HttpClient) -> Result<Self, OAuthError> {
        let endpoints = discovery::resolve(&http, &config.oauth).await?;
        Ok(Self {
            endpoints,
            client_id: config.oauth.client_id.clone(),
            scopes: login_scopes(&config.oauth.scopes),
            http,
            client_secret: None,
            client_auth: AuthMethod::None,
            grant: LoginGrant::Device,
            audience: None,
        })
    }

    /// A device login, or the web login when the server has no device endpoint.
    pub async fn auto(
        config: &Config,
        http: HttpClient,
        secret: Option<Secret>,
    ) -> Result<Self, OAuthError> {
        let flow = Self::new(config, http).await?;
        match default_method(&flow.endpoints) {
            Method::Device => Ok(flow),
            Method::Web => flow.into_web(config, secret),
        }
    }

    /// Resolves the endpoints for a web login with `secret` (none for a public client).
    pub async fn web(
        config: &Config,
        http: HttpClient,
        secret: Option<Secret>,
    ) -> Result<Self, OAuthError> {
        Self::new(config, http).await?.into_web(config, secret)
    }

    fn into_web(mut self, config: &Config, secret: Option<Secret>) -> Result<Self, OAuthError> {
        let o = &config.oauth;
        pin(&self.endpoints)?;
        let setup = "register an OAuth 2.0 (3LO) app in the Atlassian developer console and run \
                     `twg setup oauth-app --client-id <ID>` (see \"Using twg with Atlassian Cloud\" in the README)";
        if self.endpoints.authorization.is_none() {
            return Err(OAuthError::Config(format!(
                "{} advertises no authorization_endpoint, so `twg login --web` cannot be used; \
                 run `twg login` for the device login, or set oauth.authorization_endpoint",
                self.endpoints.issuer
            )));
        }
        if o.is_atlassian() && !o.client_id_configured {
            return Err(OAuthError::Config(format!(
                "no OAuth app is configured for Atlassian Cloud: {setup}"
            )));
        }
        if o.is_atlassian() && secret.is_none() {
            return Err(OAuthError::Config(format!(
                "no client secret is stored for the app {}: Atlassian's 3LO apps are confidential clients; run \
                 `twg setup oauth-app --client-id {}` (it asks for the secret), or set {CLIENT_SECRET_ENV}",
                o.client_id, o.client_id
            )));
        }
        if let Some(methods) = &self.endpoints.code_challenge_methods
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(OAuthError::Config(format!(
                "{} does not support PKCE with S256 (it lists {}); twg will not run an \
                 authorization-code login without it (RFC 9700 §2.1.1). Use `twg login` (device \
                 code) if the server offers it, or ask its operator to enable S256",
                self.endpoints.issuer,
                methods.join(", ")
            )));
        }
        self.client_auth = AuthMethod::choose(
            secret.is_some(),
            o.token_endpoint_auth_method,
            self.endpoints.token_auth_methods.as_deref(),
        )
        .map_err(OAuthError::Config)?;
        self.client_secret = secret;
        self.grant = LoginGrant::AuthorizationCode;
        self.audience = o.audience.clone();
        Ok(self)
    }

    pub fn method(&self) -> Method {
        match self.grant {
            LoginGrant::Device => Method::Device,
            LoginGrant::AuthorizationCode => Method::Web,
        }
    }

    fn client(&self) -> ClientAuth<'_> {
        ClientAuth {
            client_id: &self.client_id,
            secret: self.client_secret.as_ref(),
            method: self.client_auth,
        }
    }

    /// A web login's authorization request (fresh `state` and PKCE) for `redirect_uri`.
    pub fn authorize(&self, redirect_uri: &str) -> Result<AuthorizationRequest, OAuthError> {
        authcode::loopback_redirect(redirect_uri).map_err(OAuthError::Config)?;
        let endpoint =
            self.endpoints.authorization.as_deref().ok_or_else(|| {
                OAuthError::Config("the server has no authorization endpoint".into())
            })?;
        AuthorizationRequest::new(authcode::RequestParams {
            authorization_endpoint: endpoint,
            client_id: &self.client_id,
            scopes: &self.scopes,
            redirect_uri,
            audience: self.audience.as_deref(),
        })
    }

    /// Checks what reached the redirect URI and exchanges the code.
    pub async fn finish_web(
        &self,
        request: &AuthorizationRequest,
        callback: Callback,
    ) -> Result<TokenSet, WebLoginError> {
        let code = callback.verify(
            &request.state,
            &self.endpoints.issuer,
            self.endpoints.iss_in_response,
        )?;
        authcode::exchange(
            &self.http,
            self.client(),
            &self.endpoints.token,
            &code,
            &request.redirect_uri,
            &request.pkce.verifier,
        )
        .await
        .map_err(WebLoginError::Exchange)
    }

    /// Which client this login uses, for messages: "id (client_secret_post)".
    pub fn client_label(&self) -> String {
        format!("{} ({})", self.client_id, self.client_auth.as_str())
    }

    /// Revokes a refresh token nobody will use (a login abandoned at the site prompt).
    pub async fn revoke_unused(&self, tokens: &TokenSet) {
        if let (Some(endpoint), Some(rt)) = (&self.endpoints.revocation, &tokens.refresh_token) {
            let _ = crate::oauth::revoke::revoke(
                &self.http,
                endpoint,
                self.client(),
                rt,
                crate::oauth::revoke::Hint::RefreshToken,
            )
            .await;
        }
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
                client_secret: self.client_secret.clone(),
                client_auth: self.client_auth,
                grant: Some(self.grant),
            }),
            user,
            site,
            bitbucket_token: if force {
                None
            } else {
                previous.and_then(|p| p.bitbucket_token.clone())
            },
            oauth_app: previous.and_then(|p| p.oauth_app.clone()),
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
    let guard = crate::lock::lock(&store.lock_path(), crate::lock::CREDENTIALS_TIMEOUT)
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
                device_authorization: Some("https://i.example/d".into()),
                authorization: None,
                token: "https://i.example/t".into(),
                revocation: None,
                resources: None,
                userinfo: None,
                token_auth_methods: None,
                iss_in_response: false,
                code_challenge_methods: None,
            },
            client_id: "c".into(),
            scopes: vec![],
            http: HttpClient::new(&config).unwrap(),
            client_secret: None,
            client_auth: AuthMethod::None,
            grant: LoginGrant::Device,
            audience: None,
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
