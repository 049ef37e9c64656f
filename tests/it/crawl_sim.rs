//! The crawler against the simulated AWS organisation (`tests/sim`): what it collects equals
//! what the simulator serves, and under faults — throttling storms, 5xx bursts, stalls,
//! hangs, truncated XML, AccessDenied accounts, SCP-denied regions — every account-region is
//! either fully inventoried or named in the coverage ledger with the right reason, the
//! findings of the healthy ones do not change, nothing hangs, and Ctrl-C stops a scan
//! promptly without leaving a half-written file.

use crate::sim;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::synth::{self, Shape};
use plaudit::inventory::Inventory;
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
        .args(["--format", "json", "--show-pass", "--fail-on", "none", "-o"])
        .arg(dir.join("findings.json"))
        .arg("--save-inventory")
        .arg(dir.join("inventory.json"))
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "off")
        .arg("--state")
        .arg(dir.join("history.db"));
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
            "--no-history",
            "--show-pass",
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

/// (rule, account, region, resource).
type Key = (String, String, String, String);
type Findings = BTreeMap<Key, Value>;

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
    expect_exit(&out, 0);
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

/// The scan exited with `code`; its stderr is shown when it did not.
fn expect_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (rule, account, region, resource) → status, for the findings of one account-region.
fn in_region<'a>(f: &'a Findings, account: &str, region: &str) -> Vec<(&'a Key, &'a Value)> {
    f.iter()
        .filter(|(k, _)| k.1 == account && k.2 == region)
        .collect()
}

/// In every account-region the crawl read without a gap, each finding is the fault-free one,
/// or `unknown` (its other end is in a gap); none is lost or new. Returns how many are equal.
fn healthy_regions_agree(
    got: &Inventory,
    gaps: &BTreeMap<(String, String), BTreeSet<String>>,
    want: &Findings,
    have: &Findings,
) -> usize {
    let mut same = 0;
    for a in &got.accounts {
        for r in &a.regions {
            if gaps.contains_key(&(a.id.clone(), r.name.clone()))
                || gaps.contains_key(&(a.id.clone(), "*".into()))
            {
                continue;
            }
            for (k, w) in in_region(want, &a.id, &r.name) {
                let h = have.get(k).unwrap_or_else(|| panic!("lost {k:?}"));
                if h == w {
                    same += 1;
                } else {
                    assert_eq!(h["status"], "unknown", "{k:?}: have {h}, want {w}");
                }
            }
            for (k, _) in in_region(have, &a.id, &r.name) {
                assert!(want.contains_key(k), "unexpected {k:?}");
            }
        }
    }
    same
}

fn on(account: Option<&str>, region: Option<&str>, action: &str) -> Match {
    Match {
        account: account.map(str::to_string),
        region: region.map(str::to_string),
        action: Some(action.to_string()),
    }
}

fn fault(m: Match, kind: FaultKind, times: Option<u32>) -> Fault {
    Fault { on: m, kind, times }
}

