//! Crawl benchmark: a whole-organisation scan against the simulated AWS (`tests/it/sim`), compared
//! with the physical lower bound of any crawl of the same organisation.
//!
//!     cargo bench --bench crawl                                   # 1,000 and 10,000 accounts x 17 regions
//!     cargo bench --bench crawl -- [ACCOUNTS[,ACCOUNTS…]] [REGIONS] [LATENCY_MS]
//!
//! Environment: `CRAWL_BENCH_RUNS=N` repeats it (median and range of the ratios),
//! `CRAWL_BENCH_WRAP` runs the scan under a profiler, `CRAWL_BENCH_LOG` shows its logs,
//! `CRAWL_BENCH_KEEP=DIR` keeps its report and inventory, `SIM_THREADS` sizes the simulator.
//!
//! The organisation comes from the synthetic organisation generator (`tests/it/synth.rs`) (seed 1): every account has its own AZ name →
//! ID rotation; one account-region in 4 has a VPC with 2 interface endpoints, one in 20
//! provides an endpoint service behind an NLB → ALB chain. The simulator answers every call
//! after a realistic latency as a scanner in us-east-1 sees it (the round trip to the
//! region, `sim::REGION_RTT_MS`, plus 15–45 ms of service time; Organizations and STS from
//! us-east-1) — or a fixed LATENCY_MS when given — and enforces AWS's token buckets (EC2 100 burst + 20/s per account,
//! region and action; ELBv2 40 + 10/s per account and region; Organizations per API: the OU
//! walk 5/s, ListAccounts and tags 8/s) and pages
//! as AWS does (Organizations 20 per page).
//!
//! `plaudit scan` runs as a child process with its default settings (regions from
//! DescribeRegions, no config file). Reported: wall time, the lower bound (longest chain of
//! dependent requests × latency, or the busiest bucket's requests at its refill rate, whichever
//! is larger) and the ratio of the two, requests, throttling errors, retries, the scan's CPU
//! seconds and peak RSS, and whether every account-region was inventoried.

#[path = "../tests/it/sim/mod.rs"]
mod sim;

use std::process::Command;
use std::time::{Duration, Instant};

use plaudit::inventory::Inventory;
#[allow(dead_code)]
#[path = "../tests/it/synth.rs"]
mod synth;
use sim::{Latency, Options, Sim};
use synth::Shape;

// The simulator shares the machine with the scan: the allocator the scan uses keeps its own
// CPU (and so its interference) down.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds and peak RSS (MiB) of this process (`RUSAGE_SELF`: the simulator) or of its
/// finished children (`RUSAGE_CHILDREN`: the scan).
#[allow(unsafe_code)] // getrusage: the only way to read a finished child's CPU time and peak RSS
fn usage(who: libc::c_int) -> (f64, f64) {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(who, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(u.ru_utime) + secs(u.ru_stime),
        u.ru_maxrss as f64 / 1024.0,
    )
}

