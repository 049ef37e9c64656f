//! Reports: a scan's findings and coverage ledger, printed as a table, CSV or JSON.
//! Each format is a small [`Printer`]; none of them decides anything about the findings.
//!
//! The JSON output is a contract (see `docs/outputs.md`):
//!
//! ```json
//! { "schema_version": 1,
//!   "scan": { "tool_version": "0.1.0", "collected_at": "…", "rules": 5, "accounts": 6,
//!             "regions": 2, "complete": false,
//!             "counts": { "fail": 7, "unknown": 3, "pass": 21 },
//!             "failing_by_severity": { "critical": 0, "high": 3, … },
//!             "coverage_gaps": 1 },
//!   "findings": [ { "rule_id": "…", "title": "…", "severity": "high", "status": "fail",
//!                   "account_id": "…", "region": "…", "resource_type": "…",
//!                   "resource_id": "…", "resource_arn": "…", "reason": "…", "path": null } ],
//!   "coverage": [ { "account_id": "…", "region": "…", "api": "…", "status": "ok" } ] }
//! ```

mod asff;
mod csv;
mod html;
mod json;
mod ocsf;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::findings::{Finding, Severity, Status};
use crate::inventory::{CoverageEntry, Inventory};

pub use self::csv::CSV_COLUMNS;
pub use self::table::short_resource;

/// A terminal cell with its control characters (C0, DEL, C1: escape sequences that clear the
/// screen, set the window title or forge links) replaced by visible escapes (`\u{1b}`).
/// Inventory strings come from AWS accounts plaudit does not control.
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    sanitize_keeping(s, false)
}

/// [`sanitize`] for a message printed on its own lines: newlines and tabs stay.
pub fn sanitize_message(s: &str) -> std::borrow::Cow<'_, str> {
    sanitize_keeping(s, true)
}

fn sanitize_keeping(s: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !(lines && (c == '\n' || c == '\t'));
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The version of the JSON output document and of the findings CSV column set.
/// 2: findings carry `waiver_id` (status `waived`), CSV gains the column, JSON the
/// `waivers` section. 3: JSON gains `accounts` (name, OU path, membership of each account
/// the findings name), CSV the `account_name` and `ou_path` columns (at the end). 4:
/// passing findings are listed only where they resolve an open finding (all with
/// `--show-pass`); `scan.passing_not_listed` says how many of `counts.pass` are not.
pub const OUTPUT_SCHEMA_VERSION: u32 = 4;

/// Output formats for findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// OCSF Compliance Findings (JSON array), for Security Lake and SIEMs
    Ocsf,
    /// AWS Security Finding Format (JSON array), for Security Hub's BatchImportFindings
    Asff,
    /// A self-contained HTML report (one file, no network)
    Html,
}

/// Writes a JSON array one element at a time (the OCSF and ASFF documents hold millions of
/// findings at scale: building them all first took five times the memory of the other
/// formats).
fn write_json_array<'a, T: 'a>(
    out: &mut dyn Write,
    items: impl IntoIterator<Item = &'a T>,
    element: impl Fn(&T) -> serde_json::Value,
) -> anyhow::Result<()> {
    write!(out, "[")?;
    let mut empty = true;
    for (i, item) in items.into_iter().enumerate() {
        writeln!(out, "{}", if i == 0 { "" } else { "," })?;
        serde_json::to_writer_pretty(&mut *out, &element(item))?;
        empty = false;
    }
    writeln!(out, "{}]", if empty { "" } else { "\n" })?;
    Ok(())
}

/// What printers may quote from a rule besides the finding: its fix and compliance refs.
#[derive(Debug, Clone, Default)]
pub struct RuleInfo {
    pub fix: String,
    pub compliance: Vec<crate::rules::ComplianceRef>,
    /// The rule's first reference (a documentation URL), if it has one.
    pub reference: Option<String>,
}

/// A rendered scan: what every printer receives.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub schema_version: u32,
    pub scan: Summary,
    pub findings: Vec<Finding>,
    pub coverage: Vec<CoverageEntry>,
    /// Waivers that expired (no longer applied) or matched nothing (stale).
    pub waivers: WaiverNotes,
    /// Rule id → what printers quote from the rule (not part of the JSON document).
    #[serde(skip)]
    pub rules: BTreeMap<String, RuleInfo>,
    /// Every account a finding names: its name and OU path, and whether it is a member of
    /// the organisation (so that findings can be routed to their owners).
    pub accounts: BTreeMap<String, AccountInfo>,
    /// Compared with a baseline (`--baseline`): failing findings carry `new_since_baseline`,
    /// and the CSV has a column for it.
    #[serde(skip)]
    pub baseline: bool,
    /// The AWS partition (`aws`, `aws-cn`, `aws-us-gov`), for ARNs the printers build.
    #[serde(skip)]
    pub partition: String,
    /// Pictures of the failing chains (the HTML report draws them), and how many more there
    /// were; made only for the HTML format.
    #[serde(skip)]
    pub pictures: Vec<crate::topology::Picture>,
    #[serde(skip)]
    pub pictures_left_out: usize,
}

