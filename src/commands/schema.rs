//! `plaudit schema`: the SQLite schema that rules and `query` read.

use anyhow::Result;

use super::{Context, Run};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct Args {}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let text = format!(
            "{}\n{}",
            crate::store::SCHEMA_SQL,
            crate::store::DERIVED_SQL
        );
        crate::output::write_stdout(text.as_bytes())?;
        Ok(exit::OK)
    }
}
