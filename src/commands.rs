//! What each command does: glue between the command line and the library modules.
//! Errors come back as `anyhow` chains and become exit code 2 in `main`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use comfy_table::{ContentArrangement, Table, presets};

use crate::cli::{Cli, Command, ListFormat, QueryArgs, RuleSources, RulesCommand, ScanArgs};
use crate::config::{Config, FailOn};
use crate::findings::{Severity, Status};
use crate::history::{self, History, NewScan};
pub use crate::output::emit;
use crate::report::{self, PrintOptions, ScanReport, neutralise_formula};
use crate::rules::{self, RuleSet};
use crate::store::Store;
use crate::waivers::Waivers;
use crate::{exit, inventory};

pub fn run(cli: Cli) -> Result<u8> {
    use std::io::IsTerminal;
    let color = cli.color.enabled(std::io::stdout().is_terminal());
    match cli.command {
        Command::Scan(args) => scan(args, color),
        Command::Rules(RulesCommand::List { format, sources }) => rules_list(format, &sources),
        Command::Rules(RulesCommand::Explain { id, sources }) => rules_explain(&id, &sources),
        Command::Rules(RulesCommand::Test { dir }) => rules_test(dir.as_deref()),
        Command::Query(args) => query(args),
        Command::Preflight(args) => preflight(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "plaudit", &mut out);
            write_stdout(&out)?;
            Ok(exit::OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("rendering the man page")?;
            write_stdout(&out)?;
            Ok(exit::OK)
        }
        Command::History(args) => history_list(args),
        Command::Export(args) => export(args),
        Command::Drift(args) => drift(args),
        Command::Waivers(crate::cli::WaiversCommand::Lint {
            waivers,
            inventory,
            sources,
        }) => waivers_lint(waivers.as_deref(), inventory.as_deref(), &sources),
        Command::Merge { inputs, output } => {
            if let Some(o) = &output {
                let ins: Vec<(&str, &Path)> =
                    inputs.iter().map(|p| ("an input", p.as_path())).collect();
                crate::output::check_outputs(&[("-o", o)], &ins)?;
            }
            let mut invs = Vec::new();
            for p in &inputs {
                invs.push(inventory::load_file(p)?);
            }
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            let merged = inventory::merge::merge(invs, &names)
                .map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
            emit(output.as_deref(), |w| {
                serde_json::to_writer_pretty(&mut *w, &merged)?;
                writeln!(w)?;
                Ok(())
            })?;
            eprintln!(
                "merged {} inventories: {} accounts, {} account-regions, {} coverage gaps",
                inputs.len(),
                merged.accounts.len(),
                merged.account_regions(),
                merged.gaps().count()
            );
            Ok(exit::OK)
        }
        Command::Synth {
            accounts,
            regions,
            seed,
            output,
        } => {
            let inv = crate::synth::generate(crate::synth::Shape {
                accounts,
                regions,
                seed,
                ..Default::default()
            });
            emit(output.as_deref(), |w| {
                serde_json::to_writer(&mut *w, &inv)?;
                writeln!(w)?;
                Ok(())
            })?;
            Ok(exit::OK)
        }
        Command::Schema => {
            write_stdout(crate::store::SCHEMA_SQL.as_bytes())?;
            write_stdout(b"\n")?;
            write_stdout(crate::store::DERIVED_SQL.as_bytes())?;
            Ok(exit::OK)
        }
    }
}

/// Loads the config (if any) and the rule set it and the flags describe.
fn load_rules(sources: &RuleSources) -> Result<(Config, RuleSet)> {
    let cfg = match &sources.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let mut dirs = cfg.rule_dirs.clone();
    dirs.extend(sources.rule_dirs.iter().cloned());
    let builtin = !(sources.no_builtin_rules || cfg.no_builtin_rules);
    let mut set = rules::load_all(&dirs, builtin)?;
    let cfg_name = sources
        .config
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    set.apply_overrides(&cfg.rules, &cfg_name)?;
    if let Some(secs) = cfg.rule_timeout_seconds {
        set.set_budget(std::time::Duration::from_secs(secs));
    }
    if set.is_empty() {
        bail!("no rules to run: the built-in rules are off and no --rules directory has any");
    }
    Ok((cfg, set))
}

