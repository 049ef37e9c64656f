//! The configuration file (YAML). Parsed strictly: unknown keys are errors that name the file
//! and line. Command-line flags override the file. `config.example.yaml` documents every key.
//!
//! Not in here: the meaning of rule params (each rule file documents its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::findings::Severity;
use crate::rules::RuleOverride;

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directories with rules of your own, added to the built-in ones.
    #[serde(default)]
    pub rule_dirs: Vec<PathBuf>,
    /// Leave the built-in rules out (only `rule_dirs` are used).
    #[serde(default)]
    pub no_builtin_rules: bool,
    /// Per-rule settings: `enabled`, `severity`, `params`.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleOverride>,
    /// How long one rule's query may run (1–3,600 s; default 60): past it the rule is
    /// stopped, reported as an error, and the scan exits 2 after writing the other rules'
    /// findings.
    #[serde(default, deserialize_with = "rule_timeout_range")]
    pub rule_timeout_seconds: Option<u64>,
    /// Default for `--fail-on`.
    #[serde(default)]
    pub fail_on: Option<FailOn>,
    /// Which accounts a live scan covers.
    #[serde(default)]
    pub accounts: AccountSelection,
    /// How plaudit gets into each account.
    #[serde(default)]
    pub role: RoleConfig,
    /// Regions to scan; empty: the regions enabled in each account.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Crawl etiquette: concurrency caps and retries.
    #[serde(default)]
    pub crawl: CrawlConfig,
    /// The scan history file (`--state`) [default: the user's data directory].
    #[serde(default)]
    pub state: Option<PathBuf>,
    /// A waivers file (`--waivers`): accepted findings with owners and expiry dates.
    #[serde(default)]
    pub waivers: Option<PathBuf>,
    /// History retention, applied after every recorded scan and by `plaudit history prune`.
    #[serde(default)]
    pub history: HistoryConfig,
}

/// How long the scan history keeps scans; nothing is pruned unless one is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Keep the N most recent scans (at least 2: drift compares two).
    #[serde(default, deserialize_with = "keep_scans_range")]
    pub keep_scans: Option<usize>,
    /// Keep scans younger than this many days.
    #[serde(default, deserialize_with = "keep_days_range")]
    pub keep_days: Option<u64>,
}

/// Account selection for live scans. Includes narrow the set (an account must match every
/// include kind given); excludes then remove from it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSelection {
    /// Account ids to scan (others are left out).
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// OU ids (`ou-…`) or paths (`/Workloads/Prod`), recursive.
    #[serde(default)]
    pub include_ous: Vec<String>,
    #[serde(default)]
    pub exclude_ous: Vec<String>,
    /// Account tags that must all match (`key: value`, or `key: "*"` for any value).
    #[serde(default)]
    pub include_tags: BTreeMap<String, String>,
    /// Accounts with any of these tags are left out.
    #[serde(default)]
    pub exclude_tags: BTreeMap<String, String>,
    /// Without Organizations access: the accounts to scan, listed here.
    #[serde(default)]
    pub list: Vec<ListedAccount>,
    /// Read account tags from Organizations (one call per account; on automatically when a
    /// tag selector is used).
    #[serde(default)]
    pub fetch_tags: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedAccount {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Role name in every member account.
    #[serde(default = "default_role")]
    pub name: String,
    /// Full ARN template instead of a name; `{account_id}` is replaced.
    #[serde(default)]
    pub arn_template: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default = "default_session")]
    pub session_name: String,
    /// Session duration, 900–43,200 s (AWS's range for AssumeRole; the role's own maximum
    /// may be lower). Role chaining caps sessions at 3,600 s: the crawler asks for at most
    /// that when the scan's own credentials are a role session. Credentials are refreshed
    /// before they expire.
    #[serde(default = "default_duration", deserialize_with = "duration_range")]
    pub duration_seconds: u32,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            name: default_role(),
            arn_template: None,
            external_id: None,
            session_name: default_session(),
            duration_seconds: default_duration(),
        }
    }
}

