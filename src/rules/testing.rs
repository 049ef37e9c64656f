//! Rule tests as data, in the spirit of ast-grep's rule tests. A test file names a rule and
//! lists cases; each case is a small inventory (YAML, the same shape as an inventory file)
//! and the verdicts expected on named resources:
//!
//! ```yaml
//! rule: private-dns-unverified
//! cases:
//!   - name: a pending verification fails
//!     params: { }                     # optional overrides of the rule's params
//!     inventory:
//!       collected_at: 2026-11-20T00:00:00Z
//!       accounts: [ … ]
//!     expect:
//!       - { resource: vpce-svc-1, status: fail, reason_contains: pendingVerification }
//! ```
//!
//! Every `fail` the rule reports in a case must be expected, and every file must have at
//! least one case that expects `pass` and one that expects `fail`. Each expectation is
//! classified: validated, false positive (expected pass, reported fail), false negative
//! (expected fail, reported pass), wrong status, missing, or unexpected failure.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::{Rule, RuleError, RuleSet, invalid};
use crate::findings::Status;
use crate::inventory::{Inventory, load::validate};
use crate::store::{GapIndex, Store};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    params: BTreeMap<String, serde_json::Value>,
    inventory: Inventory,
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    resource: String,
    status: Status,
    #[serde(default)]
    reason_contains: Option<String>,
}

/// How one expectation came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Validated,
    FalsePositive,
    FalseNegative,
    WrongStatus { expected: Status, got: Status },
    WrongReason { wanted: String, got: String },
    Missing,
    UnexpectedFailure,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Validated => write!(f, "validated"),
            Outcome::FalsePositive => {
                write!(f, "false positive: expected pass, rule reported fail")
            }
            Outcome::FalseNegative => {
                write!(f, "false negative: expected fail, rule reported pass")
            }
            Outcome::WrongStatus { expected, got } => {
                write!(f, "expected {expected}, rule reported {got}")
            }
            Outcome::WrongReason { wanted, got } => {
                write!(f, "reason does not contain `{wanted}`: {got}")
            }
            Outcome::Missing => write!(f, "missing: the rule reported nothing for this resource"),
            Outcome::UnexpectedFailure => write!(f, "unexpected failure: not listed in `expect`"),
        }
    }
}

/// One checked expectation.
#[derive(Debug, Clone)]
pub struct Check {
    pub rule: String,
    pub case: String,
    pub resource: String,
    pub outcome: Outcome,
}

/// Everything a test run found.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Validated)
            .count()
    }
    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }
}

/// Runs test files (source name, YAML) against the rules of `set`.
pub fn run(set: &RuleSet, files: &[(String, String)]) -> Result<Report, RuleError> {
    let mut report = Report::default();
    for (source, text) in files {
        let tf: TestFile = serde_saphyr::from_str(text)
            .map_err(|e| invalid(source, crate::config::yaml_error(&e, source)))?;
        let Some(rule) = set.get(&tf.rule) else {
            return Err(invalid(
                source,
                format!("tests name rule `{}`, which is not loaded", tf.rule),
            ));
        };
        let expects = |s: Status| {
            tf.cases
                .iter()
                .any(|c| c.expect.iter().any(|e| e.status == s))
        };
        if !expects(Status::Pass) || !expects(Status::Fail) {
            return Err(invalid(
                source,
                format!(
                    "tests of rule `{}` need at least one case expecting `pass` and one expecting `fail`",
                    tf.rule
                ),
            ));
        }
        for case in &tf.cases {
            run_case(rule, case, source, &mut report)?;
        }
    }
    Ok(report)
}

