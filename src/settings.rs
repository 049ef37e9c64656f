//! Settings, resolved once: what a command's flags said ([`Flags`], the low-level record)
//! and the config file give, in one place, every command the same precedence — flag, then
//! config, then default — for the history file, waivers, `--fail-on`, rule sources, regions,
//! role, accounts, deadline and crawl limits. Commands read [`Settings`]; none re-decides.
//!
//! Not in here: parsing and validating the config file itself ([`crate::config`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::{Config, FailOn};
use crate::crawl::CrawlOptions;
use crate::findings::Severity;
use crate::rules::{self, RuleSet};

/// What the command line said about settings that a config can also give. Each command
/// fills the fields it has flags for; the rest stay `None`/empty.
#[derive(Debug, Default, Clone)]
pub struct Flags<'a> {
    pub config: Option<&'a Path>,
    pub state: Option<&'a Path>,
    pub waivers: Option<&'a Path>,
    pub fail_on: Option<FailOn>,
    pub rule_dirs: &'a [PathBuf],
    pub no_builtin_rules: bool,
    pub crawl: Option<&'a crate::cli::CrawlArgs>,
}

/// Every setting a command needs, decided once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file given, if any.
    pub config_path: Option<PathBuf>,
    /// The config, validated, with the command line's crawl overrides applied.
    pub config: Config,
    /// The history file (flag, config, the user's data directory); `None` when there is no
    /// data directory and none was given.
    state: Option<PathBuf>,
    /// The waivers file (flag, then config).
    pub waivers: Option<PathBuf>,
    /// The exit-code threshold (flag, config, `info`).
    pub fail_on: FailOn,
    /// Rule directories: the config's, then the flags'.
    pub rule_dirs: Vec<PathBuf>,
    /// Whether the built-in rules are included (off if either the flag or the config says so).
    pub builtin_rules: bool,
    /// Progress line on stderr during a crawl.
    pub progress: bool,
    /// Shard (index, count), 0-based.
    pub shard: Option<(u32, u32)>,
    /// The account list to crawl instead of walking the organisation (`--accounts-from`).
    pub accounts_from: Option<PathBuf>,
}

impl Settings {
    /// Reads the config (if given) and lays the flags over it.
    pub fn resolve(flags: &Flags<'_>) -> Result<Settings> {
        let config = match flags.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        Ok(Settings::from_parts(flags, config))
    }

    /// [`Settings::resolve`] with the config already read.
    pub fn from_parts(flags: &Flags<'_>, mut config: Config) -> Settings {
        let state = flags
            .state
            .map(Path::to_path_buf)
            .or_else(|| config.state.clone())
            .or_else(crate::history::default_path);
        let waivers = flags
            .waivers
            .map(Path::to_path_buf)
            .or_else(|| config.waivers.clone());
        let fail_on = flags
            .fail_on
            .or(config.fail_on)
            .unwrap_or(FailOn::Severity(Severity::Info));
        let mut rule_dirs = config.rule_dirs.clone();
        rule_dirs.extend(flags.rule_dirs.iter().cloned());
        let builtin_rules = !(flags.no_builtin_rules || config.no_builtin_rules);
        let (mut progress, mut shard, mut accounts_from) = (true, None, None);
        if let Some(c) = flags.crawl {
            if !c.regions.is_empty() {
                config.regions = c.regions.clone();
            }
            if let Some(r) = &c.role_name {
                config.role.name = r.clone();
                config.role.arn_template = None;
            }
            if !c.accounts.is_empty() {
                config.accounts.include = c.accounts.clone();
            }
            if let Some(d) = c.deadline {
                config.crawl.deadline_seconds = Some(d);
            }
            progress = !c.quiet;
            shard = c.shard.map(|s| (s.index - 1, s.count));
            accounts_from.clone_from(&c.accounts_from);
        }
        config.state = state.clone();
        config.waivers = waivers.clone();
        config.fail_on = Some(fail_on);
        Settings {
            config_path: flags.config.map(Path::to_path_buf),
            config,
            state,
            waivers,
            fail_on,
            rule_dirs,
            builtin_rules,
            progress,
            shard,
            accounts_from,
        }
    }

    /// The history file, or how to name one.
    pub fn state(&self) -> Result<&Path> {
        self.state
            .as_deref()
            .context("no history file: set --state (or `state` in the config), or use --no-history")
    }

    /// The history file if one is known (for checking outputs against it).
    pub fn state_if_known(&self) -> Option<&Path> {
        self.state.as_deref()
    }

    /// What the crawler needs.
    pub fn crawl_options(&self) -> CrawlOptions {
        CrawlOptions {
            config: self.config.clone(),
            progress: self.progress,
            shard: self.shard,
            accounts_from: self.accounts_from.clone(),
        }
    }

    /// The rule set: built-in and own rules, the config's overrides and time budget.
    pub fn rules(&self) -> Result<RuleSet> {
        let mut set = rules::load_all(&self.rule_dirs, self.builtin_rules)?;
        let name = self
            .config_path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        set.apply_overrides(&self.config.rules, &name)?;
        if let Some(secs) = self.config.rule_timeout_seconds {
            set.set_budget(std::time::Duration::from_secs(secs));
        }
        if set.is_empty() {
            bail!("no rules to run: the built-in rules are off and no --rules directory has any");
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(text: &str) -> Config {
        Config::parse(text, Path::new("c.yaml")).unwrap()
    }

    #[test]
    fn a_flag_wins_over_the_config_which_wins_over_the_default() {
        let c = cfg("state: /c/h.db\nwaivers: /c/w.yaml\nfail_on: high\nregions: [eu-west-1]\n");
        let s = Settings::from_parts(&Flags::default(), c.clone());
        assert_eq!(s.state().unwrap(), Path::new("/c/h.db"));
        assert_eq!(s.waivers.as_deref(), Some(Path::new("/c/w.yaml")));
        assert_eq!(s.fail_on, FailOn::Severity(Severity::High));
        assert_eq!(s.crawl_options().config.regions, vec!["eu-west-1"]);

        let crawl = crate::cli::CrawlArgs {
            regions: vec!["us-east-1".into()],
            role_name: Some("Other".into()),
            accounts: vec!["111111111111".into()],
            quiet: true,
            deadline: Some(9),
            shard: Some(crate::cli::Shard { index: 2, count: 3 }),
            accounts_from: Some("/f/accounts.json".into()),
        };
        let flags = Flags {
            state: Some(Path::new("/f/h.db")),
            waivers: Some(Path::new("/f/w.yaml")),
            fail_on: Some(FailOn::Never),
            crawl: Some(&crawl),
            ..Flags::default()
        };
        let s = Settings::from_parts(&flags, c);
        assert_eq!(s.state().unwrap(), Path::new("/f/h.db"));
        assert_eq!(s.waivers.as_deref(), Some(Path::new("/f/w.yaml")));
        assert_eq!(s.fail_on, FailOn::Never);
        let o = s.crawl_options();
        assert_eq!(o.config.regions, vec!["us-east-1"]);
        assert_eq!(o.config.role.name, "Other");
        assert_eq!(o.config.accounts.include, vec!["111111111111"]);
        assert_eq!(o.config.crawl.deadline_seconds, Some(9));
        assert_eq!((o.progress, o.shard), (false, Some((1, 3))));
        assert_eq!(
            o.accounts_from.as_deref(),
            Some(Path::new("/f/accounts.json"))
        );

        let s = Settings::from_parts(&Flags::default(), Config::default());
        assert_eq!(s.fail_on, FailOn::Severity(Severity::Info));
        assert!(s.builtin_rules);
    }
}
