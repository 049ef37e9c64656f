//! `plaudit graph`: the organisation's PrivateLink as a picture — consumer endpoints, services,
//! load balancers and target groups in their accounts, coloured by the worst finding on each
//! — from a saved inventory (the rules are evaluated) or a scan of the history (its recorded
//! findings; a scan records passes only where they resolve an open finding, so resources
//! that only passed are drawn uncoloured). The model is [`crate::topology`]; this file loads,
//! filters and writes.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Run};
use crate::cli::RuleSources;
use crate::exit;
use crate::findings::Finding;
use crate::history::History;
use crate::inventory::{self, Inventory};
use crate::output;
use crate::settings::Flags;
use crate::store::Store;
use crate::topology::render::{self, GraphFormat};
use crate::topology::{Filter, Graph};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Draw a saved inventory (its rules are evaluated) [default: the last scan of the history]
    #[arg(long, value_name = "FILE", conflicts_with = "scan")]
    inventory: Option<PathBuf>,
    /// Draw this scan of the history, coloured by the findings it recorded
    #[arg(long, value_name = "SCAN")]
    scan: Option<i64>,
    /// The history file [default: the config's `state`, else ~/.local/share/plaudit/history.db]
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Only services whose id or name contains this (repeatable), with their chains and
    /// consumers
    #[arg(long, value_name = "TEXT")]
    service: Vec<String>,
    /// Only chains that touch this account (repeatable)
    #[arg(long, value_name = "ID")]
    account: Vec<String>,
    /// Only chains that touch an account under this OU path (repeatable; `/Workloads/Prod`)
    #[arg(long, value_name = "PATH")]
    ou: Vec<String>,
    /// Only chains with a failing resource or hop
    #[arg(long)]
    failing_only: bool,
    /// Only what is within --depth hops of this resource (an id, name or ARN)
    #[arg(long, value_name = "RESOURCE")]
    around: Option<String>,
    /// Hops around --around
    #[arg(long, default_value_t = 2, requires = "around")]
    depth: usize,
    /// Drawing format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    sources: RuleSources,
}

impl Run for Args {
    fn run(&self, _: &Context) -> Result<u8> {
        let settings = crate::settings::Settings::resolve(&Flags {
            state: self.state.as_deref(),
            ..self.sources.flags()
        })?;
        super::check_output_vs_sources(
            self.output.as_deref(),
            self.inventory.as_deref(),
            &settings,
        )?;
        let (inv, findings) = match &self.inventory {
            Some(p) => {
                let inv = inventory::load_file(p)?;
                let set = settings.rules()?;
                let store = Store::load(&inv)
                    .with_context(|| format!("loading `{}` for the rules", p.display()))?;
                let findings = crate::rules::eval::evaluate(&set, &store, &inv).findings;
                (inv, findings)
            }
            None => {
                let h = History::open_read_only(settings.state()?)
                    .context("nothing to draw: give --inventory FILE, or draw a recorded scan")?;
                from_history(&h, self.scan)?
            }
        };
        let graph = Graph::build(&inv, &findings).filter(&Filter {
            services: self.service.clone(),
            accounts: self.account.clone(),
            ous: self.ou.clone(),
            failing_only: self.failing_only,
            around: self.around.clone(),
            depth: self.depth,
        });
        if let Some(a) = &self.around
            && graph.nodes.is_empty()
        {
            anyhow::bail!(
                "--around {a}: no endpoint, service, load balancer or target group has that id, name or ARN here"
            );
        }
        let text = match self.format {
            GraphFormat::Dot => render::dot(&graph),
            GraphFormat::Mermaid => render::mermaid(&graph),
            GraphFormat::Svg => render::svg(&graph)?,
        };
        output::emit(self.output.as_deref(), |w| {
            w.write_all(text.as_bytes())?;
            Ok(())
        })?;
        tracing::info!(
            "{} nodes, {} edges in {} accounts",
            graph.nodes.len(),
            graph.edges.len(),
            graph.accounts.len()
        );
        Ok(exit::OK)
    }

    fn machine_output(&self) -> bool {
        true
    }
}

/// A scan's inventory and the findings it recorded (the last finished scan by default).
fn from_history(h: &History, scan: Option<i64>) -> Result<(Inventory, Vec<Finding>)> {
    let id = h.scan_or_last_finished(scan)?.id;
    let findings = h
        .findings(id)?
        .into_iter()
        .map(|r| r.into_finding())
        .collect();
    Ok((h.inventory(id)?, findings))
}