fn scan(args: ScanArgs, color: bool) -> Result<u8> {
    let (cfg, set) = load_rules(&args.sources)?;
    // Before any long work: every output writable, none of them an input.
    {
        let mut outputs: Vec<(&str, &Path)> = Vec::new();
        if let Some(p) = &args.output {
            outputs.push(("-o", p));
        }
        if let Some(p) = args
            .save_inventory
            .as_ref()
            .filter(|_| args.inventory.is_none())
        {
            outputs.push(("--save-inventory", p));
        }
        let state = if args.no_history {
            None
        } else {
            state_path(args.state.as_deref(), &cfg).ok()
        };
        let mut inputs: Vec<(&str, &Path)> = Vec::new();
        if let Some(p) = &args.inventory {
            inputs.push(("--inventory", p));
        }
        if let Some(p) = &args.sources.config {
            inputs.push(("--config", p));
        }
        if let Some(p) = args.waivers.as_ref().or(cfg.waivers.as_ref()) {
            inputs.push(("the waivers file", p));
        }
        if let Some(p) = &state {
            inputs.push(("the history (--state)", p));
        }
        let baseline_file = args
            .baseline
            .as_deref()
            .map(Path::new)
            .filter(|p| p.is_file());
        if let Some(p) = baseline_file {
            inputs.push(("--baseline", p));
        }
        crate::output::check_outputs(&outputs, &inputs)?;
    }
    let waivers = match args.waivers.as_ref().or(cfg.waivers.as_ref()) {
        Some(p) => {
            let w = Waivers::load(p)?;
            w.check_rules(&set.rules().iter().map(|r| r.id.clone()).collect())?;
            Some(w)
        }
        None => None,
    };
    // The history file is only needed when recording, or for a baseline given as a scan id.
    let state = || state_path(args.state.as_deref(), &cfg);
    let mut history = if args.no_history {
        None
    } else {
        Some(History::open(&state()?)?)
    };
    let baseline = match &args.baseline {
        Some(spec) => Some(load_baseline(spec, history.as_ref(), &state)?),
        None => None,
    };
    let source = match &args.inventory {
        Some(p) => p.display().to_string(),
        None => "crawl".to_string(),
    };
    let scan_id = match &history {
        Some(h) => Some(h.begin(NewScan {
            source: &source,
            ruleset_hash: &set.fingerprint(),
        })?),
        None => None,
    };
    // Until it is finished, the scan's row says how it ended: interrupted by a signal, or
    // failed (exit 2) on an error — never left `running`.
    let mut unfinished = match (&history, scan_id) {
        (Some(h), Some(id)) => Some(Unfinished::new(h.path().to_path_buf(), id)),
        _ => None,
    };
    let started = std::time::Instant::now();
    let inv = match args.inventory.as_deref() {
        Some(p) => inventory::load_file(p)?,
        None => {
            let inv = crate::crawl::crawl_blocking(&crawl_options(&cfg, &args.crawl))?;
            phase(&started, "crawl finished");
            inv
        }
    };
    // The inventory is saved while SQLite loads it: both only read it.
    let (store, saved) = std::thread::scope(|s| {
        let saving = args
            .save_inventory
            .as_ref()
            .filter(|_| args.inventory.is_none())
            .map(|p| {
                let inv = &inv;
                s.spawn(move || {
                    emit(Some(p), |w| {
                        serde_json::to_writer_pretty(&mut *w, inv)?;
                        writeln!(w)?;
                        Ok(())
                    })
                    .with_context(|| format!("saving the inventory to `{}`", p.display()))
                })
            });
        let store = Store::load(&inv).context("loading the inventory into SQLite");
        phase(&started, "inventory loaded into SQLite");
        let saved = saving.map(|h| {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("saving the inventory failed")));
            phase(&started, "inventory saved");
            r
        });
        (store, saved)
    });
    saved.transpose()?;
    let store = store?;
    let mut ev = rules::eval::evaluate(&set, &store, &inv);
    phase(&started, "rules evaluated");
    let applied = waivers
        .as_ref()
        .map(|w| w.apply(&mut ev.findings, &inv, chrono::Utc::now().date_naive()))
        .unwrap_or_default();
    let mut report = ScanReport::new(&inv, ev.findings, &set);
    report.waivers = report::WaiverNotes {
        expired: applied.expired.clone(),
        stale: applied.stale.clone(),
    };
    let printer = report::printer_with_columns(
        args.format,
        PrintOptions {
            show_pass: args.show_pass,
            width: None,
            color: color && args.output.is_none(),
        },
        &args.columns,
    )?;
    // A reader that closed stdout early (`plaudit scan | head`) does not change the verdict:
    // the scan is still recorded and keeps its exit code.
    let stdout_closed = match emit(args.output.as_deref(), |w| printer.print(&report, w)) {
        Ok(()) => false,
        Err(e) if args.output.is_none() && crate::output::is_broken_pipe(&e) => true,
        Err(e) => return Err(e),
    };
    phase(&started, "report written");
    if args.format != report::Format::Table || args.output.is_some() {
        eprintln!("{}", report::summary_line(&report));
    }
    for w in &applied.expired {
        eprintln!(
            "warning: waiver `{}` ({}) expired on {} and no longer applies",
            w.id, w.owner, w.expires
        );
    }
    for w in &applied.stale {
        eprintln!(
            "warning: waiver `{}` ({}) matched no failing finding: stale?",
            w.id, w.owner
        );
    }
    if !ev.errors.is_empty() {
        for e in &ev.errors {
            eprintln!("error: {e}");
        }
        bail!(
            "{} rule(s) could not run; the report above has the others' findings",
            ev.errors.len()
        );
    }
    let fail_on = args
        .fail_on
        .or(cfg.fail_on)
        .unwrap_or(FailOn::Severity(Severity::Info));
    // Failing findings the baseline did not have failing (waived ones are not failing).
    let new: Option<Vec<&crate::findings::Finding>> = baseline.as_ref().map(|base| {
        report
            .findings
            .iter()
            .filter(|f| f.status == Status::Fail && !base.contains(&f.fingerprint()))
            .collect()
    });
    if let Some(new) = &new {
        eprintln!("{} failing finding(s) new since the baseline", new.len());
    }
    let code = match (&new, args.fail_on_new) {
        _ if args.exit_zero => exit::OK,
        (Some(new), true) => {
            let at_threshold = new
                .iter()
                .any(|f| matches!(fail_on, FailOn::Severity(min) if f.severity >= min));
            if !report.scan.complete {
                exit::INCOMPLETE
            } else if at_threshold {
                exit::FINDINGS
            } else {
                exit::OK
            }
        }
        _ => exit::for_report(&report, fail_on),
    };
    if let (Some(h), Some(id)) = (history.as_mut(), scan_id) {
        h.finish(id, &inv, &report.findings, code)
            .with_context(|| format!("the report was written, but recording scan {id} failed"))?;
        tracing::info!("recorded as scan {id} in {}", h.path().display());
        let retention = &cfg.history;
        if retention.keep_scans.is_some() || retention.keep_days.is_some() {
            let n = h.prune(retention.keep_scans, retention.keep_days)?;
            tracing::info!("pruned {n} old scan(s) (history.keep_scans / keep_days)");
        }
    }
    if let Some(u) = unfinished.as_mut() {
        u.done();
    }
    if stdout_closed {
        tracing::info!("stdout was closed before the report was whole; exit code {code}");
    }
    Ok(code)
}

