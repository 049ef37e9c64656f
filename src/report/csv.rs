//! CSV: RFC 4180, one row per finding, a fixed and documented column set
//! ([`CSV_COLUMNS`], version [`super::OUTPUT_SCHEMA_VERSION`]). Cells that a spreadsheet would
//! run as a formula are neutralised with a leading apostrophe.

use std::io::Write;

use super::{Printer, ScanReport};

/// Findings CSV columns, in order.
pub const CSV_COLUMNS: [&str; 12] = [
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
];

/// Prefixes `'` to a cell that starts like a formula (`=`, `+`, `-`, `@`, tab or CR), so that
/// spreadsheets show it as text (OWASP's CSV injection advice).
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

pub struct CsvPrinter {
    /// Which of [`CSV_COLUMNS`], in which order.
    pub columns: Vec<&'static str>,
}

impl Printer for CsvPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        w.write_record(&self.columns)?;
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
            ];
            w.write_record(
                index
                    .iter()
                    .map(|&i| neutralise_formula(cells[i]).into_owned()),
            )?;
        }
        w.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            neutralise_formula("=HYPERLINK(\"x\")"),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(neutralise_formula("+1"), "'+1");
        assert_eq!(neutralise_formula("-1"), "'-1");
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_formula("\tx"), "'\tx");
        assert_eq!(neutralise_formula("vpce-123"), "vpce-123");
        assert_eq!(neutralise_formula(""), "");
    }
}
