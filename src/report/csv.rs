//! CSV: RFC 4180, one row per finding, a fixed and documented column set
//! ([`CSV_COLUMNS`], version [`super::OUTPUT_SCHEMA_VERSION`]). Cells that a spreadsheet would
//! run as a formula are neutralised with a leading apostrophe.

use std::io::Write;

use super::{Printer, ScanReport};
use crate::output::rows::Csv;

/// Findings CSV columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "rule_id",
    "title",
    "severity",
    "status",
    "account_id",
    "region",
    "resource_type",
    "resource_id",
    "resource_arn",
    "reason",
    "path",
    "waiver_id",
    "account_name",
    "ou_path",
];

pub struct CsvPrinter {
    /// Which of [`CSV_COLUMNS`], in which order.
    pub columns: Vec<&'static str>,
}

impl Printer for CsvPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut w = Csv::new(out);
        // With a baseline, one more column at the end: `true` for a failing finding the
        // baseline did not have failing, `false` for one it had, empty otherwise.
        let mut header: Vec<&str> = self.columns.clone();
        if report.baseline {
            header.push("new_since_baseline");
        }
        w.header(&header)?;
        let index: Vec<usize> = self
            .columns
            .iter()
            .map(|c| {
                CSV_COLUMNS
                    .iter()
                    .position(|x| x == c)
                    .expect("a known column")
            })
            .collect();
        for f in &report.findings {
            let cells = [
                f.rule_id.as_str(),
                &f.title,
                f.severity.as_str(),
                f.status.as_str(),
                &f.account_id,
                &f.region,
                &f.resource_type,
                &f.resource_id,
                &f.resource_arn,
                &f.reason,
                f.path.as_deref().unwrap_or(""),
                f.waiver_id.as_deref().unwrap_or(""),
                report.account(&f.account_id).map_or("", |a| a.label()),
                report
                    .account(&f.account_id)
                    .map_or("", |a| a.ou_path.as_str()),
            ];
            let mark = match f.new_since_baseline {
                Some(true) => "true",
                Some(false) => "false",
                None => "",
            };
            let extra = report.baseline.then_some(mark);
            w.row(index.iter().map(|&i| cells[i]).chain(extra))?;
        }
        w.finish()
    }
}