/// A scan recorded in the history that has not finished yet. Dropped before [`done`]
/// (an error returned early), it marks the scan `failed` (exit code 2), or `interrupted` after
/// a signal; a signal while it lives marks it from the signal handler.
///
/// [`done`]: Unfinished::done
struct Unfinished {
    path: PathBuf,
    id: i64,
    finished: bool,
}

impl Unfinished {
    fn new(path: PathBuf, id: i64) -> Unfinished {
        crate::interrupt::register_scan(path.clone(), id);
        Unfinished {
            path,
            id,
            finished: false,
        }
    }

    fn done(&mut self) {
        self.finished = true;
        crate::interrupt::forget_scan();
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        crate::interrupt::forget_scan();
        let (status, code) = if crate::interrupt::requested() {
            ("interrupted", crate::interrupt::exit_code())
        } else {
            ("failed", exit::USAGE)
        };
        if let Err(e) = history::mark_unfinished(&self.path, self.id, status, code) {
            tracing::warn!("could not mark scan {} {status}: {e:#}", self.id);
        }
    }
}

/// Logs the end of a step of a scan, with the seconds since the scan started.
fn phase(started: &std::time::Instant, what: &str) {
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "{what}");
}

/// The history file: `--state`, the config's `state`, or the user's data directory.
fn state_path(flag: Option<&Path>, cfg: &Config) -> Result<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| cfg.state.clone())
        .or_else(history::default_path)
        .context("no history file: set --state (or `state` in the config), or use --no-history")
}

