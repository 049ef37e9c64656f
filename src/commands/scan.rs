//! `plaudit scan`: crawl (or load) an inventory, evaluate the rules, print the report, record
//! the scan in the history. The work is [`crate::audit`]; this file prints and records.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use super::{Context, Run};
use crate::audit::{self, Baseline, ScanOutcome, Verdict};
use crate::cli::{CrawlArgs, RuleSources};
use crate::exit;
use crate::history::{self, History, NewScan, ScanStatus};
use crate::inventory::load::SourceFile;
use crate::inventory::{self, Inventory};
use crate::output;
use crate::report::{self, Format, PrintOptions};
use crate::rules::eval::KeepPassing;
use crate::settings::{Flags, Settings};
use crate::store::{Loader, Store};
use crate::waivers::Waivers;

/// The most failing chains the HTML report draws (worst first; it says how many more).
const MAX_PICTURES: usize = 40;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Evaluate a saved inventory (JSON) instead of crawling AWS
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Save the crawled inventory to FILE (re-evaluate it later with --inventory)
    #[arg(long, value_name = "FILE", conflicts_with = "inventory")]
    save_inventory: Option<PathBuf>,
    #[command(flatten)]
    crawl: CrawlArgs,
    /// The scan history file [default: ~/.local/share/plaudit/history.db, or `state` in the
    /// config]
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Do not record this scan in the history
    #[arg(long)]
    no_history: bool,
    /// A waivers file (YAML; accepted findings with owners and expiry) [config: waivers]
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// Compare with a baseline: a scan id from `plaudit history`, or a JSON report
    /// (`--format json`) of an earlier scan
    #[arg(long, value_name = "SCAN|FILE")]
    baseline: Option<String>,
    /// With --baseline: exit 1 only for failing findings that are new since the baseline
    #[arg(long, requires = "baseline")]
    fail_on_new: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// With --format csv: the columns to print, in order (comma-separated; docs/outputs.md)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    columns: Vec<String>,
    /// Write the report to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when a failing finding has at least this severity (critical, high, medium, low,
    /// info) or `none` [default: info, or `fail_on` from the config]
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<crate::config::FailOn>,
    /// Exit 0 even with failing findings or coverage gaps (errors still exit 2)
    #[arg(long)]
    exit_zero: bool,
    /// List every passing finding, in every format (by default a report counts them and lists
    /// only those that resolve an open finding)
    #[arg(long)]
    show_pass: bool,
    #[command(flatten)]
    sources: RuleSources,
}

impl Run for Args {
    fn run(&self, ctx: &Context) -> Result<u8> {
        let settings = Settings::resolve(&self.flags())?;
        let set = settings.rules()?;
        self.check_outputs(&settings)?;
        let waivers = match &settings.waivers {
            Some(p) => Some(Waivers::load(p)?.checked_against(&set)?),
            None => None,
        };
        let mut history = match self.no_history {
            true => None,
            false => Some(History::open(settings.state()?)?),
        };
        let baseline = match &self.baseline {
            Some(spec) => Some(Baseline::load(spec, history.as_ref(), || {
                settings.state().map(Path::to_path_buf)
            })?),
            None => None,
        };
        let mut recording = match &history {
            Some(h) => Some(Unfinished::begin(h, &self.source(), &set.fingerprint())?),
            None => None,
        };
        let started = Instant::now();
        let (inv, store, source) = self.inventory_and_store(&settings, &started)?;
        let verdict = Verdict {
            fail_on: settings.fail_on,
            fail_on_new: self.fail_on_new,
            exit_zero: self.exit_zero,
        };
        let today = chrono::Utc::now().date_naive();
        // Passing findings are listed where they are news (they resolve a finding open in the
        // history or failing in the baseline), all of them with --show-pass; the rest are
        // counted.
        let resolvable = match self.show_pass {
            true => None,
            false => Some(resolvable(history.as_ref(), baseline.as_ref())?),
        };
        let keep = match &resolvable {
            Some(set) => KeepPassing::Only(set),
            None => KeepPassing::All,
        };
        let review = audit::Review {
            waivers: waivers.as_ref(),
            today,
            baseline: baseline.as_ref(),
            verdict,
            keep,
        };
        let mut outcome = audit::evaluate(&set, &store, &inv, &review);
        // A signal stops the rules' queries; its handler then removes outputs and exits.
        crate::interrupt::halt_if_exiting();
        if self.format == Format::Html {
            (outcome.report.pictures, outcome.report.pictures_left_out) =
                crate::topology::failing_pictures(&inv, &outcome.report.findings, MAX_PICTURES);
        }
        phase(&started, "rules evaluated");
        let stdout_closed = self.print(&outcome, ctx.color)?;
        phase(&started, "report written");
        self.notes(&outcome)?;
        let code = outcome.exit_code;
        if let (Some(h), Some(r)) = (history.as_mut(), recording.as_mut()) {
            let snapshot = match &source {
                Some(file) => history::Snapshot::File(file),
                None => history::Snapshot::Inventory,
            };
            r.finish(h, &inv, snapshot, &outcome, &settings)?;
        }
        if stdout_closed {
            tracing::info!("stdout was closed before the report was whole; exit code {code}");
        }
        Ok(code)
    }

