//! `plaudit accounts`: walk the organisation once — membership, states, OU paths — and list
//! the accounts a scan would select; `--save FILE` keeps the list for
//! `scan --accounts-from FILE --shard K/N`, so that N shards cost Organizations one walk.

use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Run};
use crate::cli::CrawlArgs;
use crate::crawl::discover::is_scannable;
use crate::inventory::{Inventory, ORGANIZATION};
use crate::output::rows::{ListFormat, print_rows_to_stdout};
use crate::settings::{Flags, Settings};
use crate::{exit, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// List only these account ids, comma-separated (narrows the config's selection)
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    accounts: Vec<String>,
    /// Write the list (JSON: the accounts, the organisation's membership and Organizations'
    /// outcomes) for `scan --accounts-from FILE`
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Config file (YAML; see config.example.yaml): its account selection applies
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let crawl = CrawlArgs {
            regions: Vec::new(),
            role_name: None,
            accounts: self.accounts.clone(),
            quiet: true,
            deadline: None,
            shard: None,
            accounts_from: None,
        };
        if let (Some(save), Some(config)) = (&self.save, &self.config) {
            output::check_outputs(&[("--save", save)], &[("--config", config)])?;
        }
        let settings = Settings::resolve(&Flags {
            config: self.config.as_deref(),
            crawl: Some(&crawl),
            ..Flags::default()
        })?;
        let list = crate::crawl::list_accounts_blocking(&settings.crawl_options())?;
        if let Some(save) = &self.save {
            output::emit(Some(save), |w| {
                serde_json::to_writer_pretty(&mut *w, &list)?;
                writeln!(w)?;
                Ok(())
            })?;
        }
        let (columns, rows) = table(&list);
        print_rows_to_stdout(self.format, &columns, &rows)?;
        let gaps: Vec<_> = list.coverage.iter().filter(|c| c.status.is_gap()).collect();
        for g in &gaps {
            eprintln!(
                "gap: {} {}: {} {}",
                g.account_id,
                g.api,
                g.status.as_str(),
                g.error.as_deref().unwrap_or("")
            );
        }
        eprintln!("{}", summary(&list));
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

/// One row per selected account: id, name, state, OU path, and whether a scan crawls it.
fn table(list: &Inventory) -> (Vec<String>, Vec<Vec<String>>) {
    let columns = ["account_id", "name", "state", "ou_path", "scanned"]
        .map(String::from)
        .to_vec();
    let rows = list
        .accounts
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.name.clone(),
                a.status.clone(),
                a.ou_path.clone(),
                if is_scannable(a).is_ok() { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    (columns, rows)
}

/// "12 accounts selected (11 active) of 40 in the organisation; the list is complete".
fn summary(list: &Inventory) -> String {
    use crate::report::plural;
    let active = list
        .accounts
        .iter()
        .filter(|a| is_scannable(a).is_ok())
        .count();
    let (members, complete) = list
        .membership
        .as_ref()
        .map_or((0, false), |m| (m.accounts.len(), m.complete));
    let org_gaps = list
        .coverage
        .iter()
        .any(|c| c.account_id == ORGANIZATION && c.status.is_gap());
    format!(
        "{} selected ({active} active) of {} in the organisation; {}",
        plural(list.accounts.len(), "account", "accounts"),
        members,
        if complete && !org_gaps {
            "the membership list is complete"
        } else {
            "the membership list is NOT complete (see the gaps above)"
        }
    )
}