/// The fingerprints failing in a baseline: a scan of the history, or a JSON report file.
fn load_baseline(
    spec: &str,
    history: Option<&History>,
    state: &dyn Fn() -> Result<PathBuf>,
) -> Result<std::collections::BTreeSet<String>> {
    if let Ok(id) = spec.parse::<i64>() {
        let opened;
        let h = match history {
            Some(h) => h,
            None => {
                opened = History::open_read_only(&state()?)?;
                &opened
            }
        };
        let scan = h.scan(id)?;
        if !scan.finished() {
            bail!("baseline scan {id} did not finish; pick another (`plaudit history`)");
        }
        return Ok(h
            .findings(id)?
            .into_iter()
            .filter(|f| f.status == "fail" || f.status == "waived")
            .map(|f| f.fingerprint)
            .collect());
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read the baseline `{spec}` (a scan id or a JSON report)")
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!("the baseline `{spec}` is not a JSON report (`scan --format json`)")
    })?;
    let findings = v["findings"]
        .as_array()
        .with_context(|| format!("the baseline `{spec}` has no `findings` array"))?;
    Ok(findings
        .iter()
        .filter(|f| f["status"] == "fail" || f["status"] == "waived")
        .map(|f| {
            let k = |n: &str| f[n].as_str().unwrap_or("").to_string();
            format!(
                "{}|{}|{}|{}",
                k("rule_id"),
                k("account_id"),
                k("region"),
                k("resource_id")
            )
        })
        .collect())
}

fn export(args: crate::cli::ExportArgs) -> Result<u8> {
    use crate::report::export;
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(o) = &args.output {
        let state = state_path(args.state.as_deref(), &cfg).ok();
        let mut ins: Vec<(&str, &Path)> = Vec::new();
        if let Some(p) = &args.inventory {
            ins.push(("--inventory", p));
        }
        if let Some(p) = &state {
            ins.push(("the history (--state)", p));
        }
        crate::output::check_outputs(&[("-o", o)], &ins)?;
    }
    let (inv, seen) = match &args.inventory {
        Some(p) => (inventory::load_file(p)?, None),
        None => {
            let h = History::open_read_only(&state_path(args.state.as_deref(), &cfg)?)?;
            let scans: Vec<history::ScanRecord> =
                h.scans()?.into_iter().filter(|s| s.finished()).collect();
            let target = match args.scan {
                Some(id) => h.scan(id)?,
                None => scans
                    .last()
                    .cloned()
                    .context("no finished scan in the history: give --inventory FILE")?,
            };
            let mut seen = export::Seen::default();
            for s in scans.iter().filter(|s| s.id <= target.id) {
                seen.add(&h.inventory(s.id)?, &s.started_at);
            }
            for f in h.findings(target.id)? {
                if let Some(w) = f.waiver_id {
                    seen.waivers.entry(f.resource_id).or_default().insert(w);
                }
            }
            (h.inventory(target.id)?, Some(seen))
        }
    };
    let columns = export::select(args.kind.columns(), &args.columns, seen.is_some())?;
    let rows = export::rows(args.kind, &inv, seen.as_ref());
    emit(args.output.as_deref(), |w| {
        export::write_csv(&columns, &rows, w)
    })?;
    Ok(exit::OK)
}

fn history_list(args: crate::cli::HistoryArgs) -> Result<u8> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let state = state_path(args.state.as_deref(), &cfg)?;
    if let Some(crate::cli::HistoryAction::Prune { keep, older_than }) = args.action {
        let keep = keep.or(cfg.history.keep_scans);
        let days = older_than.or(cfg.history.keep_days);
        let mut h = History::open(&state)?;
        let n = h.prune(keep, days)?;
        eprintln!(
            "pruned {n} scan(s) from `{}`; open findings keep their first-seen dates",
            state.display()
        );
        return Ok(exit::OK);
    }
    let h = History::open_read_only(&state)?;
    let scans = h.scans()?;
    let last = scans.last().map(|s| s.id);
    let columns: Vec<String> = [
        "scan",
        "started",
        "finished",
        "status",
        "source",
        "accounts",
        "account_regions",
        "failing",
        "unknown",
        "waived",
        "gaps",
        "exit",
        "rules_hash",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    let rows: Vec<Vec<String>> = scans
        .iter()
        .map(|s| {
            // As it happened: complete, incomplete, interrupted (a signal), failed (an
            // error); a row still `running` is a scan going on now or a process that was
            // killed outright (SIGKILL, power loss).
            let status = match s.status.as_str() {
                "running" if Some(s.id) == last => "running (or killed)".to_string(),
                "running" => "killed".to_string(),
                other => other.to_string(),
            };
            vec![
                s.id.to_string(),
                s.started_at.clone(),
                s.finished_at.clone().unwrap_or_default(),
                status,
                s.source.clone(),
                n(s.accounts),
                n(s.account_regions),
                n(s.failing),
                n(s.unknown),
                n(s.waived),
                n(s.gaps),
                n(s.exit_code),
                s.ruleset_hash.chars().take(12).collect(),
            ]
        })
        .collect();
    print_table_like(args.format, &columns, &rows)?;
    Ok(exit::OK)
}

