//! Writes a synthetic organisation's inventory, for trying plaudit at scale and for the
//! benchmarks' inputs. A development tool, not part of the shipped binary:
//!
//! ```sh
//! cargo run --release --example synth -- --accounts 1000 --regions 17 -o big.json
//! plaudit scan --inventory big.json --no-history
//! ```

#[allow(dead_code)]
#[path = "../tests/it/synth.rs"]
mod synth;

use std::path::PathBuf;

use clap::Parser;

/// Write a synthetic organisation's inventory (JSON)
#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    #[arg(long, default_value_t = 17)]
    regions: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write it [default: stdout]
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let inv = synth::generate(synth::Shape {
        accounts: a.accounts,
        regions: a.regions,
        seed: a.seed,
        ..Default::default()
    });
    plaudit::output::emit(a.output.as_deref(), |w| {
        serde_json::to_writer(&mut *w, &inv)?;
        writeln!(w)?;
        Ok(())
    })
}
