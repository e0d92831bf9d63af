//! Login and logout inside the daemon (the `Login` stream and `Logout` RPCs).
//!
//! Login runs the device flow here, so the tokens never cross the socket: the stream only
//! carries the code to show, progress, the site list and the outcome. When several sites are
//! available and the client named none (or one that does not exist), the approved tokens are
//! parked under a random `login_id` for [`PENDING_TTL`]; the client asks the user and calls
//! `Login` again with that id and the chosen site. A second device flow would make the user
//! approve twice.
//!
//! Why one long file: a login's whole life inside twgd (started, parked for a site choice or
//! a web callback, expired, finished) is one state machine, and its stages share the
//! `Pending` record; splitting it would scatter the transitions.

use crate::daemon::Daemon;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};
use twg_common::config::Config;
use twg_common::error::EngineError;
use twg_common::error_code::ErrorCode;
use twg_common::login::{LoginFlow, Method, SiteChoice, WebLoginError, choose_site};
use twg_common::logout::Revocation;
use twg_common::oauth::TokenSet;
use twg_common::oauth::authcode::{AuthorizationRequest, Callback};
use twg_common::oauth::http::HttpClient;
use twg_common::rpc::pb;
use twg_common::secret::Secret;
use twg_common::store::{SiteInfo, UserInfo};

/// How long approved tokens wait for the client's site choice.
pub const PENDING_TTL: Duration = Duration::from_secs(300);
/// How long a web login waits for its callback (the user signs in and consents meanwhile).
pub const CALLBACK_TTL: Duration = Duration::from_secs(600);

/// A login parked between two `Login` calls.
#[derive(Debug)]
struct Pending {
    flow: LoginFlow,
    force: bool,
    bitbucket_token: Option<Secret>,
    /// The config root of the daemon that parked it (tests run several daemons in one process).
    root: PathBuf,
    created: Instant,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Approved tokens waiting for the client's site choice.
    Site {
        tokens: TokenSet,
        user: Option<UserInfo>,
        sites: Vec<SiteInfo>,
    },
    /// A web login waiting for the URL that reached the redirect URI. The PKCE verifier and
    /// the expected `state` stay here; the client only relays the callback.
    Callback { request: AuthorizationRequest },
}

impl Pending {
    fn expired(&self) -> bool {
        let ttl = match self.stage {
            Stage::Site { .. } => PENDING_TTL,
            Stage::Callback { .. } => CALLBACK_TTL,
        };
        self.created.elapsed() > ttl
    }
}

/// Logins waiting for the client, by `login_id`; clones share them. Held by the gRPC
/// service of one daemon (not a process global), so daemons run in one process (tests)
/// never see each other's.
#[derive(Debug, Default, Clone)]
pub struct ParkedLogins(Arc<Mutex<HashMap<String, Pending>>>);

impl ParkedLogins {
    /// True when no login still waits for the client (an expired one can never continue).
    pub fn is_empty(&self) -> bool {
        self.0
            .lock()
            .expect("pending lock")
            .values()
            .all(Pending::expired)
    }
}

/// Drops parked logins nobody came back for, revoking approved tokens: nothing else will
/// ever use them, and a live refresh token should not linger at the server.
fn purge_expired(parked: &ParkedLogins) {
    let expired: Vec<Pending> = {
        let mut map = parked.0.lock().expect("pending lock");
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, p)| p.expired())
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter_map(|id| map.remove(id)).collect()
    };
    for p in expired {
        if let Stage::Site { tokens, .. } = p.stage {
            tracing::info!("a login waiting for a site choice expired; revoking its tokens");
            tokio::spawn(async move { p.flow.revoke_unused(&tokens).await });
        } else {
            tracing::info!("a web login expired before its callback arrived");
        }
    }
}

fn setup_error(what: &str, e: impl std::fmt::Display) -> Status {
    ErrorCode::LoginSetup.status(format!(
        "{what}: {e}; check the network and the OAuth settings, then run `twg login` again"
    ))
}

fn event(e: pb::login_event::Event) -> Result<pb::LoginEvent, Status> {
    Ok(pb::LoginEvent { event: Some(e) })
}

fn progress(message: impl Into<String>) -> Result<pb::LoginEvent, Status> {
    event(pb::login_event::Event::Progress(pb::Progress {
        message: message.into(),
    }))
}