fn drift(args: crate::cli::DriftArgs) -> Result<u8> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let state = state_path(args.state.as_deref(), &cfg)?;
    if let Some(o) = &args.output {
        crate::output::check_outputs(&[("-o", o)], &[("the history (--state)", &state)])?;
    }
    let h = History::open_read_only(&state)?;
    let scans = h.scans()?;
    // The last two finished scans, complete or not: a real organisation nearly always has a
    // gap somewhere, and what either scan could not read is `unverified`, never new or
    // resolved.
    let finished: Vec<&history::ScanRecord> = scans.iter().filter(|s| s.finished()).collect();
    let to = match args.to {
        Some(id) => h.scan(id)?,
        None => finished.last().map(|s| (*s).clone()).context(
            "no finished scan in the history yet (`plaudit history`); record one with \
             `plaudit scan`",
        )?,
    };
    let from = match args.from {
        Some(id) => h.scan(id)?,
        None => finished
            .iter()
            .rev()
            .find(|s| s.id < to.id)
            .map(|s| (*s).clone())
            .with_context(|| {
                format!(
                    "no finished scan before scan {} to compare with; pick two with --from \
                     and --to (`plaudit history`)",
                    to.id
                )
            })?,
    };
    for s in [&from, &to] {
        if !s.finished() {
            bail!(
                "scan {} did not finish ({}); pick another (`plaudit history`)",
                s.id,
                s.status
            );
        }
    }
    let (from_inventory, to_inventory) = (h.inventory(from.id)?, h.inventory(to.id)?);
    let (from_gaps, to_gaps) = (h.gaps(from.id)?, h.gaps(to.id)?);
    let (from_scope, to_scope) = (
        history::scope_of(&from_inventory),
        history::scope_of(&to_inventory),
    );
    let findings = crate::drift::compare_findings(
        &from,
        &to,
        &h.findings(from.id)?,
        &h.findings(to.id)?,
        crate::drift::Read {
            gaps: &from_gaps,
            scope: &from_scope,
        },
        crate::drift::Read {
            gaps: &to_gaps,
            scope: &to_scope,
        },
    );
    let graph = crate::drift::compare_graph(&from_inventory, &to_inventory);
    let d = crate::drift::Drift {
        from,
        to,
        findings,
        graph,
    };
    let count = |k: crate::drift::FindingDrift| d.findings.iter().filter(|c| c.drift == k).count();
    use crate::drift::FindingDrift as D;
    let summary = format!(
        "scan {} → scan {}: {} new, {} resolved, {} changed, {} still open, {} unverified · {} changes in the PrivateLink graph",
        d.from.id,
        d.to.id,
        count(D::New),
        count(D::Resolved),
        count(D::Changed),
        count(D::Open),
        count(D::Unverified),
        d.graph.len()
    );
    let age = |a: Option<f64>| a.map(|x| format!("{x:.0}")).unwrap_or_default();
    emit(args.output.as_deref(), |out| {
        match args.format {
            ListFormat::Json => {
                #[derive(serde::Serialize)]
                struct Doc<'a> {
                    schema_version: u32,
                    #[serde(flatten)]
                    drift: &'a crate::drift::Drift,
                }
                serde_json::to_writer_pretty(
                    &mut *out,
                    &Doc {
                        schema_version: 1,
                        drift: &d,
                    },
                )?;
                writeln!(out)?;
            }
            ListFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                w.write_record([
                    "kind",
                    "change",
                    "rule_id",
                    "account_id",
                    "region",
                    "resource_id",
                    "severity",
                    "before",
                    "after",
                    "age_days",
                    "waiver_id",
                ])?;
                for c in &d.findings {
                    let cells = [
                        "finding",
                        c.drift.as_str(),
                        &c.rule_id,
                        &c.account_id,
                        &c.region,
                        &c.resource_id,
                        &c.severity,
                        c.before.as_deref().unwrap_or(""),
                        &c.reason,
                        &age(c.age_days),
                        c.waiver_id.as_deref().unwrap_or(""),
                    ];
                    w.write_record(cells.iter().map(|x| neutralise_formula(x).into_owned()))?;
                }
                for g in &d.graph {
                    let cells = [
                        "graph",
                        &g.change,
                        "",
                        &g.account_id,
                        &g.region,
                        &g.resource_id,
                        "",
                        &g.before,
                        &g.after,
                        "",
                        "",
                    ];
                    w.write_record(cells.iter().map(|x| neutralise_formula(x).into_owned()))?;
                }
                w.flush()?;
            }
            ListFormat::Table => {
                writeln!(out, "{summary}\n")?;
                if !d.findings.is_empty() {
                    let mut t = Table::new();
                    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                        .set_content_arrangement(ContentArrangement::Dynamic)
                        .set_width(120)
                        .set_header([
                            "drift", "severity", "rule", "account", "region", "resource", "reason",
                            "days",
                        ]);
                    for c in &d.findings {
                        t.add_row(
                            [
                                c.drift.as_str(),
                                &c.severity,
                                &c.rule_id,
                                &c.account_id,
                                &c.region,
                                &c.resource_id,
                                &c.reason,
                                &age(c.age_days),
                            ]
                            .map(|v| report::sanitize(v).into_owned()),
                        );
                    }
                    writeln!(out, "{t}\n")?;
                }
                if !d.graph.is_empty() {
                    let mut t = Table::new();
                    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                        .set_content_arrangement(ContentArrangement::Dynamic)
                        .set_width(120)
                        .set_header(["change", "account", "region", "resource", "before", "after"]);
                    for g in &d.graph {
                        t.add_row(
                            [
                                &g.change,
                                &g.account_id,
                                &g.region,
                                &g.resource_id,
                                &g.before,
                                &g.after,
                            ]
                            .map(|v| report::sanitize(v).into_owned()),
                        );
                    }
                    writeln!(out, "{t}")?;
                }
            }
        }
        Ok(())
    })?;
    if args.format != ListFormat::Table || args.output.is_some() {
        eprintln!("{summary}");
    }
    Ok(exit::OK)
}

