//! `plaudit waivers lint`: a waivers file checked — syntax, rule ids, expired waivers, and
//! (with `--inventory`) waivers that match no finding.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Run};
use crate::audit::{self, Verdict};
use crate::cli::RuleSources;
use crate::settings::Flags;
use crate::waivers::Waivers;
use crate::{exit, inventory};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
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

impl Run for Command {
    fn run(&self, _: &Context) -> Result<u8> {
        let Command::Lint {
            waivers,
            inventory,
            sources,
        } = self;
        let settings = crate::settings::Settings::resolve(&Flags {
            waivers: waivers.as_deref(),
            ..sources.flags()
        })?;
        let set = settings.rules()?;
        let path = settings
            .waivers
            .clone()
            .context("no waivers file: give --waivers FILE (or `waivers` in the config)")?;
        let w = Waivers::load(&path)?.checked_against(&set)?;
        let today = chrono::Utc::now().date_naive();
        let mut problems = 0;
        for x in w.list.iter().filter(|x| x.expires < today) {
            println!(
                "expired: waiver `{}` ({}) expired on {}",
                x.id, x.owner, x.expires
            );
            problems += 1;
        }
        if let Some(p) = inventory {
            let inv = inventory::load_file(p)?;
            let store = audit::load_store(&inv)?;
            let verdict = Verdict {
                fail_on: settings.fail_on,
                fail_on_new: false,
                exit_zero: false,
            };
            let outcome = audit::evaluate(
                &set,
                &store,
                &inv,
                &audit::Review {
                    waivers: Some(&w),
                    today,
                    baseline: None,
                    verdict,
                    keep: crate::rules::eval::KeepPassing::Only(&Default::default()),
                },
            );
            for x in &outcome.waiver_notes().stale {
                println!(
                    "stale: waiver `{}` ({}) matches no failing finding in `{}`",
                    x.id,
                    x.owner,
                    p.display()
                );
                problems += 1;
            }
        }
        println!(
            "{}: {} waiver(s), {problems} to look at",
            path.display(),
            w.list.len()
        );
        Ok(if problems == 0 {
            exit::OK
        } else {
            exit::FINDINGS
        })
    }
}
