//! `plaudit history [prune]`: the scans recorded in the history, or old ones deleted.

use anyhow::Result;

use super::{Context, Run};
use crate::exit;
use crate::history::History;
use crate::output::rows::{ListFormat, print_rows_to_stdout};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    history: crate::cli::HistoryFile,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Delete old scans (their findings, ledgers and inventories); open findings keep their
    /// first-seen dates
    #[command(
        after_help = "Examples:\n  plaudit history prune --keep 90\n  plaudit history prune --older-than 365"
    )]
    Prune {
        /// Keep the N most recent scans [config: history.keep_scans]
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Delete scans that started more than DAYS days ago [config: history.keep_days]
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
    },
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let settings = self.history.settings()?;
        let state = settings.state()?;
        if let Some(Action::Prune { keep, older_than }) = self.action {
            let retention = &settings.config.history;
            let mut h = History::open(state)?;
            let n = h.prune(
                keep.or(retention.keep_scans),
                older_than.or(retention.keep_days),
            )?;
            eprintln!(
                "pruned {n} scan(s) from `{}`; open findings keep their first-seen dates",
                state.display()
            );
            return Ok(exit::OK);
        }
        let h = History::open_read_only(state)?;
        let scans = h.scans()?;
        let last = scans.last().map(|s| s.id);
        // A terminal table keeps what a glance needs, each identifier whole: no finish time
        // or rules hash, no waived column unless a scan waived something, the inventory's file name for its path, `running?` for a scan still
        // running or killed. CSV and JSON carry every column in full.
        let table = self.format == ListFormat::Table;
        let all = [
            "scan",
            "started",
            "finished",
            "status",
            "source",
            "accounts",
            "account_regions",
            "failing",
            "unknown",
            "waived",
            "gaps",
            "exit",
            "rules_hash",
        ];
        let waived = scans.iter().any(|s| s.waived.is_some_and(|w| w > 0));
        let keep = |c: &str| {
            !table || !(matches!(c, "finished" | "rules_hash") || c == "waived" && !waived)
        };
        let columns: Vec<String> = all
            .iter()
            .filter(|c| keep(c))
            .map(|c| match *c {
                "account_regions" if table => "acct-regions".to_string(),
                c => c.to_string(),
            })
            .collect();
        let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        let rows: Vec<Vec<String>> = scans
            .iter()
            .map(|s| {
                let status = match (table, s.status) {
                    (true, crate::history::ScanStatus::Running) if Some(s.id) == last => {
                        "running?".to_string()
                    }
                    _ => s.status.shown(Some(s.id) == last).to_string(),
                };
                let source = if table {
                    std::path::Path::new(&s.source)
                        .file_name()
                        .map_or(s.source.clone(), |f| f.to_string_lossy().into_owned())
                } else {
                    s.source.clone()
                };
                let started = if table {
                    s.started_at
                        .split('.')
                        .next()
                        .unwrap_or(&s.started_at)
                        .trim_end_matches('Z')
                        .to_string()
                        + "Z"
                } else {
                    s.started_at.clone()
                };
                let cells = [
                    s.id.to_string(),
                    started,
                    s.finished_at.clone().unwrap_or_default(),
                    status,
                    source,
                    n(s.accounts),
                    n(s.account_regions),
                    n(s.failing),
                    n(s.unknown),
                    n(s.waived),
                    n(s.gaps),
                    n(s.exit_code),
                    s.ruleset_hash.chars().take(12).collect(),
                ];
                all.iter()
                    .zip(cells)
                    .filter(|(c, _)| keep(c))
                    .map(|(_, v)| v)
                    .collect()
            })
            .collect();
        print_rows_to_stdout(self.format, &columns, &rows)?;
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        self.format != ListFormat::Table
    }
}