fn waivers_lint(
    waivers: Option<&Path>,
    inventory: Option<&Path>,
    sources: &RuleSources,
) -> Result<u8> {
    let (cfg, set) = load_rules(sources)?;
    let path = waivers
        .map(Path::to_path_buf)
        .or(cfg.waivers.clone())
        .context("no waivers file: give --waivers FILE (or `waivers` in the config)")?;
    let w = Waivers::load(&path)?;
    w.check_rules(&set.rules().iter().map(|r| r.id.clone()).collect())?;
    let today = chrono::Utc::now().date_naive();
    let mut problems = 0;
    for x in w.list.iter().filter(|x| x.expires < today) {
        println!(
            "expired: waiver `{}` ({}) expired on {}",
            x.id, x.owner, x.expires
        );
        problems += 1;
    }
    if let Some(p) = inventory {
        let inv = inventory::load_file(p)?;
        let store = Store::load(&inv).context("loading the inventory into SQLite")?;
        let mut ev = rules::eval::evaluate(&set, &store, &inv);
        let applied = w.apply(&mut ev.findings, &inv, today);
        for x in &applied.stale {
            println!(
                "stale: waiver `{}` ({}) matches no failing finding in `{}`",
                x.id,
                x.owner,
                p.display()
            );
            problems += 1;
        }
    }
    println!(
        "{}: {} waiver(s), {problems} to look at",
        path.display(),
        w.list.len()
    );
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

/// The crawl settings: the config, with the command line's overrides.
fn crawl_options(cfg: &Config, args: &crate::cli::CrawlArgs) -> crate::crawl::CrawlOptions {
    let mut config = cfg.clone();
    if !args.regions.is_empty() {
        config.regions = args.regions.clone();
    }
    if let Some(r) = &args.role_name {
        config.role.name = r.clone();
        config.role.arn_template = None;
    }
    if !args.accounts.is_empty() {
        config.accounts.include = args.accounts.clone();
    }
    if let Some(d) = args.deadline {
        config.crawl.deadline_seconds = Some(d);
    }
    crate::crawl::CrawlOptions {
        config,
        progress: !args.quiet,
        shard: args.shard.map(|s| (s.index - 1, s.count)),
    }
}

fn preflight(args: crate::cli::PreflightArgs) -> Result<u8> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let ledger = crate::crawl::preflight_blocking(&crawl_options(&cfg, &args.crawl))?;
    let mut accounts: Vec<&str> = ledger.iter().map(|c| c.account_id.as_str()).collect();
    accounts.sort();
    accounts.dedup();
    let mut columns = vec!["account".to_string(), "access".to_string()];
    columns.extend(crate::crawl::PREFLIGHT_APIS.iter().map(|a| a.to_string()));
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            let find = |api: &str| {
                ledger
                    .iter()
                    .find(|c| c.account_id == *a && c.api == api)
                    .map(|c| c.status.as_str().to_string())
                    .unwrap_or_else(|| "-".to_string())
            };
            // The organisation's own row: how its Organizations calls went (the first gap,
            // else ok).
            let organization = *a == crate::inventory::ORGANIZATION;
            let access = ledger
                .iter()
                .filter(|c| c.account_id == *a)
                .find(|c| {
                    if organization {
                        c.status.is_gap()
                    } else {
                        c.api == "sts:AssumeRole"
                            || c.api == "sts:GetCallerIdentity"
                            || matches!(
                                c.status,
                                crate::inventory::CoverageStatus::Suspended
                                    | crate::inventory::CoverageStatus::NotActive
                            )
                    }
                })
                .map(|c| format!("{} ({})", c.status.as_str(), c.api))
                .unwrap_or_else(|| {
                    if organization {
                        "ok (organizations:*)".into()
                    } else {
                        "-".into()
                    }
                });
            let mut r = vec![a.to_string(), access];
            r.extend(crate::crawl::PREFLIGHT_APIS.iter().map(|api| find(api)));
            r
        })
        .collect();
    print_table_like(args.format, &columns, &rows)?;
    let gaps: Vec<_> = ledger.iter().filter(|c| c.status.is_gap()).collect();
    for g in &gaps {
        eprintln!(
            "denied: {} {} {}: {} {}",
            g.account_id,
            g.region.as_deref().unwrap_or("*"),
            g.api,
            g.status.as_str(),
            g.error.as_deref().unwrap_or("")
        );
    }
    Ok(if gaps.is_empty() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn rules_list(format: ListFormat, sources: &RuleSources) -> Result<u8> {
    let (_, set) = load_rules(sources)?;
    let columns: Vec<String> = [
        "id",
        "severity",
        "resource",
        "title",
        "compliance",
        "source",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = set
        .rules()
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.severity.to_string(),
                r.resource.clone(),
                r.title.clone(),
                r.compliance
                    .iter()
                    .map(|c| format!("{} {}", c.framework, c.control))
                    .collect::<Vec<_>>()
                    .join("; "),
                r.source.clone(),
            ]
        })
        .collect();
    print_table_like(format, &columns, &rows)?;
    Ok(exit::OK)
}

