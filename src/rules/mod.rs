//! Rules are data: one YAML file per rule, whose condition is a SQL query over the
//! [`crate::store`] schema. This module loads and validates rule files (before any scan),
//! evaluates them ([`eval`]) and runs their test cases ([`testing`]).
//!
//! A rule file:
//!
//! ```yaml
//! id: private-dns-unverified          # stable, kebab-case, names the problem
//! title: Endpoint service private DNS name is not verified
//! severity: high                      # critical, high, medium, low, info
//! resource: endpoint-service          # what resource_id identifies
//! inputs: [ec2:DescribeVpcEndpointServiceConfigurations]  # APIs whose gaps make it `unknown`
//! description:
//!   what: …
//!   why: …
//!   fix: …                            # AWS CLI and Terraform hints
//! references: [https://docs.aws.amazon.com/…]
//! params: { max_pending_days: 7 }     # bound as :max_pending_days, overridable in the config
//! query: |
//!   SELECT account_id, region, resource_id, resource_arn, status, reason [, path] FROM …
//! ```
//!
//! Not in here: the SQL schema ([`crate::store`]) or output formats ([`crate::report`]).

pub mod builtin;
mod doc;
pub mod eval;
pub mod testing;

pub use doc::explain_text;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::findings::Severity;

/// Columns every rule query must return.
pub const REQUIRED_COLUMNS: [&str; 6] = [
    "account_id",
    "region",
    "resource_id",
    "resource_arn",
    "status",
    "reason",
];
/// Columns a rule query may also return.
pub const OPTIONAL_COLUMNS: [&str; 1] = ["path"];

/// The documentation sections every rule has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// What it checks.
    pub what: String,
    /// Why it matters.
    pub why: String,
    /// How to fix, with AWS CLI and Terraform hints.
    pub fix: String,
}

/// A compliance framework control a rule supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceRef {
    pub framework: String,
    pub control: String,
}

/// A rule as written in its YAML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub resource: String,
    #[serde(default)]
    pub inputs: Vec<String>,
    pub description: Description,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub compliance: Vec<ComplianceRef>,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    pub query: String,
    /// Where the rule came from: a path (`rules/<id>.yaml` for the built-in ones); not part
    /// of the YAML.
    #[serde(skip)]
    pub source: String,
    /// Shipped inside the binary (the repository's `rules/`), not loaded from a directory.
    #[serde(skip)]
    pub builtin: bool,
    /// The line of the file where `query:` stands (1-based; 0 when unknown), for errors.
    #[serde(skip)]
    pub query_line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rule `{path}`")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rule file `{source_name}`: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    #[error("config `{path}`: {message}")]
    Config { path: String, message: String },
    #[error("rule id `{id}` is defined twice: in `{first}` and in `{second}`")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
}

fn cfg_err(path: &str, message: impl Into<String>) -> RuleError {
    RuleError::Config {
        path: path.to_string(),
        message: message.into(),
    }
}

fn invalid(source: &str, message: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        source_name: source.to_string(),
        message: message.into(),
    }
}

/// Parses one rule file and validates what can be validated without a database.
pub fn parse_rule(text: &str, source: &str) -> Result<Rule, RuleError> {
    let mut rule: Rule = serde_saphyr::from_str(text)
        .map_err(|e| invalid(source, crate::config::yaml_error(&e, source)))?;
    rule.source = source.to_string();
    // `query` is a top-level key of a mapping that allows no unknown keys: the line that
    // starts with it is the query's.
    rule.query_line = text
        .lines()
        .position(|l| l.starts_with("query:"))
        .map_or(0, |i| i + 1);
    check_shape(&rule)?;
    Ok(rule)
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn check_shape(rule: &Rule) -> Result<(), RuleError> {
    let src = &rule.source;
    if !is_kebab(&rule.id) {
        return Err(invalid(
            src,
            format!(
                "id `{}` must be kebab-case (lowercase letters, digits and single dashes)",
                rule.id
            ),
        ));
    }
    let stem = Path::new(src)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !stem.is_empty() && stem != rule.id {
        return Err(invalid(
            src,
            format!("id `{}` must match the file name `{stem}.yaml`", rule.id),
        ));
    }
    for (field, value) in [
        ("title", &rule.title),
        ("resource", &rule.resource),
        ("description.what", &rule.description.what),
        ("description.why", &rule.description.why),
        ("description.fix", &rule.description.fix),
        ("query", &rule.query),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(src, format!("`{field}` must not be empty")));
        }
    }
    for api in &rule.inputs {
        let ok = crate::inventory::Api::parse(api).is_ok_and(|a| !a.is_all());
        if !ok {
            return Err(invalid(
                src,
                format!(
                    "input `{api}` must name an API as `service:Operation`, e.g. `ec2:DescribeSubnets`"
                ),
            ));
        }
    }
    for (name, value) in &rule.params {
        if value.is_array() || value.is_object() {
            return Err(invalid(
                src,
                format!("param `{name}` must be a number, string, boolean or null"),
            ));
        }
    }
    Ok(())
}