fn to_pb_site(s: &SiteInfo) -> pb::Site {
    pb::Site {
        id: s.id.clone(),
        name: s.name.clone(),
        url: s.url.clone(),
    }
}

/// The stream of a login's events, as tonic serves it.
pub type LoginStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<pb::LoginEvent, Status>> + Send>>;

/// `Login`: starts a login, or continues a parked one (`login_id`).
pub async fn login(
    daemon: &Arc<Daemon>,
    parked_logins: &ParkedLogins,
    request: Request<pb::LoginRequest>,
) -> Result<Response<LoginStream>, Status> {
    purge_expired(parked_logins);
    let req = request.into_inner();
    let daemon = daemon.clone();
    let root = daemon.engine().store().root().to_path_buf();
    let (tx, rx) = mpsc::channel(16);
    let stream =
        Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as LoginStream);
    if !req.login_id.is_empty() {
        let parked = {
            let mut map = parked_logins.0.lock().expect("pending lock");
            match map.get(&req.login_id) {
                Some(p) if p.root == root => map.remove(&req.login_id),
                _ => None,
            }
        };
        let Some(parked) = parked else {
            return Err(ErrorCode::LoginExpired.status(
                "this login is no longer waiting (it expired or was used); run `twg login` again",
            ));
        };
        match parked.stage {
            Stage::Site { .. } => {
                tokio::spawn(choose_and_finish(
                    daemon,
                    parked_logins.clone(),
                    parked,
                    req.site,
                    tx,
                ));
            }
            Stage::Callback { .. } if req.callback_url.is_empty() => {
                return Err(ErrorCode::LoginFailed.status(
                    "this web login needs the URL that reached the redirect URI; run `twg login --web` again",
                ));
            }
            Stage::Callback { request } => {
                tokio::spawn(finish_web(
                    daemon,
                    parked_logins.clone(),
                    parked.flow,
                    request,
                    req.callback_url,
                    Continue {
                        force: parked.force,
                        bitbucket_token: parked.bitbucket_token,
                        root: parked.root,
                        site: req.site,
                    },
                    tx,
                ));
            }
        }
        return Ok(stream);
    }
    // Re-read config.toml: the user may have changed the issuer since twgd started.
    let config = Config::load(&root).map_err(|e| EngineError::from(e).to_status())?;
    let http = HttpClient::new(&config).map_err(|e| EngineError::from(e).to_status())?;
    let stored = daemon.engine().store().load().ok().flatten();
    let secret = twg_common::login::client_secret(
        &config.oauth.client_id,
        stored.as_ref().map(|l| &l.credentials),
        Some(Secret::new(req.client_secret.trim())),
    );
    let flow = match req.method.as_str() {
        "device" => LoginFlow::new(&config, http).await,
        "web" => LoginFlow::web(&config, http, secret).await,
        "" => LoginFlow::auto(&config, http, secret).await,
        other => {
            return Err(ErrorCode::Usage.status(format!(
                "unknown login method `{other}`; run `twg login` or `twg login --web`"
            )));
        }
    }
    .map_err(|e| setup_error("cannot start the login", e))?;
    let bitbucket_token = Some(Secret::new(req.bitbucket_token.trim())).filter(|t| !t.is_empty());
    if flow.method() == Method::Web {
        let redirect_uri = Some(req.redirect_uri.trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| config.oauth.redirect_uri.clone());
        let request = flow
            .authorize(&redirect_uri)
            .map_err(|e| setup_error("cannot start the web login", e))?;
        let login_id = new_login_id();
        let authorize = pb::Authorize {
            url: request.url.clone(),
            login_id: login_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            expires_at: twg_common::time::now_unix() + CALLBACK_TTL.as_secs() as i64,
            client: flow.client_label(),
        };
        tracing::info!(client = %flow.client_label(), %redirect_uri, "web login started");
        parked_logins.0.lock().expect("pending lock").insert(
            login_id,
            Pending {
                flow,
                force: req.force,
                bitbucket_token,
                root,
                created: Instant::now(),
                stage: Stage::Callback { request },
            },
        );
        tx.send(event(pb::login_event::Event::Authorize(authorize)))
            .await
            .ok();
        return Ok(stream);
    }
    let auth = flow
        .start()
        .await
        .map_err(|e| setup_error("the device authorization request failed", e))?;
    tracing::info!(verification_uri = %auth.verification_uri, "device login started");
    let first = event(pb::login_event::Event::DeviceCode(pb::DeviceCode {
        verification_uri: auth.verification_uri.clone(),
        verification_uri_complete: auth.verification_uri_complete.clone().unwrap_or_default(),
        user_code: auth.user_code.clone(),
        expires_at: twg_common::time::now_unix() + auth.expires_in.as_secs() as i64,
        interval_seconds: auth.interval.as_secs(),
    }));
    tx.send(first).await.ok();
    let parked_logins = parked_logins.clone();
    tokio::spawn(async move {
        let progress_tx = tx.clone();
        let waited = tokio::select! {
            r = flow.wait(&auth, move |d| {
                let _ = progress_tx.try_send(progress(format!(
                    "Waiting for approval (checking every {}s)",
                    d.as_secs()
                )));
            }) => r,
            () = tx.closed() => {
                // Nobody is left to show the result to: stop polling at once.
                tracing::info!("the client went away; device login abandoned");
                return;
            }
        };
        let tokens = match waited {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(error = %e, "device login ended without tokens");
                let _ = tx.send(Err(e.code().status(e.to_string()))).await;
                return;
            }
        };
        let next = Continue {
            force: req.force,
            bitbucket_token,
            root,
            site: req.site,
        };
        identify_and_finish(daemon, parked_logins, flow, tokens, next, tx).await;
    });
    Ok(stream)
}

