//! A simulated AWS organisation on 127.0.0.1, to watch plaudit crawl without an AWS account:
//! the repository's test simulator (`tests/it/sim`) serving a synthetic organisation
//! (`tests/it/synth.rs`) with realistic latency, AWS's throttling buckets, one account whose
//! member role cannot be assumed and one region an SCP denies — so the scan shows progress,
//! findings and coverage gaps. It answers only on 127.0.0.1 and sends nothing anywhere.
//!
//! ```sh
//! cargo run --example fake-org            # serves until Ctrl-C; prints what to run
//! . target/fake-org.env && cargo run -- scan --no-history   # in another terminal
//! ```

#[path = "../tests/it/sim/mod.rs"]
mod sim;
#[allow(dead_code)]
#[path = "../tests/it/synth.rs"]
mod synth;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Serve a simulated AWS organisation on 127.0.0.1 for plaudit to scan
#[derive(Parser)]
struct Args {
    /// Accounts in the organisation
    #[arg(long, default_value_t = 40)]
    accounts: usize,
    /// Regions per account
    #[arg(long, default_value_t = 3)]
    regions: usize,
    /// Latency of each answer, in milliseconds (uniform between half and one and a half times)
    #[arg(long, default_value_t = 40)]
    latency_ms: u64,
    /// Where to write the environment a scan needs
    #[arg(long, default_value = "target/fake-org.env")]
    env_file: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let inv = synth::generate(synth::Shape {
        accounts: a.accounts.max(2),
        regions: a.regions.clamp(1, 17),
        seed: 1,
        ..Default::default()
    });
    // The last account's member role cannot be assumed; the last region is denied by an SCP:
    // two coverage gaps, whose findings are `unknown`, never `pass`.
    let denied_account = inv.accounts.last().map(|x| x.id.clone());
    let denied_region = inv
        .accounts
        .first()
        .and_then(|x| x.regions.last())
        .map(|r| r.name.clone())
        .filter(|_| a.regions > 1);
    let ms = a.latency_ms.max(1);
    let sim = sim::Sim::start(
        inv,
        sim::Options {
            latency: sim::Latency::Uniform(
                Duration::from_millis(ms / 2),
                Duration::from_millis(ms * 3 / 2),
            ),
            deny_assume_role: denied_account.iter().cloned().collect::<BTreeSet<_>>(),
            scp_denied_regions: denied_region.iter().cloned().collect::<BTreeSet<_>>(),
            ..Default::default()
        },
        1,
    );
    let exports: Vec<String> = sim
        .env()
        .into_iter()
        .map(|(k, v)| format!("export {k}={v}"))
        .collect();
    if let Some(dir) = a.env_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.env_file, exports.join("\n") + "\n")?;
    println!(
        "A simulated organisation of {} accounts x {} regions answers on {} (127.0.0.1 only).",
        a.accounts.max(2),
        a.regions.clamp(1, 17),
        sim.url()
    );
    if let Some(id) = &denied_account {
        println!("  account {id}: its member role cannot be assumed (a coverage gap)");
    }
    if let Some(r) = &denied_region {
        println!("  region {r}: denied by an SCP in every account (coverage gaps)");
    }
    println!(
        "\nIn another terminal, from the repository:\n\n  . {} && cargo run -- scan --no-history\n\nCtrl-C stops the simulator.",
        a.env_file.display()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