/// The read-only member role that `deploy/` creates (CloudFormation StackSet, Terraform).
/// `OrganizationAccountAccessRole` (full administrator) still works: `role.name`.
pub const DEFAULT_ROLE: &str = "PlauditAudit";

fn default_role() -> String {
    DEFAULT_ROLE.to_string()
}
fn default_session() -> String {
    "plaudit".to_string()
}
fn default_duration() -> u32 {
    3600
}

impl RoleConfig {
    /// The role ARN for an account, in the scan's partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn arn_for(&self, account_id: &str, partition: &str) -> String {
        match &self.arn_template {
            Some(t) => t
                .replace("{account_id}", account_id)
                .replace("{partition}", partition),
            None => format!("arn:{partition}:iam::{account_id}:role/{}", self.name),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrawlConfig {
    /// Accounts crawled at once (1–100,000).
    #[serde(default = "d_accounts", deserialize_with = "count_range")]
    pub accounts: usize,
    /// Requests in flight across the whole scan (1–100,000).
    #[serde(default = "d_requests", deserialize_with = "count_range")]
    pub requests: usize,
    /// Requests in flight per account (1–100,000).
    #[serde(default = "d_per_account", deserialize_with = "count_range")]
    pub requests_per_account: usize,
    /// Attempts per call, 1–20 (throttling and 5xx are retried with backoff and jitter).
    #[serde(default = "d_attempts", deserialize_with = "attempts_range")]
    pub max_attempts: u32,
    /// Seconds before one call attempt gives up (1–3,600).
    #[serde(default = "d_call_timeout", deserialize_with = "timeout_range")]
    pub call_timeout_seconds: u64,
    /// MaxResults for the EC2 listings, 5–1,000 (AWS's range; AWS's maximum is used when
    /// absent).
    #[serde(default, deserialize_with = "page_size_range")]
    pub page_size: Option<i32>,
    /// Stop crawling after this many seconds (1–604,800, a week); what was collected is
    /// evaluated and the rest is recorded as `timeout` gaps (the scan is incomplete).
    #[serde(default, deserialize_with = "deadline_range")]
    pub deadline_seconds: Option<u64>,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            accounts: d_accounts(),
            requests: d_requests(),
            requests_per_account: d_per_account(),
            max_attempts: d_attempts(),
            call_timeout_seconds: d_call_timeout(),
            page_size: None,
            deadline_seconds: None,
        }
    }
}

/// A whole number from `lo` to `hi`, or an error naming the range (serde-saphyr adds the
/// file's line).
fn ranged<'de, D: serde::Deserializer<'de>>(
    d: D,
    lo: i64,
    hi: i64,
    what: &str,
) -> Result<i64, D::Error> {
    let v = i64::deserialize(d)?;
    if v < lo || v > hi {
        return Err(serde::de::Error::custom(format!(
            "{v} is out of range: {what} must be from {lo} to {hi}"
        )));
    }
    Ok(v)
}

fn duration_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    ranged(
        d,
        900,
        43_200,
        "role.duration_seconds (AWS's AssumeRole range)",
    )
    .map(|v| v as u32)
}
fn count_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    ranged(d, 1, 100_000, "a concurrency limit").map(|v| v as usize)
}
fn attempts_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    ranged(d, 1, 20, "crawl.max_attempts").map(|v| v as u32)
}
fn timeout_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, 1, 3_600, "crawl.call_timeout_seconds").map(|v| v as u64)
}
/// An optional whole number (`null` or absent: none) from `lo` to `hi`.
fn ranged_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
    lo: i64,
    hi: i64,
    what: &str,
) -> Result<Option<i64>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        Some(v) if v < lo || v > hi => Err(serde::de::Error::custom(format!(
            "{v} is out of range: {what} must be from {lo} to {hi}"
        ))),
        v => Ok(v),
    }
}
fn page_size_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    ranged_opt(
        d,
        5,
        1_000,
        "crawl.page_size (AWS's MaxResults range for the EC2 listings)",
    )
    .map(|v| v.map(|v| v as i32))
}
fn keep_scans_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    ranged_opt(d, 2, 1_000_000, "history.keep_scans").map(|v| v.map(|v| v as usize))
}
fn keep_days_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged_opt(d, 1, 36_500, "history.keep_days").map(|v| v.map(|v| v as u64))
}
fn rule_timeout_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged_opt(d, 1, 3_600, "rule_timeout_seconds").map(|v| v.map(|v| v as u64))
}
fn deadline_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged_opt(d, 1, 604_800, "crawl.deadline_seconds").map(|v| v.map(|v| v as u64))
}