/// What a login carries from its first call to its end.
struct Continue {
    force: bool,
    bitbucket_token: Option<Secret>,
    root: PathBuf,
    site: String,
}

/// Unguessable, like `state`: it names a login holding tokens or a PKCE verifier.
fn new_login_id() -> String {
    twg_common::oauth::authcode::random_token(16)
}

/// Checks the callback a client relayed and exchanges its code, then goes on as a device
/// login does once approved.
async fn finish_web(
    daemon: Arc<Daemon>,
    parked_logins: ParkedLogins,
    flow: LoginFlow,
    request: AuthorizationRequest,
    callback_url: String,
    next: Continue,
    tx: Tx,
) {
    let _ = tx
        .send(progress("Checking the answer and exchanging the code"))
        .await;
    let tokens = match Callback::from_url(&callback_url, &request.redirect_uri) {
        Ok(cb) => flow.finish_web(&request, cb).await,
        Err(e) => Err(e.into()),
    };
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %e, "web login ended without tokens");
            let _ = tx.send(Err(web_error(e))).await;
            return;
        }
    };
    tracing::info!(client = %flow.client_label(), "web login: code exchanged");
    identify_and_finish(daemon, parked_logins, flow, tokens, next, tx).await;
}

/// Reads the account and sites for fresh tokens, then chooses the site and saves.
async fn identify_and_finish(
    daemon: Arc<Daemon>,
    parked_logins: ParkedLogins,
    flow: LoginFlow,
    tokens: TokenSet,
    next: Continue,
    tx: Tx,
) {
    let _ = tx
        .send(progress("Approved; reading your account and sites"))
        .await;
    let (user, sites) = flow.identify(&tokens).await;
    let sites = match sites {
        Ok(s) => s,
        Err(e) => {
            // Nobody will use these tokens: do not leave a live grant behind.
            flow.revoke_unused(&tokens).await;
            let _ = tx.send(Err(setup_error("cannot list your sites", e))).await;
            return;
        }
    };
    let parked = Pending {
        flow,
        force: next.force,
        bitbucket_token: next.bitbucket_token,
        root: next.root,
        created: Instant::now(),
        stage: Stage::Site {
            tokens,
            user,
            sites,
        },
    };
    choose_and_finish(daemon, parked_logins, parked, next.site, tx).await;
}

fn web_error(e: WebLoginError) -> Status {
    e.code().status(e.to_string())
}

type Tx = mpsc::Sender<Result<pb::LoginEvent, Status>>;

