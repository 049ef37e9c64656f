//! Terminal tables at 80, 120 and 200 columns (`COLUMNS`): identifiers — rule ids, account
//! ids, regions, resource ids, timestamps, statuses — are never broken across lines, and the
//! rendering is snapshot-tested so a layout change shows up in review.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const WIDTHS: [u16; 3] = [80, 120, 200];

fn run_at(width: u16, state: Option<&Path>, args: &[&str]) -> String {
    let mut c = Command::cargo_bin("plaudit").unwrap();
    c.env(
        "XDG_DATA_HOME",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
    )
    .env("COLUMNS", width.to_string())
    .env("NO_COLOR", "1")
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .args(args);
    if let Some(s) = state {
        c.arg("--state").arg(s);
    }
    let out = c.output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Fails naming every identifier that does not appear whole on one line.
fn assert_whole(what: &str, width: u16, out: &str, ids: &[String]) {
    let broken: Vec<&String> = ids
        .iter()
        .filter(|id| !out.lines().any(|l| l.contains(id.as_str())))
        .collect();
    assert!(
        broken.is_empty(),
        "{what} at {width} columns breaks {broken:?}:\n{out}"
    );
    let too_wide: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().count() > usize::from(width))
        .collect();
    // A table never draws wider than asked (a record's single long word may be).
    assert!(
        too_wide
            .iter()
            .all(|l| !l.contains('│') && !l.starts_with('─')),
        "{what} at {width}: {too_wide:?}"
    );
}

/// The demo's findings (not passing, not "not evaluated"), as the JSON report has them.
fn demo_identifiers(failing_only: bool) -> Vec<String> {
    let json = run_at(
        120,
        None,
        &[
            "scan",
            "--no-history",
            "--format",
            "json",
            "--inventory",
            "examples/demo-org.json",
        ],
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let mut ids = Vec::new();
    for f in v["findings"].as_array().unwrap() {
        if f["status"] == "pass" || f["resource_id"] == "*" {
            continue;
        }
        if failing_only && f["status"] != "fail" && f["status"] != "waived" {
            continue;
        }
        for k in ["rule_id", "account_id", "region"] {
            ids.push(f[k].as_str().unwrap().to_string());
        }
        let res = f["resource_id"].as_str().unwrap();
        ids.push(plaudit::report::short_resource(res).into_owned());
    }
    ids.sort();
    ids.dedup();
    ids
}

/// Timestamps masked (scans record when they ran).
fn masked(out: &str) -> String {
    let mut s = String::with_capacity(out.len());
    let b = out.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let stamp = b.len() >= i + 20
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && b[i + 19] == b'Z';
        if stamp {
            s.push_str("YYYY-MM-DDTHH:MM:SSZ");
            i += 20;
        } else {
            let ch = out[i..].chars().next().unwrap();
            s.push(ch);
            i += ch.len_utf8();
        }
    }
    s
}

#[test]
fn scan_tables_keep_identifiers_whole() {
    let ids = demo_identifiers(false);
    assert!(ids.contains(&"app/ledger-alb/7c9e…".to_string()), "{ids:?}");
    for w in WIDTHS {
        let out = run_at(
            w,
            None,
            &[
                "scan",
                "--no-history",
                "--inventory",
                "examples/demo-org.json",
            ],
        );
        assert_whole("scan", w, &out, &ids);
        // The summary's lines fit 120 columns.
        let summary: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(" failing") || l.contains(" accounts, "))
            .collect();
        assert!(
            summary.iter().all(|l| l.chars().count() <= 120),
            "{summary:?}"
        );
        insta::assert_snapshot!(format!("scan-{w}"), out);
    }
}

#[test]
fn rules_list_keeps_rule_ids_whole() {
    let csv = run_at(120, None, &["rules", "list", "--format", "csv"]);
    let ids: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 15);
    for w in WIDTHS {
        let out = run_at(w, None, &["rules", "list"]);
        assert_whole("rules list", w, &out, &ids);
        insta::assert_snapshot!(format!("rules-list-{w}"), out);
    }
}

#[test]
fn history_and_drift_tables_keep_identifiers_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    for _ in 0..2 {
        run_at(
            120,
            Some(&state),
            &["scan", "--inventory", "examples/demo-org.json"],
        );
    }
    // Drift lists failing findings.
    let ids = demo_identifiers(true);
    for w in WIDTHS {
        let history = run_at(w, Some(&state), &["history"]);
        let started: Vec<String> = history
            .lines()
            .flat_map(|l| l.split_whitespace())
            .filter(|t| t.len() == 20 && t.ends_with('Z') && t.contains('T'))
            .map(str::to_string)
            .collect();
        assert_eq!(
            started.len(),
            2,
            "both scans' start times, whole:\n{history}"
        );
        assert_whole(
            "history",
            w,
            &history,
            &["incomplete".into(), "demo-org.json".into()],
        );
        insta::assert_snapshot!(format!("history-{w}"), masked(&history));

        let drift = run_at(w, Some(&state), &["drift"]);
        let open: Vec<String> = ids.iter().filter(|i| !i.is_empty()).cloned().collect();
        assert_whole("drift", w, &drift, &open);
        insta::assert_snapshot!(format!("drift-{w}"), drift);
    }
}