/// An account as the report names it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AccountInfo {
    pub name: String,
    /// `/Root/Workloads/Prod`; empty when unknown.
    pub ou_path: String,
    /// In the organisation's membership (or crawled); `false`: outside the organisation.
    pub member: bool,
}

impl AccountInfo {
    /// The name, or a label for an account outside the organisation.
    pub fn label(&self) -> &str {
        if self.member {
            &self.name
        } else {
            "(outside the organisation)"
        }
    }
}

/// What the waivers file needs attention for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaiverNotes {
    pub expired: Vec<crate::waivers::Waiver>,
    pub stale: Vec<crate::waivers::Waiver>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tool_version: String,
    pub collected_at: Option<DateTime<Utc>>,
    pub organization_id: Option<String>,
    pub rules: usize,
    pub rule_set_hash: String,
    pub accounts: usize,
    pub regions: usize,
    pub account_regions: usize,
    /// False when the coverage ledger has a gap (exit code 3).
    pub complete: bool,
    /// By status; `pass` counts every passing finding, listed or not.
    pub counts: BTreeMap<Status, usize>,
    /// Passing findings counted in `counts` but not in `findings`: a report lists the
    /// passing findings that resolve an open finding, and all of them with `--show-pass`.
    pub passing_not_listed: usize,
    pub failing_by_severity: BTreeMap<Severity, usize>,
    pub coverage_gaps: usize,
}

impl ScanReport {
    pub fn new(
        inv: &Inventory,
        findings: Vec<Finding>,
        rules: &crate::rules::RuleSet,
    ) -> ScanReport {
        let mut counts: BTreeMap<Status, usize> =
            [Status::Fail, Status::Unknown, Status::Waived, Status::Pass]
                .into_iter()
                .map(|s| (s, 0))
                .collect();
        let mut by_sev: BTreeMap<Severity, usize> =
            Severity::ALL.into_iter().map(|s| (s, 0)).collect();
        for f in &findings {
            *counts.entry(f.status).or_default() += 1;
            if f.status == Status::Fail {
                *by_sev.entry(f.severity).or_default() += 1;
            }
        }
        let gaps = inv.gaps().count();
        let regions: BTreeSet<&str> = inv
            .accounts
            .iter()
            .flat_map(|a| a.regions.iter().map(|r| r.name.as_str()))
            .collect();
        let mut coverage = inv.coverage.clone();
        coverage.sort();
        let accounts = account_directory(inv, &findings);
        ScanReport {
            schema_version: OUTPUT_SCHEMA_VERSION,
            scan: Summary {
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                collected_at: inv.collected_at,
                organization_id: inv.organization.as_ref().map(|o| o.id.clone()),
                rules: rules.len(),
                rule_set_hash: rules.fingerprint(),
                accounts: inv.accounts.len(),
                regions: regions.len(),
                account_regions: inv.account_regions(),
                complete: gaps == 0,
                counts,
                passing_not_listed: 0,
                failing_by_severity: by_sev,
                coverage_gaps: gaps,
            },
            findings,
            coverage,
            waivers: WaiverNotes::default(),
            rules: rules
                .rules()
                .iter()
                .map(|r| {
                    let info = RuleInfo {
                        fix: r.description.fix.clone(),
                        compliance: r.compliance.clone(),
                        reference: r.references.first().cloned(),
                    };
                    (r.id.clone(), info)
                })
                .collect(),
            accounts,
            baseline: false,
            partition: inv.partition().to_string(),
            pictures: Vec::new(),
            pictures_left_out: 0,
        }
    }

    /// Counts `n` passing findings the evaluation did not list.
    pub fn count_unlisted_passes(&mut self, n: usize) {
        *self.scan.counts.entry(Status::Pass).or_default() += n;
        self.scan.passing_not_listed += n;
    }

    /// The name and OU path of an account a finding names.
    pub fn account(&self, id: &str) -> Option<&AccountInfo> {
        self.accounts.get(id)
    }

    pub fn gaps(&self) -> impl Iterator<Item = &CoverageEntry> {
        self.coverage.iter().filter(|c| c.status.is_gap())
    }
}