/// A validated set of rules with unique ids, in id order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// How long one rule's query may run before it is stopped (`rule_timeout_seconds`).
    budget: std::time::Duration,
}

/// The default time budget of one rule: the whole catalogue takes about a second per 1,000
/// accounts (BENCHMARKS.md), so a minute is generous for any real rule and short for a
/// runaway one.
pub const DEFAULT_RULE_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

impl RuleSet {
    /// Builds a set, refusing duplicate ids, and checks every query against the schema.
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        let mut seen: HashMap<String, String> = HashMap::new();
        for r in &rules {
            if let Some(first) = seen.insert(r.id.clone(), r.source.clone()) {
                return Err(RuleError::Duplicate {
                    id: r.id.clone(),
                    first,
                    second: r.source.clone(),
                });
            }
        }
        let mut rules = rules;
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        eval::check_queries(&rules)?;
        Ok(RuleSet {
            rules,
            budget: DEFAULT_RULE_BUDGET,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How long one rule may run.
    pub fn budget(&self) -> std::time::Duration {
        self.budget
    }

    /// Sets how long one rule may run before it is stopped with an error.
    pub fn set_budget(&mut self, budget: std::time::Duration) {
        self.budget = budget;
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies config overrides: disabled rules are dropped, severities and params replaced.
    /// Unknown rule ids and unknown params are errors.
    pub fn apply_overrides(
        &mut self,
        overrides: &BTreeMap<String, RuleOverride>,
        config_name: &str,
    ) -> Result<(), RuleError> {
        for (id, o) in overrides {
            let Some(rule) = self.rules.iter_mut().find(|r| &r.id == id) else {
                return Err(cfg_err(
                    config_name,
                    format!("`rules.{id}`: no rule has the id `{id}` (see `plaudit rules list`)"),
                ));
            };
            if let Some(sev) = o.severity {
                rule.severity = sev;
            }
            for (k, spanned) in &o.params {
                let v = &spanned.value;
                let line = spanned.referenced.line();
                let at = if line > 0 {
                    format!("line {line}: ")
                } else {
                    String::new()
                };
                if !rule.params.contains_key(k) {
                    let known: Vec<&str> = rule.params.keys().map(String::as_str).collect();
                    return Err(cfg_err(
                        config_name,
                        format!(
                            "{at}`rules.{id}.params.{k}`: rule `{id}` has no param `{k}` (it has: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                if v.is_array() || v.is_object() {
                    return Err(cfg_err(
                        config_name,
                        format!(
                            "{at}`rules.{id}.params.{k}` must be a number, string, boolean or null"
                        ),
                    ));
                }
                // An override has the declared param's type: `"14 days"` for a number would
                // compare as text in SQL and silently disable the check.
                let declared = &rule.params[k];
                let kind = |v: &serde_json::Value| match v {
                    serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Bool(_) => "true or false",
                    _ => "null",
                };
                let fits = match (declared, v) {
                    (serde_json::Value::Null, _) => true,
                    (serde_json::Value::Number(d), serde_json::Value::Number(o)) => {
                        !(d.is_i64() || d.is_u64()) || o.is_i64() || o.is_u64()
                    }
                    (d, o) => std::mem::discriminant(d) == std::mem::discriminant(o),
                };
                if !fits {
                    return Err(cfg_err(
                        config_name,
                        format!(
                            "{at}`rules.{id}.params.{k}` must be {} like the rule's default `{declared}`, not `{v}`",
                            kind(declared)
                        ),
                    ));
                }
                rule.params.insert(k.clone(), v.clone());
            }
        }
        self.rules
            .retain(|r| overrides.get(&r.id).is_none_or(|o| o.enabled));
        Ok(())
    }

    /// A short hash of the rule set (ids, severities, params, queries), for scan metadata.
    pub fn fingerprint(&self) -> String {
        // FNV-1a: stable across builds and platforms, no extra dependency.
        let mut h: u64 = 0xcbf29ce484222325;
        for r in &self.rules {
            for part in [
                r.id.as_str(),
                r.severity.as_str(),
                &serde_json::to_string(&r.params).unwrap_or_default(),
                r.query.as_str(),
            ] {
                for b in part.bytes().chain([0u8]) {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x100000001b3);
                }
            }
        }
        format!("{h:016x}")
    }
}

/// Per-rule settings from the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Each value with where it stands in the config, for errors.
    #[serde(default)]
    pub params: BTreeMap<String, serde_saphyr::Spanned<serde_json::Value>>,
}

fn enabled() -> bool {
    true
}

/// Loads every `*.yaml` / `*.yml` rule file directly inside `dir` (not `tests/`).
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, RuleError> {
    let entries = std::fs::read_dir(dir).map_err(|source| RuleError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml") | Some("yml")
                )
        })
        .collect();
    paths.sort();
    let mut rules = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|source| RuleError::Read {
            path: p.clone(),
            source,
        })?;
        rules.push(parse_rule(&text, &p.display().to_string())?);
    }
    Ok(rules)
}