#[test]
fn transient_faults_change_nothing() {
    let truth = org();
    let mut active = truth.clone();
    active.accounts[8].regions.clear();
    let a1 = truth.accounts[1].id.clone();
    let faults = vec![
        fault(
            on(None, None, "DescribeVpcEndpoints"),
            FaultKind::ServerError,
            Some(2),
        ),
        fault(
            on(Some(&a1), None, "DescribeVpcEndpointServiceConfigurations"),
            FaultKind::Unavailable,
            Some(2),
        ),
        fault(
            on(None, None, "DescribeTargetHealth"),
            FaultKind::Unavailable,
            Some(3),
        ),
        fault(
            on(None, None, "DescribeSubnets"),
            FaultKind::StallBody(Duration::from_millis(300)),
            Some(2),
        ),
        fault(
            on(None, None, "DescribeVpcAttribute"),
            FaultKind::Hang(Duration::from_secs(3)),
            Some(1),
        ),
        fault(
            on(None, None, "DescribeSecurityGroups"),
            FaultKind::Truncated,
            Some(2),
        ),
        fault(on(None, None, "DescribeVpcs"), FaultKind::Throttle, Some(5)),
        fault(
            on(None, None, "ListAccountsForParent"),
            FaultKind::ServerError,
            Some(1),
        ),
        fault(
            on(None, None, "AssumeRole"),
            FaultKind::Unavailable,
            Some(1),
        ),
    ];
    let injected: u32 = faults.iter().map(|f| f.times.unwrap()).sum();
    let sim = Sim::start(
        truth.clone(),
        Options {
            faults,
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = plaudit(&sim, dir.path(), &[]);
    expect_exit(&out, 0);
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t.elapsed()
    );

    let s = sim.stats();
    assert_eq!(s.faults, u64::from(injected), "every fault was hit");
    assert!(s.retries > 0);
    let got = crawled(dir.path());
    assert!(gaps(&got).is_empty(), "{:?}", gaps(&got));
    assert_eq!(count(&got), count(&active));
    assert_same(
        &findings_of(&aligned(got, &truth), dir.path()),
        &findings_of(&active, dir.path()),
    );
}

#[test]
fn persistent_faults_are_named_in_the_ledger_and_spare_the_rest() {
    let truth = org();
    let id = |i: usize| truth.accounts[i].id.clone();
    let (east1, east2) = ("us-east-1", "us-east-2");
    let opts = Options {
        deny_assume_role: [id(2)].into(),
        scp_denied_regions: [east2.to_string()].into(),
        faults: vec![
            fault(
                on(Some(&id(4)), Some(east1), "DescribeVpcEndpoints"),
                FaultKind::ServerError,
                None,
            ),
            fault(
                on(Some(&id(5)), Some(east1), "DescribeVpcs"),
                FaultKind::Truncated,
                None,
            ),
            fault(
                on(Some(&id(6)), Some(east1), "DescribeSubnets"),
                FaultKind::Hang(Duration::from_secs(30)),
                None,
            ),
        ],
        ..small_pages()
    };
    let sim = Sim::start(truth.clone(), opts, 2);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = plaudit(&sim, dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "incomplete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "nothing hangs: {:?}",
        t.elapsed()
    );
    let got = crawled(dir.path());
    let g = gaps(&got);
    let reasons = |a: &str, r: &str| {
        g.get(&(a.to_string(), r.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    assert_eq!(reasons(&id(2), "*"), set(&["assume_role_failed"]));
    let denied = got
        .coverage
        .iter()
        .find(|c| c.account_id == id(2) && c.api == "sts:AssumeRole")
        .unwrap();
    assert!(
        denied.error.as_deref().unwrap().contains("AccessDenied"),
        "{denied:?}"
    );
    for a in [0, 1, 3, 4, 5, 6, 7] {
        assert_eq!(
            reasons(&id(a), east2),
            set(&["access_denied"]),
            "SCP-denied region in account {a}"
        );
    }
    assert_eq!(reasons(&id(4), east1), set(&["error"]));
    assert!(got.coverage.iter().any(|c| {
        c.account_id == id(4)
            && c.api == "ec2:DescribeVpcEndpoints"
            && c.error
                .as_deref()
                .is_some_and(|e| e.contains("InternalError"))
    }));
    assert_eq!(reasons(&id(5), east1), set(&["error"]));
    assert_eq!(reasons(&id(6), east1), set(&["timeout"]));
    assert_eq!(
        reasons(&id(8), "*"),
        BTreeSet::new(),
        "a suspended account is not a gap"
    );
    assert!(
        got.coverage
            .iter()
            .any(|c| c.account_id == id(8) && c.status.as_str() == "suspended")
    );
    // Nothing else is missing.
    let gapped: BTreeSet<(String, String)> = g.keys().cloned().collect();
    let expected: BTreeSet<(String, String)> = [0, 1, 3, 4, 5, 6, 7]
        .iter()
        .map(|&a| (id(a), east2.to_string()))
        .chain([
            (id(2), "*".into()),
            (id(4), east1.into()),
            (id(5), east1.into()),
            (id(6), east1.into()),
        ])
        .collect();
    assert_eq!(gapped, expected);

    // Healthy account-regions keep their findings; a cross-account one may turn `unknown`
    // (its other end is in a gap), never a different verdict. Gapped ones never pass or fail
    // on what could not be read.
    let mut active = truth.clone();
    active.accounts[8].regions.clear();
    let want = findings_of(&active, dir.path());
    let have = findings_of(&aligned(got.clone(), &truth), dir.path());
    let same = healthy_regions_agree(&got, &g, &want, &have);
    assert!(same > 50, "most healthy findings are unchanged ({same})");
    for (k, h) in &have {
        if k.1 == id(2) || k.2 == east2 {
            assert_eq!(h["status"], "unknown", "{k:?} is in a gap: {h}");
        }
    }
}

#[test]
fn a_throttling_storm_is_survived_or_named() {
    let truth = synth::generate(Shape {
        accounts: 3,
        regions: 2,
        seed: 3,
        provider_every: 2,
        endpoints_per_region: 2,
        consumer_every: 1,
    });
    let mut buckets = sim::Buckets {
        ec2: sim::BucketShape {
            burst: 3.0,
            per_second: 2.0,
        },
        ..Default::default()
    };
    buckets.elb = sim::BucketShape {
        burst: 2.0,
        per_second: 1.0,
    };
    let sim = Sim::start(
        truth.clone(),
        Options {
            buckets,
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = plaudit(&sim, dir.path(), &[]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.elapsed() < Duration::from_secs(90),
        "took {:?}",
        t.elapsed()
    );
    let s = sim.stats();
    assert!(s.throttled > 0, "the storm happened");
    let got = crawled(dir.path());
    let g = gaps(&got);
    for (k, v) in &g {
        assert_eq!(v, &BTreeSet::from(["throttled".to_string()]), "{k:?}");
    }
    // Whatever was fully read gives the same findings as without the storm.
    let want = findings_of(&truth, dir.path());
    let have = findings_of(&aligned(got.clone(), &truth), dir.path());
    healthy_regions_agree(&got, &g, &want, &have);
}

#[test]
fn a_deadline_keeps_what_was_collected_and_names_the_rest() {
    let truth = org();
    let opts = Options {
        latency: Latency::Fixed(Duration::from_millis(250)),
        ..small_pages()
    };
    let sim = Sim::start(truth.clone(), opts, 2);
    let dir = tempfile::tempdir().unwrap();
    // Two accounts at a time: most are still queued when the deadline comes.
    std::fs::write(
        dir.path().join("plaudit.yaml"),
        "crawl:\n  accounts: 2\n  call_timeout_seconds: 2\n",
    )
    .unwrap();
    let t = Instant::now();
    let out = plaudit(&sim, dir.path(), &["--deadline", "3"]);
    let took = t.elapsed();
    expect_exit(&out, 3);
    assert!(
        took < Duration::from_secs(8),
        "stopped at the deadline: {took:?}"
    );
    let got = crawled(dir.path());
    let timeouts: Vec<_> = got
        .coverage
        .iter()
        .filter(|c| c.status.as_str() == "timeout")
        .collect();
    assert!(!timeouts.is_empty());
    assert!(
        timeouts
            .iter()
            .all(|c| c.error.as_deref().unwrap().contains("deadline"))
    );
    // Every account is either in the inventory with its regions or named as timed out.
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("findings.json")).unwrap()).unwrap();
    assert_eq!(report["scan"]["complete"], false);
    assert!(
        got.accounts.len() >= 8,
        "accounts found before the deadline are listed"
    );
    // Each active account is whole (all its regions, no gap), or named as timed out (the
    // whole account, or the regions it did not finish).
    let discovery_cut = timeouts.iter().any(|c| c.api.starts_with("organizations:"));
    for a in truth.accounts.iter().filter(|a| a.status == "ACTIVE") {
        let Some(have) = got.accounts.iter().find(|x| x.id == a.id) else {
            assert!(discovery_cut, "{} vanished", a.id);
            continue;
        };
        let named = |r: Option<&str>| {
            timeouts
                .iter()
                .any(|c| c.account_id == a.id && (c.region.is_none() || c.region.as_deref() == r))
        };
        for r in &a.regions {
            let whole = have.regions.iter().any(|x| x.name == r.name);
            assert!(
                whole || named(Some(&r.name)),
                "{} {} is neither collected nor named",
                a.id,
                r.name
            );
        }
    }
    assert!(
        timeouts.iter().any(|c| c.region.is_none() && c.api == "*"),
        "queued accounts are named as not crawled"
    );
}

#[test]
fn ctrl_c_stops_a_scan_promptly_and_writes_nothing() {
    let truth = org();
    let opts = Options {
        latency: Latency::Fixed(Duration::from_millis(400)),
        ..small_pages()
    };
    let sim = Sim::start(truth, opts, 2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plaudit.yaml"),
        "crawl:\n  call_timeout_seconds: 5\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_plaudit"));
    c.arg("scan")
        .arg("--config")
        .arg(dir.path().join("plaudit.yaml"))
        .args(["--format", "csv", "-o"])
        .arg(dir.path().join("findings.csv"))
        .arg("--save-inventory")
        .arg(dir.path().join("inventory.json"))
        .arg("--state")
        .arg(dir.path().join("history.db"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in sim.env() {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stopped promptly: {:?}",
        t.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("history.db"))
        .collect();
    assert_eq!(
        left,
        vec!["plaudit.yaml".to_string()],
        "no output, no temporary file"
    );
    // The history stays readable, the scan marked as interrupted.
    let out = plaudit_cmd(&[
        "history",
        "--state",
        dir.path().join("history.db").to_str().unwrap(),
        "--format",
        "json",
    ]);
    expect_exit(&out, 0);
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    // As it happened: the signal marked it (it was "running or interrupted" before).
    assert_eq!(h[0]["status"], "interrupted");
    assert_eq!(h[0]["exit"], "130");
}

fn plaudit_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plaudit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn drift_between_two_scans_is_exactly_the_change() {
    let truth = org();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let state = state.to_str().unwrap();
    let sim = Sim::start(truth.clone(), small_pages(), 2);
    let out = plaudit(&sim, dir.path(), &[]);
    expect_exit(&out, 0);
    std::fs::copy(
        dir.path().join("findings.json"),
        dir.path().join("first.json"),
    )
    .unwrap();

    // Between the scans the provider opens its service: no acceptance, and a principal
    // from outside the organisation.
    let mut changed = truth;
    let svc = &mut changed.accounts[0].regions[0].endpoint_services[0];
    svc.acceptance_required = false;
    svc.allowed_principals
        .push("arn:aws:iam::999999999999:root".into());
    let svc_id = svc.id.clone();
    let (acct, region) = (
        changed.accounts[0].id.clone(),
        changed.accounts[0].regions[0].name.clone(),
    );
    let sim = Sim::start(changed, small_pages(), 2);
    let out = plaudit(&sim, dir.path(), &[]);
    expect_exit(&out, 0);

    let out = plaudit_cmd(&["drift", "--state", state, "--format", "json"]);
    expect_exit(&out, 0);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (d["from"]["id"].as_i64(), d["to"]["id"].as_i64()),
        (Some(1), Some(2))
    );
    let graph: BTreeSet<(String, String, String)> = d["graph"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["change"].as_str().unwrap().into(),
                g["resource_id"].as_str().unwrap().into(),
                g["after"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        graph,
        BTreeSet::from([
            ("acceptance-changed".into(), svc_id.clone(), "false".into()),
            (
                "principal-added".into(),
                svc_id.clone(),
                "arn:aws:iam::999999999999:root".into()
            ),
        ])
    );
    let changes: Vec<&Value> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drift"] != "open")
        .collect();
    let new: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c["drift"] == "new")
        .map(|c| c["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        new,
        BTreeSet::from(["service-open-without-acceptance"]),
        "{changes:#?}"
    );
    let changed_rules: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c["drift"] == "changed")
        .map(|c| c["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed_rules,
        BTreeSet::from(["principal-outside-org"]),
        "a new principal in its reason"
    );
    assert_eq!(changes.len(), 2, "{changes:#?}");
    for c in &changes {
        assert_eq!(
            (
                c["account_id"].as_str().unwrap(),
                c["region"].as_str().unwrap(),
                c["resource_id"].as_str().unwrap()
            ),
            (acct.as_str(), region.as_str(), svc_id.as_str()),
            "{c}"
        );
    }
    // Findings open in both keep the scan they were first seen in.
    let open: Vec<&Value> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drift"] == "open")
        .collect();
    assert!(!open.is_empty());
    assert!(open.iter().all(|c| c["first_seen_scan"] == 1));

    // CSV and table say the same.
    let out = plaudit_cmd(&["drift", "--state", state, "--format", "csv"]);
    let mut rd = csv::Reader::from_reader(&out.stdout[..]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let graph_rows: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| &r[0] == "graph")
        .map(|r| (r[1].to_string(), r[5].to_string()))
        .collect();
    assert_eq!(
        graph_rows,
        graph.iter().map(|g| (g.0.clone(), g.1.clone())).collect()
    );
    assert_eq!(
        rows.iter()
            .filter(|r| &r[0] == "finding" && &r[1] == "new")
            .count(),
        1
    );
    let out = plaudit_cmd(&["drift", "--state", state]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("1 new, 0 resolved, 1 changed")
            && table.contains("2 changes in the PrivateLink graph"),
        "{table}"
    );
    assert!(
        table.contains("acceptance-changed") && table.contains("principal-added"),
        "{table}"
    );

    // --baseline with --fail-on-new: exit 1 for the new findings only, from a scan id or a
    // JSON report; against itself, nothing is new.
    let inv2 = dir.path().join("inventory.json");
    let scan = |baseline: &str| {
        Command::new(env!("CARGO_BIN_EXE_plaudit"))
            .args([
                "scan",
                "--no-history",
                "--inventory",
                inv2.to_str().unwrap(),
                "--format",
                "json",
                "-o",
                "/dev/null",
                "--fail-on-new",
                "--baseline",
                baseline,
                "--state",
                state,
            ])
            .output()
            .unwrap()
    };
    let first = dir.path().join("first.json");
    for b in ["1", first.to_str().unwrap()] {
        let out = scan(b);
        expect_exit(&out, 1);
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("1 failing finding(s) new since the baseline")
        );
    }
    assert_eq!(scan("2").status.code(), Some(0));

    // Exports from the history say when each resource was first and last seen.
    let out = plaudit_cmd(&["export", "endpoint-services", "--state", state]);
    let mut rd = csv::Reader::from_reader(&out.stdout[..]);
    let head: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let (first, last) = (
        head.iter().position(|h| h == "first_seen").unwrap(),
        head.iter().position(|h| h == "last_seen").unwrap(),
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| !r[first].is_empty() && r[first] < r[last] || r[first] == r[last])
    );
    assert!(
        rows.iter().any(|r| r[first] != r[last]),
        "seen in both scans"
    );

    // `history` lists both scans.
    let out = plaudit_cmd(&["history", "--state", state, "--format", "json"]);
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 2);
    assert_eq!(h[1]["status"], "complete");
}

/// Status of one finding by (rule, resource) in a findings file written by `plaudit`.
fn finding(dir: &Path, rule: &str, resource: &str) -> Value {
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("findings.json")).unwrap()).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == rule && f["resource_id"] == resource)
        .cloned()
        .unwrap_or_else(|| panic!("no {rule} finding for {resource}"))
}

