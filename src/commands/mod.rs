//! The commands, one file each: its clap arguments and its handler. A handler resolves its
//! settings once ([`crate::settings`]), calls the library, and prints; it decides nothing the
//! library could. Errors come back as `anyhow` chains and become exit code 2 in `main`.
//!
//! Adding a command: a file here that implements [`Run`] for its arguments, and one arm in
//! [`crate::cli::Command`].

pub mod accounts;
pub mod completions;
pub mod drift;
pub mod export;
pub mod graph;
pub mod history;
pub mod man;
pub mod merge;
pub mod preflight;
pub mod query;
pub mod rules;
pub mod scan;
pub mod schema;
pub mod waivers;

use anyhow::Result;

use crate::cli::Cli;

/// What every command gets besides its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Whether stdout may carry colours (`--color`, a terminal, `NO_COLOR`).
    pub color: bool,
}

/// A command: runs, and says whether it prints a machine-readable document on stdout (then
/// logs go to stderr as JSON lines).
pub trait Run {
    fn run(&self, ctx: &Context) -> Result<u8>;
    fn machine_output(&self) -> bool {
        false
    }
}

/// Refuses `-o FILE` when it is the `--inventory` or the history the command reads (for the
/// commands that read one or the other).
fn check_output_vs_sources(
    output: Option<&std::path::Path>,
    inventory: Option<&std::path::Path>,
    settings: &crate::settings::Settings,
) -> Result<()> {
    let Some(o) = output else { return Ok(()) };
    let mut ins: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(p) = inventory {
        ins.push(("--inventory", p));
    }
    if let Some(p) = settings.state_if_known() {
        ins.push(("the history (--state)", p));
    }
    crate::output::check_outputs(&[("-o", o)], &ins)
}

/// Runs the command the command line names.
pub fn run(cli: &Cli) -> Result<u8> {
    use std::io::IsTerminal;
    let ctx = Context {
        color: cli.color.enabled(std::io::stdout().is_terminal()),
    };
    cli.command.handler().run(&ctx)
}
