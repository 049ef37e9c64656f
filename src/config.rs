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
    #[serde(default)]
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
    #[serde(default)]
    pub keep_scans: Option<usize>,
    /// Keep scans younger than this many days.
    #[serde(default)]
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
    #[serde(default = "default_duration")]
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
    #[serde(default = "d_accounts")]
    pub accounts: usize,
    /// Requests in flight across the whole scan (1–100,000).
    #[serde(default = "d_requests")]
    pub requests: usize,
    /// Requests in flight per account (1–100,000).
    #[serde(default = "d_per_account")]
    pub requests_per_account: usize,
    /// Attempts per call, 1–20 (throttling and 5xx are retried with backoff and jitter).
    #[serde(default = "d_attempts")]
    pub max_attempts: u32,
    /// Seconds before one call attempt gives up (1–3,600).
    #[serde(default = "d_call_timeout")]
    pub call_timeout_seconds: u64,
    /// MaxResults for the EC2 listings, 5–1,000 (AWS's range; AWS's maximum is used when
    /// absent).
    #[serde(default)]
    pub page_size: Option<i32>,
    /// Stop crawling after this many seconds (1–604,800, a week); what was collected is
    /// evaluated and the rest is recorded as `timeout` gaps (the scan is incomplete).
    #[serde(default)]
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
    /// Settings that parse but that AWS (or plaudit) would refuse: every one of them, each
    /// with its line.
    #[error("config `{path}` has {} setting(s) to fix:{}", problems.len(), list(problems))]
    Rejected {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

/// One rejected setting: its key, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: &'static str,
    /// 1-based; 0 when the file did not say where (serde-saphyr's unknown location).
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        write!(f, "`{}` {}", self.key, self.message)
    }
}

impl Config {
    /// Reads, parses and validates a config file. Relative `rule_dirs`, `state` and
    /// `waivers` are taken from the file's folder.
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

    /// Parses a config's text (syntax, types and unknown keys: the first error, with its
    /// line), then validates it ([`Config::problems`]: every problem, each with its line).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let invalid = |e: serde_saphyr::Error| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: yaml_error(&e, &path.display().to_string()),
        };
        let cfg: Config = serde_saphyr::from_str(text).map_err(invalid)?;
        let lines: Lines = serde_saphyr::from_str(text).map_err(invalid)?;
        let problems = cfg.problems(&lines);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Rejected {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Every setting AWS or plaudit would refuse. Values are rejected, never clamped: a
    /// number the user wrote is either used as written or named here.
    fn problems(&self, lines: &Lines) -> Vec<Problem> {
        let mut out = self.range_problems(lines);
        out.extend(self.role_problems(lines));
        out.extend(self.account_problems(lines));
        out
    }

    /// Numbers outside their range (AWS's, where AWS sets one).
    fn range_problems(&self, lines: &Lines) -> Vec<Problem> {
        let (c, l) = (&self.crawl, &lines.crawl);
        // Values as i128: every setting's type fits, negative page sizes included.
        let n = |v: usize| Some(v as i128);
        let at = |s: &Option<serde_saphyr::Spanned<serde::de::IgnoredAny>>| {
            s.as_ref().map_or(0, |s| s.referenced.line())
        };
        let checks: [Range; 11] = [
            (
                "crawl.accounts",
                l.line("accounts"),
                n(c.accounts),
                1,
                100_000,
                "",
            ),
            (
                "crawl.requests",
                l.line("requests"),
                n(c.requests),
                1,
                100_000,
                "",
            ),
            (
                "crawl.requests_per_account",
                l.line("requests_per_account"),
                n(c.requests_per_account),
                1,
                100_000,
                "",
            ),
            (
                "crawl.max_attempts",
                l.line("max_attempts"),
                Some(c.max_attempts.into()),
                1,
                20,
                "",
            ),
            (
                "crawl.call_timeout_seconds",
                l.line("call_timeout_seconds"),
                Some(c.call_timeout_seconds.into()),
                1,
                3_600,
                "",
            ),
            (
                "crawl.page_size",
                l.line("page_size"),
                c.page_size.map(i128::from),
                5,
                1_000,
                " (AWS's MaxResults range for the EC2 listings)",
            ),
            (
                "crawl.deadline_seconds",
                l.line("deadline_seconds"),
                c.deadline_seconds.map(i128::from),
                1,
                604_800,
                " (a week)",
            ),
            (
                "history.keep_scans",
                lines.history.line("keep_scans"),
                self.history.keep_scans.map(|v| v as i128),
                2,
                1_000_000,
                " (drift compares two scans)",
            ),
            (
                "history.keep_days",
                lines.history.line("keep_days"),
                self.history.keep_days.map(i128::from),
                1,
                36_500,
                "",
            ),
            (
                "rule_timeout_seconds",
                at(&lines.rule_timeout_seconds),
                self.rule_timeout_seconds.map(i128::from),
                1,
                3_600,
                "",
            ),
            (
                "role.duration_seconds",
                lines.role.line("duration_seconds"),
                Some(self.role.duration_seconds.into()),
                900,
                43_200,
                " (AWS's AssumeRole DurationSeconds range)",
            ),
        ];
        checks
            .into_iter()
            .filter_map(|(key, line, v, lo, hi, why)| {
                let v = v.filter(|v| *v < lo || *v > hi)?;
                Some(Problem {
                    key,
                    line,
                    message: format!("is {v}: it must be from {lo} to {hi}{why}"),
                })
            })
            .collect()
    }

    /// The role: a template that names the account, AssumeRole's session name and external
    /// id as AWS takes them.
    fn role_problems(&self, lines: &Lines) -> Vec<Problem> {
        let mut out = Vec::new();
        let r = &self.role;
        let mut bad = |key: &'static str, line: u64, message: String| {
            out.push(Problem { key, line, message });
        };
        if let Some(t) = &r.arn_template
            && !t.contains("{account_id}")
        {
            bad(
                "role.arn_template",
                lines.role.line("arn_template"),
                format!(
                    "is `{t}`: it must contain `{{account_id}}` (and may contain \
                     `{{partition}}`), or every account would be entered through one role"
                ),
            );
        }
        // AWS's AssumeRole constraints (the STS API reference): RoleSessionName 2-64
        // characters of [A-Za-z0-9_+=,.@-], ExternalId 2-1,224 of [A-Za-z0-9_+=,.@:/-].
        let charset = |v: &str, extra: &str| {
            v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || extra.contains(ch))
        };
        let s = &r.session_name;
        if !(2..=64).contains(&s.chars().count()) || !charset(s, "+=,.@-") {
            bad(
                "role.session_name",
                lines.role.line("session_name"),
                format!(
                    "is `{s}`: AWS takes 2 to 64 letters, digits and `_+=,.@-` (AssumeRole's \
                     RoleSessionName)"
                ),
            );
        }
        if let Some(x) = &r.external_id
            && (!(2..=1_224).contains(&x.chars().count()) || !charset(x, "+=,.@:/-"))
        {
            bad(
                "role.external_id",
                lines.role.line("external_id"),
                "must be 2 to 1,224 letters, digits and `_+=,.@:/-` (AssumeRole's \
                 ExternalId; its value is not shown)"
                    .to_string(),
            );
        }
        if r.name.is_empty() && r.arn_template.is_none() {
            bad(
                "role.name",
                lines.role.line("name"),
                "is empty: name the role to assume in every account".to_string(),
            );
        }
        out
    }

    /// Account ids that are not account ids.
    fn account_problems(&self, lines: &Lines) -> Vec<Problem> {
        let mut out = Vec::new();
        let accounts = &self.accounts;
        let ids =
            |key: &'static str, field: &'static str, list: &mut dyn Iterator<Item = &String>| {
                list.filter(|id| !is_account_id(id))
                    .map(|id| Problem {
                        key,
                        line: lines.accounts.line(field),
                        message: format!("has `{id}`, which is not a 12-digit AWS account id"),
                    })
                    .collect::<Vec<_>>()
            };
        out.extend(ids(
            "accounts.include",
            "include",
            &mut accounts.include.iter(),
        ));
        out.extend(ids(
            "accounts.exclude",
            "exclude",
            &mut accounts.exclude.iter(),
        ));
        out.extend(ids(
            "accounts.list",
            "list",
            &mut accounts.list.iter().map(|a| &a.id),
        ));
        out
    }
}

