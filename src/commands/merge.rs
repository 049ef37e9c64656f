//! `plaudit merge`: join inventories saved by separate scans (shards) into one.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::{Context, Run};
use crate::{exit, inventory, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inventory files to join
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Where to write the merged inventory [default: stdout]
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        if let Some(o) = &self.output {
            let ins: Vec<(&str, &Path)> = self
                .inputs
                .iter()
                .map(|p| ("an input", p.as_path()))
                .collect();
            output::check_outputs(&[("-o", o)], &ins)?;
        }
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        // Files are merged streaming, one account at a time; pipes are read whole.
        let mut done = None;
        output::emit(self.output.as_deref(), |w| {
            done = inventory::merge::merge_files(&self.inputs, &names, w)?;
            if done.is_none() {
                let mut invs = Vec::new();
                for p in &self.inputs {
                    invs.push(inventory::load_file(p)?);
                }
                let merged = inventory::merge::merge(invs, &names)
                    .map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
                serde_json::to_writer_pretty(&mut *w, &merged)?;
                writeln!(w)?;
                done = Some(inventory::merge::Merged {
                    accounts: merged.accounts.len(),
                    account_regions: merged.account_regions(),
                    gaps: merged.gaps().count(),
                });
            }
            Ok(())
        })?;
        let merged = done.context("nothing was merged")?;
        use crate::report::plural;
        eprintln!(
            "merged {} inventories: {}, {}, {}",
            self.inputs.len(),
            plural(merged.accounts, "account", "accounts"),
            plural(merged.account_regions, "account-region", "account-regions"),
            plural(merged.gaps, "coverage gap", "coverage gaps"),
        );
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        self.output.is_none()
    }
}
