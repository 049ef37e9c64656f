//! JSON: the whole [`ScanReport`], pretty-printed.

use std::io::Write;

use super::{Printer, ScanReport};

pub struct JsonPrinter;

impl Printer for JsonPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
        Ok(())
    }
}
