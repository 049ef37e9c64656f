//! A scan, in the library: an inventory loaded into SQLite once, the rules evaluated over it,
//! waivers applied, the findings compared with a baseline, and the exit code decided — as
//! types ([`ScanOutcome`], [`Baseline`], [`Verdict`]). `plaudit scan`, `plaudit waivers lint`
//! and the benchmarks run it; commands only print and record.
//!
//! Not in here: getting the inventory (a crawl or a file) and writing outputs.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

use crate::config::FailOn;
use crate::exit;
use crate::findings::{self, Finding, Status};
use crate::history::History;
use crate::inventory::Inventory;
use crate::report::{ScanReport, WaiverNotes};
use crate::rules::eval::KeepPassing;
use crate::rules::{RuleError, RuleSet};
use crate::store::Store;
use crate::waivers::Waivers;

/// The failing findings of an earlier scan, by fingerprint (waived ones count as failing: a
/// waiver accepts a finding, it does not fix it).
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    failing: BTreeSet<String>,
}

impl Baseline {
    /// `--baseline SPEC`: a scan id of the history (opened read-only unless one is given),
    /// or a JSON report (`scan --format json`).
    pub fn load(
        spec: &str,
        history: Option<&History>,
        state: impl FnOnce() -> Result<std::path::PathBuf>,
    ) -> Result<Baseline> {
        match spec.parse::<i64>() {
            Ok(id) => match history {
                Some(h) => Baseline::from_scan(h, id),
                None => Baseline::from_scan(&History::open_read_only(&state()?)?, id),
            },
            Err(_) => Baseline::from_report(Path::new(spec)),
        }
    }

    /// A finished scan of the history.
    pub fn from_scan(h: &History, id: i64) -> Result<Baseline> {
        let scan = h.scan(id)?;
        if !scan.finished() {
            bail!("baseline scan {id} did not finish; pick another (`plaudit history`)");
        }
        Ok(Baseline {
            failing: h
                .findings(id)?
                .into_iter()
                .filter(|f| f.status.is_failing())
                .map(|f| f.fingerprint)
                .collect(),
        })
    }

    /// A JSON report written by `scan --format json`.
    pub fn from_report(path: &Path) -> Result<Baseline> {
        let spec = path.display();
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("cannot read the baseline `{spec}` (a scan id or a JSON report)")
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!("the baseline `{spec}` is not a JSON report (`scan --format json`)")
        })?;
        let list = v["findings"]
            .as_array()
            .with_context(|| format!("the baseline `{spec}` has no `findings` array"))?;
        let failing = list
            .iter()
            .filter(|f| {
                f["status"]
                    .as_str()
                    .and_then(|s| s.parse::<Status>().ok())
                    .is_some_and(Status::is_failing)
            })
            .map(|f| {
                let k = |n: &str| f[n].as_str().unwrap_or("");
                findings::fingerprint(k("rule_id"), k("account_id"), k("region"), k("resource_id"))
            })
            .collect();
        Ok(Baseline { failing })
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.failing.contains(fingerprint)
    }

    /// The fingerprints of the baseline's failing findings.
    pub fn failing(&self) -> impl Iterator<Item = &str> {
        self.failing.iter().map(String::as_str)
    }
}

/// How a scan's result becomes an exit code.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Exit 1 for a failing finding at or above this severity.
    pub fail_on: FailOn,
    /// With a baseline: only failing findings new since it count.
    pub fail_on_new: bool,
    /// Exit 0 whatever was found (errors still exit 2).
    pub exit_zero: bool,
}

impl Verdict {
    /// The exit code: 3 when incomplete (it wins over 1), 1 when a counted failing finding is
    /// at or above the threshold, else 0. `new` is the failing findings new since a baseline.
    pub fn exit_code(&self, report: &ScanReport, new: Option<&[&Finding]>) -> u8 {
        if self.exit_zero {
            return exit::OK;
        }
        if !report.scan.complete {
            return exit::INCOMPLETE;
        }
        let at_threshold = |f: &&Finding| {
            f.status == Status::Fail
                && matches!(self.fail_on, FailOn::Severity(min) if f.severity >= min)
        };
        let failing = match (new, self.fail_on_new) {
            (Some(new), true) => new.iter().any(at_threshold),
            _ => report.findings.iter().any(|f| at_threshold(&f)),
        };
        if failing { exit::FINDINGS } else { exit::OK }
    }
}

/// How findings are judged once the rules have run: waivers (as of `today`), the baseline,
/// the exit code's settings, and which passing findings are listed.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    pub waivers: Option<&'a Waivers>,
    pub today: NaiveDate,
    pub baseline: Option<&'a Baseline>,
    pub verdict: Verdict,
    pub keep: KeepPassing<'a>,
}

/// What a scan found and what it earns.
#[derive(Debug)]
pub struct ScanOutcome {
    /// Findings, coverage ledger and waiver notes, as every printer shows them.
    pub report: ScanReport,
    /// Rules that could not run (the others' findings are in the report); the command exits
    /// 2 after writing the report.
    pub rule_errors: Vec<RuleError>,
    /// With a baseline: the indices in `report.findings` of failing findings it did not have.
    pub new_failing: Option<Vec<usize>>,
    /// The exit code the findings earn (see [`Verdict::exit_code`]); 2 with rule errors.
    pub exit_code: u8,
}