/// Organizations as AWS runs it since September 2026: accounts carry only `State` (the
/// retired `Status` is gone), with the newer states among them. Accounts that are not
/// `ACTIVE` are listed and never crawled; the membership is the whole organisation however
/// few accounts `--accounts` crawls, so a principal of an uncrawled member is no stranger.
#[test]
fn account_state_and_membership_hold_on_organizations_as_aws_runs_it() {
    let mut truth = org();
    truth.accounts[7].status = "PENDING_ACTIVATION".into();
    let ids: Vec<String> = truth.accounts.iter().map(|a| a.id.clone()).collect();
    let id = |i: usize| ids[i].clone();
    // The first provider trusts account 4, a member this scan does not crawl.
    let (provider, service) = truth
        .accounts
        .iter()
        .find_map(|a| {
            let s = a.regions.iter().flat_map(|r| &r.endpoint_services).next()?;
            Some((a.id.clone(), s.id.clone()))
        })
        .unwrap();
    let member = id(4);
    assert_ne!(provider, member);
    for s in truth
        .accounts
        .iter_mut()
        .flat_map(|a| a.regions.iter_mut())
        .flat_map(|r| r.endpoint_services.iter_mut())
        .filter(|s| s.id == service)
    {
        s.allowed_principals = vec![format!("arn:aws:iam::{member}:root")];
        s.connections.clear();
    }
    let sim = Sim::start(truth.clone(), small_pages(), 2);

    // The whole organisation: inactive accounts listed, not crawled, not gaps.
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &[]);
    expect_exit(&out, 0);
    let got = crawled(dir.path());
    assert!(gaps(&got).is_empty(), "{:?}", gaps(&got));
    let status_of = |inv: &Inventory, a: &str| {
        inv.coverage
            .iter()
            .find(|c| c.account_id == a && c.region.is_none())
            .map(|c| c.status.as_str().to_string())
    };
    assert_eq!(status_of(&got, &id(8)).as_deref(), Some("suspended"));
    assert_eq!(status_of(&got, &id(7)).as_deref(), Some("not_active"));
    for i in [7, 8] {
        let a = got.accounts.iter().find(|a| a.id == id(i)).unwrap();
        assert!(a.regions.is_empty(), "account {i} is not crawled");
    }
    assert_eq!(
        sim.stats().per_action.get("sts:AssumeRole").copied(),
        Some(7),
        "AssumeRole into the 7 active accounts only (the caller's own too: its member role)"
    );
    let m = got.membership.as_ref().expect("membership recorded");
    assert!(m.complete);
    assert_eq!(m.accounts.len(), 9);
    assert_eq!(
        m.accounts.iter().find(|a| a.id == id(7)).unwrap().state,
        "PENDING_ACTIVATION"
    );

    // One account crawled: the organisation is still nine accounts.
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &["--accounts", &provider]);
    expect_exit(&out, 0);
    let got = crawled(dir.path());
    assert_eq!(
        got.accounts
            .iter()
            .filter(|a| !a.regions.is_empty())
            .count(),
        1
    );
    let m = got.membership.as_ref().unwrap();
    assert!(m.complete && m.accounts.len() == 9);
    let f = finding(dir.path(), "principal-outside-org", &service);
    assert_eq!(f["status"], "pass", "{f}");
}

