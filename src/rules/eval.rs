//! Running rule queries against a [`Store`] and turning rows into [`Finding`]s.
//!
//! The coverage rule lives here: a rule lists its `inputs` (APIs). Where the ledger has a gap
//! for one of them in an account-region (or for the whole account), a `pass` there becomes
//! `unknown`, and the account-region gets one `unknown` finding (resource `*`) saying what
//! could not be read — a gap never hides as a pass.

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};

use rusqlite::types::Value;

use super::{OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Rule, RuleError, invalid};
use crate::findings::{Finding, Status};
use crate::inventory::{CoverageEntry, Inventory};
use crate::store::{GapIndex, Store};

/// Prepares every query against an empty store: syntax, tables, columns and params.
pub fn check_queries(rules: &[Rule]) -> Result<(), RuleError> {
    let store =
        Store::load(&Inventory::default()).map_err(|e| invalid("<schema>", e.to_string()))?;
    for rule in rules {
        check_query(&store, rule)?;
    }
    Ok(())
}

fn check_query(store: &Store, rule: &Rule) -> Result<(), RuleError> {
    let at = if rule.query_line > 0 {
        format!(" (line {})", rule.query_line)
    } else {
        String::new()
    };
    store.check_read_only(&rule.query).map_err(|m| {
        invalid(
            &rule.source,
            format!("query of rule `{}`{at} is refused: {m}", rule.id),
        )
    })?;
    let stmt = store.conn().prepare(&rule.query).map_err(|e| {
        invalid(
            &rule.source,
            format!("query of rule `{}` does not compile: {e}", rule.id),
        )
    })?;
    let cols: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    for req in REQUIRED_COLUMNS {
        if !cols.iter().any(|c| c == req) {
            return Err(invalid(
                &rule.source,
                format!(
                    "query of rule `{}` must return a `{req}` column (it returns: {})",
                    rule.id,
                    cols.join(", ")
                ),
            ));
        }
    }
    for c in &cols {
        if !REQUIRED_COLUMNS.contains(&c.as_str()) && !OPTIONAL_COLUMNS.contains(&c.as_str()) {
            return Err(invalid(
                &rule.source,
                format!(
                    "query of rule `{}` returns an unknown column `{c}` (allowed: {}, {})",
                    rule.id,
                    REQUIRED_COLUMNS.join(", "),
                    OPTIONAL_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for i in 1..=stmt.parameter_count() {
        match stmt.parameter_name(i) {
            Some(name) => {
                let bare = name.trim_start_matches([':', '@', '$']);
                if !rule.params.contains_key(bare) {
                    return Err(invalid(
                        &rule.source,
                        format!(
                            "query of rule `{}` uses `{name}` but `params` does not declare `{bare}`",
                            rule.id
                        ),
                    ));
                }
            }
            None => {
                return Err(invalid(
                    &rule.source,
                    format!(
                        "query of rule `{}` uses a positional `?` parameter; use named params (`:name`) declared in `params`",
                        rule.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn to_sql(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        _ => Value::Null,
    }
}

/// Which passing findings an evaluation lists. The others are only counted: at 10,000
/// accounts a scan has two million passing findings and a hundred thousand others, and
/// holding the passes took half a scan's memory.
#[derive(Debug, Clone, Copy)]
pub enum KeepPassing<'a> {
    /// Every passing finding (`scan --show-pass`, the rule tests, the benchmarks).
    All,
    /// Only those with these fingerprints: the findings a scan resolves (open in the history,
    /// failing in the baseline), so that reports and the history say they pass now.
    Only(&'a HashSet<String>),
}

impl KeepPassing<'_> {
    fn keeps(&self, rule: &str, account: &str, region: &str, resource: &str) -> bool {
        match self {
            KeepPassing::All => true,
            KeepPassing::Only(set) => {
                !set.is_empty()
                    && set.contains(&crate::findings::fingerprint(
                        rule, account, region, resource,
                    ))
            }
        }
    }
}

/// One rule's result: the findings it lists and how many passing ones it only counted.
#[derive(Debug, Default)]
pub struct RuleFindings {
    pub findings: Vec<Finding>,
    pub passing_not_listed: usize,
}

/// Runs one rule within its time budget, every finding listed. Errors (a runtime SQL error,
/// a bad `status` value, the budget spent, Ctrl-C) name the rule.
pub fn run_rule(
    store: &Store,
    rule: &Rule,
    budget: std::time::Duration,
    gaps: &GapIndex,
    ledger: &[CoverageEntry],
) -> Result<Vec<Finding>, RuleError> {
    run_rule_keeping(store, rule, budget, gaps, ledger, KeepPassing::All).map(|r| r.findings)
}

/// [`run_rule`], listing only the passing findings `keep` keeps (the others are counted).
pub fn run_rule_keeping(
    store: &Store,
    rule: &Rule,
    budget: std::time::Duration,
    gaps: &GapIndex,
    ledger: &[CoverageEntry],
    keep: KeepPassing<'_>,
) -> Result<RuleFindings, RuleError> {
    store.set_budget(Some(budget));
    let r = run_rule_unbounded(store, rule, gaps, ledger, keep).map_err(|e| match e {
        // SQLite's progress handler stopped the statement.
        RuleError::Invalid {
            source_name,
            message,
        } if message.contains("interrupted") => RuleError::Invalid {
            source_name,
            message: if crate::interrupt::requested() {
                format!("rule `{}` was interrupted", rule.id)
            } else {
                format!(
                    "rule `{}` ran longer than its time budget of {} s and was stopped \
                         (rule_timeout_seconds in the config)",
                    rule.id,
                    budget.as_secs_f64()
                )
            },
        },
        e => e,
    });
    store.set_budget(None);
    r
}

fn run_rule_unbounded(
    store: &Store,
    rule: &Rule,
    gaps: &GapIndex,
    ledger: &[CoverageEntry],
    keep: KeepPassing<'_>,
) -> Result<RuleFindings, RuleError> {
    let err = |m: String| invalid(&rule.source, m);
    let mut stmt = store
        .conn()
        .prepare_cached(&rule.query)
        .map_err(|e| err(format!("rule `{}`: {e}", rule.id)))?;
    let names: Vec<String> = (1..=stmt.parameter_count())
        .filter_map(|i| stmt.parameter_name(i).map(str::to_string))
        .collect();
    let values: Vec<(String, Value)> = names
        .iter()
        .map(|n| {
            let bare = n.trim_start_matches([':', '@', '$']);
            (
                n.clone(),
                rule.params.get(bare).map(to_sql).unwrap_or(Value::Null),
            )
        })
        .collect();
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = values
        .iter()
        .map(|(n, v)| (n.as_str(), v as &dyn rusqlite::ToSql))
        .collect();
    let idx = |name: &str| stmt.column_index(name).ok();
    let (c_acct, c_region, c_id, c_arn, c_status, c_reason) = (
        idx("account_id"),
        idx("region"),
        idx("resource_id"),
        idx("resource_arn"),
        idx("status"),
        idx("reason"),
    );
    let c_path = idx("path");
    let mut rows = stmt
        .query(params.as_slice())
        .map_err(|e| err(format!("rule `{}`: {e}", rule.id)))?;
    let text = |row: &rusqlite::Row, i: Option<usize>| -> rusqlite::Result<String> {
        match i {
            Some(i) => Ok(row.get::<_, Option<String>>(i)?.unwrap_or_default()),
            None => Ok(String::new()),
        }
    };
    let mut out = Vec::new();
    let mut passing_not_listed = 0;
    // Each resource once: a 128-bit hash of its key rather than the key (a rule returns a
    // row per resource, millions at scale).
    let mut seen: HashSet<u128> = HashSet::new();
    while let Some(row) = rows
        .next()
        .map_err(|e| err(format!("rule `{}`: {e}", rule.id)))?
    {
        let read = || -> rusqlite::Result<_> {
            Ok((
                text(row, c_acct)?,
                text(row, c_region)?,
                text(row, c_id)?,
                text(row, c_arn)?,
                text(row, c_status)?,
                text(row, c_reason)?,
                match c_path {
                    Some(i) => row.get::<_, Option<String>>(i)?,
                    None => None,
                },
            ))
        };
        let (account_id, region, resource_id, resource_arn, status, reason, path) =
            read().map_err(|e| err(format!("rule `{}`: a column is not text: {e}", rule.id)))?;
        let status: Status = status.parse().map_err(|m| {
            err(format!(
                "rule `{}` returned {m} for resource `{resource_id}`",
                rule.id
            ))
        })?;
        if !seen.insert(resource_key(&account_id, &region, &resource_id)) {
            return Err(err(format!(
                "rule `{}` returned resource `{resource_id}` ({account_id} {region}) twice; a rule returns one row per resource",
                rule.id
            )));
        }
        // A pass over incomplete inputs is `unknown`: a gap never hides as a pass.
        let (status, reason) = if status == Status::Pass
            && rule
                .inputs
                .iter()
                .any(|api| gaps.has_gap(&account_id, &region, api))
        {
            (
                Status::Unknown,
                format!("{reason} — but inputs are incomplete here (coverage gap)"),
            )
        } else {
            (status, reason)
        };
        if status == Status::Pass && !keep.keeps(&rule.id, &account_id, &region, &resource_id) {
            passing_not_listed += 1;
            continue;
        }
        out.push(Finding {
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            status,
            account_id,
            region,
            resource_type: rule.resource.clone(),
            resource_id,
            resource_arn,
            reason,
            path: path.filter(|p| !p.is_empty()),
            waiver_id: None,
            new_since_baseline: None,
        });
    }
    add_not_evaluated(rule, &mut out, gaps, ledger);
    Ok(RuleFindings {
        findings: out,
        passing_not_listed,
    })
}

/// A resource's key as a 128-bit hash (two SipHashes with different prefixes).
fn resource_key(account: &str, region: &str, resource: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, account, region, resource).hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Adds one `unknown` finding per account-region whose inputs for this rule have a gap.
fn add_not_evaluated(
    rule: &Rule,
    out: &mut Vec<Finding>,
    gaps: &GapIndex,
    ledger: &[CoverageEntry],
) {
    if gaps.is_empty() {
        return;
    }
    // Organisation-wide outcomes (a failed OU page or tag call) are no account-region's gap:
    // the trust rules read the membership's completeness instead.
    let relevant = |c: &CoverageEntry| {
        c.status.is_gap()
            && c.account_id != crate::inventory::ORGANIZATION
            && (c.api.blocks_every_input() || rule.inputs.iter().any(|i| i == c.api.as_str()))
    };
    let mut places: BTreeSet<(String, String)> = BTreeSet::new();
    for c in ledger.iter().filter(|c| relevant(c)) {
        let region = c.region_or_all().to_string();
        if places.insert((c.account_id.clone(), region.clone())) {
            let what: Vec<String> = ledger
                .iter()
                .filter(|o| {
                    relevant(o) && o.account_id == c.account_id && o.region_or_all() == region
                })
                .map(|o| match &o.error {
                    Some(e) => format!("{} {} ({e})", o.api, o.status.as_str()),
                    None => format!("{} {}", o.api, o.status.as_str()),
                })
                .collect();
            out.push(Finding {
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                status: Status::Unknown,
                account_id: c.account_id.clone(),
                region,
                resource_type: rule.resource.clone(),
                resource_id: "*".to_string(),
                resource_arn: String::new(),
                reason: format!("not evaluated: {}", what.join("; ")),
                path: None,
                waiver_id: None,
                new_since_baseline: None,
            });
        }
    }
}

/// The result of running a rule set.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    /// Passing findings counted but not listed (see [`KeepPassing`]).
    pub passing_not_listed: usize,
    /// Rules that could not run, with the reason; the other rules' findings are kept.
    pub errors: Vec<RuleError>,
}

/// Inventories smaller than this many account-regions are evaluated on one thread: copying
/// the database would cost more than it saves.
const PARALLEL_FROM_ACCOUNT_REGIONS: usize = 200;

/// Runs every rule of `rules` over `store`, findings in report order. Large inventories are
/// evaluated on several threads, each with its own copy of the database (rules are
/// independent; results do not depend on the thread count).
pub fn evaluate(rules: &super::RuleSet, store: &Store, inv: &Inventory) -> Evaluation {
    evaluate_keeping(rules, store, inv, KeepPassing::All)
}

/// [`evaluate`], listing only the passing findings `keep` keeps (the others are counted).
pub fn evaluate_keeping(
    rules: &super::RuleSet,
    store: &Store,
    inv: &Inventory,
    keep: KeepPassing<'_>,
) -> Evaluation {
    let threads = if inv.account_regions() >= PARALLEL_FROM_ACCOUNT_REGIONS {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(rules.len())
            .min(4)
    } else {
        1
    };
    evaluate_with_threads(rules, store, inv, threads, keep)
}

/// [`evaluate`] with an explicit thread count (1 = on the calling thread only).
pub fn evaluate_with_threads(
    rules: &super::RuleSet,
    store: &Store,
    inv: &Inventory,
    threads: usize,
    keep: KeepPassing<'_>,
) -> Evaluation {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let list = rules.rules();
    let next = AtomicUsize::new(0);
    let run = |store: &Store, rule: &Rule| {
        run_rule_keeping(
            store,
            rule,
            rules.budget(),
            store.gaps(),
            &inv.coverage,
            keep,
        )
    };
    let work = |store: &Store| {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(rule) = list.get(i) else { break };
            done.push((i, run(store, rule)));
        }
        done
    };
    // Copies are made here, on this thread: a connection is used by one thread at a time.
    let copies: Vec<Store> = (1..threads.max(1))
        .filter_map(|_| store.duplicate().ok())
        .collect();
    let mut results = std::thread::scope(|s| {
        let handles: Vec<_> = copies
            .into_iter()
            .map(|copy| s.spawn(move || work(&copy)))
            .collect();
        let mut all = work(store);
        for h in handles {
            // A worker that panicked lost its results: run its rules again here.
            if let Ok(r) = h.join() {
                all.extend(r);
            }
        }
        all
    });
    // Any rule a lost worker had taken is run again on this thread.
    for (i, rule) in list.iter().enumerate() {
        if !results.iter().any(|(j, _)| *j == i) {
            results.push((i, run(store, rule)));
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let mut ev = Evaluation::default();
    for (_, r) in results {
        match r {
            Ok(f) => {
                ev.findings.extend(f.findings);
                ev.passing_not_listed += f.passing_not_listed;
            }
            Err(e) => ev.errors.push(e),
        }
    }
    ev.findings.sort_by(Finding::report_order);
    ev
}
