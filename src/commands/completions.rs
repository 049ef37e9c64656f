//! `plaudit completions SHELL`: shell completions, generated from the clap definitions.

use anyhow::Result;

use super::{Context, Run};
use crate::cli::Cli;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    shell: clap_complete::Shell,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "plaudit", &mut out);
        crate::output::write_stdout(&out)?;
        Ok(exit::OK)
    }
}
