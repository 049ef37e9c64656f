//! `plaudit drift`: what changed between two recorded scans — findings (new, resolved,
//! changed, open, unverified) and the PrivateLink graph — as a table, CSV or JSON.

use std::io::Write;

use anyhow::Result;

use super::{Context, Run};
use crate::drift::Drift;
use crate::exit;
use crate::history::History;
use crate::output::{
    self,
    rows::{self, Csv, ListFormat},
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older scan (an id from `plaudit history`) [default: the finished scan before --to]
    #[arg(long, value_name = "SCAN")]
    from: Option<i64>,
    /// The newer scan [default: the last finished scan, complete or not]
    #[arg(long, value_name = "SCAN")]
    to: Option<i64>,
    #[command(flatten)]
    history: crate::cli::HistoryFile,
    #[command(flatten)]
    out: crate::cli::ListOutput,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let settings = self.history.settings()?;
        let state = settings.state()?;
        if let Some(o) = &self.out.output {
            output::check_outputs(&[("-o", o)], &[("the history (--state)", state)])?;
        }
        let d = Drift::between(&History::open_read_only(state)?, self.from, self.to)?;
        output::emit(self.out.output.as_deref(), |out| match self.out.format {
            ListFormat::Json => json(&d, out),
            ListFormat::Csv => csv(&d, out),
            ListFormat::Table => table(&d, out),
        })?;
        if self.out.format != ListFormat::Table || self.out.output.is_some() {
            eprintln!("{}", d.summary());
        }
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        self.out.format != ListFormat::Table
    }
}

fn age(a: Option<f64>) -> String {
    a.map(|x| format!("{x:.0}")).unwrap_or_default()
}

fn json(d: &Drift, out: &mut dyn Write) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        schema_version: u32,
        #[serde(flatten)]
        drift: &'a Drift,
    }
    serde_json::to_writer_pretty(
        &mut *out,
        &Doc {
            schema_version: 2,
            drift: d,
        },
    )?;
    writeln!(out)?;
    Ok(())
}

fn csv(d: &Drift, out: &mut dyn Write) -> Result<()> {
    let mut w = Csv::new(out);
    w.header([
        "kind",
        "change",
        "rule_id",
        "account_id",
        "region",
        "resource_id",
        "severity",
        "before_severity",
        "before",
        "after",
        "age_days",
        "waiver_id",
    ])?;
    for c in &d.findings {
        w.row([
            "finding",
            c.drift.as_str(),
            &c.rule_id,
            &c.account_id,
            &c.region,
            &c.resource_id,
            c.severity.as_str(),
            c.before_severity.map_or("", |s| s.as_str()),
            c.before.as_deref().unwrap_or(""),
            &c.reason,
            &age(c.age_days),
            c.waiver_id.as_deref().unwrap_or(""),
        ])?;
    }
    for g in &d.graph {
        w.row([
            "graph",
            &g.change,
            "",
            &g.account_id,
            &g.region,
            &g.resource_id,
            "",
            "",
            &g.before,
            &g.after,
            "",
            "",
        ])?;
    }
    w.finish()
}

fn table(d: &Drift, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{}\n", d.summary())?;
    let width = rows::table_width();
    if !d.findings.is_empty() {
        // Worst first, like the scan's table; then what kind of change, then where.
        let mut findings: Vec<_> = d.findings.iter().collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.drift.cmp(&b.drift)));
        let columns = [
            "drift", "severity", "rule", "account", "region", "resource", "reason", "days",
        ]
        .map(String::from);
        let found: Vec<Vec<String>> = findings
            .iter()
            .map(|c| {
                vec![
                    c.drift.as_str().to_string(),
                    c.severity.as_str().to_string(),
                    c.rule_id.clone(),
                    c.account_id.clone(),
                    c.region.clone(),
                    crate::report::short_resource(&c.resource_id).to_string(),
                    c.reason.clone(),
                    age(c.age_days),
                ]
            })
            .collect();
        if rows::fits(&columns, &found, width) {
            writeln!(out, "{}", rows::render_table(&columns, &found, width))?;
        } else {
            for r in &found {
                let days = if r[7].is_empty() {
                    String::new()
                } else {
                    format!("  {} days", r[7])
                };
                let title = format!("{}  {}  {}", r[0], r[1], r[2]);
                let place = format!("{} {}  {}{days}", r[3], r[4], r[5]);
                write!(
                    out,
                    "{}",
                    rows::record(&title, &place, &r[6], usize::from(width))
                )?;
            }
        }
    }
    if !d.graph.is_empty() {
        let columns =
            ["change", "account", "region", "resource", "before", "after"].map(String::from);
        let changes: Vec<Vec<String>> = d
            .graph
            .iter()
            .map(|g| {
                vec![
                    g.change.clone(),
                    g.account_id.clone(),
                    g.region.clone(),
                    crate::report::short_resource(&g.resource_id).to_string(),
                    g.before.clone(),
                    g.after.clone(),
                ]
            })
            .collect();
        write!(out, "{}", rows::render_table(&columns, &changes, width))?;
    }
    Ok(())
}