fn main() {
    // Arguments: account counts (comma-separated), regions, and a fixed latency in ms (the
    // realistic per-region latency when absent). `cargo bench` adds `--bench`: skipped.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sizes: Vec<usize> = args
        .first()
        .map(|a| a.split(',').filter_map(|n| n.parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1000, 10_000]);
    let regions: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(17);
    let latency = match args.get(2).and_then(|a| a.parse::<u64>().ok()) {
        Some(ms) => Latency::Fixed(Duration::from_millis(ms)),
        None => Latency::Regional {
            service: (Duration::from_millis(15), Duration::from_millis(45)),
        },
    };
    let sim_threads = std::env::var("SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // `CRAWL_BENCH_RUNS=N` repeats the whole measurement (a fresh simulator each time) and
    // ends with the median and range of the ratios: run-to-run noise on a shared 2-core
    // machine is ±10–20 %.
    let runs: usize = std::env::var("CRAWL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    for accounts in sizes {
        let mut results = Vec::new();
        for i in 0..runs {
            if runs > 1 {
                println!("run {} of {runs}", i + 1);
            }
            results.push(run(accounts, regions, latency, sim_threads));
        }
        if runs > 1 {
            summarise(accounts, &results);
        }
    }
}

/// The figures of one run.
struct Figures {
    ratio: f64,
    crawl_ratio: Option<f64>,
    wall: f64,
    bound: f64,
    requests: f64,
    retries: f64,
    throttled: f64,
    cpu_us_per_request: f64,
    rss_mib: f64,
    lost: f64,
}

/// Median and range of each figure over the runs.
fn summarise(accounts: usize, results: &[Figures]) {
    let show = |f: &dyn Fn(&Figures) -> f64, digits: usize| {
        let mut v: Vec<f64> = results.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.digits$} (range {:.digits$}-{:.digits$})",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        )
    };
    println!("over {} runs, {accounts} accounts:", results.len());
    println!("  ratio to the bound           {}", show(&|r| r.ratio, 2));
    if results.iter().all(|r| r.crawl_ratio.is_some()) {
        println!(
            "  crawl alone, ratio          {}",
            show(&|r| r.crawl_ratio.unwrap_or(0.0), 2)
        );
    }
    println!("  wall time (s)                {}", show(&|r| r.wall, 1));
    println!("  lower bound (s)              {}", show(&|r| r.bound, 1));
    println!(
        "  requests                     {}",
        show(&|r| r.requests, 0)
    );
    println!("  retries                      {}", show(&|r| r.retries, 0));
    println!(
        "  throttling errors            {}",
        show(&|r| r.throttled, 0)
    );
    println!(
        "  scan CPU per request (us)    {}",
        show(&|r| r.cpu_us_per_request, 0)
    );
    println!("  scan peak RSS (MiB)          {}", show(&|r| r.rss_mib, 0));
    println!("  account-regions lost         {}", show(&|r| r.lost, 0));
}