fn print_table_like(format: ListFormat, columns: &[String], rows: &[Vec<String>]) -> Result<()> {
    emit(None, |out| {
        match format {
            ListFormat::Table => {
                let mut t = Table::new();
                t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(120)
                    .set_header(columns);
                for r in rows {
                    t.add_row(r.iter().map(|c| report::sanitize(c).into_owned()));
                }
                writeln!(out, "{t}")?;
            }
            ListFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                w.write_record(columns)?;
                for r in rows {
                    w.write_record(r.iter().map(|c| neutralise_formula(c).into_owned()))?;
                }
                w.flush()?;
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
    })
}

fn rules_explain(id: &str, sources: &RuleSources) -> Result<u8> {
    let (_, set) = load_rules(sources)?;
    let Some(r) = set.get(id) else {
        let ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
        bail!("no rule has the id `{id}`; known rules: {}", ids.join(", "));
    };
    write_stdout(explain_text(r).as_bytes())?;
    Ok(exit::OK)
}

/// The documentation of a rule, from its file (also used to generate docs/rules.md).
pub fn explain_text(r: &rules::Rule) -> String {
    let mut s = format!(
        "# {}\n\n{}\n\nSeverity: {} · Resource: {}\n",
        r.id, r.title, r.severity, r.resource
    );
    if !r.inputs.is_empty() {
        s.push_str(&format!(
            "Inputs (a gap in any makes it `unknown`): {}\n",
            r.inputs.join(", ")
        ));
    }
    if !r.compliance.is_empty() {
        let c: Vec<String> = r
            .compliance
            .iter()
            .map(|c| format!("{} {}", c.framework, c.control))
            .collect();
        s.push_str(&format!("Compliance: {}\n", c.join("; ")));
    }
    s.push_str(&format!(
        "\n## What it checks\n\n{}\n",
        r.description.what.trim()
    ));
    s.push_str(&format!(
        "\n## Why it matters\n\n{}\n",
        r.description.why.trim()
    ));
    s.push_str(&format!(
        "\n## How to fix\n\n{}\n",
        r.description.fix.trim_end()
    ));
    if !r.params.is_empty() {
        s.push_str("\n## Parameters\n\n");
        for (k, v) in &r.params {
            s.push_str(&format!("- `{k}`: default `{v}`\n"));
        }
    }
    if !r.references.is_empty() {
        s.push_str("\n## References\n\n");
        for u in &r.references {
            s.push_str(&format!("- {u}\n"));
        }
    }
    s
}

fn rules_test(dir: Option<&Path>) -> Result<u8> {
    let (set, files) = match dir {
        None => (
            rules::load_all(&[], true)?,
            rules::builtin::tests()
                .into_iter()
                .map(|(s, t)| (s, t.to_string()))
                .collect::<Vec<_>>(),
        ),
        Some(d) => {
            // Rules in DIR may share ids with built-in ones (a copy of rules/): then DIR's win.
            let own = rules::load_dir(d)?;
            let mut all: Vec<rules::Rule> = rules::builtin::rules()?
                .into_iter()
                .filter(|b| !own.iter().any(|o| o.id == b.id))
                .collect();
            all.extend(own);
            (RuleSet::new(all)?, rules::testing::load_dir(d)?)
        }
    };
    if files.is_empty() {
        bail!(
            "no test files in `{}`",
            dir.map(|d| d.join("tests").display().to_string())
                .unwrap_or_else(|| "the built-in rules".into())
        );
    }
    let report = rules::testing::run(&set, &files)?;
    let mut out = String::new();
    for c in &report.checks {
        let mark = if c.outcome == rules::testing::Outcome::Validated {
            "ok  "
        } else {
            "FAIL"
        };
        out.push_str(&format!(
            "{mark} {} / {} / {}: {}\n",
            c.rule, c.case, c.resource, c.outcome
        ));
    }
    out.push_str(&format!(
        "{} passed, {} failed\n",
        report.passed(),
        report.failed()
    ));
    write_stdout(out.as_bytes())?;
    Ok(if report.failed() == 0 {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

fn query(args: QueryArgs) -> Result<u8> {
    let inv = inventory::load_file(&args.inventory)?;
    let store = Store::load(&inv)?;
    store
        .check_read_only(&args.sql)
        .map_err(|m| anyhow::anyhow!("the query is refused: {m}"))?;
    let mut stmt = store.conn().prepare(&args.sql).with_context(
        || "the query does not compile (see `plaudit schema` for tables and views)",
    )?;
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = columns.len();
    // Rows are written as they come (CSV, JSON): a query over a large inventory must not
    // hold its whole result in memory. A table needs its widths first, so it shows the first
    // QUERY_TABLE_ROWS and says how to get the rest.
    let mut shown = 0usize;
    let mut more = false;
    emit(None, |out| {
        use rusqlite::types::ValueRef;
        let mut rows = stmt.query([])?;
        let text = |v: ValueRef<'_>| match v {
            ValueRef::Null => String::new(),
            ValueRef::Integer(v) => v.to_string(),
            ValueRef::Real(v) => v.to_string(),
            ValueRef::Text(t) => report::sanitize(&String::from_utf8_lossy(t)).into_owned(),
            ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
        };
        match args.format {
            ListFormat::Table => {
                let mut t = Table::new();
                t.load_style(presets::UTF8_HORIZONTAL_ONLY)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(120)
                    .set_header(&columns);
                while let Some(row) = rows.next()? {
                    if shown == QUERY_TABLE_ROWS {
                        more = true;
                        break;
                    }
                    t.add_row(
                        (0..n)
                            .map(|i| row.get_ref(i).map(text))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                    shown += 1;
                }
                writeln!(out, "{t}")?;
            }
            ListFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                w.write_record(&columns)?;
                while let Some(row) = rows.next()? {
                    let r: Vec<String> = (0..n)
                        .map(|i| {
                            row.get_ref(i).map(|v| match v {
                                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                                v => text(v),
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    w.write_record(r.iter().map(|c| neutralise_formula(c).into_owned()))?;
                }
                w.flush()?;
            }
            ListFormat::Json => {
                // A JSON array, one object per row, written as the rows come; numbers stay
                // numbers and NULL is null.
                write!(out, "[")?;
                let mut first = true;
                while let Some(row) = rows.next()? {
                    let mut obj = serde_json::Map::new();
                    for (i, c) in columns.iter().enumerate() {
                        let v = match row.get_ref(i)? {
                            ValueRef::Null => serde_json::Value::Null,
                            ValueRef::Integer(v) => v.into(),
                            ValueRef::Real(v) => serde_json::Number::from_f64(v)
                                .map(serde_json::Value::Number)
                                .unwrap_or(serde_json::Value::Null),
                            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                            ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
                        };
                        obj.insert(c.clone(), v);
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

/// Rows a `query` table shows at most (CSV and JSON stream every row).
const QUERY_TABLE_ROWS: usize = 10_000;
