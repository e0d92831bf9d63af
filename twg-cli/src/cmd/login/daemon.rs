//! A login run by twgd: the client prints what the `Login` stream sends, answers its site
//! question and relays the web login's callback; the tokens never pass through this process.

use super::direct::show_code;
use super::site::{list, pick_site};
use super::{Cmd, DaemonLogin, Done};
use crate::ctx::Ctx;
use crate::daemon_client::{self, RpcFailure};
use crate::report::CliError;
use crate::ui::spinner::Spinner;
use twg_common::error_code::ErrorCode;
use twg_common::rpc::pb;
use twg_common::secret::Secret;
use twg_common::store::SiteInfo;

impl Cmd {
    /// The device flow inside twgd: print what it streams, answer its site question.
    pub(super) async fn via_daemon(
        &self,
        ctx: &Ctx,
        mut client: twg_common::rpc::Client,
        bitbucket: Option<&Secret>,
    ) -> Result<Done, DaemonLogin> {
        let redirect_uri = ctx
            .config()
            .map(|c| c.oauth.redirect_uri.clone())
            .unwrap_or_default();
        let mut req = pb::LoginRequest {
            client: Some(ctx.client_info()),
            site: self.site.clone().unwrap_or_default(),
            force: self.force,
            bitbucket_token: bitbucket
                .map(|b| b.expose().to_string())
                .unwrap_or_default(),
            login_id: String::new(),
            method: if self.web {
                "web".into()
            } else {
                String::new()
            },
            redirect_uri,
            client_secret: twg_common::login::client_secret_from_env()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            callback_url: String::new(),
        };
        let mut started = false;
        let spinner = Spinner::new();
        loop {
            let mut stream = match client.login(req.clone()).await {
                Ok(s) => s.into_inner(),
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    return Err(DaemonLogin::Fallback(status.message().to_string()));
                }
                Err(status) => return Err(login_status(status, started)),
            };
            let next = loop {
                let ev = match stream.message().await {
                    Ok(Some(ev)) => ev,
                    Ok(None) => {
                        spinner.stop();
                        return Err(CliError::failure(
                            "twgd ended the login without a result; run `twg login` again",
                        )
                        .into());
                    }
                    Err(status) => {
                        spinner.stop();
                        return Err(login_status(status, started));
                    }
                };
                use pb::login_event::Event;
                match ev.event {
                    Some(Event::DeviceCode(_)) if self.web => {
                        // A twgd from before web logins ignores `method`: do it here instead.
                        spinner.stop();
                        return Err(DaemonLogin::Fallback(
                            "twgd does not know web logins".into(),
                        ));
                    }
                    Some(Event::Authorize(a)) => break Next::Callback(a),
                    Some(Event::DeviceCode(dc)) => {
                        started = true;
                        let complete = Some(dc.verification_uri_complete).filter(|u| !u.is_empty());
                        show_code(
                            &dc.user_code,
                            &dc.verification_uri,
                            complete,
                            self.no_browser,
                        );
                    }
                    Some(Event::Progress(p)) => spinner.set(&p.message),
                    Some(Event::ChooseSite(c)) => break Next::Site(c),
                    Some(Event::Done(d)) => {
                        spinner.stop();
                        return Ok(Done {
                            user: d.user,
                            site: d.site.map(|s| SiteInfo {
                                id: s.id,
                                name: s.name,
                                url: s.url,
                            }),
                            config_path: d.config_path,
                            has_bitbucket_token: d.has_bitbucket_token,
                            via: "daemon",
                            grant: d.grant,
                        });
                    }
                    None => {}
                }
            };
            spinner.stop();
            let choice = match next {
                Next::Site(c) => c,
                Next::Callback(a) => {
                    started = true;
                    let callback_url = self
                        .await_callback(&a.url, &a.redirect_uri, &a.client, Some(a.expires_at))
                        .await?;
                    req = pb::LoginRequest {
                        client: Some(ctx.client_info()),
                        site: self.site.clone().unwrap_or_default(),
                        force: self.force,
                        login_id: a.login_id,
                        callback_url,
                        ..Default::default()
                    };
                    continue;
                }
            };
            let sites: Vec<SiteInfo> = choice
                .sites
                .into_iter()
                .map(|s| SiteInfo {
                    id: s.id,
                    name: s.name,
                    url: s.url,
                })
                .collect();
            if !choice.unmatched.is_empty() {
                return Err(CliError::usage(format!(
                    "no site matches `{}`; available: {}. Run `twg login --site <one of them>`",
                    choice.unmatched,
                    list(&sites)
                ))
                .into());
            }
            let chosen = pick_site(sites, None)?.ok_or_else(|| {
                CliError::failure("twgd asked for a site but listed none; run `twg login` again")
            })?;
            req = pb::LoginRequest {
                client: Some(ctx.client_info()),
                site: [&chosen.id, &chosen.url, &chosen.name]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_default(),
                force: self.force,
                login_id: choice.login_id,
                ..Default::default()
            };
        }
    }
}

/// True when twgd is this build. Another version may not know this login (a web login, an
/// app's client secret it would drop): then log in directly and say to restart twgd, which
/// refuses credentials newer than it understands rather than refreshing them wrongly.
pub(super) async fn same_version(ctx: &Ctx, client: &mut twg_common::rpc::Client) -> bool {
    let status = client
        .status(daemon_client::quick(pb::StatusRequest {
            client: Some(ctx.client_info()),
        }))
        .await;
    match status {
        Ok(r) if r.get_ref().package_version == env!("CARGO_PKG_VERSION") => true,
        Ok(r) => {
            eprintln!(
                "! twgd {} is running, but this is twg {}: logging in directly. Restart twgd so it uses this login: \
                 `twg daemon stop && twg daemon start`",
                r.get_ref().package_version,
                env!("CARGO_PKG_VERSION")
            );
            false
        }
        // A daemon that cannot answer Status will not run a login either.
        Err(_) => false,
    }
}

/// What twgd's login stream asks of the client next.
enum Next {
    Site(pb::SiteChoice),
    Callback(pb::Authorize),
}

/// A login error from twgd as the user should see it.
pub(super) fn login_status(status: tonic::Status, started: bool) -> DaemonLogin {
    match daemon_client::rpc_error(status) {
        RpcFailure::Answered(e) => DaemonLogin::Failed(e),
        // Before a code was shown, nothing is lost by starting over directly.
        RpcFailure::Unreachable(why) if !started => DaemonLogin::Fallback(why),
        RpcFailure::Unreachable(why) => DaemonLogin::Failed(CliError::new(
            ErrorCode::DaemonGone,
            format!("twgd stopped during the login ({why}); run `twg login` again"),
        )),
    }
}