/// One measurement.
fn run(accounts: usize, regions: usize, latency: Latency, sim_threads: usize) -> Figures {
    let inv = synth::generate(Shape {
        accounts,
        regions,
        seed: 1,
        provider_every: 20,
        endpoints_per_region: 2,
        consumer_every: 4,
    });
    let expected = inv.account_regions();
    let sim = Sim::start(
        inv,
        Options {
            latency,
            ..Default::default()
        },
        sim_threads,
    );
    // `CRAWL_BENCH_KEEP=DIR` keeps the scan's report and inventory there.
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("CRAWL_BENCH_KEEP").map(std::path::PathBuf::from);
    let out_dir = keep.unwrap_or_else(|| dir.path().to_path_buf());
    let saved = out_dir.join("inventory.json");

    let sim_cpu_before = usage(libc::RUSAGE_SELF).0;
    let scan_cpu_before = usage(libc::RUSAGE_CHILDREN).0;
    let connections_before = sim::http::CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed);
    let t = Instant::now();
    // `CRAWL_BENCH_WRAP="perf record -g -o /tmp/perf.data"` profiles the scan.
    let wrap: Vec<String> = std::env::var("CRAWL_BENCH_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut cmd = match wrap.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg(env!("CARGO_BIN_EXE_plaudit"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_plaudit")),
    };
    cmd.args([
        "scan",
        "--quiet",
        "--no-history",
        "--format",
        "json",
        "--fail-on",
        "none",
        "-o",
    ])
    .arg(out_dir.join("findings.json"))
    .arg("--save-inventory")
    .arg(&saved)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in sim.env() {
        cmd.env(k, v);
    }
    // `CRAWL_BENCH_LOG=plaudit=info` shows the scan's logs (on stderr, as they happen).
    // Otherwise the scan's info logs (JSON lines, as the report is JSON) are read for the end
    // of the crawl itself, before evaluation and output.
    match std::env::var("CRAWL_BENCH_LOG") {
        Ok(filter) => {
            cmd.env("RUST_LOG", filter)
                .stderr(std::process::Stdio::inherit());
        }
        Err(_) => {
            cmd.env("RUST_LOG", "plaudit=info");
        }
    }
    let out = cmd.output().expect("run plaudit");
    let wall = t.elapsed().as_secs_f64();
    // The scan's steps ("every account crawled", "crawl finished", "inventory saved", …) carry
    // the seconds since the scan started.
    let steps: Vec<(String, f64)> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let secs = v["fields"]["seconds"].as_f64()?;
            Some((v["fields"]["message"].as_str()?.to_string(), secs))
        })
        .collect();
    // The crawl alone: until it handed its inventory over (before saving, SQLite,
    // evaluation and output).
    let crawled = steps
        .iter()
        .find(|(m, _)| m == "crawl finished")
        .map(|s| s.1);
    let (cpu, rss) = usage(libc::RUSAGE_CHILDREN);
    let cpu = cpu - scan_cpu_before;
    let sim_cpu = usage(libc::RUSAGE_SELF).0 - sim_cpu_before;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !out.status.success() && out.status.code() != Some(3) {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("scan failed: {}", out.status);
    }

    let got: Inventory =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).expect("saved inventory");
    let gaps: Vec<_> = got.coverage.iter().filter(|c| c.status.is_gap()).collect();
    let s = sim.stats();
    let b = sim.lower_bound();

    let latency = match latency {
        Latency::Fixed(d) => format!("{} ms latency", d.as_millis()),
        _ => "realistic per-region latency".to_string(),
    };
    println!("crawl of {accounts} accounts x {regions} regions at {latency}");
    println!(
        "  account-regions inventoried  {} of {expected}",
        got.account_regions()
    );
    println!("  coverage gaps                {}", gaps.len());
    for g in gaps.iter().take(5) {
        println!(
            "    {} {} {} {}",
            g.account_id,
            g.region.as_deref().unwrap_or("*"),
            g.api,
            g.error.as_deref().unwrap_or("")
        );
    }
    println!("  wall time                    {wall:.2} s");
    println!(
        "  lower bound                  {:.2} s  (chain {} requests = {:.2} s; busiest bucket {} = {:.2} s)",
        b.seconds, b.chain_requests, b.chain_seconds, b.bucket.0, b.bucket.1
    );
    println!("  ratio to the bound           {:.2}", wall / b.seconds);
    if let Some(c) = crawled {
        println!(
            "  crawl alone                  {c:.2} s (then SQLite, evaluation and output); ratio {:.2}",
            c / b.seconds
        );
    }
    if !steps.is_empty() {
        let list: Vec<String> = steps.iter().map(|(m, t)| format!("{m} {t:.2}")).collect();
        println!("  steps (s since start)        {}", list.join(", "));
    }
    println!(
        "  requests                     {} ({:.0}/s)",
        s.requests,
        s.requests as f64 / wall
    );
    println!(
        "  connections opened           {}",
        sim::http::CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed) - connections_before
    );
    println!("  throttling errors            {}", s.throttled);
    println!("  retries                      {}", s.retries);
    println!(
        "  scan CPU                     {cpu:.2} s ({:.0} us per request)",
        cpu * 1e6 / s.requests.max(1) as f64
    );
    println!("  scan peak RSS                {rss:.0} MiB");
    println!(
        "  simulator CPU                {sim_cpu:.2} s; scan + simulator use {:.0}% of {cores} cores",
        100.0 * (cpu + sim_cpu) / (wall * cores as f64)
    );
    // Not a bound on any crawler (it is this machine's, and counts the simulator), but it
    // tells a CPU-bound run from a badly scheduled one.
    let floor = (cpu + sim_cpu) / cores as f64;
    println!(
        "  CPU floor on this machine    {floor:.2} s (scan + simulator CPU / cores); wall / floor {:.2}",
        wall / floor
    );
    let mut top: Vec<_> = s.per_action.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    let top: Vec<String> = top
        .iter()
        .take(8)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("  requests by action           {}", top.join(", "));
    Figures {
        ratio: wall / b.seconds,
        crawl_ratio: crawled.map(|c| c / b.seconds),
        wall,
        bound: b.seconds,
        requests: s.requests as f64,
        retries: s.retries as f64,
        throttled: s.throttled as f64,
        cpu_us_per_request: cpu * 1e6 / s.requests.max(1) as f64,
        rss_mib: rss,
        lost: expected.saturating_sub(got.account_regions()) as f64,
    }
}
