//! The command line: clap definitions only. What each command does is in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  no failing finding at or above --fail-on
  1  failing findings at or above --fail-on
  2  bad invocation, config, rule or input file
  3  the scan is incomplete (a coverage gap); wins over 1
  130  interrupted (Ctrl-C); nothing was written";

#[derive(Debug, Parser)]
#[command(
    name = "plaudit",
    version,
    about = "Audit AWS PrivateLink across an AWS Organization and track how it drifts",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log more on stderr: -v progress per account, -vv every AWS call (RUST_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Colours in tables and logs: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal. `NO_COLOR` (any non-empty
    /// value) turns `auto` off, as no-color.org asks.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

impl Cli {
    /// Whether the command prints a machine-readable document on stdout (logs then go to
    /// stderr as JSON lines).
    pub fn machine_output(&self) -> bool {
        match &self.command {
            Command::Scan(a) => a.format != Format::Table,
            Command::Drift(a) => a.format != ListFormat::Table,
            Command::History(a) => a.format != ListFormat::Table,
            Command::Preflight(a) => a.format != ListFormat::Table,
            Command::Query(a) => a.format != ListFormat::Table,
            Command::Export(_) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate the rules and report findings
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit scan --inventory examples/demo-org.json\n",
        "  plaudit scan --regions eu-west-1,us-east-1 --save-inventory inv.json\n",
        "  plaudit scan --inventory inv.json --format csv --output findings.csv\n",
        "  plaudit scan --inventory inv.json --fail-on high --rules ./my-rules\n",
        "  plaudit scan --waivers waivers.yaml --baseline 41 --fail-on-new   # CI: only new findings fail\n\n",
        "Exit codes:\n",
        "  0  no failing finding at or above --fail-on\n",
        "  1  failing findings at or above --fail-on\n",
        "  2  bad invocation, config, rule or input file\n",
        "  3  the scan is incomplete (a coverage gap); wins over 1\n",
        "  130  interrupted (Ctrl-C); nothing was written"
    ))]
    Scan(ScanArgs),
    /// List, explain and test rules
    #[command(subcommand, after_help = concat!(
        "Examples:\n",
        "  plaudit rules list\n",
        "  plaudit rules explain private-dns-unverified\n",
        "  plaudit rules test ./my-rules"
    ))]
    Rules(RulesCommand),
    /// Run SQL over an inventory (the same tables and views rules use; see `plaudit schema`)
    #[command(after_help = concat!(
        "Example:\n",
        "  plaudit query --inventory examples/demo-org.json \\\n",
        "    \"SELECT account_id, service_id, private_dns_state FROM endpoint_services\""
    ))]
    Query(QueryArgs),
    /// Check access before a long scan: assume the role in every selected account and make one
    /// cheap call per API family; prints a permission matrix (exit 3 when something is denied)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit preflight --regions us-east-1\n",
        "  plaudit preflight --config plaudit.yaml --format csv > access.csv"
    ))]
    Preflight(PreflightArgs),
    /// List the scans recorded in the history, or prune old ones
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit history\n",
        "  plaudit history --state /var/lib/plaudit/history.db --format json\n",
        "  plaudit history prune --keep 90"
    ))]
    History(HistoryArgs),
    /// What changed between two recorded scans: findings (new, resolved, open, changed) and
    /// the PrivateLink graph (services, acceptance, DNS, principals, AZ IDs, consumers,
    /// connections, security-group rules, accounts)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit drift                      # the last two scans\n",
        "  plaudit drift --from 12 --to 15 --format csv -o drift.csv"
    ))]
    Drift(DriftArgs),
    /// Check a waivers file: syntax, rule ids, expired waivers, and (with --inventory)
    /// waivers that match nothing (exit 1 when any is expired or stale)
    #[command(
        subcommand,
        after_help = "Example:\n  plaudit waivers lint --waivers waivers.yaml --inventory last-scan.json"
    )]
    Waivers(WaiversCommand),
    /// Export the inventory as CSV: endpoint services, endpoints, connections, load balancers
    /// or the coverage ledger, with AZ names next to AZ IDs (and, from the history, when each
    /// resource was first and last seen)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit export endpoint-services --inventory inv.json -o services.csv\n",
        "  plaudit export endpoints --columns account_id,region,endpoint_id,availability_zones\n",
        "  plaudit export connections --scan 14 --state history.db"
    ))]
    Export(ExportArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit completions bash > /etc/bash_completion.d/plaudit\n",
        "  plaudit completions zsh > \"${fpath[1]}/_plaudit\""
    ))]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to stdout
    #[command(after_help = "Example:\n  plaudit man > /usr/local/share/man/man1/plaudit.1")]
    Man,
    /// Join inventories saved by separate scans (shards) into one, ledgers included
    #[command(after_help = concat!(
        "Example:\n",
        "  plaudit scan --shard 1/2 --save-inventory s1.json   # on one machine\n",
        "  plaudit scan --shard 2/2 --save-inventory s2.json   # on another\n",
        "  plaudit merge s1.json s2.json -o org.json && plaudit scan --inventory org.json"
    ))]
    Merge {
        /// Inventory files to join
        #[arg(required = true, num_args = 2..)]
        inputs: Vec<PathBuf>,
        /// Where to write the merged inventory [default: stdout]
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the SQLite schema that rules and `query` read
    #[command(after_help = "Example:\n  plaudit schema | less")]
    Schema,
    /// Write a synthetic organisation's inventory (for benchmarks and trying plaudit at scale)
    #[command(hide = true)]
    Synth {
        #[arg(long, default_value_t = 100)]
        accounts: usize,
        #[arg(long, default_value_t = 17)]
        regions: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export
    #[arg(value_enum)]
    pub kind: crate::report::export::ExportKind,
    /// From a saved inventory (else from a scan of the history)
    #[arg(long, value_name = "FILE", conflicts_with = "scan")]
    pub inventory: Option<PathBuf>,
    /// From this scan of the history [default: the last finished one]; adds first_seen,
    /// last_seen and waiver_ids
    #[arg(long, value_name = "SCAN")]
    pub scan: Option<i64>,
    /// The history file [default: the config's `state`, else ~/.local/share/plaudit/history.db]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A config file (for its `state` key)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The columns to print, in order (comma-separated) [default: all]
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: Option<HistoryAction>,
    /// The history file [default: the config's `state`, else ~/.local/share/plaudit/history.db]
    #[arg(long, value_name = "FILE", global = true)]
    pub state: Option<PathBuf>,
    /// A config file (for its `state` and `history` keys)
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Delete old scans (their findings, ledgers and inventories); open findings keep their
    /// first-seen dates
    #[command(
        after_help = "Examples:\n  plaudit history prune --keep 90\n  plaudit history prune --older-than 365"
    )]
    Prune {
        /// Keep the N most recent scans [config: history.keep_scans]
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Delete scans that started more than DAYS days ago [config: history.keep_days]
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The older scan (an id from `plaudit history`) [default: the finished scan before --to]
    #[arg(long, value_name = "SCAN")]
    pub from: Option<i64>,
    /// The newer scan [default: the last finished scan, complete or not]
    #[arg(long, value_name = "SCAN")]
    pub to: Option<i64>,
    /// The history file [default: the config's `state`, else ~/.local/share/plaudit/history.db]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A config file (for its `state` key)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WaiversCommand {
    /// Validate a waivers file and report expired and stale waivers
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit waivers lint --waivers waivers.yaml\n",
        "  plaudit waivers lint --config plaudit.yaml --inventory last-scan.json"
    ))]
    Lint {
        /// The waivers file [default: `waivers` from the config]
        #[arg(long, value_name = "FILE")]
        waivers: Option<PathBuf>,
        /// Also report waivers that match no finding of this inventory
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
        #[command(flatten)]
        sources: RuleSources,
    },
}