/// A throttled Organizations call is the organisation's gap, not the caller's: the
/// management account's own verdicts stand, and the accounts whose tags could not be read
/// are scanned and named.
#[test]
fn organizations_gaps_belong_to_the_organisation() {
    let truth = org();
    let management = truth.accounts[0].id.clone();
    let sim = Sim::start(
        truth,
        Options {
            faults: vec![fault(
                on(None, None, "ListTagsForResource"),
                FaultKind::Throttle,
                None,
            )],
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plaudit.yaml"),
        "crawl:\n  call_timeout_seconds: 2\n  max_attempts: 2\naccounts:\n  include_tags:\n    env: \"*\"\n",
    )
    .unwrap();
    let out = plaudit(&sim, dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a gap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = crawled(dir.path());
    let org_gaps: Vec<_> = got.coverage.iter().filter(|c| c.status.is_gap()).collect();
    assert_eq!(org_gaps.len(), 1, "{org_gaps:?}");
    assert_eq!(org_gaps[0].account_id, "organization");
    assert_eq!(org_gaps[0].api, "organizations:ListTagsForResource");
    assert_eq!(org_gaps[0].status.as_str(), "throttled");
    assert!(
        org_gaps[0].error.as_deref().unwrap().contains(&management),
        "the accounts are named: {:?}",
        org_gaps[0].error
    );
    assert_eq!(
        got.accounts
            .iter()
            .filter(|a| !a.regions.is_empty())
            .count(),
        8,
        "every active account is scanned, visibly, although its tags are unknown"
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("findings.json")).unwrap()).unwrap();
    let mine: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["account_id"] == management.as_str())
        .collect();
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|f| f["status"] != "unknown"),
        "the caller's verdicts are not touched by the organisation's gap"
    );
}

