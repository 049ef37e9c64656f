//! Rule-evaluation benchmark on a synthetic organisation (see the synthetic organisation generator (`tests/it/synth.rs`)).
//!
//!     cargo bench --bench rules_eval -- [ACCOUNTS] [REGIONS]     # default 1000 17
//!
//! Prints, for the median of 5 runs: the time to load the inventory into SQLite, the time to
//! evaluate every built-in rule, each rule's time, and the evaluation time per 1,000 accounts.
//! Baselines in the same run: the rules one after another on one thread (what the parallel
//! evaluation is compared with), and a full read of every table (the floor for any query).

use std::time::{Duration, Instant};

use plaudit::rules::{self, eval};
use plaudit::store::{GapIndex, Store};
#[allow(dead_code)]
#[path = "../tests/it/synth.rs"]
mod synth;
use synth::Shape;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let accounts = args.first().copied().unwrap_or(1000);
    let regions = args.get(1).copied().unwrap_or(17);
    let runs = 5;

    let t = Instant::now();
    let inv = synth::generate(Shape {
        accounts,
        regions,
        ..Default::default()
    });
    let gen_time = t.elapsed();
    let set = rules::load_all(&[], true).expect("built-in rules");
    let gaps = GapIndex::new(&inv);

    let mut par_times = Vec::new();
    let mut load_times = Vec::new();
    let mut eval_times = Vec::new();
    let mut scan_times = Vec::new();
    let mut per_rule: Vec<Vec<Duration>> = vec![Vec::new(); set.len()];
    let mut findings = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let store = Store::load(&inv).expect("load");
        load_times.push(t.elapsed());

        let t = Instant::now();
        let tables: Vec<String> = store
            .conn()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut rows = 0i64;
        for tname in &tables {
            rows += store
                .conn()
                .query_row(
                    &format!("SELECT count(*) FROM (SELECT * FROM {tname})"),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap();
        }
        scan_times.push(t.elapsed());
        std::hint::black_box(rows);

        let t = Instant::now();
        let mut n = 0;
        for (i, rule) in set.rules().iter().enumerate() {
            let tr = Instant::now();
            n += eval::run_rule(&store, rule, set.budget(), &gaps, &inv.coverage)
                .expect("rule runs")
                .len();
            per_rule[i].push(tr.elapsed());
        }
        eval_times.push(t.elapsed());
        findings = n;

        // What a scan does: all rules, on every core, copies of the database included.
        let t = Instant::now();
        let ev = eval::evaluate(&set, &store, &inv);
        par_times.push(t.elapsed());
        assert_eq!(
            ev.findings.len(),
            n,
            "parallel evaluation must find the same"
        );
    }
    let load = median(load_times);
    let evalt = median(eval_times);
    let scan = median(scan_times);
    let par = median(par_times);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "synthetic organisation: {accounts} accounts x {regions} regions ({} account-regions), generated in {:.2?}",
        inv.account_regions(),
        gen_time
    );
    println!("findings per run: {findings}");
    println!("load into SQLite (median of {runs}): {load:.2?}");
    println!(
        "evaluate {} rules (median of {runs}): {evalt:.2?}",
        set.len()
    );
    for (i, rule) in set.rules().iter().enumerate() {
        println!("  {:<26} {:.2?}", rule.id, median(per_rule[i].clone()));
    }
    println!(
        "evaluate {} rules as a scan does ({cores} cores, median of {runs}): {par:.2?}  (speed-up {:.2}x)",
        set.len(),
        evalt.as_secs_f64() / par.as_secs_f64().max(1e-9)
    );
    println!("baseline, one full read of every table: {scan:.2?}");
    println!(
        "per finding: {:.2} µs on one thread",
        evalt.as_secs_f64() * 1e6 / findings.max(1) as f64
    );
    println!(
        "evaluation per 1,000 accounts: {:.3} s on one thread, {:.3} s as a scan does",
        evalt.as_secs_f64() * 1000.0 / accounts as f64,
        par.as_secs_f64() * 1000.0 / accounts as f64
    );
    println!(
        "load + evaluation per 1,000 accounts: {:.3} s",
        (par + load).as_secs_f64() * 1000.0 / accounts as f64
    );
}