fn run_case(rule: &Rule, case: &Case, source: &str, report: &mut Report) -> Result<(), RuleError> {
    validate(&case.inventory).map_err(|m| invalid(source, format!("case `{}`: {m}", case.name)))?;
    let mut rule = rule.clone();
    for (k, v) in &case.params {
        if !rule.params.contains_key(k) {
            return Err(invalid(
                source,
                format!(
                    "case `{}`: rule `{}` has no param `{k}`",
                    case.name, rule.id
                ),
            ));
        }
        rule.params.insert(k.clone(), v.clone());
    }
    let store = Store::load(&case.inventory).map_err(|e| invalid(source, e.to_string()))?;
    let gaps = GapIndex::new(&case.inventory);
    let findings = super::eval::run_rule(
        &store,
        &rule,
        super::DEFAULT_RULE_BUDGET,
        &gaps,
        &case.inventory.coverage,
    )?;
    let push = |resource: &str, outcome: Outcome, report: &mut Report| {
        report.checks.push(Check {
            rule: rule.id.clone(),
            case: case.name.clone(),
            resource: resource.to_string(),
            outcome,
        });
    };
    for e in &case.expect {
        let got = findings.iter().find(|f| f.resource_id == e.resource);
        let outcome = match got {
            None => Outcome::Missing,
            Some(f) if f.status == e.status => match &e.reason_contains {
                Some(w) if !f.reason.contains(w.as_str()) => Outcome::WrongReason {
                    wanted: w.clone(),
                    got: f.reason.clone(),
                },
                _ => Outcome::Validated,
            },
            Some(f) => match (e.status, f.status) {
                (Status::Pass, Status::Fail) => Outcome::FalsePositive,
                (Status::Fail, Status::Pass) => Outcome::FalseNegative,
                (expected, got) => Outcome::WrongStatus { expected, got },
            },
        };
        push(&e.resource, outcome, report);
    }
    for f in findings.iter().filter(|f| f.status == Status::Fail) {
        if !case.expect.iter().any(|e| e.resource == f.resource_id) {
            push(&f.resource_id, Outcome::UnexpectedFailure, report);
        }
    }
    Ok(())
}

/// Reads every `*.yaml` test file in `dir/tests/`.
pub fn load_dir(dir: &Path) -> Result<Vec<(String, String)>, RuleError> {
    let tests = dir.join("tests");
    let entries = match std::fs::read_dir(&tests) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RuleError::Read {
                path: tests,
                source,
            });
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|source| RuleError::Read { path: p, source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped rules pass their own tests; each failure is printed with its class.
    #[test]
    fn builtin_rule_tests_pass() {
        let set = RuleSet::new(super::super::builtin::rules().unwrap()).unwrap();
        let files: Vec<(String, String)> = super::super::builtin::tests()
            .into_iter()
            .map(|(s, t)| (s, t.to_string()))
            .collect();
        let report = run(&set, &files).unwrap();
        let bad: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.outcome != Outcome::Validated)
            .map(|c| format!("{} / {} / {}: {}", c.rule, c.case, c.resource, c.outcome))
            .collect();
        assert!(bad.is_empty(), "rule tests failed:\n{}", bad.join("\n"));
        assert!(report.passed() >= 10);
    }

    /// A test harness that cannot fail proves nothing: a wrong expectation must be caught.
    #[test]
    fn wrong_expectations_are_classified() {
        let set = RuleSet::new(super::super::builtin::rules().unwrap()).unwrap();
        let text = r#"
rule: private-dns-unverified
cases:
  - name: flipped
    inventory:
      accounts:
        - id: "111111111111"
          regions:
            - name: us-east-1
              endpoint_services:
                - { id: vpce-svc-1, name: com.amazonaws.vpce.us-east-1.vpce-svc-1,
                    private_dns_name: api.example.com, private_dns_state: failed }
                - { id: vpce-svc-2, name: com.amazonaws.vpce.us-east-1.vpce-svc-2,
                    private_dns_name: b.example.com, private_dns_state: verified }
    expect:
      - { resource: vpce-svc-1, status: pass }
      - { resource: vpce-svc-2, status: fail }
      - { resource: vpce-svc-9, status: pass }
"#;
        let report = run(&set, &[("t.yaml".into(), text.into())]).unwrap();
        let outcomes: Vec<&Outcome> = report.checks.iter().map(|c| &c.outcome).collect();
        assert!(outcomes.contains(&&Outcome::FalsePositive));
        assert!(outcomes.contains(&&Outcome::FalseNegative));
        assert!(outcomes.contains(&&Outcome::Missing));
        assert_eq!(report.passed(), 0);
    }
}