    fn machine_output(&self) -> bool {
        self.format != Format::Table
    }
}

impl Args {
    fn flags(&self) -> Flags<'_> {
        Flags {
            state: self.state.as_deref(),
            waivers: self.waivers.as_deref(),
            fail_on: self.fail_on,
            crawl: Some(&self.crawl),
            ..self.sources.flags()
        }
    }

    fn source(&self) -> String {
        match &self.inventory {
            Some(p) => p.display().to_string(),
            None => "crawl".to_string(),
        }
    }

    /// Where the crawled inventory is saved (not when evaluating a saved one).
    fn save_to(&self) -> Option<&Path> {
        self.save_inventory
            .as_deref()
            .filter(|_| self.inventory.is_none())
    }

    /// Before any long work: every output writable, none of them an input.
    fn check_outputs(&self, settings: &Settings) -> Result<()> {
        let mut outputs: Vec<(&str, &Path)> = Vec::new();
        if let Some(p) = &self.output {
            outputs.push(("-o", p));
        }
        if let Some(p) = self.save_to() {
            outputs.push(("--save-inventory", p));
        }
        let mut inputs: Vec<(&str, &Path)> = Vec::new();
        if let Some(p) = &self.inventory {
            inputs.push(("--inventory", p));
        }
        if let Some(p) = &settings.config_path {
            inputs.push(("--config", p));
        }
        if let Some(p) = &settings.waivers {
            inputs.push(("the waivers file", p));
        }
        if let Some(p) = settings.state_if_known().filter(|_| !self.no_history) {
            inputs.push(("the history (--state)", p));
        }
        if let Some(p) = self
            .baseline
            .as_deref()
            .map(Path::new)
            .filter(|p| p.is_file())
        {
            inputs.push(("--baseline", p));
        }
        output::check_outputs(&outputs, &inputs)
    }

    /// The inventory and its database. A saved inventory is streamed into the database one
    /// account at a time and kept only in outline (accounts and their region names, the
    /// ledger), with the file it came from for the history; the HTML report draws resources,
    /// so it reads the whole inventory, as do a crawl and a pipe (it cannot be read twice).
    fn inventory_and_store(
        &self,
        settings: &Settings,
        started: &Instant,
    ) -> Result<(Inventory, Store, Option<SourceFile>)> {
        if let Some(p) = self
            .inventory
            .as_deref()
            .filter(|_| self.format != Format::Html)
        {
            let mut loader = Loader::new().context("loading the inventory into SQLite")?;
            let streamed = inventory::load::stream_file(p, &mut |acct| {
                loader
                    .add_account(acct)
                    .with_context(|| format!("loading account {} into SQLite", acct.id))
            })?;
            if let Some(s) = streamed {
                let store = loader
                    .finish(&s.outline)
                    .context("loading the inventory into SQLite")?;
                phase(started, "inventory loaded into SQLite");
                return Ok((s.outline, store, Some(s.source)));
            }
        }
        let inv = match self.inventory.as_deref() {
            Some(p) => inventory::load_file(p)?,
            None => {
                let inv = crate::crawl::crawl_blocking(&settings.crawl_options())?;
                phase(started, "crawl finished");
                inv
            }
        };
        let store = self.load_and_save(&inv, started)?;
        Ok((inv, store, None))
    }

    /// Loads the inventory into SQLite while saving it (`--save-inventory`): both only read it.
    fn load_and_save(&self, inv: &Inventory, started: &Instant) -> Result<Store> {
        let (store, saved) = std::thread::scope(|s| {
            let saving = self.save_to().map(|p| {
                s.spawn(move || {
                    output::emit(Some(p), |w| {
                        serde_json::to_writer_pretty(&mut *w, inv)?;
                        writeln!(w)?;
                        Ok(())
                    })
                    .with_context(|| format!("saving the inventory to `{}`", p.display()))
                })
            });
            let store = audit::load_store(inv);
            phase(started, "inventory loaded into SQLite");
            let saved = saving.map(|h| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("saving the inventory failed")));
                phase(started, "inventory saved");
                r
            });
            (store, saved)
        });
        saved.transpose()?;
        store
    }

    /// Prints the report; `Ok(true)` when the reader closed stdout early (`plaudit scan |
    /// head`), which does not change the verdict: the scan is still recorded.
    fn print(&self, outcome: &ScanOutcome, color: bool) -> Result<bool> {
        let printer = report::printer_with_columns(
            self.format,
            PrintOptions {
                show_pass: self.show_pass,
                width: None,
                color: color && self.output.is_none(),
            },
            &self.columns,
        )?;
        match output::emit(self.output.as_deref(), |w| {
            printer.print(&outcome.report, w)
        }) {
            Ok(()) => Ok(false),
            Err(e) if self.output.is_none() && output::is_broken_pipe(&e) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// What goes to stderr after the report: the summary (when stdout is not a table),
    /// waiver warnings, the baseline's count, and rule errors (then exit 2).
    fn notes(&self, outcome: &ScanOutcome) -> Result<()> {
        if self.format != Format::Table || self.output.is_some() {
            eprintln!("{}", report::summary_line(&outcome.report));
        }
        let notes = outcome.waiver_notes();
        for w in &notes.expired {
            eprintln!(
                "warning: waiver `{}` ({}) expired on {} and no longer applies",
                w.id, w.owner, w.expires
            );
        }
        for w in &notes.stale {
            eprintln!(
                "warning: waiver `{}` ({}) matched no failing finding: stale?",
                w.id, w.owner
            );
        }
        if !outcome.rule_errors.is_empty() {
            for e in &outcome.rule_errors {
                eprintln!("error: {e}");
            }
            bail!(
                "{} rule(s) could not run; the report above has the others' findings",
                outcome.rule_errors.len()
            );
        }
        if let Some(new) = &outcome.new_failing {
            eprintln!("{} failing finding(s) new since the baseline", new.len());
        }
        Ok(())
    }
}

/// The fingerprints a passing finding is news for: open in the history, failing in the
/// baseline.
fn resolvable(history: Option<&History>, baseline: Option<&Baseline>) -> Result<HashSet<String>> {
    let mut set = match history {
        Some(h) => h.open_fingerprints()?,
        None => HashSet::new(),
    };
    if let Some(b) = baseline {
        set.extend(b.failing().map(str::to_string));
    }
    Ok(set)
}

/// Logs the end of a step of a scan, with the seconds since the scan started.
fn phase(started: &Instant, what: &str) {
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "{what}");
}