/// The documented setup: the scanning principal itself may read nothing but Organizations;
/// the member role deployed in its own account reads that account. Where no member role is
/// deployed there, its own credentials are used: no permanent gap either way.
#[test]
fn the_scanners_own_account_is_read_through_its_member_role_or_its_own_credentials() {
    let truth = org();
    let management = truth.accounts[0].id.clone();
    for deployed in [true, false] {
        let sim = Sim::start(
            truth.clone(),
            Options {
                deny_assume_role: if deployed {
                    BTreeSet::new()
                } else {
                    [management.clone()].into()
                },
                ..small_pages()
            },
            2,
        );
        let dir = tempfile::tempdir().unwrap();
        let out = plaudit(&sim, dir.path(), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "member role deployed: {deployed}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = crawled(dir.path());
        let entered: Vec<&str> = got
            .coverage
            .iter()
            .filter(|c| c.account_id == management && c.region.is_none())
            .map(|c| c.api.as_str())
            .filter(|a| a.starts_with("sts:"))
            .collect();
        let want = if deployed {
            "sts:AssumeRole"
        } else {
            "sts:GetCallerIdentity"
        };
        assert_eq!(entered, [want], "deployed: {deployed}");
        let mine = got.accounts.iter().find(|a| a.id == management).unwrap();
        assert!(!mine.regions.is_empty());
    }
}

fn config(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("plaudit.yaml"),
        format!("crawl:\n  call_timeout_seconds: 2\n  max_attempts: 3\n{extra}"),
    )
    .unwrap();
}

