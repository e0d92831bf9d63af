//! Choosing the site to log in to: `--site`, the only one, or a prompt.

use crate::report::CliError;
use std::io::{IsTerminal, Write};
use twg_common::login::{SiteChoice, choose_site};
use twg_common::store::SiteInfo;

/// Chooses the site: `--site`, the only one, or a prompt when there are several.
pub fn pick_site(sites: Vec<SiteInfo>, wanted: Option<&str>) -> Result<Option<SiteInfo>, CliError> {
    match choose_site(sites, wanted) {
        SiteChoice::Chosen(s) => Ok(Some(s)),
        SiteChoice::NoSites => Ok(None),
        SiteChoice::NotFound { wanted, available } => Err(CliError::usage(format!(
            "no site matches `{wanted}`; available: {}. Run `twg login --site <one of them>`",
            list(&available)
        ))),
        SiteChoice::Ask(sites) => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::usage(format!(
                    "several sites are available and stdin is not a terminal, so twg cannot ask; \
                     run `twg login --site <site>` with one of: {}",
                    list(&sites)
                )));
            }
            eprintln!("? Choose a site:");
            for (i, s) in sites.iter().enumerate() {
                eprintln!("  {}) {} {}", i + 1, s.name, s.url);
            }
            loop {
                eprint!("Site number [1-{}]: ", sites.len());
                let _ = std::io::stderr().flush();
                let Some(line) = crate::ui::prompt::read_line() else {
                    return Err(CliError::usage(
                        "no site chosen; run `twg login --site <site>`",
                    ));
                };
                if let Ok(n) = line.trim().parse::<usize>()
                    && (1..=sites.len()).contains(&n)
                {
                    return Ok(Some(sites[n - 1].clone()));
                }
            }
        }
    }
}

pub(super) fn list(sites: &[SiteInfo]) -> String {
    sites
        .iter()
        .map(|s| format!("{} ({})", s.name, s.url))
        .collect::<Vec<_>>()
        .join(", ")
}
