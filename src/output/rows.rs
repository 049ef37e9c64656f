//! Rows of text cells — `rules list`, `history`, `preflight`, `query`, drift and the
//! inventory exports — rendered one way per format: a terminal table, RFC 4180 CSV (cells a
//! spreadsheet would run as a formula neutralised) or JSON. Column choice (`--columns`) is
//! checked here too.
//!
//! Not in here: the findings report's own printers ([`crate::report`]), which carry more than
//! rows (a summary, the coverage ledger, waivers).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{ContentArrangement, Table, presets};

/// The formats of commands that print rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

/// Width of tables when stdout is not a terminal.
pub const TABLE_WIDTH: u16 = 120;

/// Prefixes `'` to a cell that starts like a formula (`=`, `+`, `-`, `@`, tab or CR), so that
/// spreadsheets show it as text (OWASP's CSV injection advice).
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// An empty terminal table with plaudit's style and this header.
pub fn table<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header(header.into_iter().map(|h| h.to_string()));
    t
}

/// Adds a row to a table, its cells' control characters made visible.
pub fn add_row<S: AsRef<str>>(t: &mut Table, cells: impl IntoIterator<Item = S>) {
    t.add_row(
        cells
            .into_iter()
            .map(|c| crate::report::sanitize(c.as_ref()).into_owned()),
    );
}

/// A CSV writer as every plaudit CSV is written (RFC 4180, CRLF).
pub struct Csv<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> Csv<W> {
    pub fn new(out: W) -> Csv<W> {
        Csv {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        }
    }

    /// A header row: written as it is.
    pub fn header<S: AsRef<[u8]>>(&mut self, cells: impl IntoIterator<Item = S>) -> Result<()> {
        self.inner.write_record(cells)?;
        Ok(())
    }

    /// A data row: cells that look like formulas are neutralised.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> Result<()> {
        self.inner.write_record(
            cells
                .into_iter()
                .map(|c| neutralise_formula(c.as_ref()).into_owned()),
        )?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.inner.flush()?;
        Ok(())
    }
}

/// Renders rows of strings in a format: a table, CSV, or a JSON array of objects keyed by
/// column.
pub fn print_rows(
    format: ListFormat,
    columns: &[String],
    rows: &[Vec<String>],
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        ListFormat::Table => {
            let mut t = table(columns);
            for r in rows {
                add_row(&mut t, r);
            }
            writeln!(out, "{t}")?;
        }
        ListFormat::Csv => {
            let mut w = Csv::new(out);
            w.header(columns)?;
            for r in rows {
                w.row(r)?;
            }
            w.finish()?;
        }
        ListFormat::Json => {
            let objs: Vec<serde_json::Map<String, serde_json::Value>> = rows
                .iter()
                .map(|r| {
                    columns
                        .iter()
                        .cloned()
                        .zip(r.iter().map(|c| serde_json::Value::String(c.clone())))
                        .collect()
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &objs)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Rows printed to stdout.
pub fn print_rows_to_stdout(
    format: ListFormat,
    columns: &[String],
    rows: &[Vec<String>],
) -> Result<()> {
    super::emit(None, |out| print_rows(format, columns, rows, out))
}

/// The columns to print: `--columns` (checked against the set, in the order given) or the
/// default set (without the history columns when there is no history).
pub fn select_columns(
    all: &'static [&'static str],
    wanted: &[String],
    history: bool,
) -> Result<Vec<&'static str>> {
    if wanted.is_empty() {
        return Ok(all
            .iter()
            .copied()
            .filter(|c| history || !matches!(*c, "first_seen" | "last_seen" | "waiver_ids"))
            .collect());
    }
    let mut out = Vec::new();
    for w in wanted {
        match all.iter().find(|c| **c == w.as_str()) {
            Some(c) => out.push(*c),
            None => bail!("unknown column `{w}`; the columns are: {}", all.join(", ")),
        }
    }
    Ok(out)
}

/// Writes keyed rows as CSV with the chosen columns (a missing key is an empty cell).
pub fn write_keyed_csv(
    columns: &[&str],
    rows: &[BTreeMap<&'static str, String>],
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = Csv::new(out);
    w.header(columns)?;
    for r in rows {
        w.row(
            columns
                .iter()
                .map(|c| r.get(c).map(String::as_str).unwrap_or("")),
        )?;
    }
    w.finish()
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

    #[test]
    fn rows_render_in_every_format() {
        let cols = vec!["id".to_string(), "n".to_string()];
        let rows = vec![vec!["=x".to_string(), "1".to_string()]];
        let render = |f| {
            let mut v = Vec::new();
            print_rows(f, &cols, &rows, &mut v).unwrap();
            String::from_utf8(v).unwrap()
        };
        assert_eq!(render(ListFormat::Csv), "id,n\r\n'=x,1\r\n");
        let json: serde_json::Value = serde_json::from_str(&render(ListFormat::Json)).unwrap();
        assert_eq!(json[0]["id"], "=x");
        assert!(render(ListFormat::Table).contains("=x"));
    }

    #[test]
    fn unknown_columns_are_named() {
        let err = select_columns(&["a", "b"], &["c".into()], true).unwrap_err();
        assert!(err.to_string().contains("`c`"), "{err}");
        assert_eq!(
            select_columns(&["a", "first_seen"], &[], false).unwrap(),
            vec!["a"]
        );
    }
}