#[derive(Debug, Args)]
pub struct RuleSources {
    /// A directory of rules of your own (repeatable), added to the built-in rules
    #[arg(long = "rules", value_name = "DIR")]
    pub rule_dirs: Vec<PathBuf>,
    /// Use only the rules from --rules, not the built-in catalogue
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// Config file (YAML; see config.example.yaml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Evaluate a saved inventory (JSON) instead of crawling AWS
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Save the crawled inventory to FILE (re-evaluate it later with --inventory)
    #[arg(long, value_name = "FILE", conflicts_with = "inventory")]
    pub save_inventory: Option<PathBuf>,
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// The scan history file [default: ~/.local/share/plaudit/history.db, or `state` in the
    /// config]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Do not record this scan in the history
    #[arg(long)]
    pub no_history: bool,
    /// A waivers file (YAML; accepted findings with owners and expiry) [config: waivers]
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Compare with a baseline: a scan id from `plaudit history`, or a JSON report
    /// (`--format json`) of an earlier scan
    #[arg(long, value_name = "SCAN|FILE")]
    pub baseline: Option<String>,
    /// With --baseline: exit 1 only for failing findings that are new since the baseline
    #[arg(long, requires = "baseline")]
    pub fail_on_new: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// With --format csv: the columns to print, in order (comma-separated; docs/outputs.md)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Write the report to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a failing finding has at least this severity (critical, high, medium, low,
    /// info) or `none` [default: info, or `fail_on` from the config]
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<crate::config::FailOn>,
    /// Exit 0 even with failing findings or coverage gaps (errors still exit 2)
    #[arg(long)]
    pub exit_zero: bool,
    /// Also list passing findings in the table
    #[arg(long)]
    pub show_pass: bool,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// Options of a live crawl (scan without --inventory, preflight).
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Regions to crawl, comma-separated [default: the regions enabled in each account]
    #[arg(long, value_delimiter = ',', value_name = "REGIONS")]
    pub regions: Vec<String>,
    /// Role to assume in each member account [default: PlauditAudit]
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// Scan only these account ids, comma-separated (narrows the config's selection)
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub accounts: Vec<String>,
    /// No progress line on stderr
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop crawling after SECS seconds: evaluate what was collected, record the rest as
    /// `timeout` coverage gaps (exit code 3) [config: crawl.deadline_seconds]
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Crawl only shard K of N (1-based): a stable 1/N of the selected accounts. Save each
    /// shard's inventory and join them with `plaudit merge`
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

/// `K/N`: the K-th of N shards, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not K/N with 1 <= K <= N (e.g. 2/8)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// Config file (YAML; see config.example.yaml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules
    #[command(
        after_help = "Examples:\n  plaudit rules list\n  plaudit rules list --rules ./my-rules --format csv"
    )]
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(flatten)]
        sources: RuleSources,
    },
    /// Print a rule's documentation: what it checks, why it matters, how to fix it
    #[command(after_help = "Example:\n  plaudit rules explain endpoint-az-coverage")]
    Explain {
        /// Rule id, e.g. private-dns-unverified
        id: String,
        #[command(flatten)]
        sources: RuleSources,
    },
    /// Run rule test cases (DIR/tests/*.yaml; the built-in rules' tests without DIR)
    #[command(after_help = "Examples:\n  plaudit rules test\n  plaudit rules test ./my-rules")]
    Test {
        /// A rule directory with a tests/ folder
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run
    pub sql: String,
    /// The inventory to load
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}
