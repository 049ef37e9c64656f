//! The command line's top level: the command enum, the global flags and the argument groups
//! that several commands share. Each command's own arguments and handler are one file under
//! [`crate::commands`]; adding a command is that file and one arm here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{self, Run};
use crate::settings::{Flags, Settings};

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
    // The global flags are listed last in every command's help (display_order), wherever
    // clap's own counter would put them.
    #[command(subcommand)]
    pub command: Command,
    /// Log more on stderr: -v progress per account, -vv every AWS call (RUST_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 900)]
    pub verbose: u8,
    /// Colours in tables and logs: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(
        long,
        value_enum,
        default_value_t = ColorChoice::Auto,
        global = true,
        display_order = 901
    )]
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
    Scan(Box<commands::scan::Args>),
    /// List, explain and test rules
    #[command(subcommand, after_help = concat!(
        "Examples:\n",
        "  plaudit rules list\n",
        "  plaudit rules explain private-dns-unverified\n",
        "  plaudit rules test ./my-rules"
    ))]
    Rules(commands::rules::Command),
    /// Run SQL over an inventory (the same tables and views rules use; see `plaudit schema`)
    #[command(after_help = concat!(
        "Example:\n",
        "  plaudit query --inventory examples/demo-org.json \\\n",
        "    \"SELECT account_id, service_id, private_dns_state FROM endpoint_services\""
    ))]
    Query(commands::query::Args),
    /// Check access before a long scan: assume the role in every selected account and make one
    /// cheap call per API family; prints a permission matrix (exit 3 when something is denied)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit preflight --regions us-east-1\n",
        "  plaudit preflight --config plaudit.yaml --format csv > access.csv"
    ))]
    Preflight(commands::preflight::Args),
    /// List the scans recorded in the history, or prune old ones
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit history\n",
        "  plaudit history --state /var/lib/plaudit/history.db --format json\n",
        "  plaudit history prune --keep 90"
    ))]
    History(commands::history::Args),
    /// What changed between two recorded scans: findings (new, resolved, open, changed) and
    /// the PrivateLink graph (services, acceptance, DNS, principals, AZ IDs, consumers,
    /// connections, security-group rules, accounts)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit drift                      # the last two scans\n",
        "  plaudit drift --from 12 --to 15 --format csv -o drift.csv"
    ))]
    Drift(commands::drift::Args),
    /// Check a waivers file: syntax, rule ids, expired waivers, and (with --inventory)
    /// waivers that match nothing (exit 1 when any is expired or stale)
    #[command(
        subcommand,
        after_help = "Example:\n  plaudit waivers lint --waivers waivers.yaml --inventory last-scan.json"
    )]
    Waivers(commands::waivers::Command),
    /// Export the inventory as CSV: endpoint services, endpoints, connections, load balancers
    /// or the coverage ledger, with AZ names next to AZ IDs (and, from the history, when each
    /// resource was first and last seen)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit export endpoint-services --inventory inv.json -o services.csv\n",
        "  plaudit export endpoints --columns account_id,region,endpoint_id,availability_zones\n",
        "  plaudit export connections --scan 14 --state history.db"
    ))]
    Export(commands::export::Args),
    /// Draw the organisation's PrivateLink: consumer endpoints, services, load balancers and
    /// target groups in their accounts, coloured by the worst finding on each (dot, Mermaid
    /// or SVG)
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit graph --inventory examples/demo-org.json --format svg -o graph.svg\n",
        "  plaudit graph --failing-only --format mermaid          # the last scan's broken chains\n",
        "  plaudit graph --inventory inv.json --service ledger --around ledger-nlb --depth 1\n",
        "  plaudit graph --inventory inv.json --ou /Workloads/Prod | dot -Tpng > prod.png"
    ))]
    Graph(commands::graph::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit completions bash > /etc/bash_completion.d/plaudit\n",
        "  plaudit completions zsh > \"${fpath[1]}/_plaudit\""
    ))]
    Completions(commands::completions::Args),
    /// Print a man page (roff) to stdout, or write every page into a directory
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit man --dir /usr/local/share/man/man1   # every page\n",
        "  plaudit man rules list | man -l -"
    ))]
    Man(commands::man::Args),
    /// Walk the organisation once and list the accounts a scan would select (id, name, state,
    /// OU path); `--save FILE` keeps the list for `scan --accounts-from FILE --shard K/N`
    #[command(after_help = concat!(
        "Examples:\n",
        "  plaudit accounts --config plaudit.yaml\n",
        "  plaudit accounts --save accounts.json --format csv > accounts.csv\n",
        "  plaudit scan --accounts-from accounts.json --shard 3/8 --save-inventory s3.json"
    ))]
    Accounts(commands::accounts::Args),
    /// Join inventories saved by separate scans (shards) into one, ledgers included
    #[command(after_help = concat!(
        "Example:\n",
        "  plaudit scan --shard 1/2 --save-inventory s1.json   # on one machine\n",
        "  plaudit scan --shard 2/2 --save-inventory s2.json   # on another\n",
        "  plaudit merge s1.json s2.json -o org.json && plaudit scan --inventory org.json"
    ))]
    Merge(commands::merge::Args),
    /// Print the SQLite schema that rules and `query` read
    #[command(after_help = "Example:\n  plaudit schema | less")]
    Schema(commands::schema::Args),
}

impl Command {
    /// The handler of the command given.
    pub fn handler(&self) -> &dyn Run {
        match self {
            Command::Scan(c) => c.as_ref(),
            Command::Rules(c) => c,
            Command::Query(c) => c,
            Command::Preflight(c) => c,
            Command::History(c) => c,
            Command::Drift(c) => c,
            Command::Waivers(c) => c,
            Command::Export(c) => c,
            Command::Graph(c) => c,
            Command::Completions(c) => c,
            Command::Man(c) => c,
            Command::Merge(c) => c,
            Command::Accounts(c) => c,
            Command::Schema(c) => c,
        }
    }
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

impl RuleSources {
    /// What these flags say about settings.
    pub fn flags(&self) -> Flags<'_> {
        Flags {
            config: self.config.as_deref(),
            rule_dirs: &self.rule_dirs,
            no_builtin_rules: self.no_builtin_rules,
            ..Flags::default()
        }
    }

    /// The settings for a command whose only settings flags are these.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::resolve(&self.flags())
    }
}

/// A listing's format and destination.
#[derive(Debug, Args)]
pub struct ListOutput {
    #[arg(long, value_enum, default_value_t = crate::output::ListFormat::Table)]
    pub format: crate::output::ListFormat,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Where the scan history is, for the commands that only read (or prune) it.
#[derive(Debug, Args)]
pub struct HistoryFile {
    /// The history file [default: the config's `state`, else ~/.local/share/plaudit/history.db]
    #[arg(long, value_name = "FILE", global = true)]
    pub state: Option<PathBuf>,
    /// A config file (its `state` key names the history; see config.example.yaml)
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

impl HistoryFile {
    /// The settings these flags and the config give.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::resolve(&Flags {
            config: self.config.as_deref(),
            state: self.state.as_deref(),
            ..Flags::default()
        })
    }
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
    /// Crawl the accounts listed in FILE (written by `plaudit accounts --save FILE`) instead
    /// of walking the organisation: N shards cost Organizations one walk
    #[arg(long, value_name = "FILE", conflicts_with = "accounts")]
    pub accounts_from: Option<PathBuf>,
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