/// A region the account has not opted in to cannot hold resources: it is read from
/// DescribeRegions (all regions), listed `not_enabled` and not crawled — not a coverage gap,
/// even when `--regions` names it.
#[test]
fn a_region_the_account_has_not_enabled_is_listed_not_a_gap() {
    let mut truth = org();
    let off = truth.accounts[3].regions[1].name.clone();
    let on = truth.accounts[3].regions[0].name.clone();
    truth.accounts[3].regions.truncate(1);
    let account = truth.accounts[3].id.clone();
    let sim = Sim::start(
        truth.clone(),
        Options {
            not_enabled: [(account.clone(), [off.clone()].into())].into(),
            ..small_pages()
        },
        2,
    );
    for regions in [vec![], vec!["--regions".to_string(), format!("{on},{off}")]] {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<&str> = regions.iter().map(String::as_str).collect();
        let out = plaudit(&sim, dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = crawled(dir.path());
        assert!(gaps(&got).is_empty(), "{:?}", gaps(&got));
        let entry = got
            .coverage
            .iter()
            .find(|c| c.account_id == account && c.region.as_deref() == Some(off.as_str()))
            .expect("the disabled region is listed");
        assert_eq!(entry.status.as_str(), "not_enabled");
        let a = got.accounts.iter().find(|a| a.id == account).unwrap();
        assert!(a.regions.iter().all(|r| r.name != off));
    }
}

/// Scanning from a role session (ECS task, CI role) makes every AssumeRole a role chain,
/// which AWS caps at an hour: a longer `duration_seconds` is asked for as 3,600.
#[test]
fn role_chaining_asks_for_at_most_an_hour() {
    let truth = org();
    let sim = Sim::start(
        truth,
        Options {
            caller_is_role: true,
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "role:\n  duration_seconds: 7200\n");
    let out = plaudit(&sim, dir.path(), &[]);
    expect_exit(&out, 0);
    assert!(gaps(&crawled(dir.path())).is_empty());
}

/// A hub account-region whose endpoints use hundreds of security groups: EC2 refuses more
/// than 200 filter values in one call, so the ids are sent in chunks and nothing is lost.
#[test]
fn hundreds_of_filter_values_are_chunked() {
    use plaudit::inventory::{SecurityGroup, VpcEndpoint};
    let mut truth = org();
    let region = &mut truth.accounts[1].regions[0];
    let template = region.vpc_endpoints[0].clone();
    for i in 0..230 {
        let sg = format!("sg-hub{i:013}");
        region.security_groups.push(SecurityGroup {
            id: sg.clone(),
            name: format!("hub-{i}"),
            vpc_id: Some(template.vpc_id.clone()),
            rules: Vec::new(),
        });
        region.vpc_endpoints.push(VpcEndpoint {
            id: format!("vpce-hub{i:013}"),
            security_group_ids: vec![sg],
            ..template.clone()
        });
    }
    // A secondary IPv4 and an IPv6 CIDR: the NLB rule judges against every one.
    let vpc = region
        .vpcs
        .iter_mut()
        .find(|v| v.id == template.vpc_id)
        .unwrap();
    vpc.cidrs = vec![vpc.cidr.clone().unwrap(), "100.64.0.0/16".into()];
    vpc.ipv6_cidrs = vec!["2600:1f18:1234:5600::/56".into()];
    let want_vpc = vpc.clone();
    let want_groups = region.security_groups.len();
    let account = truth.accounts[1].id.clone();
    let name = truth.accounts[1].regions[0].name.clone();
    let sim = Sim::start(truth, small_pages(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &["--accounts", &account]);
    expect_exit(&out, 0);
    let got = crawled(dir.path());
    assert!(gaps(&got).is_empty(), "{:?}", gaps(&got));
    let a = got.accounts.iter().find(|a| a.id == account).unwrap();
    let r = a.regions.iter().find(|r| r.name == name).unwrap();
    assert_eq!(r.security_groups.len(), want_groups);
    let v = r.vpcs.iter().find(|v| v.id == want_vpc.id).unwrap();
    assert_eq!(
        (&v.cidrs, &v.ipv6_cidrs),
        (&want_vpc.cidrs, &want_vpc.ipv6_cidrs)
    );
}

/// A rule that needs the other side of a connection says `unknown` when that side could not
/// be read: an NLB's security groups cannot be cleared against a consumer whose VPC is in a
/// gap.
#[test]
fn the_other_side_of_a_connection_in_a_gap_is_unknown_not_pass() {
    use plaudit::inventory::{SecurityGroup, SecurityGroupRule};
    let mut truth = org();
    // Every consumer readable to begin with (a suspended one is unreadable by design).
    truth.accounts[8].status = "ACTIVE".into();
    // Every provider NLB enforces a security group that admits the whole 10/8 space.
    for a in &mut truth.accounts {
        for r in &mut a.regions {
            let vpc = r.vpcs.first().map(|v| v.id.clone());
            let mut added = false;
            for lb in r
                .load_balancers
                .iter_mut()
                .filter(|l| l.lb_type == "network")
            {
                lb.security_groups = vec!["sg-0nlb0000000000001".into()];
                lb.enforce_sg_inbound_on_privatelink = Some(true);
                added = true;
            }
            if added {
                r.security_groups.push(SecurityGroup {
                    id: "sg-0nlb0000000000001".into(),
                    name: "nlb".into(),
                    vpc_id: vpc,
                    rules: vec![SecurityGroupRule {
                        protocol: "tcp".into(),
                        from_port: Some(443),
                        to_port: Some(443),
                        cidr_ipv4: Some("10.0.0.0/8".into()),
                        ..Default::default()
                    }],
                });
            }
        }
    }
    // A provider NLB with a live consumer in another account, which cannot be entered.
    let (nlb, consumer) = truth
        .accounts
        .iter()
        .flat_map(|a| &a.regions)
        .flat_map(|r| {
            r.endpoint_services.iter().filter_map(|s| {
                let c = s.connections.iter().find(|c| c.state == "available")?;
                Some((
                    s.network_load_balancer_arns[0].clone(),
                    c.endpoint_owner.clone(),
                ))
            })
        })
        .next()
        .expect("a connected service");
    let healthy = {
        let sim = Sim::start(truth.clone(), small_pages(), 2);
        let dir = tempfile::tempdir().unwrap();
        let out = plaudit(&sim, dir.path(), &[]);
        assert_eq!(out.status.code(), Some(0));
        finding(dir.path(), "nlb-sg-blocks-consumers", &nlb)
    };
    assert_eq!(healthy["status"], "pass", "{healthy}");
    let sim = Sim::start(
        truth,
        Options {
            deny_assume_role: [consumer].into(),
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3));
    let f = finding(dir.path(), "nlb-sg-blocks-consumers", &nlb);
    assert_eq!(f["status"], "unknown", "{f}");
}

/// The consumer side as AWS shows it: VPC Lattice endpoints carry an ARN, not a service name
/// (nothing to look up, no orphan); a cross-region endpoint's service is found only with
/// ServiceRegions; a service whose permissions do not name the consumer is hidden exactly like
/// a deleted one, so it is `unknown`, not "deleted".
#[test]
fn consumer_lookups_follow_aws_visibility_regions_and_endpoint_types() {
    use plaudit::inventory::VpcEndpoint;
    let mut truth = org();
    let consumer = 1;
    let home = truth.accounts[consumer].regions[0].name.clone();
    let other = truth.accounts[consumer].regions[1].name.clone();
    let cid = truth.accounts[consumer].id.clone();
    // A service in the other region that allows the consumer, and one in the home region
    // that does not.
    let mut pick = |region: &str, allow: bool| {
        let s = truth
            .accounts
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != consumer)
            .flat_map(|(_, a)| a.regions.iter_mut())
            .filter(|r| r.name == region)
            .flat_map(|r| r.endpoint_services.iter_mut())
            .next()
            .expect("a provider");
        s.allowed_principals = if allow {
            vec![format!("arn:aws:iam::{cid}:root")]
        } else {
            vec!["arn:aws:iam::999999999999:root".into()]
        };
        s.supported_regions = vec![region.to_string(), home.clone()];
        s.name.clone()
    };
    let remote = pick(&other, true);
    let hidden = pick(&home, false);
    let r = &mut truth.accounts[consumer].regions[0];
    let template = VpcEndpoint {
        service_name: String::new(),
        ..r.vpc_endpoints[0].clone()
    };
    r.vpc_endpoints.extend([
        VpcEndpoint {
            id: "vpce-0lattice0net0001".into(),
            endpoint_type: "ServiceNetwork".into(),
            service_network_arn: Some(format!(
                "arn:aws:vpc-lattice:{home}:{cid}:servicenetwork/sn-0123456789abcdef0"
            )),
            ..template.clone()
        },
        VpcEndpoint {
            id: "vpce-0lattice0res0001".into(),
            endpoint_type: "Resource".into(),
            resource_configuration_arn: Some(format!(
                "arn:aws:vpc-lattice:{home}:{cid}:resourceconfiguration/rcfg-0123456789abcdef0"
            )),
            ..template.clone()
        },
        VpcEndpoint {
            id: "vpce-0cross0region001".into(),
            service_name: remote.clone(),
            service_region: Some(other.clone()),
            ..template.clone()
        },
        VpcEndpoint {
            id: "vpce-0hidden0service1".into(),
            service_name: hidden.clone(),
            ..template
        },
    ]);
    let sim = Sim::start(truth, small_pages(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = plaudit(&sim, dir.path(), &["--accounts", &cid]);
    expect_exit(&out, 0);
    let got = crawled(dir.path());
    let a = got.accounts.iter().find(|a| a.id == cid).unwrap();
    let r = a.regions.iter().find(|r| r.name == home).unwrap();
    let net = r
        .vpc_endpoints
        .iter()
        .find(|e| e.id == "vpce-0lattice0net0001")
        .unwrap();
    assert!(net.service_network_arn.is_some() && net.service_name.is_empty());
    let res = r
        .vpc_endpoints
        .iter()
        .find(|e| e.id == "vpce-0lattice0res0001")
        .unwrap();
    assert!(res.resource_configuration_arn.is_some());
    assert!(
        r.service_lookups.iter().all(|l| !l.service_name.is_empty()),
        "no lookup of an empty name: {:?}",
        r.service_lookups
    );
    let lookup = |n: &str| {
        r.service_lookups
            .iter()
            .find(|l| l.service_name == n)
            .unwrap()
    };
    assert!(lookup(&remote).found, "found with ServiceRegions");
    assert_eq!(
        lookup(&remote).service_region.as_deref(),
        Some(other.as_str())
    );
    assert!(!lookup(&hidden).found);

    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("findings.json")).unwrap()).unwrap();
    let orphan = |id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == "orphaned-connection" && f["resource_id"] == id)
            .cloned()
    };
    assert_eq!(orphan("vpce-0lattice0net0001"), None, "no false orphan");
    assert_eq!(orphan("vpce-0lattice0res0001"), None, "no false orphan");
    assert_eq!(orphan("vpce-0cross0region001").unwrap()["status"], "pass");
    let h = orphan("vpce-0hidden0service1").unwrap();
    assert_eq!(h["status"], "unknown", "{h}");
}

