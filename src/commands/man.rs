//! `plaudit man`: the man page (roff), generated from the clap definitions.

use anyhow::{Context as _, Result};

use super::{Context, Run};
use crate::cli::Cli;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .context("rendering the man page")?;
        crate::output::write_stdout(&out)?;
        Ok(exit::OK)
    }
}
