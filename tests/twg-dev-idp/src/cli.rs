//! Command-line options (clap derive) and their translation into [`Settings`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::clients::ConfidentialClient;
use crate::settings::{DEFAULT_CLIENT_ID, Settings, Site, User};

/// Must match `Site::default()`, which a unit test checks.
const DEFAULT_SITE: &str = "site-1,dev-site,https://dev-site.example.test";

/// A local OAuth 2.1 authorization server (device and authorization-code grants) for twg
/// development and integration tests. Prints `TWG_DEV_IDP_URL=http://127.0.0.1:PORT` once
/// listening.
#[derive(Debug, Parser)]
#[command(name = "twg-dev-idp", version)]
pub struct Args {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub access_token_ttl: u64,

    /// How long a rotated refresh token is still accepted, in seconds (Atlassian allows 10 minutes).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub reuse_leeway: u64,

    /// Polling interval returned by device authorization, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub interval: u64,

    /// Lifetime of device codes, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub device_code_ttl: u64,

    /// Lifetime of authorization codes, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub auth_code_ttl: u64,

    /// Approve every device code as soon as it is issued.
    #[arg(long)]
    pub auto_approve: bool,

    /// A client id to accept; repeat for several.
    #[arg(long = "client-id", value_name = "ID", default_value = DEFAULT_CLIENT_ID)]
    pub client_ids: Vec<String>,

    /// A confidential client, which authenticates with its secret and may use the
    /// authorization-code grant with PKCE; the redirect URI must match exactly. Repeat for
    /// several. The secret may contain ':' if the URI is of the scheme://... form. Test secrets
    /// only: other local users can read the command line.
    #[arg(long = "confidential-client", value_name = "ID:SECRET:REDIRECT_URI")]
    pub confidential_clients: Vec<ConfidentialClient>,

    /// A site for accessible-resources, as ID,NAME,URL; repeat for several.
    #[arg(long = "site", value_name = "ID,NAME,URL", default_value = DEFAULT_SITE)]
    pub sites: Vec<Site>,

    /// Display name of the (only) user.
    #[arg(long, value_name = "NAME", default_value = "Dev User")]
    pub user_name: String,

    /// Email of the (only) user; the account id is derived from it.
    #[arg(long, value_name = "EMAIL", default_value = "dev@example.test")]
    pub user_email: String,

    /// Also write the base URL to this file once listening.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
}

impl Args {
    pub fn settings(&self) -> Settings {
        Settings {
            access_token_ttl: Duration::from_secs(self.access_token_ttl),
            reuse_leeway: Duration::from_secs(self.reuse_leeway),
            interval: Duration::from_secs(self.interval),
            device_code_ttl: Duration::from_secs(self.device_code_ttl),
            auth_code_ttl: Duration::from_secs(self.auth_code_ttl),
            auto_approve: self.auto_approve,
            client_ids: self.client_ids.clone(),
            confidential_clients: self.confidential_clients.clone(),
            sites: self.sites.clone(),
            user: User {
                name: self.user_name.clone(),
                email: self.user_email.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_repeats() {
        let defaults = Args::parse_from(["twg-dev-idp"]).settings();
        assert_eq!(defaults.client_ids, ["twg-dev-client"]);
        assert_eq!(defaults.sites, [Site::default()]);
        assert_eq!(defaults.reuse_leeway, Duration::from_secs(600));
        assert_eq!(defaults.auth_code_ttl, Duration::from_secs(60));
        assert!(defaults.confidential_clients.is_empty());

        let custom = Args::parse_from([
            "twg-dev-idp",
            "--client-id",
            "a",
            "--client-id",
            "b",
            "--site",
            "s1,One,https://one.test",
            "--site",
            "s2,Two,https://two.test",
            "--auto-approve",
            "--confidential-client",
            "conf:s3cr:t:http://127.0.0.1:8765/cb",
            "--confidential-client",
            "other:pw:https://app.example.test/oauth",
            "--auth-code-ttl",
            "5",
        ])
        .settings();
        assert_eq!(custom.client_ids, ["a", "b"]);
        assert_eq!(custom.confidential_clients.len(), 2);
        let conf = custom.confidential_client("conf").unwrap();
        assert_eq!(conf.client_secret.expose(), "s3cr:t");
        assert_eq!(conf.redirect_uri, "http://127.0.0.1:8765/cb");
        assert_eq!(custom.auth_code_ttl, Duration::from_secs(5));
        assert_eq!(custom.sites.len(), 2);
        assert!(custom.auto_approve);
    }

    #[test]
    fn bad_site_is_a_usage_error() {
        assert!(Args::try_parse_from(["twg-dev-idp", "--site", "nope"]).is_err());
    }

    #[test]
    fn bad_confidential_client_is_a_usage_error() {
        for bad in [
            "nope",
            "id:secret",
            "id:secret:not a uri",
            "id::http://x.test/",
        ] {
            assert!(
                Args::try_parse_from(["twg-dev-idp", "--confidential-client", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
