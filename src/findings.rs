//! Findings: what a rule says about one resource. Shared by the rule engine, the reports and
//! (later) the history. Not in here: how findings are produced ([`crate::rules`]) or printed
//! ([`crate::report`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a failing finding is. Ordered: `Info < Low < … < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity `{s}` (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// The verdict on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The resource breaks the rule.
    Fail,
    /// The rule could not be decided: its inputs are incomplete (a coverage gap).
    Unknown,
    /// The resource breaks the rule, and a waiver accepts it (see [`crate::waivers`]).
    Waived,
    /// The resource satisfies the rule.
    Pass,
}

impl Status {
    /// Whether the resource breaks the rule: failing, waived or not (a waiver accepts a
    /// finding, it does not fix it). Baselines and drift count these.
    pub fn is_failing(self) -> bool {
        matches!(self, Status::Fail | Status::Waived)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::Waived => "waived",
            Status::Pass => "pass",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(Status::Fail),
            "unknown" => Ok(Status::Unknown),
            "waived" => Ok(Status::Waived),
            "pass" => Ok(Status::Pass),
            _ => Err(format!(
                "status `{s}` is not one of `pass`, `fail`, `unknown`"
            )),
        }
    }
}

/// One rule's verdict on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub account_id: String,
    pub region: String,
    /// The resource type the rule evaluates (`endpoint-service`, `vpc-endpoint`, …).
    pub resource_type: String,
    pub resource_id: String,
    pub resource_arn: String,
    /// One specific line: names, AZ name with AZ ID, ports, ages.
    pub reason: String,
    /// The chain of resources across accounts, when the rule gives one.
    pub path: Option<String>,
    /// The waiver that accepts this finding (status `waived`).
    #[serde(default)]
    pub waiver_id: Option<String>,
    /// With `--baseline`, for a failing finding: whether the baseline did not have it
    /// failing. Absent without a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_since_baseline: Option<bool>,
}

/// A finding's identity from its four parts (see [`Finding::fingerprint`]): the one place it
/// is computed, for findings in memory and in JSON reports read back as baselines.
pub fn fingerprint(rule_id: &str, account_id: &str, region: &str, resource_id: &str) -> String {
    fn part(s: &str) -> std::borrow::Cow<'_, str> {
        if s.contains(['|', '\\']) {
            s.replace('\\', "\\\\").replace('|', "\\|").into()
        } else {
            s.into()
        }
    }
    format!(
        "{}|{}|{}|{}",
        part(rule_id),
        part(account_id),
        part(region),
        part(resource_id)
    )
}

impl Finding {
    /// Stable identity across scans: rule + account + region + resource, joined with `|`.
    /// A `|` or `\` inside a field is escaped with `\`, so two different findings never share
    /// a fingerprint (a crafted resource id `a|b` could otherwise stand in for another
    /// finding); fields without either — every real AWS id — read as before.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.rule_id,
            &self.account_id,
            &self.region,
            &self.resource_id,
        )
    }

    /// The order reports use: failing before unknown before passing, then by severity
    /// (worst first), then rule, account, region, resource.
    pub fn report_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
        a.status
            .cmp(&b.status)
            .then(b.severity.cmp(&a.severity))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.account_id.cmp(&b.account_id))
            .then_with(|| a.region.cmp(&b.region))
            .then_with(|| a.resource_id.cmp(&b.resource_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn fingerprints_never_collide() {
        let f = |account: &str, resource: &str| Finding {
            rule_id: "r".into(),
            title: String::new(),
            severity: Severity::High,
            status: Status::Fail,
            account_id: account.into(),
            region: "us-east-1".into(),
            resource_type: String::new(),
            resource_id: resource.into(),
            resource_arn: String::new(),
            reason: String::new(),
            path: None,
            waiver_id: None,
            new_since_baseline: None,
        };
        // Joined naively, both read `r|1|us-east-1|x|y`.
        let a = f("1", "x|y");
        let mut b = f("1", "y");
        b.region = "us-east-1|x".into();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(f("1", "a\\|b").fingerprint(), f("1", "a|b").fingerprint());
        assert_eq!(f("1", "vpce-1").fingerprint(), "r|1|us-east-1|vpce-1");
    }
}
