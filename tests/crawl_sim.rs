//! The crawler against the simulated AWS organisation (`tests/sim`): what it collects equals
//! what the simulator serves, and under faults — throttling storms, 5xx bursts, stalls,
//! hangs, truncated XML, AccessDenied accounts, SCP-denied regions — every account-region is
//! either fully inventoried or named in the coverage ledger with the right reason, the
//! findings of the healthy ones do not change, nothing hangs, and Ctrl-C stops a scan
//! promptly without leaving a half-written file.

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plaudit::inventory::Inventory;
use plaudit::synth::{self, Shape};
use serde_json::Value;
use sim::{Fault, FaultKind, Latency, Match, Options, Sim};

/// A small organisation with every kind of resource, pagination on every listing (pages of
/// 2; Organizations pages of 3), one suspended account.
fn org() -> Inventory {
    let mut inv = synth::generate(Shape {
        accounts: 9,
        regions: 2,
        seed: 7,
        provider_every: 3,
        endpoints_per_region: 3,
        consumer_every: 1,
    });
    inv.accounts[8].status = "SUSPENDED".into();
    inv
}

fn small_pages() -> Options {
    Options {
        page_cap: 2,
        org_page_cap: 3,
        latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(4)),
        ..Default::default()
    }
}

fn plaudit(sim: &Sim, dir: &Path, extra: &[&str]) -> Output {
    let cfg = dir.join("plaudit.yaml");
    if !cfg.exists() {
        std::fs::write(
            &cfg,
            "crawl:\n  call_timeout_seconds: 2\n  max_attempts: 4\n",
        )
        .unwrap();
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_plaudit"));
    c.arg("scan")
        .arg("--config")
        .arg(&cfg)
        .args(["--format", "json", "--fail-on", "none", "-o"])
        .arg(dir.join("findings.json"))
        .arg("--save-inventory")
        .arg(dir.join("inventory.json"))
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "off");
    for (k, v) in sim.env() {
        c.env(k, v);
    }
    c.output().expect("run plaudit")
}

/// Findings of an inventory file, evaluated as `scan --inventory` does, keyed by
/// (rule, account, region, resource).
fn findings_of(inv: &Inventory, dir: &Path) -> Findings {
    let file = dir.join("eval-input.json");
    std::fs::write(&file, serde_json::to_vec(inv).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plaudit"))
        .args([
            "scan",
            "--format",
            "json",
            "--fail-on",
            "none",
            "--inventory",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let k = |n: &str| f[n].as_str().unwrap_or("").to_string();
            (
                (k("rule_id"), k("account_id"), k("region"), k("resource_id")),
                f.clone(),
            )
        })
        .collect()
}

type Findings = BTreeMap<(String, String, String, String), Value>;

/// Fails with the first differences only (a whole catalogue of findings is unreadable).
fn assert_same(have: &Findings, want: &Findings) {
    let mut diffs = Vec::new();
    for (k, w) in want {
        match have.get(k) {
            None => diffs.push(format!("missing {k:?}")),
            Some(h) if h != w => diffs.push(format!("{k:?}:\n  have {h}\n  want {w}")),
            _ => {}
        }
    }
    diffs.extend(
        have.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("unexpected {k:?}")),
    );
    let n = diffs.len();
    diffs.truncate(8);
    assert!(n == 0, "{n} differences, the first:\n{}", diffs.join("\n"));
}

/// The crawled inventory, as the synthetic one would be evaluated: same collection time (ages
/// are measured from it) and no ledger.
fn crawled(dir: &Path) -> Inventory {
    let text = std::fs::read_to_string(dir.join("inventory.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn aligned(mut inv: Inventory, like: &Inventory) -> Inventory {
    inv.collected_at = like.collected_at;
    inv
}

fn count(inv: &Inventory) -> [usize; 6] {
    let rs = || inv.accounts.iter().flat_map(|a| &a.regions);
    [
        rs().map(|r| r.endpoint_services.len()).sum(),
        rs().flat_map(|r| &r.endpoint_services)
            .map(|s| s.connections.len())
            .sum(),
        rs().map(|r| r.vpc_endpoints.len()).sum(),
        rs().map(|r| r.load_balancers.len()).sum(),
        rs().map(|r| r.target_groups.len()).sum(),
        rs().map(|r| r.availability_zones.len()).sum(),
    ]
}

/// (account, region) pairs with a gap in the ledger, and their statuses.
fn gaps(inv: &Inventory) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut m: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for c in &inv.coverage {
        if c.status.is_gap() {
            m.entry((c.account_id.clone(), c.region.clone().unwrap_or("*".into())))
                .or_default()
                .insert(c.status.as_str().to_string());
        }
    }
    m
}

#[test]
fn the_crawl_collects_exactly_what_the_organisation_holds() {
    let truth = org();
    let sim = Sim::start(truth.clone(), small_pages(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = crawled(dir.path());

    assert!(gaps(&got).is_empty(), "{:?}", gaps(&got));
    let suspended = truth.accounts[8].id.clone();
    assert!(
        got.coverage
            .iter()
            .any(|c| c.account_id == suspended && c.status.as_str() == "suspended")
    );
    let mut active = truth.clone();
    active.accounts[8].regions.clear();
    assert_eq!(count(&got), count(&active));
    assert_eq!(got.accounts.len(), 9);
    for (a, b) in got.accounts.iter().zip(&truth.accounts) {
        assert_eq!((&a.id, &a.ou_path, &a.name), (&b.id, &b.ou_path, &b.name));
    }
    let want = findings_of(&active, dir.path());
    let have = findings_of(&aligned(got, &truth), dir.path());
    assert!(!want.is_empty());
    assert_same(&have, &want);

    let s = sim.stats();
    assert_eq!(
        s.throttled, 0,
        "the client's own limiter stays under AWS's buckets"
    );
    assert!(
        s.per_action["ec2:DescribeVpcEndpoints"] > 18,
        "pages of 2 were followed"
    );
}
