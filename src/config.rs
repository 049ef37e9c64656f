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
    /// Default for `--fail-on`.
    #[serde(default)]
    pub fail_on: Option<FailOn>,
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
    #[error("cannot read config `{path}`: {source}")]
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
        for d in &mut cfg.rule_dirs {
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
