//! `plaudit merge`: join inventories saved by separate scans (shards) into one.

use std::path::{Path, PathBuf};

use anyhow::Result;

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
        let mut invs = Vec::new();
        for p in &self.inputs {
            invs.push(inventory::load_file(p)?);
        }
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let merged = inventory::merge::merge(invs, &names)
            .map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
        output::emit(self.output.as_deref(), |w| {
            serde_json::to_writer_pretty(&mut *w, &merged)?;
            writeln!(w)?;
            Ok(())
        })?;
        use crate::report::plural;
        eprintln!(
            "merged {} inventories: {}, {}, {}",
            self.inputs.len(),
            plural(merged.accounts.len(), "account", "accounts"),
            plural(
                merged.account_regions(),
                "account-region",
                "account-regions"
            ),
            plural(merged.gaps().count(), "coverage gap", "coverage gaps"),
        );
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        self.output.is_none()
    }
}
