use super::*;
use crate::findings::Severity;
use crate::inventory::{Account, Api, CoverageEntry, CoverageStatus, Region};

fn inv(gap: Option<(&str, &str)>) -> Inventory {
    let region = |n: &str| Region {
        name: n.into(),
        ..Default::default()
    };
    Inventory {
        schema_version: crate::inventory::SCHEMA_VERSION,
        accounts: vec![
            Account {
                id: "111111111111".into(),
                regions: vec![region("us-east-1")],
                ..Default::default()
            },
            Account {
                id: "222222222222".into(),
                regions: vec![region("us-east-1")],
                ..Default::default()
            },
        ],
        coverage: gap
            .map(|(a, r)| CoverageEntry {
                account_id: a.into(),
                region: Some(r.into()),
                api: Api::parse("ec2:DescribeVpcEndpoints").unwrap(),
                status: CoverageStatus::AccessDenied,
                error: Some("denied".into()),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

fn f(account: &str, resource: &str, status: Status) -> Finding {
    Finding {
        rule_id: "r".into(),
        title: "t".into(),
        severity: Severity::High,
        status,
        account_id: account.into(),
        region: "us-east-1".into(),
        resource_type: "x".into(),
        resource_id: resource.into(),
        resource_arn: String::new(),
        reason: "why".into(),
        path: None,
        waiver_id: None,
        new_since_baseline: None,
    }
}

fn record(h: &mut History, inv: &Inventory, findings: &[Finding]) -> i64 {
    let id = h
        .begin(NewScan {
            source: "test",
            ruleset_hash: "h",
        })
        .unwrap();
    h.finish(id, inv, Snapshot::Inventory, findings, 1).unwrap();
    id
}

fn first_seen(h: &History, scan: i64, resource: &str) -> Option<i64> {
    h.findings(scan)
        .unwrap()
        .into_iter()
        .find(|r| r.resource_id == resource)
        .and_then(|r| r.first_seen_scan)
}

#[test]
fn first_seen_survives_gaps_and_a_comeback_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(&dir.path().join("h.db")).unwrap();
    let a = "111111111111";
    let s1 = record(&mut h, &inv(None), &[f(a, "x", Status::Fail)]);
    let s2 = record(&mut h, &inv(None), &[f(a, "x", Status::Fail)]);
    assert_eq!(first_seen(&h, s2, "x"), Some(s1));
    // Unknown, then absent behind a gap: still open.
    let s3 = record(&mut h, &inv(None), &[f(a, "x", Status::Unknown)]);
    let _s4 = record(&mut h, &inv(Some((a, "us-east-1"))), &[]);
    let s5 = record(&mut h, &inv(None), &[f(a, "x", Status::Fail)]);
    assert_eq!(
        first_seen(&h, s5, "x"),
        Some(s1),
        "s3 {s3}: a gap does not resolve it"
    );
    // Passing resolves it; failing again is new.
    record(&mut h, &inv(None), &[f(a, "x", Status::Pass)]);
    let s7 = record(&mut h, &inv(None), &[f(a, "x", Status::Fail)]);
    assert_eq!(first_seen(&h, s7, "x"), Some(s7));
    // Gone from a region that was read: resolved too.
    record(&mut h, &inv(None), &[]);
    let s9 = record(&mut h, &inv(None), &[f(a, "x", Status::Fail)]);
    assert_eq!(first_seen(&h, s9, "x"), Some(s9));
    let scans = h.scans().unwrap();
    assert_eq!(scans.len(), 9);
    assert_eq!(scans[3].status, ScanStatus::Incomplete);
    assert_eq!(scans[0].status, ScanStatus::Complete);
    assert_eq!(h.inventory(s1).unwrap().accounts.len(), 2);
}

#[test]
fn a_scan_killed_midway_stays_running_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut h = History::open(&path).unwrap();
    let s1 = record(&mut h, &inv(None), &[f("111111111111", "x", Status::Fail)]);
    let killed = h
        .begin(NewScan {
            source: "crawl",
            ruleset_hash: "h",
        })
        .unwrap();
    drop(h);
    // Another process opens it later: readable, the killed scan is listed as running.
    let mut h = History::open(&path).unwrap();
    let scans = h.scans().unwrap();
    assert_eq!(scans[1].id, killed);
    assert!(!scans[1].finished());
    assert!(h.inventory(killed).is_err());
    let s3 = record(&mut h, &inv(None), &[f("111111111111", "x", Status::Fail)]);
    assert_eq!(first_seen(&h, s3, "x"), Some(s1));
}

#[test]
fn two_writers_at_once_do_not_corrupt_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    History::open(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut h = History::open(&path).unwrap();
                for _ in 0..5 {
                    record(
                        &mut h,
                        &inv(None),
                        &[f("111111111111", &format!("r{i}"), Status::Fail)],
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = History::open(&path).unwrap();
    assert_eq!(h.scans().unwrap().len(), 20);
    assert!(
        h.scans()
            .unwrap()
            .iter()
            .all(|s| s.status == ScanStatus::Complete)
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = History::open(&path).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
    std::fs::write(
        dir.path().join("junk.db"),
        b"this is not sqlite at all, not even close......",
    )
    .unwrap();
    let e = format!(
        "{:#}",
        History::open(&dir.path().join("junk.db")).err().unwrap()
    );
    assert!(e.contains("junk.db"), "{e}");
}

#[test]
fn a_partial_scan_closes_nothing_outside_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(&dir.path().join("h.db")).unwrap();
    let (a, b) = ("111111111111", "222222222222");
    let s1 = record(
        &mut h,
        &inv(None),
        &[f(a, "x", Status::Fail), f(b, "y", Status::Fail)],
    );
    // A scan of account A alone (`--accounts`, a shard, a subset inventory).
    let mut only_a = inv(None);
    only_a.accounts.retain(|x| x.id == a);
    record(&mut h, &only_a, &[f(a, "x", Status::Fail)]);
    // B's finding was not looked at: still open, still first seen in scan 1.
    let s3 = record(
        &mut h,
        &inv(None),
        &[f(a, "x", Status::Fail), f(b, "y", Status::Fail)],
    );
    assert_eq!(first_seen(&h, s3, "y"), Some(s1));
}

/// The snapshot is written into the row as it is serialised (a blob); a history from before
/// holds it as text, and both read back. The open findings are what a scan lists passes for.
#[test]
fn the_inventory_snapshot_is_a_blob_and_old_text_snapshots_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(&dir.path().join("h.db")).unwrap();
    let a = "111111111111";
    let s1 = record(
        &mut h,
        &inv(None),
        &[f(a, "x", Status::Fail), f(a, "y", Status::Waived)],
    );
    let kind: String = h
        .conn
        .query_row(
            "SELECT typeof(inventory) FROM scans WHERE id = ?1",
            [s1],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert_eq!(h.inventory(s1).unwrap(), inv(None));
    let open = h.open_fingerprints().unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.contains(&f(a, "x", Status::Fail).fingerprint()));
    // As an older plaudit wrote it.
    let text = serde_json::to_string(&inv(Some((a, "us-east-1")))).unwrap();
    h.conn
        .execute(
            "UPDATE scans SET inventory = ?2 WHERE id = ?1",
            params![s1, text],
        )
        .unwrap();
    assert_eq!(h.inventory(s1).unwrap(), inv(Some((a, "us-east-1"))));
}

/// A scan of a saved inventory holds it in outline and records the file itself: the whole
/// inventory reads back; a file that changed after it was read is not recorded as the
/// scan's inventory, and the scan stays unfinished.
#[test]
fn a_scanned_file_is_recorded_whole_and_a_changed_one_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inv.json");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-org.json");
    std::fs::copy(&demo, &file).unwrap();
    let whole = crate::inventory::load_file(&file).unwrap();
    let streamed = crate::inventory::load::stream_file(&file, &mut |_| Ok(()))
        .unwrap()
        .unwrap();
    assert_ne!(streamed.outline, whole, "an outline has no resources");
    let mut h = History::open(&dir.path().join("h.db")).unwrap();
    let begin = |h: &History| {
        h.begin(NewScan {
            source: "inv.json",
            ruleset_hash: "h",
        })
        .unwrap()
    };
    let a = "111111111111";
    let s1 = begin(&h);
    h.finish(
        s1,
        &streamed.outline,
        Snapshot::File(&streamed.source),
        &[f(a, "x", Status::Fail)],
        1,
    )
    .unwrap();
    assert_eq!(h.inventory(s1).unwrap(), whole);

    let s2 = begin(&h);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replacen("pendingVerification", "verified", 1);
    std::fs::write(&file, text).unwrap();
    let err = h
        .finish(
            s2,
            &streamed.outline,
            Snapshot::File(&streamed.source),
            &[f(a, "y", Status::Fail)],
            1,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("changed while it was scanned"),
        "{err:#}"
    );
    assert!(h.findings(s2).unwrap().is_empty());
    assert!(h.inventory(s2).is_err());
    assert_eq!(h.scans().unwrap()[1].status, ScanStatus::Running);
    assert_eq!(h.open_fingerprints().unwrap().len(), 1);
}