/// A 500 whose body is an HTML page (a proxy's, an emulator's) is an HTTP 500 in the ledger,
/// not "a response cut short".
#[test]
fn an_html_error_page_is_named_by_its_status() {
    let truth = org();
    let a = truth.accounts[1].id.clone();
    let r = truth.accounts[1].regions[0].name.clone();
    let sim = Sim::start(
        truth,
        Options {
            faults: vec![fault(
                on(Some(&a), Some(&r), "DescribeVpcEndpoints"),
                FaultKind::HtmlError,
                None,
            )],
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "");
    let out = plaudit(&sim, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3));
    let got = crawled(dir.path());
    let e = got
        .coverage
        .iter()
        .find(|c| c.account_id == a && c.api == "ec2:DescribeVpcEndpoints")
        .unwrap();
    let msg = e.error.as_deref().unwrap_or("");
    assert!(msg.contains("500"), "{msg}");
    assert!(!msg.contains("cut short"), "{msg}");
}

/// Preflight probes through the same AWS clients as the scan (one factory): a response cut
/// short is checked and retried as in the scan. It built bare clients of its own before,
/// which took a truncated answer as a whole one (the SDK's XML parser stops quietly).
#[test]
fn preflight_probes_through_the_scans_clients() {
    let truth = org();
    let faults = vec![fault(
        on(None, None, "DescribeVpcEndpoints"),
        FaultKind::Truncated,
        Some(2),
    )];
    let sim = Sim::start(
        truth,
        Options {
            faults,
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plaudit.yaml");
    std::fs::write(
        &cfg,
        "crawl:\n  call_timeout_seconds: 2\n  max_attempts: 4\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_plaudit"));
    c.args([
        "preflight",
        "--format",
        "csv",
        "--regions",
        "us-east-1",
        "--config",
    ])
    .arg(&cfg)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("RUST_LOG", "off");
    for (k, v) in sim.env() {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The suspended account is listed, not entered; every other one reads every API.
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let denied: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter(|l| l.contains("error") || l.contains("denied"))
        .collect();
    assert!(denied.is_empty(), "{denied:?}");
    // One probe per account entered, and the two truncated answers asked again.
    let per = sim.stats().per_action;
    let probed = per["ec2:DescribeAvailabilityZones"];
    assert!(probed >= 8, "{per:?}");
    assert_eq!(per["ec2:DescribeVpcEndpoints"], probed + 2, "{per:?}");
}

/// The preflight matrix at 80, 120 and 200 columns: account ids, statuses and the API
/// names of the legend are never broken across lines.
#[test]
fn the_preflight_table_keeps_identifiers_whole() {
    let truth = org();
    let sim = Sim::start(
        truth.clone(),
        Options {
            deny_assume_role: [truth.accounts[2].id.clone()].into(),
            ..small_pages()
        },
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plaudit.yaml");
    std::fs::write(
        &cfg,
        "crawl:\n  call_timeout_seconds: 2\n  max_attempts: 4\n",
    )
    .unwrap();
    for width in [80u16, 120, 200] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_plaudit"));
        c.args(["preflight", "--regions", "us-east-1", "--config"])
            .arg(&cfg)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "off")
            .env("COLUMNS", width.to_string());
        for (k, v) in sim.env() {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "one role is denied: {stdout}");
        let mut whole: Vec<String> = truth
            .accounts
            .iter()
            .filter(|a| a.status != "SUSPENDED")
            .map(|a| a.id.clone())
            .collect();
        whole.extend(plaudit::crawl::PREFLIGHT_APIS.iter().map(|a| a.to_string()));
        whole.push("assume_role_failed".into());
        let broken: Vec<&String> = whole
            .iter()
            .filter(|id| !stdout.lines().any(|l| l.contains(id.as_str())))
            .collect();
        assert!(broken.is_empty(), "at {width}: {broken:?}\n{stdout}");
        let wide: Vec<&str> = stdout
            .lines()
            .filter(|l| l.chars().count() > usize::from(width))
            .collect();
        assert!(wide.is_empty(), "at {width}: {wide:?}");
    }
}

/// The request budget: every call a crawl makes is justified by data a rule reads
/// (`docs/scaling.md` names the rule for each). On a fixed organisation where every
/// account-region has a VPC with 3 subnets, an NLB → `alb` target group → ALB chain behind an
/// endpoint service and 3 interface endpoints, the requests per API are fixed here: a new
/// call, or one more per resource, fails this test and is a decision to make visibly (update
/// the table and the page).
#[test]
fn requests_per_api_stay_within_the_budget() {
    let shape = |private_dns: bool| {
        let mut inv = synth::generate(Shape {
            accounts: 6,
            regions: 2,
            seed: 3,
            provider_every: 1,
            endpoints_per_region: 3,
            consumer_every: 1,
        });
        for r in inv.accounts.iter_mut().flat_map(|a| &mut a.regions) {
            for e in &mut r.vpc_endpoints {
                e.private_dns_enabled = private_dns;
            }
        }
        inv
    };
    let run = |inv: Inventory| {
        let regions = inv.account_regions();
        let sim = Sim::start(inv, Options::default(), 2);
        let dir = tempfile::tempdir().unwrap();
        let out = plaudit(&sim, dir.path(), &["--no-history"]);
        expect_exit(&out, 0);
        let per_action: BTreeMap<String, u64> = sim
            .stats()
            .per_action
            .into_iter()
            .filter(|(k, _)| k.starts_with("ec2:") || k.starts_with("elasticloadbalancing:"))
            .filter(|(k, _)| k != "ec2:DescribeRegions")
            .collect();
        (regions, per_action)
    };
    let (regions, with_dns) = run(shape(true));
    assert_eq!(regions, 12);
    // Per account-region: the two listings, the AZ map, the service's connections and
    // permissions, the NLB (itself, attributes, listeners, target groups, the group's health
    // and attributes), the ALB (itself only), the VPC, its two DNS attributes (private DNS
    // is on), subnets, security groups (rules included).
    let per_region: BTreeMap<&str, u64> = [
        ("ec2:DescribeVpcEndpointServiceConfigurations", 1),
        ("ec2:DescribeVpcEndpoints", 1),
        ("ec2:DescribeAvailabilityZones", 1),
        ("ec2:DescribeVpcEndpointConnections", 1),
        ("ec2:DescribeVpcEndpointServicePermissions", 1),
        ("elasticloadbalancing:DescribeLoadBalancers", 2),
        ("elasticloadbalancing:DescribeLoadBalancerAttributes", 1),
        ("elasticloadbalancing:DescribeListeners", 1),
        ("elasticloadbalancing:DescribeTargetGroups", 1),
        ("elasticloadbalancing:DescribeTargetHealth", 1),
        ("elasticloadbalancing:DescribeTargetGroupAttributes", 1),
        ("ec2:DescribeVpcs", 1),
        ("ec2:DescribeVpcAttribute", 2),
        ("ec2:DescribeSubnets", 1),
        ("ec2:DescribeSecurityGroups", 1),
    ]
    .into_iter()
    .collect();
    let want: BTreeMap<String, u64> = per_region
        .iter()
        .map(|(k, v)| (k.to_string(), v * regions as u64))
        .collect();
    assert_eq!(with_dns, want, "requests per API, 12 account-regions");
    let total: u64 = with_dns.values().sum();
    assert_eq!(total / regions as u64, 17, "requests per account-region");

    // Without private DNS on any endpoint no rule reads a VPC's DNS attributes: 15.
    let (_, without_dns) = run(shape(false));
    let mut want = want;
    want.remove("ec2:DescribeVpcAttribute");
    assert_eq!(without_dns, want);
    assert_eq!(without_dns.values().sum::<u64>() / regions as u64, 15);
}

/// Organizations requests the simulator has served so far.
fn org_requests(sim: &Sim) -> u64 {
    sim.stats()
        .per_action
        .iter()
        .filter(|(k, _)| k.starts_with("organizations:"))
        .map(|(_, v)| v)
        .sum()
}

/// `plaudit accounts --save` walks the organisation once; N shards crawling that list make
/// no Organizations request at all, and their merged inventory evaluates to the findings
/// and gaps of one live scan (the suspended account listed once, membership complete).
#[test]
fn shards_crawl_one_account_list_and_walk_the_organisation_once() {
    // No throttling: a retried request would count as a second walk's.
    let opts = Options {
        throttling: false,
        ..small_pages()
    };
    let sim = Sim::start(org(), opts, 2);
    let dir = tempfile::tempdir().unwrap();
    let live_dir = dir.path().join("live");
    std::fs::create_dir(&live_dir).unwrap();
    let out = plaudit(&sim, &live_dir, &["--no-history"]);
    expect_exit(&out, 0);
    let one_walk = org_requests(&sim);
    assert!(one_walk > 0);

    let list = dir.path().join("accounts.json");
    let out = Command::new(env!("CARGO_BIN_EXE_plaudit"))
        .args(["accounts", "--format", "csv", "--save"])
        .arg(&list)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(sim.env())
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert_eq!(csv.lines().count(), 1 + 9, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("SUSPENDED") && l.ends_with(",no")),
        "{csv}"
    );
    assert_eq!(org_requests(&sim), 2 * one_walk, "the list is one walk");

    let mut parts = Vec::new();
    for k in 1..=3 {
        let d = dir.path().join(format!("s{k}"));
        std::fs::create_dir(&d).unwrap();
        let shard = format!("{k}/3");
        let list = list.to_str().unwrap();
        let out = plaudit(
            &sim,
            &d,
            &["--no-history", "--shard", &shard, "--accounts-from", list],
        );
        expect_exit(&out, 0);
        parts.push(d.join("inventory.json"));
    }
    assert_eq!(
        org_requests(&sim),
        2 * one_walk,
        "shards with a list make no Organizations request"
    );

    let merged = dir.path().join("merged.json");
    let out = Command::new(env!("CARGO_BIN_EXE_plaudit"))
        .arg("merge")
        .args(&parts)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let merged: Inventory =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let live = crawled(&live_dir);
    assert_eq!(merged.accounts.len(), 9);
    assert_eq!(merged.membership, live.membership);
    assert_eq!(gaps(&merged), gaps(&live));
    assert_eq!(count(&merged), count(&live));
    let merged = aligned(merged, &live);
    assert_same(
        &findings_of(&merged, dir.path()),
        &findings_of(&live, dir.path()),
    );
}