impl ScanOutcome {
    /// The waivers that expired or matched nothing.
    pub fn waiver_notes(&self) -> &WaiverNotes {
        &self.report.waivers
    }
}

/// Loads an inventory into SQLite, with the error saying what failed.
pub fn load_store(inv: &Inventory) -> Result<Store> {
    Store::load(inv).context("loading the inventory into SQLite")
}

/// Evaluates the rules over a loaded inventory, applies the waivers (as of `today`),
/// compares with the baseline and decides the exit code.
pub fn evaluate(set: &RuleSet, store: &Store, inv: &Inventory, review: &Review<'_>) -> ScanOutcome {
    let Review {
        waivers,
        today,
        baseline,
        verdict,
        keep,
    } = *review;
    let mut ev = crate::rules::eval::evaluate_keeping(set, store, inv, keep);
    let applied = waivers
        .map(|w| w.apply(&mut ev.findings, inv, today))
        .unwrap_or_default();
    let mut report = ScanReport::new(inv, ev.findings, set);
    report.count_unlisted_passes(ev.passing_not_listed);
    report.waivers = WaiverNotes {
        expired: applied.expired,
        stale: applied.stale,
    };
    report.baseline = baseline.is_some();
    let new_failing: Option<Vec<usize>> = baseline.map(|base| {
        let mut new = Vec::new();
        for (i, f) in report.findings.iter_mut().enumerate() {
            if f.status == Status::Fail {
                let is_new = !base.contains(&f.fingerprint());
                f.new_since_baseline = Some(is_new);
                if is_new {
                    new.push(i);
                }
            }
        }
        new
    });
    let exit_code = if ev.errors.is_empty() {
        let new: Option<Vec<&Finding>> = new_failing
            .as_ref()
            .map(|ix| ix.iter().map(|&i| &report.findings[i]).collect());
        verdict.exit_code(&report, new.as_deref())
    } else {
        exit::USAGE
    };
    ScanOutcome {
        report,
        rule_errors: ev.errors,
        new_failing,
        exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;

    fn outcome(findings: Vec<(Status, Severity, &str)>, complete: bool) -> ScanReport {
        let inv = Inventory::default();
        let set = RuleSet::new(vec![]).unwrap();
        let fs = findings
            .into_iter()
            .map(|(status, severity, id)| Finding {
                rule_id: "r".into(),
                title: "t".into(),
                severity,
                status,
                account_id: "111111111111".into(),
                region: "us-east-1".into(),
                resource_type: "x".into(),
                resource_id: id.into(),
                resource_arn: String::new(),
                reason: String::new(),
                path: None,
                waiver_id: None,
                new_since_baseline: None,
            })
            .collect();
        let mut r = ScanReport::new(&inv, fs, &set);
        r.scan.complete = complete;
        r
    }

    #[test]
    fn the_exit_code_follows_threshold_baseline_and_completeness() {
        let v = |fail_on, fail_on_new, exit_zero| Verdict {
            fail_on,
            fail_on_new,
            exit_zero,
        };
        let high = FailOn::Severity(Severity::High);
        let r = outcome(vec![(Status::Fail, Severity::Medium, "a")], true);
        assert_eq!(v(high, false, false).exit_code(&r, None), exit::OK);
        let low = FailOn::Severity(Severity::Low);
        assert_eq!(v(low, false, false).exit_code(&r, None), exit::FINDINGS);
        assert_eq!(v(FailOn::Never, false, false).exit_code(&r, None), exit::OK);
        assert_eq!(v(low, false, true).exit_code(&r, None), exit::OK);
        // Nothing new since the baseline: only new findings count with --fail-on-new.
        assert_eq!(v(low, true, false).exit_code(&r, Some(&[])), exit::OK);
        let f = &r.findings[0];
        assert_eq!(
            v(low, true, false).exit_code(&r, Some(&[f])),
            exit::FINDINGS
        );
        // Incomplete wins over findings.
        let r = outcome(vec![(Status::Fail, Severity::High, "a")], false);
        assert_eq!(v(low, false, false).exit_code(&r, None), exit::INCOMPLETE);
        assert_eq!(
            v(low, true, false).exit_code(&r, Some(&[])),
            exit::INCOMPLETE
        );
    }

    #[test]
    fn a_report_baseline_matches_escaped_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("base.json");
        std::fs::write(
            &p,
            r#"{"findings": [
                {"rule_id": "r", "account_id": "1", "region": "x", "resource_id": "a|b", "status": "fail"},
                {"rule_id": "r", "account_id": "1", "region": "x", "resource_id": "w", "status": "waived"},
                {"rule_id": "r", "account_id": "1", "region": "x", "resource_id": "p", "status": "pass"}
            ]}"#,
        )
        .unwrap();
        let b = Baseline::from_report(&p).unwrap();
        assert!(b.contains(&findings::fingerprint("r", "1", "x", "a|b")));
        assert!(b.contains(&findings::fingerprint("r", "1", "x", "w")));
        assert!(!b.contains(&findings::fingerprint("r", "1", "x", "p")));
    }
}