/// A scan recorded in the history that has not finished yet. Dropped before it is finished
/// (an error returned early), it marks the scan `failed` (exit code 2), or `interrupted` after
/// a signal; a signal while it lives marks it from the signal handler.
struct Unfinished {
    path: PathBuf,
    id: i64,
    finished: bool,
}

impl Unfinished {
    fn begin(h: &History, source: &str, ruleset_hash: &str) -> Result<Unfinished> {
        let id = h.begin(NewScan {
            source,
            ruleset_hash,
        })?;
        let path = h.path().to_path_buf();
        crate::interrupt::register_scan(path.clone(), id);
        Ok(Unfinished {
            path,
            id,
            finished: false,
        })
    }

    /// Records the outcome, then applies the history's retention settings.
    fn finish(
        &mut self,
        h: &mut History,
        inv: &Inventory,
        snapshot: history::Snapshot<'_>,
        outcome: &ScanOutcome,
        settings: &Settings,
    ) -> Result<()> {
        let id = self.id;
        h.finish(
            id,
            inv,
            snapshot,
            &outcome.report.findings,
            outcome.exit_code,
        )
        .with_context(|| format!("the report was written, but recording scan {id} failed"))?;
        tracing::info!("recorded as scan {id} in {}", h.path().display());
        self.finished = true;
        crate::interrupt::forget_scan();
        let retention = &settings.config.history;
        if retention.keep_scans.is_some() || retention.keep_days.is_some() {
            let n = h.prune(retention.keep_scans, retention.keep_days)?;
            tracing::info!("pruned {n} old scan(s) (history.keep_scans / keep_days)");
        }
        Ok(())
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        crate::interrupt::forget_scan();
        let (status, code) = if crate::interrupt::requested() {
            (ScanStatus::Interrupted, crate::interrupt::exit_code())
        } else {
            (ScanStatus::Failed, exit::USAGE)
        };
        if let Err(e) = history::mark_unfinished(&self.path, self.id, status, code) {
            tracing::warn!("could not mark scan {} {status}: {e:#}", self.id);
        }
    }
}
