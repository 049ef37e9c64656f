//! `plaudit export KIND`: the inventory as CSV (endpoint services, endpoints, connections,
//! load balancers, the coverage ledger), from a saved inventory or a scan of the history
//! (which adds first/last seen and waivers).

use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Run};
use crate::exit;
use crate::history::{History, ScanRecord};
use crate::inventory::export::{self, ExportKind, Seen};
use crate::inventory::{self, Inventory};
use crate::output::{self, rows};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to export
    #[arg(value_enum)]
    kind: ExportKind,
    /// From a saved inventory (else from a scan of the history)
    #[arg(long, value_name = "FILE", conflicts_with = "scan")]
    inventory: Option<PathBuf>,
    /// From this scan of the history [default: the last finished one]; adds first_seen,
    /// last_seen and waiver_ids
    #[arg(long, value_name = "SCAN")]
    scan: Option<i64>,
    #[command(flatten)]
    history: crate::cli::HistoryFile,
    /// The columns to print, in order (comma-separated) [default: all]
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    columns: Vec<String>,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let settings = self.history.settings()?;
        super::check_output_vs_sources(
            self.output.as_deref(),
            self.inventory.as_deref(),
            &settings,
        )?;
        let (inv, seen) = match &self.inventory {
            Some(p) => (inventory::load_file(p)?, None),
            None => {
                let h = History::open_read_only(settings.state()?)?;
                let (inv, seen) = from_history(&h, self.scan)?;
                (inv, Some(seen))
            }
        };
        let columns = rows::select_columns(self.kind.columns(), &self.columns, seen.is_some())?;
        let found = export::rows(self.kind, &inv, seen.as_ref());
        output::emit(self.output.as_deref(), |w| {
            rows::write_keyed_csv(&columns, &found, w)
        })?;
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        true
    }
}

/// A scan's inventory (the last finished one by default), with when each resource was first
/// and last seen up to that scan and the waivers on its findings.
fn from_history(h: &History, scan: Option<i64>) -> Result<(Inventory, Seen)> {
    let scans: Vec<ScanRecord> = h.scans()?.into_iter().filter(|s| s.finished()).collect();
    let target = h.scan_or_last_finished(scan)?;
    let mut seen = Seen::default();
    for s in scans.iter().filter(|s| s.id <= target.id) {
        seen.add(&h.inventory(s.id)?, &s.started_at);
    }
    for f in h.findings(target.id)? {
        if let Some(w) = f.waiver_id {
            seen.waivers.entry(f.resource_id).or_default().insert(w);
        }
    }
    Ok((h.inventory(target.id)?, seen))
}
