//! `plaudit preflight`: before a long scan, assume the role in every selected account and
//! make one cheap call per API family; prints a permission matrix (exit 3 when something is
//! denied).

use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Run};
use crate::cli::CrawlArgs;
use crate::crawl::PREFLIGHT_APIS;
use crate::exit;
use crate::inventory::{CoverageEntry, CoverageStatus, ORGANIZATION};
use crate::output::rows::{ListFormat, print_rows_to_stdout};
use crate::settings::{Flags, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The region to probe in each account: the first of these [default: the config's first
    /// region, else the home region]
    #[arg(long, value_delimiter = ',', value_name = "REGIONS")]
    regions: Vec<String>,
    /// Role to assume in each member account [default: PlauditAudit]
    #[arg(long, value_name = "NAME")]
    role_name: Option<String>,
    /// Probe only these account ids, comma-separated (narrows the config's selection)
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    accounts: Vec<String>,
    /// Probe only shard K of N (1-based), as `scan --shard K/N` would crawl it
    #[arg(long, value_name = "K/N")]
    shard: Option<crate::cli::Shard>,
    /// Accepted for scripts written for earlier versions; preflight draws no progress bar
    #[arg(long, short, hide = true)]
    quiet: bool,
    /// Config file (YAML; see config.example.yaml)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        // The same selection and role as a scan: preflight checks what a scan would use.
        let crawl = CrawlArgs {
            regions: self.regions.clone(),
            role_name: self.role_name.clone(),
            accounts: self.accounts.clone(),
            quiet: true,
            deadline: None,
            shard: self.shard,
            accounts_from: None,
        };
        let settings = Settings::resolve(&Flags {
            config: self.config.as_deref(),
            crawl: Some(&crawl),
            ..Flags::default()
        })?;
        let ledger = crate::crawl::preflight_blocking(&settings.crawl_options())?;
        let (mut columns, rows) = matrix(&ledger);
        if self.format == ListFormat::Table {
            // The API names are long: the table heads each column with what it reads, and
            // names the APIs below it (CSV and JSON use the API names as keys).
            for (c, short) in columns.iter_mut().skip(2).zip(SHORT) {
                *c = short.to_string();
            }
        }
        print_rows_to_stdout(self.format, &columns, &rows)?;
        if self.format == ListFormat::Table {
            let legend: Vec<String> = SHORT
                .iter()
                .zip(PREFLIGHT_APIS)
                .map(|(s, a)| format!("{s} = {a}"))
                .collect();
            println!("{}", legend.join("\n"));
        }
        let gaps: Vec<_> = ledger.iter().filter(|c| c.status.is_gap()).collect();
        for g in &gaps {
            eprintln!(
                "denied: {} {} {}: {} {}",
                g.account_id,
                g.region_or_all(),
                g.api,
                g.status.as_str(),
                g.error.as_deref().unwrap_or("")
            );
        }
        Ok(if gaps.is_empty() {
            exit::OK
        } else {
            exit::INCOMPLETE
        })
    }

    fn machine_output(&self) -> bool {
        self.format != ListFormat::Table
    }
}

/// The table's headers for [`PREFLIGHT_APIS`], in order.
const SHORT: [&str; 6] = [
    "az-map",
    "services",
    "endpoints",
    "connections",
    "sg-rules",
    "load-balancers",
];

/// One row per account: how it was entered, then each probed API's status.
fn matrix(ledger: &[CoverageEntry]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut accounts: Vec<&str> = ledger.iter().map(|c| c.account_id.as_str()).collect();
    accounts.sort();
    accounts.dedup();
    let mut columns = vec!["account".to_string(), "access".to_string()];
    columns.extend(PREFLIGHT_APIS.iter().map(|a| a.to_string()));
    let rows = accounts
        .iter()
        .map(|a| {
            let mine = || ledger.iter().filter(|c| c.account_id == *a);
            let find = |api: &str| {
                mine()
                    .find(|c| c.api == api)
                    .map(|c| c.status.as_str().to_string())
                    .unwrap_or_else(|| "-".to_string())
            };
            // The organisation's own row: how its Organizations calls went (the first gap,
            // else ok). An account's: how it was entered (or why it was not).
            let organization = *a == ORGANIZATION;
            let access = mine()
                .find(|c| {
                    if organization {
                        c.status.is_gap()
                    } else {
                        c.api.is_entry()
                            || matches!(
                                c.status,
                                CoverageStatus::Suspended | CoverageStatus::NotActive
                            )
                    }
                })
                .map(|c| format!("{} ({})", c.status.as_str(), c.api))
                .unwrap_or_else(|| {
                    if organization {
                        "ok (organizations:*)".into()
                    } else {
                        "-".into()
                    }
                });
            let mut r = vec![a.to_string(), access];
            r.extend(PREFLIGHT_APIS.iter().map(|api| find(api)));
            r
        })
        .collect();
    (columns, rows)
}
