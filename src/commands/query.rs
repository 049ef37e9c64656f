//! `plaudit query SQL --inventory FILE`: read-only SQL over an inventory, the same tables and
//! views rules use. CSV and JSON stream every row; a table shows the first
//! [`QUERY_TABLE_ROWS`].

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use rusqlite::types::ValueRef;

use super::{Context, Run};
use crate::output::rows::{self, Csv, ListFormat};
use crate::{exit, inventory};

/// Rows a `query` table shows at most (CSV and JSON stream every row).
pub const QUERY_TABLE_ROWS: usize = 10_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL to run
    sql: String,
    /// The inventory to load
    #[arg(long, value_name = "FILE")]
    inventory: PathBuf,
    #[command(flatten)]
    out: crate::cli::ListOutput,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        if let Some(o) = &self.out.output {
            crate::output::check_outputs(&[("-o", o)], &[("--inventory", &self.inventory)])?;
        }
        let inv = inventory::load_file(&self.inventory)?;
        let store = crate::audit::load_store(&inv)?;
        store
            .check_read_only(&self.sql)
            .map_err(|m| anyhow::anyhow!("the query is refused: {m}"))?;
        let mut stmt = store.conn().prepare(&self.sql).with_context(
            || "the query does not compile (see `plaudit schema` for tables and views)",
        )?;
        let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
        let mut more = false;
        crate::output::emit(self.out.output.as_deref(), |out| {
            let mut found = stmt.query([])?;
            let n = columns.len();
            match self.out.format {
                ListFormat::Table => {
                    let mut shown = Vec::new();
                    while let Some(row) = found.next()? {
                        if shown.len() == QUERY_TABLE_ROWS {
                            more = true;
                            break;
                        }
                        shown.push(
                            (0..n)
                                .map(|i| row.get_ref(i).map(text))
                                .collect::<Result<Vec<_>, _>>()?,
                        );
                    }
                    let t = rows::render_table(&columns, &shown, rows::table_width());
                    write!(out, "{t}")?;
                }
                ListFormat::Csv => {
                    let mut w = Csv::new(out);
                    w.header(&columns)?;
                    while let Some(row) = found.next()? {
                        let cells = (0..n)
                            .map(|i| row.get_ref(i).map(text))
                            .collect::<Result<Vec<_>, _>>()?;
                        w.row(cells)?;
                    }
                    w.finish()?;
                }
                ListFormat::Json => {
                    // A JSON array, one object per row, written as the rows come; numbers
                    // stay numbers and NULL is null.
                    write!(out, "[")?;
                    let mut first = true;
                    while let Some(row) = found.next()? {
                        let mut obj = serde_json::Map::new();
                        for (i, c) in columns.iter().enumerate() {
                            obj.insert(c.clone(), json(row.get_ref(i)?));
                        }
                        write!(out, "{}\n  ", if first { "" } else { "," })?;
                        first = false;
                        serde_json::to_writer(&mut *out, &obj)?;
                    }
                    writeln!(out, "{}]", if first { "" } else { "\n" })?;
                }
            }
            Ok(())
        })?;
        if more {
            eprintln!(
                "the table shows the first {QUERY_TABLE_ROWS} rows; --format csv or json writes every row"
            );
        }
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        self.out.format != ListFormat::Table && self.out.output.is_none()
    }
}

/// A cell as text (a table sanitises it when it adds the row).
fn text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(v) => v.to_string(),
        ValueRef::Real(v) => v.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

/// A cell as JSON: numbers stay numbers, NULL is null.
fn json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(v) => v.into(),
        ValueRef::Real(v) => serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
    }
}