/// The built-in rules plus any user directories, validated as one set.
pub fn load_all(dirs: &[PathBuf], builtin: bool) -> Result<RuleSet, RuleError> {
    let mut rules = if builtin {
        builtin::rules()?
    } else {
        Vec::new()
    };
    for d in dirs {
        rules.extend(load_dir(d)?);
    }
    RuleSet::new(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id: demo-rule
title: A demo
severity: low
resource: vpc
description: { what: a, why: b, fix: c }
query: |
  SELECT account_id, region, vpc_id AS resource_id, '' AS resource_arn,
         'pass' AS status, 'ok' AS reason FROM vpcs
"#;

    #[test]
    fn good_rule_parses_and_validates() {
        let r = parse_rule(GOOD, "demo-rule.yaml").unwrap();
        RuleSet::new(vec![r]).unwrap();
    }

    #[test]
    fn unknown_key_is_refused_with_location() {
        let text = GOOD.replace("severity: low", "severity: low\nseverty: high");
        let err = parse_rule(&text, "demo-rule.yaml").unwrap_err().to_string();
        assert!(err.contains("demo-rule.yaml"), "{err}");
        assert!(err.contains("severty"), "{err}");
        assert!(
            err.contains("line 5") || err.contains("5:"),
            "no line in: {err}"
        );
    }

    #[test]
    fn bad_severity_is_refused() {
        let text = GOOD.replace("severity: low", "severity: urgent");
        let err = parse_rule(&text, "demo-rule.yaml").unwrap_err().to_string();
        assert!(err.contains("urgent"), "{err}");
    }

    #[test]
    fn id_must_be_kebab_and_match_file() {
        let err = parse_rule(&GOOD.replace("demo-rule", "Demo_Rule"), "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kebab-case"), "{err}");
        let err = parse_rule(GOOD, "other.yaml").unwrap_err().to_string();
        assert!(err.contains("must match the file name"), "{err}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let a = parse_rule(GOOD, "a/demo-rule.yaml").unwrap();
        let b = parse_rule(GOOD, "b/demo-rule.yaml").unwrap();
        let err = RuleSet::new(vec![a, b]).unwrap_err().to_string();
        assert!(err.contains("defined twice"), "{err}");
        assert!(
            err.contains("a/demo-rule.yaml") && err.contains("b/demo-rule.yaml"),
            "{err}"
        );
    }

    #[test]
    fn broken_sql_is_refused_before_any_scan() {
        let text = GOOD.replace("FROM vpcs", "FROM vpcz");
        let r = parse_rule(&text, "demo-rule.yaml").unwrap();
        let err = RuleSet::new(vec![r]).unwrap_err().to_string();
        assert!(err.contains("vpcz"), "{err}");
        assert!(err.contains("demo-rule.yaml"), "{err}");
    }

    #[test]
    fn missing_columns_are_named() {
        let text = GOOD.replace("'ok' AS reason", "'ok' AS why");
        let r = parse_rule(&text, "demo-rule.yaml").unwrap();
        let err = RuleSet::new(vec![r]).unwrap_err().to_string();
        assert!(err.contains("`reason`"), "{err}");
    }

    #[test]
    fn undeclared_param_is_refused() {
        let text = GOOD.replace("FROM vpcs", "FROM vpcs WHERE 1 = :limit");
        let r = parse_rule(&text, "demo-rule.yaml").unwrap();
        let err = RuleSet::new(vec![r]).unwrap_err().to_string();
        assert!(err.contains(":limit"), "{err}");
    }

    #[test]
    fn overrides_check_ids_and_params() {
        let text = GOOD
            .replace("FROM vpcs", "FROM vpcs WHERE 1 = :limit")
            .replace("query:", "params: { limit: 1 }\nquery:");
        let mut set = RuleSet::new(vec![parse_rule(&text, "demo-rule.yaml").unwrap()]).unwrap();
        let mut o = BTreeMap::new();
        o.insert(
            "nope".to_string(),
            RuleOverride {
                enabled: true,
                severity: None,
                params: BTreeMap::new(),
            },
        );
        assert!(
            set.apply_overrides(&o, "c.yaml")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
        let mut o = BTreeMap::new();
        let mut params = BTreeMap::new();
        use serde_saphyr::Location;
        params.insert(
            "limt".to_string(),
            serde_saphyr::Spanned::new(serde_json::json!(2), Location::UNKNOWN, Location::UNKNOWN),
        );
        o.insert(
            "demo-rule".to_string(),
            RuleOverride {
                enabled: true,
                severity: Some(Severity::High),
                params,
            },
        );
        let err = set.apply_overrides(&o, "c.yaml").unwrap_err().to_string();
        assert!(err.contains("limt") && err.contains("limit"), "{err}");
    }
}