/// Options that change what a printer shows, not what the scan found.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// Show passing findings in the table (machine formats always carry everything).
    pub show_pass: bool,
    /// Table width when not writing to a terminal.
    pub width: Option<u16>,
    /// Colour the status column (`--color`).
    pub color: bool,
}

/// One output format.
pub trait Printer {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()>;
}

/// The printer for a format.
pub fn printer(format: Format, opts: PrintOptions) -> Box<dyn Printer> {
    match format {
        Format::Table => Box::new(table::TablePrinter { opts }),
        Format::Csv => Box::new(csv::CsvPrinter {
            columns: CSV_COLUMNS.to_vec(),
        }),
        Format::Json => Box::new(json::JsonPrinter),
        Format::Ocsf => Box::new(ocsf::OcsfPrinter),
        Format::Asff => Box::new(asff::AsffPrinter),
        Format::Html => Box::new(html::HtmlPrinter),
    }
}

/// The printer for a format, with the findings CSV's columns chosen and ordered by `columns`
/// (any of [`CSV_COLUMNS`]; only for CSV).
pub fn printer_with_columns(
    format: Format,
    opts: PrintOptions,
    columns: &[String],
) -> anyhow::Result<Box<dyn Printer>> {
    if columns.is_empty() {
        return Ok(printer(format, opts));
    }
    if format != Format::Csv {
        anyhow::bail!("--columns chooses CSV columns: use it with --format csv");
    }
    let chosen = crate::output::rows::select_columns(&CSV_COLUMNS, columns, true)?;
    Ok(Box::new(csv::CsvPrinter { columns: chosen }))
}

/// Name, OU path and membership of every account the findings name, from the crawled
/// accounts and the organisation's membership.
fn account_directory(inv: &Inventory, findings: &[Finding]) -> BTreeMap<String, AccountInfo> {
    let members = inv.members();
    let mut known: BTreeMap<&str, AccountInfo> = BTreeMap::new();
    for m in &members.accounts {
        known.insert(
            &m.id,
            AccountInfo {
                name: m.name.clone(),
                ou_path: m.ou_path.clone(),
                member: true,
            },
        );
    }
    for a in &inv.accounts {
        let e = known.entry(&a.id).or_default();
        e.member = true;
        if e.name.is_empty() {
            e.name = a.name.clone();
        }
        if e.ou_path.is_empty() {
            e.ou_path = a.ou_path.clone();
        }
    }
    let mut out = BTreeMap::new();
    for f in findings {
        if !out.contains_key(&f.account_id) {
            let info = known
                .get(f.account_id.as_str())
                .cloned()
                .unwrap_or_default();
            out.insert(f.account_id.clone(), info);
        }
    }
    out
}

/// `1 account`, `2 accounts`: a count with its noun.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary under the table (and on stderr for machine formats): what was found, then
/// what was read. Two lines, each within 120 columns. An unknown is counted once: on a
/// resource, or as a rule not evaluated where AWS could not be read (those rows stand for
/// the resources plaudit could not see, and are listed with the coverage gaps).
pub fn summary_line(r: &ScanReport) -> String {
    let s = &r.scan;
    let n = |st: Status| s.counts.get(&st).copied().unwrap_or(0);
    let not_evaluated = r
        .findings
        .iter()
        .filter(|f| f.status == Status::Unknown && f.resource_id == "*")
        .count();
    let sev: Vec<String> = Severity::ALL
        .iter()
        .filter_map(|sv| {
            let k = s.failing_by_severity.get(sv).copied().unwrap_or(0);
            (k > 0).then(|| format!("{k} {sv}"))
        })
        .collect();
    let mut line = format!("{} failing", n(Status::Fail));
    if !sev.is_empty() {
        line.push_str(&format!(" ({})", sev.join(", ")));
    }
    line.push_str(&format!(", {} unknown", n(Status::Unknown) - not_evaluated));
    if n(Status::Waived) > 0 {
        line.push_str(&format!(", {} waived", n(Status::Waived)));
    }
    line.push_str(&format!(", {} passing", n(Status::Pass)));
    line.push_str(&format!(
        "\n{}, {}, {} · ",
        plural(s.accounts, "account", "accounts"),
        plural(s.regions, "region", "regions"),
        plural(s.rules, "rule", "rules"),
    ));
    if s.coverage_gaps == 0 {
        line.push_str("coverage complete");
    } else {
        line.push_str(&format!(
            "incomplete: {} ({} not evaluated there)",
            plural(s.coverage_gaps, "coverage gap", "coverage gaps"),
            plural(not_evaluated, "rule check", "rule checks"),
        ));
    }
    line
}
