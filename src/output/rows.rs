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

/// Width of tables when stdout is not a terminal and `COLUMNS` is not set.
pub const TABLE_WIDTH: u16 = 120;

/// The width tables are laid out for: `COLUMNS` when set (as shells export it; tests set
/// it), else the terminal's when stdout is one, else [`TABLE_WIDTH`].
pub fn table_width() -> u16 {
    use std::io::IsTerminal;
    if let Some(w) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|w| *w >= 20)
    {
        return w;
    }
    if std::io::stdout().is_terminal()
        && let Some(w) = Table::new().width()
    {
        return w;
    }
    TABLE_WIDTH
}

/// Columns a table spends on each column besides its content: padding on both sides and
/// the separator.
pub const COLUMN_OVERHEAD: usize = 3;

/// The narrowest a column of free text is squeezed to before rows become records.
const MIN_TEXT: usize = 16;

/// The longest word a column of free text should keep whole (an ARN or a service name in an
/// error message), at most this wide.
const MAX_WORD: usize = 60;

/// The longest word of a text, up to [`MAX_WORD`].
pub fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_WORD)
}

/// Display width of a cell: its longest line.
fn cell_width(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Whether a column holds identifiers (ids, ARNs, timestamps, statuses, numbers): no cell has
/// a space in a line. Identifiers never break across lines.
fn is_identifier_column(rows: &[Vec<String>], i: usize) -> bool {
    rows.iter()
        .all(|r| r.get(i).is_none_or(|c| !c.lines().any(|l| l.contains(' '))))
}

/// A terminal table in which identifiers never break: identifier columns are as wide as
/// their widest cell (header included), columns of free text share the rest of `width`.
/// When the identifiers alone do not fit, each row is printed as a record instead
/// (`column  value` lines under a rule), which fits any width.
pub fn render_table(columns: &[String], rows: &[Vec<String>], width: u16) -> String {
    let clean: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| crate::report::sanitize(c).into_owned())
                .collect()
        })
        .collect();
    let Some(layout) = Layout::of(columns, &clean, width) else {
        return records(columns, &clean, width);
    };
    let mut t = table(columns);
    t.set_width(width);
    for r in &clean {
        t.add_row(r);
    }
    for (i, min) in layout.text_min.iter().enumerate() {
        let constraint = match min {
            None => comfy_table::ColumnConstraint::ContentWidth,
            Some(m) => comfy_table::ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(
                (m + 2) as u16,
            )),
        };
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(constraint);
        }
    }
    format!("{t}\n")
}

/// Whether rows fit `width` as a table with every identifier whole.
pub fn fits(columns: &[String], rows: &[Vec<String>], width: u16) -> bool {
    Layout::of(columns, rows, width).is_some()
}

/// How a table's columns share the width: identifier columns (`None`) as wide as their
/// widest cell, text columns (`Some(min)`) at least `min` wide — their longest word where
/// that fits, [`MIN_TEXT`] at the least.
struct Layout {
    text_min: Vec<Option<usize>>,
}

impl Layout {
    fn of(columns: &[String], rows: &[Vec<String>], width: u16) -> Option<Layout> {
        let widest = |i: usize| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| cell_width(c))
                .chain([cell_width(&columns[i])])
                .max()
                .unwrap_or(0)
        };
        let ids: Vec<bool> = (0..columns.len())
            .map(|i| is_identifier_column(rows, i))
            .collect();
        let fixed: usize = (0..columns.len())
            .map(|i| COLUMN_OVERHEAD + if ids[i] { widest(i) } else { 0 })
            .sum();
        let texts = ids.iter().filter(|id| !**id).count();
        let room = usize::from(width).checked_sub(fixed)?;
        if texts > 0 && room < texts * MIN_TEXT {
            return None;
        }
        let share = room.checked_div(texts).unwrap_or(0);
        let text_min = (0..columns.len())
            .map(|i| {
                (!ids[i]).then(|| {
                    let word = rows
                        .iter()
                        .filter_map(|r| r.get(i))
                        .map(|c| longest_word(c))
                        .max()
                        .unwrap_or(0);
                    word.clamp(MIN_TEXT.min(widest(i)), share.max(MIN_TEXT))
                })
            })
            .collect();
        Some(Layout { text_min })
    }
}

/// One finding-like record, for terminals too narrow for a table: a title line, a line
/// saying where, and the text wrapped to the width at spaces (a word longer than the width
/// keeps a line of its own, whole), then a blank line.
pub fn record(title: &str, place: &str, text: &str, width: usize) -> String {
    let mut out = format!("{title}\n  {place}\n");
    for line in wrap(text, width.saturating_sub(2).max(20)) {
        out.push_str(&format!("  {line}\n"));
    }
    out.push('\n');
    out
}

/// Words joined into lines of at most `width` columns; a longer word is a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Rows as records: a rule naming the row by its first column, then one `column  value` line
/// per other column. For terminals too narrow for the table.
fn records(columns: &[String], rows: &[Vec<String>], width: u16) -> String {
    let key = columns.iter().map(|c| cell_width(c)).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let title = format!(
            "── {} {} ",
            columns[0],
            r.first().map_or("", String::as_str)
        );
        out.push_str(&title);
        out.push_str(&"─".repeat(8));
        out.push('\n');
        for (c, v) in columns.iter().zip(r).skip(1) {
            // Free text wraps at spaces to the width; identifiers stay whole.
            let room = usize::from(width).saturating_sub(key + 4).max(20);
            let lines: Vec<String> = v.lines().flat_map(|l| wrap(l, room)).collect();
            let mut lines = lines.iter();
            out.push_str(&format!(
                "  {c:<key$}  {}\n",
                lines.next().map_or("", String::as_str)
            ));
            for l in lines {
                out.push_str(&format!("  {:<key$}  {l}\n", ""));
            }
        }
    }
    out
}

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
            write!(out, "{}", render_table(columns, rows, table_width()))?;
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