/// Picks the site from `wanted`; parks the login and asks the client when that is not enough.
async fn choose_and_finish(
    daemon: Arc<Daemon>,
    parked_logins: ParkedLogins,
    parked: Pending,
    wanted: String,
    tx: Tx,
) {
    let wanted = Some(wanted.as_str()).filter(|w| !w.trim().is_empty());
    let Stage::Site { sites, .. } = &parked.stage else {
        let _ = tx
            .send(Err(ErrorCode::LoginFailed.status(
                "this login has not been approved yet; run `twg login` again",
            )))
            .await;
        return;
    };
    let site = match choose_site(sites.clone(), wanted) {
        SiteChoice::Chosen(s) => Some(s),
        SiteChoice::NoSites => None,
        SiteChoice::Ask(sites) => {
            return park(&parked_logins, parked, sites, String::new(), tx).await;
        }
        SiteChoice::NotFound { wanted, available } => {
            return park(&parked_logins, parked, available, wanted, tx).await;
        }
    };
    let result = finish(&daemon, parked, site).await;
    let _ = tx.send(result).await;
}

async fn park(
    parked_logins: &ParkedLogins,
    parked: Pending,
    sites: Vec<SiteInfo>,
    unmatched: String,
    tx: Tx,
) {
    let login_id = new_login_id();
    let choice = pb::SiteChoice {
        sites: sites.iter().map(to_pb_site).collect(),
        login_id: login_id.clone(),
        unmatched,
    };
    parked_logins
        .0
        .lock()
        .expect("pending lock")
        .insert(login_id, parked);
    let _ = tx
        .send(event(pb::login_event::Event::ChooseSite(choice)))
        .await;
}

/// Saves the new credentials (lock + atomic save), refreshes the daemon's cache, and
/// reports who logged in.
async fn finish(
    daemon: &Daemon,
    p: Pending,
    site: Option<SiteInfo>,
) -> Result<pb::LoginEvent, Status> {
    let store = daemon.engine().store();
    let Stage::Site { tokens, user, .. } = &p.stage else {
        return Err(ErrorCode::LoginFailed
            .status("this login has not been approved yet; run `twg login` again"));
    };
    // A file that cannot be read must not block a fresh login (that is how users repair it);
    // only the Bitbucket token and the OAuth app are taken from it.
    let previous = store.load().ok().flatten().map(|l| l.credentials);
    let mut creds = p.flow.credentials(
        tokens,
        user.clone(),
        site.clone(),
        previous.as_ref(),
        p.force,
    );
    if let Some(bb) = p.bitbucket_token {
        creds.bitbucket_token = Some(bb);
    }
    twg_common::login::save(store, &creds)
        .await
        .map_err(|e| e.to_status())?;
    if let Err(e) = daemon.reload() {
        tracing::warn!(error = %e, "cannot reload the credentials just saved");
    }
    tracing::info!(site = ?site.as_ref().map(|s| &s.name), "logged in");
    Ok(pb::LoginEvent {
        event: Some(pb::login_event::Event::Done(pb::LoginDone {
            grant: creds
                .oauth
                .as_ref()
                .map(|o| o.grant_name().to_string())
                .unwrap_or_default(),
            user: user.as_ref().map(UserInfo::label).unwrap_or_default(),
            site: site.as_ref().map(to_pb_site),
            config_path: store.auth_path().display().to_string(),
            has_bitbucket_token: creds.bitbucket_token.is_some(),
        })),
    })
}

pub async fn logout(
    daemon: &Daemon,
    request: Request<pb::LogoutRequest>,
) -> Result<Response<pb::LogoutResponse>, Status> {
    let req = request.into_inner();
    let http = daemon.engine().http().map_err(|e| e.to_status())?;
    let out = twg_common::logout::logout(daemon.engine().store(), http, req.all)
        .await
        .map_err(|e| e.to_status())?;
    daemon.forget();
    tracing::info!(
        was_logged_in = out.was_logged_in,
        revocation = ?out.revocation,
        bitbucket_kept = out.bitbucket_kept,
        "logged out"
    );
    let (revoked, revoke_error, revoke_skipped) = match out.revocation {
        Revocation::Revoked => (true, String::new(), String::new()),
        Revocation::Failed(e) => (false, e, String::new()),
        Revocation::Skipped(why) => (false, String::new(), why),
    };
    Ok(Response::new(pb::LogoutResponse {
        revoked,
        removed: out.removed,
        revoke_error,
        was_logged_in: out.was_logged_in,
        revoke_skipped,
        bitbucket_kept: out.bitbucket_kept,
        bitbucket_removed: out.bitbucket_removed,
    }))
}