fn d_accounts() -> usize {
    256
}
fn d_requests() -> usize {
    1024
}
fn d_per_account() -> usize {
    32
}
fn d_attempts() -> u32 {
    6
}
fn d_call_timeout() -> u64 {
    30
}

/// The threshold for exit code 1: a severity, or `none` to never fail on findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Severity(Severity),
    Never,
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            Ok(FailOn::Never)
        } else {
            s.parse::<Severity>().map(FailOn::Severity).map_err(|_| {
                format!("`{s}` is not a severity (critical, high, medium, low, info) or `none`")
            })
        }
    }
}

impl<'de> Deserialize<'de> for FailOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads and parses a config file. Relative `rule_dirs` are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for d in cfg
            .rule_dirs
            .iter_mut()
            .chain(cfg.state.iter_mut())
            .chain(cfg.waivers.iter_mut())
        {
            if d.is_relative() {
                *d = base.join(&*d);
            }
        }
        Ok(cfg)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
        let cfg = Config::load(&p).unwrap();
        assert!(cfg.rules.contains_key("orphaned-connection"));
    }

    #[test]
    fn unknown_key_names_the_line() {
        let err = Config::parse("fail_on: high\nrule_dir: [x]\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.yaml"), "{err}");
        assert!(err.contains("rule_dir"), "{err}");
        assert!(err.contains('2'), "no line number: {err}");
    }

    #[test]
    fn numeric_settings_outside_aws_ranges_are_refused_with_their_line() {
        for (text, key) in [
            ("crawl:\n  page_size: 2\n", "page_size"),
            ("crawl:\n  page_size: 5000\n", "page_size"),
            ("role:\n  duration_seconds: 60\n", "duration_seconds"),
            ("crawl:\n  accounts: 0\n", "concurrency"),
            (
                "crawl:\n  call_timeout_seconds: 18446744073709551615\n",
                "call_timeout",
            ),
            ("crawl:\n  max_attempts: 4294967295\n", "max_attempts"),
        ] {
            let err = Config::parse(text, Path::new("c.yaml"))
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains("c.yaml") && err.contains('2'), "{text}: {err}");
            assert!(
                err.contains(key) || err.contains("range") || err.contains("invalid"),
                "{text}: {err}"
            );
        }
        let ok = Config::parse("crawl:\n  page_size: 5\n", Path::new("c.yaml")).unwrap();
        assert_eq!(ok.crawl.page_size, Some(5));
        let none = Config::parse("crawl:\n  page_size: null\n", Path::new("c.yaml")).unwrap();
        assert_eq!(none.crawl.page_size, None);
    }

    #[test]
    fn role_arns_are_built_in_the_scans_partition() {
        let r = RoleConfig::default();
        assert_eq!(
            r.arn_for("111111111111", "aws-cn"),
            "arn:aws-cn:iam::111111111111:role/PlauditAudit"
        );
        let t = RoleConfig {
            arn_template: Some("arn:{partition}:iam::{account_id}:role/audit/P".into()),
            ..Default::default()
        };
        assert_eq!(
            t.arn_for("2", "aws-us-gov"),
            "arn:aws-us-gov:iam::2:role/audit/P"
        );
    }

    #[test]
    fn fail_on_parses() {
        assert_eq!("none".parse::<FailOn>().unwrap(), FailOn::Never);
        assert_eq!(
            "high".parse::<FailOn>().unwrap(),
            FailOn::Severity(Severity::High)
        );
        assert!("sometimes".parse::<FailOn>().is_err());
        let err = Config::parse("fail_on: sometimes\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sometimes"), "{err}");
    }
}