/// A numeric setting's check: key, line, value (if set), lowest, highest, and why.
type Range = (&'static str, u64, Option<i128>, i128, i128, &'static str);

/// A YAML error as plaudit prints it: the file's name in the snippet (not `<input>`), and
/// no `error:` of its own (the caller's message already says what failed).
pub fn yaml_error(e: &serde_saphyr::Error, source: &str) -> String {
    let text = e.render_with_options(serde_saphyr::render_options! {
        source_name: Some(source),
    });
    text.strip_prefix("error: ").unwrap_or(&text).to_string()
}

/// Whether a string is an AWS account id: twelve digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Where the config's keys are (a second, lenient reading of the same text): only for
/// naming lines in [`Problem`]s.
#[derive(Debug, Default, Deserialize)]
struct Lines {
    #[serde(default)]
    crawl: Section,
    #[serde(default)]
    role: Section,
    #[serde(default)]
    history: Section,
    #[serde(default)]
    accounts: Section,
    #[serde(default)]
    rule_timeout_seconds: Option<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
}

/// A section's keys and their lines.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
struct Section(BTreeMap<String, serde_saphyr::Spanned<serde::de::IgnoredAny>>);

impl Section {
    fn line(&self, key: &str) -> u64 {
        self.0.get(key).map_or(0, |s| s.referenced.line())
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
            ("crawl:\n  accounts: 0\n", "crawl.accounts"),
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
        let err = Config::parse("crawl:\n  page_size: -5\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`crawl.page_size` is -5"),
            "the value as written: {err}"
        );
        let none = Config::parse("crawl:\n  page_size: null\n", Path::new("c.yaml")).unwrap();
        assert_eq!(none.crawl.page_size, None);
    }

    #[test]
    fn every_rejected_setting_is_named_with_its_line() {
        let text = "\
regions: [eu-west-1]
crawl:
  accounts: 0
  requests: 0
  page_size: 1001
role:
  arn_template: arn:aws:iam::111111111111:role/Fixed
  session_name: \"has space\"
  external_id: x
accounts:
  include: [\"12345\"]
history:
  keep_scans: 1
rule_timeout_seconds: 0
";
        let err = Config::parse(text, Path::new("c.yaml")).unwrap_err();
        let ConfigError::Rejected { problems, .. } = &err else {
            panic!("not rejected: {err}");
        };
        let got: Vec<(&str, u64)> = problems.iter().map(|p| (p.key, p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("crawl.accounts", 3),
                ("crawl.requests", 4),
                ("crawl.page_size", 5),
                ("history.keep_scans", 13),
                ("rule_timeout_seconds", 14),
                ("role.arn_template", 7),
                ("role.session_name", 8),
                ("role.external_id", 9),
                ("accounts.include", 11),
            ]
        );
        let text = err.to_string();
        assert!(text.contains("`c.yaml` has 9 setting(s) to fix"), "{text}");
        assert!(text.contains("line 5: `crawl.page_size` is 1001"), "{text}");
        assert!(
            !text.contains("external_id: x"),
            "the external id is a secret: {text}"
        );
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
