//! `plaudit rules list | explain ID | test [DIR]`: the rule catalogue, a rule's
//! documentation, and the rules' own test cases.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::{Context, Run};
use crate::cli::RuleSources;
use crate::exit;
use crate::output::rows::{ListFormat, print_rows_to_stdout};
use crate::rules::{self, RuleSet};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
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

impl Run for Command {
    fn run(&self, _: &Context) -> Result<u8> {
        match self {
            Command::List { format, sources } => list(*format, sources),
            Command::Explain { id, sources } => explain(id, sources),
            Command::Test { dir } => test(dir.as_deref()),
        }
    }

    fn machine_output(&self) -> bool {
        matches!(self, Command::List { format, .. } if *format != ListFormat::Table)
    }
}

fn list(format: ListFormat, sources: &RuleSources) -> Result<u8> {
    let set = sources.settings()?.rules()?;
    // A terminal table leaves out what a spot check does not need: no compliance column
    // when no rule maps to a framework, no source column when every rule is built in
    // (CSV and JSON always carry all six).
    let table = format == ListFormat::Table;
    let any_compliance = set.rules().iter().any(|r| !r.compliance.is_empty());
    let any_own = set.rules().iter().any(|r| !r.builtin);
    let keep =
        |c: &str| !table || (c != "compliance" || any_compliance) && (c != "source" || any_own);
    let all = [
        "id",
        "severity",
        "resource",
        "title",
        "compliance",
        "source",
    ];
    let columns: Vec<String> = all
        .iter()
        .filter(|c| keep(c))
        .map(|c| c.to_string())
        .collect();
    let rows: Vec<Vec<String>> = set
        .rules()
        .iter()
        .map(|r| {
            let cells = [
                r.id.clone(),
                r.severity.to_string(),
                r.resource.clone(),
                r.title.clone(),
                r.compliance
                    .iter()
                    .map(|c| format!("{} {}", c.framework, c.control))
                    .collect::<Vec<_>>()
                    .join("; "),
                if table && r.builtin {
                    "built-in".to_string()
                } else {
                    r.source.clone()
                },
            ];
            all.iter()
                .zip(cells)
                .filter(|(c, _)| keep(c))
                .map(|(_, v)| v)
                .collect()
        })
        .collect();
    print_rows_to_stdout(format, &columns, &rows)?;
    Ok(exit::OK)
}

fn explain(id: &str, sources: &RuleSources) -> Result<u8> {
    let set = sources.settings()?.rules()?;
    let Some(r) = set.get(id) else {
        let ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
        bail!("no rule has the id `{id}`; known rules: {}", ids.join(", "));
    };
    crate::output::write_stdout(rules::explain_text(r).as_bytes())?;
    Ok(exit::OK)
}

fn test(dir: Option<&Path>) -> Result<u8> {
    let (set, files) = match dir {
        None => (
            rules::load_all(&[], true)?,
            rules::builtin::tests()
                .into_iter()
                .map(|(s, t)| (s, t.to_string()))
                .collect::<Vec<_>>(),
        ),
        Some(d) => {
            // Rules in DIR may share ids with built-in ones (a copy of rules/): then DIR's win.
            let own = rules::load_dir(d)?;
            let mut all: Vec<rules::Rule> = rules::builtin::rules()?
                .into_iter()
                .filter(|b| !own.iter().any(|o| o.id == b.id))
                .collect();
            all.extend(own);
            (RuleSet::new(all)?, rules::testing::load_dir(d)?)
        }
    };
    if files.is_empty() {
        bail!(
            "no test files in `{}`",
            dir.map(|d| d.join("tests").display().to_string())
                .unwrap_or_else(|| "the built-in rules".into())
        );
    }
    let report = rules::testing::run(&set, &files)?;
    let mut out = String::new();
    for c in &report.checks {
        let mark = if c.outcome == rules::testing::Outcome::Validated {
            "ok  "
        } else {
            "FAIL"
        };
        out.push_str(&format!(
            "{mark} {} / {} / {}: {}\n",
            c.rule, c.case, c.resource, c.outcome
        ));
    }
    out.push_str(&format!(
        "{} passed, {} failed\n",
        report.passed(),
        report.failed()
    ));
    crate::output::write_stdout(out.as_bytes())?;
    Ok(if report.failed() == 0 {
        exit::OK
    } else {
        exit::FINDINGS
    })
}
