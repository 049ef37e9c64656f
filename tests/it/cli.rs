//! The command line as users run it: exit codes, output formats, error messages.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-org.json")
}

fn plaudit() -> Command {
    let mut c = Command::cargo_bin("plaudit").unwrap();
    // Scans record history: into the target directory, never the user's.
    c.env(
        "XDG_DATA_HOME",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
    );
    c
}

fn demo_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(demo()).unwrap()).unwrap()
}

/// The demo inventory with its coverage gaps removed (a complete scan).
fn complete_demo(dir: &Path) -> PathBuf {
    let mut inv = demo_json();
    inv["coverage"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["status"] == "ok" || c["status"] == "suspended");
    let p = dir.join("complete.json");
    std::fs::write(&p, serde_json::to_string(&inv).unwrap()).unwrap();
    p
}

fn stdout_of(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn demo_scan_is_incomplete_exit_3_and_exit_zero_overrides() {
    let (code, out, _) = stdout_of(plaudit().args(["scan", "--inventory"]).arg(demo()));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("incomplete: 2 coverage gaps"), "{out}");
    let (code, _, _) = stdout_of(
        plaudit()
            .args(["scan", "--exit-zero", "--inventory"])
            .arg(demo()),
    );
    assert_eq!(code, 0);
}

#[test]
fn exit_codes_follow_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let inv = complete_demo(dir.path());
    let code = |extra: &[&str]| {
        stdout_of(
            plaudit()
                .args(["scan", "--inventory"])
                .arg(&inv)
                .args(extra),
        )
        .0
    };
    assert_eq!(code(&[]), 1, "failing findings at the default threshold");
    assert_eq!(
        code(&["--fail-on", "high"]),
        1,
        "the demo has high findings"
    );
    assert_eq!(
        code(&["--fail-on", "critical"]),
        0,
        "the demo has no critical finding"
    );
    assert_eq!(code(&["--fail-on", "none"]), 0);
    assert_eq!(code(&["--fail-on", "sometimes"]), 2, "bad invocation");
}

#[test]
fn fail_on_comes_from_the_config_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let inv = complete_demo(dir.path());
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "fail_on: critical\n").unwrap();
    let run = |extra: &[&str]| {
        stdout_of(
            plaudit()
                .args(["scan", "--inventory"])
                .arg(&inv)
                .arg("--config")
                .arg(&cfg)
                .args(extra),
        )
        .0
    };
    assert_eq!(run(&[]), 0);
    assert_eq!(run(&["--fail-on", "low"]), 1);
}

#[test]
fn config_overrides_change_findings() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "rules:\n  orphaned-connection:\n    params: { max_pending_days: 90 }\n  alb-sg-blocks-nlb:\n    enabled: false\n",
    )
    .unwrap();
    let (_, out, _) = stdout_of(
        plaudit()
            .args(["scan", "--format", "json", "--inventory"])
            .arg(demo())
            .arg("--config")
            .arg(&cfg),
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule_id"] == "alb-sg-blocks-nlb"));
    let pending = findings
        .iter()
        .find(|f| {
            f["resource_id"] == "vpce-0ana0led000000001" && f["rule_id"] == "orphaned-connection"
        })
        .unwrap();
    assert_eq!(pending["status"], "pass", "48 days is within 90");
}

#[test]
fn json_output_has_the_documented_shape() {
    let (_, out, _) = stdout_of(
        plaudit()
            .args(["scan", "--show-pass", "--format", "json", "--inventory"])
            .arg(demo()),
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 4);
    let scan = &v["scan"];
    for k in [
        "tool_version",
        "collected_at",
        "rules",
        "accounts",
        "regions",
        "complete",
        "counts",
        "failing_by_severity",
        "coverage_gaps",
        "rule_set_hash",
    ] {
        assert!(scan.get(k).is_some(), "scan.{k} missing");
    }
    assert_eq!(scan["complete"], false);
    assert_eq!(scan["coverage_gaps"], 2);
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for k in [
            "rule_id",
            "title",
            "severity",
            "status",
            "account_id",
            "region",
            "resource_id",
            "resource_arn",
            "reason",
        ] {
            assert!(f[k].is_string(), "finding.{k} is not a string: {f}");
        }
        assert!(f["path"].is_null() || f["path"].is_string());
        assert!(["pass", "fail", "unknown"].contains(&f["status"].as_str().unwrap()));
        assert!(
            ["critical", "high", "medium", "low", "info"]
                .contains(&f["severity"].as_str().unwrap())
        );
    }
    // Counts agree with the findings.
    let fails = findings.iter().filter(|f| f["status"] == "fail").count();
    assert_eq!(scan["counts"]["fail"], fails);
    let passes = findings.iter().filter(|f| f["status"] == "pass").count();
    assert_eq!(
        scan["counts"]["pass"], passes,
        "--show-pass lists every pass"
    );
    assert_eq!(scan["passing_not_listed"], 0);
    // Every rule of the catalogue both passes and fails somewhere in the demo.
    let (_, list, _) = stdout_of(plaudit().args(["rules", "list", "--format", "json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 15, "{ids:?}");
    for rule in &ids {
        for status in ["pass", "fail"] {
            assert!(
                findings
                    .iter()
                    .any(|f| f["rule_id"] == *rule && f["status"] == status),
                "demo has no {status} for {rule}"
            );
        }
    }
    let cov = v["coverage"].as_array().unwrap();
    assert!(cov.iter().any(|c| c["status"] == "assume_role_failed"));
    assert!(cov.iter().any(|c| c["status"] == "suspended"));
}

#[test]
fn csv_output_parses_with_fixed_columns_and_neutralised_formulas() {
    // An endpoint id that a spreadsheet would run, and a reason full of commas and quotes.
    let mut inv = demo_json();
    let web = inv["accounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["id"] == "444444444444")
        .unwrap();
    let eps = web["regions"][0]["vpc_endpoints"].as_array_mut().unwrap();
    eps.push(serde_json::json!({
        "id": "=HYPERLINK(\"http://evil\",\"x\")",
        "vpc_id": "vpc-0web00000000001",
        "service_name": "com.amazonaws.vpce.eu-west-1.vpce-svc-\"quoted\",comma",
        "state": "rejected"
    }));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inv.json");
    std::fs::write(&p, serde_json::to_string(&inv).unwrap()).unwrap();
    let (_, out, _) = stdout_of(
        plaudit()
            .args(["scan", "--format", "csv", "--inventory"])
            .arg(&p),
    );
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(out.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        plaudit::report::CSV_COLUMNS.to_vec()
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert!(rows.len() > 20);
    assert!(rows.iter().all(|r| r.len() == headers.len()));
    let evil = rows
        .iter()
        .find(|r| r[7].contains("HYPERLINK"))
        .expect("the crafted finding");
    assert!(
        evil[7].starts_with("'="),
        "formula not neutralised: {}",
        &evil[7]
    );
    assert!(
        evil[9].contains("\"quoted\",comma"),
        "quoting lost: {}",
        &evil[9]
    );
    assert!(
        !rows
            .iter()
            .any(|r| r.iter().any(|c| c.starts_with(['=', '+', '@'])))
    );
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.json");
    let (code, stdout, stderr) = stdout_of(
        plaudit()
            .args(["scan", "--format", "json", "--inventory"])
            .arg(demo())
            .arg("--output")
            .arg(&out),
    );
    assert_eq!(code, 3);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("failing"),
        "summary goes to stderr: {stderr}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 4);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_inputs_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"schema_version\": 1,\n \"accounts\": [\n  {\"id\": 5}]}",
    )
    .unwrap();
    let (code, _, err) = stdout_of(plaudit().args(["scan", "--inventory"]).arg(&bad));
    assert_eq!(code, 2);
    assert!(err.contains("bad.json") && err.contains("line 3"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );

    let (code, _, err) =
        stdout_of(plaudit().args(["scan", "--inventory", "/nonexistent/inv.json"]));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/inv.json"), "{err}");

    let old = dir.path().join("old.json");
    std::fs::write(&old, "{\"schema_version\": 0}").unwrap();
    let (code, _, err) = stdout_of(plaudit().args(["scan", "--inventory"]).arg(&old));
    assert_eq!(code, 2);
    assert!(err.contains("schema_version 0"), "{err}");

    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "fail_on: high\nrulez: {}\n").unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--inventory"])
            .arg(demo())
            .arg("--config")
            .arg(&cfg),
    );
    assert_eq!(code, 2);
    assert!(err.contains("c.yaml") && err.contains("rulez"), "{err}");
    // One `error:`, and the snippet names the file (it said `<input>`).
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(err.contains(&format!("--> {}:2:1", cfg.display())), "{err}");
    assert!(!err.contains("<input>"), "{err}");

    // A live scan that cannot reach AWS (only loopback here: a closed port) is an error, not
    // an empty pass.
    let once = dir.path().join("once.yaml");
    std::fs::write(&once, "crawl:\n  max_attempts: 1\n").unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--regions", "us-east-1", "--config"])
            .arg(&once)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    );
    assert_eq!(code, 2, "{err}");
    // A network error, named as one (it said "check the AWS credentials" before).
    assert!(err.contains("cannot reach AWS STS"), "{err}");
    assert!(
        !err.contains("testing"),
        "credentials must never be printed: {err}"
    );
}

#[test]
fn a_broken_rule_directory_is_refused_before_scanning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("my-rule.yaml"),
        "id: my-rule\ntitle: t\nseverity: low\nresource: vpc\ndescription: {what: a, why: b, fix: c}\nquery: SELECT * FROM nowhere\n",
    )
    .unwrap();
    let (code, out, err) = stdout_of(
        plaudit()
            .args(["scan", "--inventory"])
            .arg(demo())
            .arg("--rules")
            .arg(dir.path()),
    );
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing printed before validation: {out}");
    assert!(
        err.contains("my-rule.yaml") && err.contains("nowhere"),
        "{err}"
    );
}

#[test]
fn a_user_rule_directory_adds_rules_and_its_tests_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("vpc-dns-hostnames-off.yaml"),
        r#"id: vpc-dns-hostnames-off
title: VPC has DNS hostnames off
severity: low
resource: vpc
description: {what: a, why: b, fix: c}
query: |
  SELECT account_id, region, vpc_id AS resource_id, '' AS resource_arn,
    CASE WHEN enable_dns_hostnames THEN 'pass' ELSE 'fail' END AS status,
    'enableDnsHostnames=' || enable_dns_hostnames AS reason
  FROM vpcs
"#,
    )
    .unwrap();
    let case = |expect: &str| {
        format!(
            r#"rule: vpc-dns-hostnames-off
cases:
  - name: hostnames
    inventory:
      accounts:
        - id: "111111111111"
          regions:
            - name: eu-west-1
              vpcs:
                - {{ id: vpc-on, enable_dns_hostnames: true }}
                - {{ id: vpc-off, enable_dns_hostnames: false }}
    expect:
      - {{ resource: vpc-on, status: pass }}
      - {{ resource: vpc-off, status: {expect} }}
"#
        )
    };
    std::fs::write(
        dir.path().join("tests/vpc-dns-hostnames-off.yaml"),
        case("fail"),
    )
    .unwrap();
    let (code, out, err) = stdout_of(plaudit().args(["rules", "test"]).arg(dir.path()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");

    // A wrong expectation fails the run and says which kind of mistake it is.
    std::fs::write(
        dir.path().join("tests/vpc-dns-hostnames-off.yaml"),
        case("pass").replace(
            "      - { resource: vpc-on, status: pass }\n",
            "      - { resource: vpc-on, status: fail }\n",
        ),
    )
    .unwrap();
    let (code, out, _) = stdout_of(plaudit().args(["rules", "test"]).arg(dir.path()));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("false negative"), "{out}");
    assert!(
        out.contains("unexpected failure") || out.contains("false positive"),
        "{out}"
    );

    let (code, out, _) = stdout_of(
        plaudit()
            .args(["scan", "--format", "json", "--inventory"])
            .arg(demo())
            .arg("--rules")
            .arg(dir.path()),
    );
    assert_eq!(code, 3);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "vpc-dns-hostnames-off"
                && f["resource_id"] == "vpc-0web00000000002"
                && f["status"] == "fail")
    );
}

#[test]
fn builtin_rule_tests_pass_from_the_cli() {
    let (code, out, _) = stdout_of(plaudit().args(["rules", "test"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("0 failed"), "{out}");
}

#[test]
fn query_runs_sql_over_the_inventory() {
    let (code, out, _) = stdout_of(plaudit().args([
        "query",
        "--format",
        "csv",
        "--inventory",
        demo().to_str().unwrap(),
        "SELECT account_id, az_name, az_id FROM subnets WHERE vpc_id = 'vpc-0web00000000001' ORDER BY az_id",
    ]));
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "account_id,az_name,az_id");
    assert_eq!(lines[1], "444444444444,eu-west-1a,euw1-az2");
    assert_eq!(lines[2], "444444444444,eu-west-1b,euw1-az3");

    let (code, _, err) = stdout_of(plaudit().args([
        "query",
        "--inventory",
        demo().to_str().unwrap(),
        "SELECT * FROM no_such_table",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("no_such_table"), "{err}");
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("plaudit"))
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        .args(["scan", "--format", "csv", "--exit-zero", "--inventory"])
        .arg(demo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.code() == Some(0), "{status:?} {err}");
}

#[test]
fn merged_shards_evaluate_like_the_whole() {
    use plaudit::inventory::merge::shard_of;
    let dir = tempfile::tempdir().unwrap();
    let whole = demo_json();
    let mut paths = Vec::new();
    for k in 0..3u32 {
        let mut part = whole.clone();
        part["accounts"]
            .as_array_mut()
            .unwrap()
            .retain(|a| shard_of(a["id"].as_str().unwrap(), 3) == k);
        part["coverage"]
            .as_array_mut()
            .unwrap()
            .retain(|c| shard_of(c["account_id"].as_str().unwrap(), 3) == k);
        let p = dir.path().join(format!("shard-{k}.json"));
        std::fs::write(&p, serde_json::to_string(&part).unwrap()).unwrap();
        paths.push(p);
    }
    let merged = dir.path().join("merged.json");
    let (code, _, err) = stdout_of(plaudit().arg("merge").args(&paths).arg("-o").arg(&merged));
    assert_eq!(code, 0, "{err}");
    let json = |inv: &Path| {
        let (_, out, _) = stdout_of(
            plaudit()
                .args(["scan", "--format", "json", "--inventory"])
                .arg(inv),
        );
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let (a, b) = (json(&demo()), json(&merged));
    assert_eq!(
        a["findings"], b["findings"],
        "cross-account rules must see every shard"
    );
    assert_eq!(a["coverage"], b["coverage"]);

    // Merging a shard with itself is an overlap, refused with both file names.
    let (code, _, err) = stdout_of(plaudit().arg("merge").arg(&paths[0]).arg(&paths[0]));
    assert_eq!(code, 2);
    assert!(err.contains("shards must not overlap"), "{err}");

    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--shard", "3/2", "--inventory"])
            .arg(demo()),
    );
    assert_eq!(code, 2);
    assert!(err.contains("3/2"), "{err}");
}

const WAIVERS: &str = "\
waivers:
  - id: ledger-dns
    rules: [private-dns-unverified, service-unhealthy-in-az]
    accounts: [\"333333333333\"]
    resources: [\"vpce-svc-0f9e*\"]
    reason: the ledger team moves zones in Q1
    owner: ledger@example.com
    ticket: SEC-42
    expires: 2099-01-01
  - id: orphans
    rules: [orphaned-connection]
    regions: [us-west-2]
    reason: decommissioning
    owner: platform@example.com
    expires: 2099-01-01
  - id: long-gone
    rules: [\"*\"]
    reason: an old exception
    owner: sec@example.com
    expires: 2020-01-01
  - id: nothing-left
    rules: [alb-sg-blocks-nlb]
    accounts: [\"111111111111\"]
    reason: fixed long ago
    owner: sec@example.com
    expires: 2099-01-01
";

#[test]
fn waived_findings_stay_visible_and_do_not_fail_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("waivers.yaml");
    std::fs::write(&w, WAIVERS).unwrap();
    let out = plaudit()
        .args([
            "scan",
            "--no-history",
            "--inventory",
            "examples/demo-org.json",
            "--format",
            "json",
            "--waivers",
        ])
        .arg(&w)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let waived: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "waived")
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["waiver_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        waived,
        [
            (
                "private-dns-unverified".to_string(),
                "ledger-dns".to_string()
            ),
            ("service-unhealthy-in-az".into(), "ledger-dns".into()),
            ("orphaned-connection".into(), "orphans".into()),
        ]
    );
    assert_eq!(report["scan"]["counts"]["waived"], 3);
    assert!(
        stderr.contains("waiver `long-gone`") && stderr.contains("expired"),
        "{stderr}"
    );
    assert!(
        stderr.contains("waiver `nothing-left`") && stderr.contains("stale"),
        "{stderr}"
    );
    assert_eq!(report["waivers"]["expired"][0]["id"], "long-gone");
    assert_eq!(report["waivers"]["stale"][0]["id"], "nothing-left");
    // CSV carries the waiver; the table shows it.
    let out = plaudit()
        .args([
            "scan",
            "--no-history",
            "--inventory",
            "examples/demo-org.json",
            "--format",
            "csv",
            "--waivers",
        ])
        .arg(&w)
        .output()
        .unwrap();
    let mut rd = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(rd.headers().unwrap().get(11), Some("waiver_id"));
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        rows.iter()
            .filter(|r| &r[3] == "waived" && &r[11] == "ledger-dns")
            .count(),
        2
    );
    // Only waived findings failing at --fail-on high: exit 0 once they are waived? The demo
    // has other high failures, so check the exit code with a threshold they do not reach.
    let only_waived = dir.path().join("only.yaml");
    std::fs::write(&only_waived, WAIVERS.replace("[private-dns-unverified, service-unhealthy-in-az]", "[\"*\"]").replace("accounts: [\"333333333333\"]\n    resources: [\"vpce-svc-0f9e*\"]", "accounts: [\"333333333333\", \"222222222222\", \"444444444444\", \"555555555555\", \"999988887777\"]")).unwrap();
    let out = plaudit()
        .args([
            "scan",
            "--no-history",
            "--inventory",
            "examples/demo-org.json",
            "--fail-on",
            "info",
            "--waivers",
        ])
        .arg(&only_waived)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "gaps still make it incomplete, failures are all waived"
    );
    let out = plaudit()
        .args([
            "scan",
            "--no-history",
            "--inventory",
            "examples/demo-org.json",
            "--format",
            "json",
            "--waivers",
        ])
        .arg(&only_waived)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["scan"]["counts"]["fail"], 0,
        "every failing finding is waived"
    );
}

#[test]
fn waivers_lint_reports_expired_and_stale_and_bad_files_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("waivers.yaml");
    std::fs::write(&w, WAIVERS).unwrap();
    let out = plaudit()
        .args([
            "waivers",
            "lint",
            "--inventory",
            "examples/demo-org.json",
            "--waivers",
        ])
        .arg(&w)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("expired: waiver `long-gone`"), "{stdout}");
    assert!(stdout.contains("stale: waiver `nothing-left`"), "{stdout}");
    assert!(!stdout.contains("`ledger-dns`"), "{stdout}");

    for (text, want) in [
        (
            WAIVERS.replace("    ticket: SEC-42", "    tiket: SEC-42"),
            "tiket",
        ),
        (
            WAIVERS.replace(
                "expires: 2099-01-01\n  - id: orphans",
                "expires: 2099-02-30\n  - id: orphans",
            ),
            "line 9",
        ),
        (
            WAIVERS.replace(
                "rules: [orphaned-connection]",
                "rules: [orphaned-connections]",
            ),
            "line 11",
        ),
    ] {
        std::fs::write(&w, &text).unwrap();
        for args in [
            vec!["waivers", "lint", "--waivers"],
            vec![
                "scan",
                "--no-history",
                "--inventory",
                "examples/demo-org.json",
                "--waivers",
            ],
        ] {
            let out = plaudit().args(&args).arg(&w).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("waivers.yaml") && stderr.contains(want),
                "{want}: {stderr}"
            );
            assert!(!stderr.contains("panicked"));
        }
    }
}

/// The attributes OCSF 1.3.0 requires of a Compliance Finding (class 2003): the base event's,
/// the Finding category's (`finding_info`), the class's own (`compliance`) and the `cloud`
/// profile's, with the required attributes of the objects they hold.
const OCSF_REQUIRED: &[&str] = &[
    "/activity_id",
    "/category_uid",
    "/class_uid",
    "/type_uid",
    "/severity_id",
    "/time",
    "/metadata/version",
    "/metadata/product/name",
    "/metadata/product/vendor_name",
    "/finding_info/uid",
    "/finding_info/title",
    "/compliance/standards",
    "/cloud/provider",
];

#[test]
fn ocsf_output_has_every_required_attribute_and_matches_the_json() {
    let (_, ocsf, _) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--format", "ocsf", "--inventory"])
            .arg(demo()),
    );
    let (_, json, _) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--format", "json", "--inventory"])
            .arg(demo()),
    );
    let events: Vec<Value> = serde_json::from_str(&ocsf).unwrap();
    let report: Value = serde_json::from_str(&json).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(events.len(), findings.len());
    let mut uids = std::collections::BTreeSet::new();
    for (e, f) in events.iter().zip(findings) {
        for p in OCSF_REQUIRED {
            let v = e.pointer(p).unwrap_or(&Value::Null);
            assert!(!v.is_null(), "{p} missing in {e}");
        }
        assert_eq!(e["class_uid"], 2003);
        assert_eq!(e["category_uid"], 2);
        assert_eq!(
            e["type_uid"].as_u64().unwrap(),
            e["class_uid"].as_u64().unwrap() * 100 + e["activity_id"].as_u64().unwrap()
        );
        let sev = match f["severity"].as_str().unwrap() {
            "info" => 1,
            "low" => 2,
            "medium" => 3,
            "high" => 4,
            "critical" => 5,
            other => panic!("{other}"),
        };
        assert_eq!(e["severity_id"], sev);
        let cs = match f["status"].as_str().unwrap() {
            "pass" => 1,
            "unknown" => 2,
            "fail" | "waived" => 3,
            other => panic!("{other}"),
        };
        assert_eq!(e["compliance"]["status_id"], cs);
        assert!(
            e["compliance"]["standards"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(e["finding_info"]["analytic"]["uid"], f["rule_id"]);
        assert_eq!(e["cloud"]["account"]["uid"], f["account_id"]);
        assert!(
            e["time"].as_i64().unwrap() > 1_700_000_000_000,
            "epoch milliseconds"
        );
        assert!(
            uids.insert(e["finding_info"]["uid"].as_str().unwrap().to_string()),
            "unique uid"
        );
    }
}

#[test]
fn completions_and_man_page_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = plaudit().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["scan", "drift", "waivers", "fail-on-new"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let out = plaudit().arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(
        man.contains(".TH plaudit 1") && man.contains("drift"),
        "{man}"
    );
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let scan = |color: &str, no_color: bool| {
        let mut c = plaudit();
        c.args([
            "scan",
            "--no-history",
            "--inventory",
            "examples/demo-org.json",
            "--color",
            color,
        ]);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert!(scan("always", false).contains("\x1b["));
    assert!(
        scan("always", true).contains("\x1b["),
        "an explicit flag wins over NO_COLOR"
    );
    assert!(!scan("never", false).contains("\x1b["));
    assert!(!scan("auto", false).contains("\x1b["), "not a terminal");
}

#[test]
fn logs_are_json_lines_when_stdout_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let run = |format: &str| {
        let out = plaudit()
            .args([
                "-v",
                "scan",
                "--inventory",
                "examples/demo-org.json",
                "--format",
                format,
                "--state",
            ])
            .arg(dir.path().join("h.db"))
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    let json = run("json");
    let line = json
        .lines()
        .find(|l| l.contains("recorded as scan"))
        .expect(&json);
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "INFO");
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("recorded as scan")
    );
    let text = run("table");
    let line = text
        .lines()
        .find(|l| l.contains("recorded as scan"))
        .expect(&text);
    assert!(
        serde_json::from_str::<Value>(line).is_err(),
        "plain text on a table run: {line}"
    );
}

#[test]
fn inventory_exports_carry_az_ids_and_take_columns() {
    let run = |args: &[&str]| {
        let out = plaudit().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut rd = csv::Reader::from_reader(std::io::Cursor::new(out.stdout));
        let head: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
        let rows: Vec<Vec<String>> = rd
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        (head, rows)
    };
    let demo = "examples/demo-org.json";
    for kind in [
        "endpoint-services",
        "endpoints",
        "connections",
        "load-balancers",
        "coverage",
    ] {
        let (head, rows) = run(&["export", kind, "--inventory", demo]);
        assert_eq!(&head[..2], ["account_id", "region"], "{kind}");
        assert!(!rows.is_empty(), "{kind}");
        assert!(
            !head.contains(&"first_seen".to_string()),
            "no history, no first_seen: {kind}"
        );
    }
    // AZ names with the IDs of the account that reported them: the same name, different IDs.
    let (head, rows) = run(&[
        "export",
        "endpoints",
        "--inventory",
        demo,
        "--columns",
        "endpoint_id,availability_zones,account_id",
    ]);
    assert_eq!(head, ["endpoint_id", "availability_zones", "account_id"]);
    let web = rows
        .iter()
        .find(|r| r[0] == "vpce-0web0pay000000001")
        .unwrap();
    assert_eq!(web[1], "eu-west-1a (euw1-az2) eu-west-1b (euw1-az3)");
    let (_, svc) = run(&[
        "export",
        "endpoint-services",
        "--inventory",
        demo,
        "--columns",
        "service_id,availability_zones",
    ]);
    let pay = svc
        .iter()
        .find(|r| r[0] == "vpce-svc-0a1b2c3d4e5f60718")
        .unwrap();
    assert!(pay[1].contains("eu-west-1a (euw1-az1)"), "{pay:?}");
    // The findings CSV takes --columns too; unknown columns are refused with the list.
    let (head, _) = run(&[
        "scan",
        "--no-history",
        "--exit-zero",
        "--inventory",
        demo,
        "--format",
        "csv",
        "--columns",
        "status,rule_id",
    ]);
    assert_eq!(head, ["status", "rule_id"]);
    let out = plaudit()
        .args([
            "export",
            "endpoints",
            "--inventory",
            demo,
            "--columns",
            "endpoint_id,colour",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown column `colour`; the columns are: account_id")
    );
}

#[test]
fn no_history_needs_no_home_and_recording_without_one_says_how() {
    let run = |extra: &[&str]| {
        plaudit()
            .env_clear()
            .args([
                "scan",
                "--exit-zero",
                "--inventory",
                "examples/demo-org.json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(run(&["--no-history"]).status.code(), Some(0));
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set --state"));
}

/// A rule in a user directory (its tests directory is not needed to load it).
fn rule_dir(query: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("my-rule.yaml"),
        format!(
            "id: my-rule\ntitle: t\nseverity: low\nresource: vpc\ndescription: {{what: a, why: b, fix: c}}\nquery: |\n  {}\n",
            query.replace('\n', "\n  ")
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_rule_that_writes_is_refused_with_its_file_and_line() {
    for sql in [
        "UPDATE endpoint_services SET private_dns_state = 'verified' RETURNING account_id, region, service_id AS resource_id, '' AS resource_arn, 'pass' AS status, '' AS reason",
        "DELETE FROM endpoint_services RETURNING account_id, region, service_id AS resource_id, '' AS resource_arn, 'pass' AS status, '' AS reason",
        "WITH x AS (SELECT 1) INSERT INTO accounts SELECT * FROM accounts RETURNING account_id, '' AS region, '' AS resource_id, '' AS resource_arn, 'pass' AS status, '' AS reason",
    ] {
        let dir = rule_dir(sql);
        let (code, out, err) = stdout_of(
            plaudit()
                .args(["scan", "--no-history", "--inventory"])
                .arg(demo())
                .arg("--rules")
                .arg(dir.path()),
        );
        assert_eq!(code, 2, "{sql}: {out}");
        assert!(out.is_empty());
        assert!(
            err.contains("my-rule.yaml") && err.contains("line 6") && err.contains("read-only"),
            "{err}"
        );
    }
}

#[test]
fn query_is_read_only_and_cannot_write_files() {
    let dir = tempfile::tempdir().unwrap();
    let stolen = dir.path().join("copy.db");
    for sql in [
        format!("VACUUM INTO '{}'", stolen.display()),
        format!("ATTACH DATABASE '{}' AS x", stolen.display()),
        "PRAGMA query_only = OFF".to_string(),
        "UPDATE accounts SET status = 'ACTIVE' RETURNING *".to_string(),
        "SELECT 1; DELETE FROM accounts".to_string(),
    ] {
        let (code, _, err) = stdout_of(
            plaudit()
                .args(["query", "--inventory"])
                .arg(demo())
                .arg(&sql),
        );
        assert_eq!(code, 2, "{sql} was accepted");
        assert!(!err.is_empty());
        assert!(!stolen.exists(), "{sql} wrote a file");
    }
    // JSON keeps numbers as numbers and NULL as null, row by row.
    let (code, out, _) = stdout_of(plaudit().args([
        "query",
        "--format",
        "json",
        "--inventory",
        demo().to_str().unwrap(),
        "SELECT 1 AS n, 1.5 AS x, NULL AS z, 'a' AS s",
    ]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"n": 1, "x": 1.5, "z": null, "s": "a"}])
    );
}

#[test]
fn a_runaway_rule_is_stopped_by_its_time_budget() {
    let dir = rule_dir(
        "WITH RECURSIVE forever(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM forever)\nSELECT '1' AS account_id, 'r' AS region, n AS resource_id, '' AS resource_arn, 'pass' AS status, '' AS reason FROM forever WHERE n < 0",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = elsewhere.path().join("plaudit.yaml");
    std::fs::write(&cfg, "rule_timeout_seconds: 1\n").unwrap();
    let out_file = elsewhere.path().join("report.json");
    let t = std::time::Instant::now();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--format", "json", "--inventory"])
            .arg(demo())
            .arg("--rules")
            .arg(dir.path())
            .arg("--config")
            .arg(&cfg)
            .arg("-o")
            .arg(&out_file),
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(30), "{err}");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("my-rule") && err.contains("time budget of 1 s"),
        "{err}"
    );
    // The other rules' findings are written.
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert!(v["findings"].as_array().unwrap().len() > 10);
}

#[test]
fn a_rule_param_override_of_the_wrong_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plaudit.yaml");
    std::fs::write(
        &cfg,
        "rules:\n  orphaned-connection:\n    params:\n      max_pending_days: \"14 days\"\n",
    )
    .unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--inventory"])
            .arg(demo())
            .arg("--config")
            .arg(&cfg),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("config `")
            && err.contains("plaudit.yaml")
            && err.contains("line 4")
            && err.contains("rules.orphaned-connection.params.max_pending_days")
            && err.contains("whole number"),
        "{err}"
    );
    assert!(!err.contains("rule file"), "{err}");
}

#[test]
fn an_output_never_replaces_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.json");
    std::fs::copy(demo(), &inv).unwrap();
    let before = std::fs::read(&inv).unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--format", "json", "--inventory"])
            .arg(&inv)
            .arg("-o")
            .arg(dir.path().join(".").join("inv.json")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("same file"), "{err}");
    assert_eq!(std::fs::read(&inv).unwrap(), before);

    // An unwritable output is found before a crawl starts (no AWS is contacted: the error
    // is about the output, not credentials).
    let (code, _, err) = stdout_of(
        plaudit()
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["scan", "--no-history", "-o"])
            .arg(dir.path().join("no-such-dir").join("r.json")),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no-such-dir") && !err.contains("credentials"),
        "{err}"
    );

    // merge -o onto one of its inputs.
    let (code, _, err) = stdout_of(plaudit().arg("merge").arg(&inv).arg("-o").arg(&inv));
    assert_eq!(code, 2, "{err}");
    assert_eq!(std::fs::read(&inv).unwrap(), before);
}

#[test]
fn a_closed_stdout_keeps_the_verdict_and_records_the_scan() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("plaudit"))
        .args(["scan", "--format", "json", "--state"])
        .arg(&state)
        .arg("--inventory")
        .arg(demo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "the demo is incomplete: {err}");
    let (_, out, _) = stdout_of(
        plaudit()
            .args(["history", "--format", "json", "--state"])
            .arg(&state),
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "incomplete", "{v}");
}

#[test]
fn sigterm_removes_the_output_and_marks_the_scan_interrupted() {
    use std::process::{Command as Std, Stdio};
    let dir = rule_dir(
        "WITH RECURSIVE forever(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM forever)\nSELECT '1' AS account_id, 'r' AS region, n AS resource_id, '' AS resource_arn, 'pass' AS status, '' AS reason FROM forever WHERE n < 0",
    );
    let state = dir.path().join("history.db");
    let out_file = dir.path().join("out").join("report.json");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    // Its own temporary directory: the rules' database (a copy of the inventory) must go too.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let child = Std::new(assert_cmd::cargo::cargo_bin("plaudit"))
        .env("TMPDIR", &tmp)
        .args(["scan", "--format", "json", "--state"])
        .arg(&state)
        .arg("--inventory")
        .arg(demo())
        .arg("--rules")
        .arg(dir.path())
        .arg("-o")
        .arg(&out_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the scan is recorded as running (its handlers are installed by then), not
    // after a fixed time: a loaded machine may take longer to start the process.
    let started = std::time::Instant::now();
    while !state.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id() as i32;
    // SAFETY: sending a signal to the child this test started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGTERM)
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(
        left.is_empty(),
        "no temporary database is left behind: {left:?}"
    );
    let (_, hist, _) = stdout_of(
        plaudit()
            .args(["history", "--format", "json", "--state"])
            .arg(&state),
    );
    let v: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(v[0]["status"], "interrupted", "{v}");
    assert_eq!(v[0]["exit"], "143", "{v}");
}

#[test]
fn a_scan_that_fails_is_recorded_as_failed_not_interrupted() {
    let dir = rule_dir(
        "SELECT '1' AS account_id, 'r' AS region, 'x' AS resource_id, '' AS resource_arn, 'maybe' AS status, '' AS reason",
    );
    let state = dir.path().join("history.db");
    let (code, _, _) = stdout_of(
        plaudit()
            .args(["scan", "--state"])
            .arg(&state)
            .arg("--inventory")
            .arg(demo())
            .arg("--rules")
            .arg(dir.path()),
    );
    assert_eq!(code, 2);
    let (_, hist, _) = stdout_of(
        plaudit()
            .args(["history", "--format", "json", "--state"])
            .arg(&state),
    );
    let v: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(v[0]["status"], "failed", "{v}");
}

#[test]
fn terminal_tables_never_pass_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = demo_json();
    // A hostile name where a resource id goes: clear screen, set the title, an OSC 8 link.
    let evil = "vpce-\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}]8;;http://x\u{1b}\\link";
    let svc = &mut inv["accounts"][1]["regions"][0]["endpoint_services"][0];
    svc["id"] = Value::String(evil.into());
    let p = dir.path().join("evil.json");
    std::fs::write(&p, serde_json::to_string(&inv).unwrap()).unwrap();
    let (_, out, err) = stdout_of(
        plaudit()
            .args([
                "scan",
                "--no-history",
                "--show-pass",
                "--color",
                "never",
                "--inventory",
            ])
            .arg(&p),
    );
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
    assert!(
        out.contains("\\u{1b}"),
        "the escape is shown, not run: {out}{err}"
    );
}

#[test]
fn inventories_are_bounded_and_duplicate_ids_are_named() {
    let (code, _, err) = stdout_of(plaudit().env("PLAUDIT_MAX_INVENTORY_MB", "1").args([
        "scan",
        "--no-history",
        "--inventory",
        "/dev/zero",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("larger than 1 MB"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let mut inv = demo_json();
    let lb = inv["accounts"][1]["regions"][0]["load_balancers"][0].clone();
    inv["accounts"][1]["regions"][0]["load_balancers"]
        .as_array_mut()
        .unwrap()
        .push(lb.clone());
    let p = dir.path().join("dup.json");
    std::fs::write(&p, serde_json::to_string(&inv).unwrap()).unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["scan", "--no-history", "--inventory"])
            .arg(&p),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("appears twice") && err.contains(lb["arn"].as_str().unwrap()),
        "{err}"
    );
}

#[test]
fn the_history_is_read_read_only_and_a_foreign_database_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let complete = complete_demo(dir.path());
    for _ in 0..3 {
        let (code, _, err) = stdout_of(
            plaudit()
                .args(["scan", "--exit-zero", "--state"])
                .arg(&state)
                .arg("--inventory")
                .arg(&complete),
        );
        assert_eq!(code, 0, "{err}");
    }
    // A read-only copy (an archive, a mounted backup) can be listed and compared.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&state, &copy).unwrap();
    let mut perms = std::fs::metadata(&copy).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&copy, perms).unwrap();
    let ro_dir = dir.path().join("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    let ro = ro_dir.join("copy.db");
    std::fs::rename(&copy, &ro).unwrap();
    let mut dperms = std::fs::metadata(&ro_dir).unwrap().permissions();
    dperms.set_readonly(true);
    std::fs::set_permissions(&ro_dir, dperms).unwrap();
    for args in [
        vec!["history", "--format", "json"],
        vec!["drift", "--format", "json"],
    ] {
        let (code, out, err) = stdout_of(plaudit().args(&args).arg("--state").arg(&ro));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.is_empty());
    }
    // Another application's SQLite file is refused and left exactly as it was.
    let foreign = dir.path().join("app.db");
    std::fs::copy(&state, &foreign).unwrap();
    {
        let c = rusqlite_free_write(&foreign);
        assert!(c);
    }
    let before = std::fs::read(&foreign).unwrap();
    for args in [
        vec!["history"],
        vec!["scan", "--inventory", demo().to_str().unwrap()],
    ] {
        let (code, _, err) = stdout_of(plaudit().args(&args).arg("--state").arg(&foreign));
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("not a plaudit history"), "{err}");
    }
    assert_eq!(std::fs::read(&foreign).unwrap(), before, "untouched");
    let wal = dir.path().join("app.db-wal");
    assert!(!wal.exists(), "not switched to WAL");

    // Pruning keeps the most recent scans.
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["history", "prune", "--keep", "2", "--state"])
            .arg(&state),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("pruned 1 scan"), "{err}");
    let (_, out, _) = stdout_of(
        plaudit()
            .args(["history", "--format", "json", "--state"])
            .arg(&state),
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

/// Turns a history copy into "another application's database": its tables renamed, its
/// version mark cleared, with the sqlite3 shell when present, else a byte patch of the
/// header's user_version (offset 60). Returns whether it could.
fn rusqlite_free_write(path: &Path) -> bool {
    let mut bytes = std::fs::read(path).unwrap();
    // user_version is a big-endian u32 at offset 60 of the database header.
    bytes[60..64].copy_from_slice(&0u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
    true
}

#[test]
fn a_partial_scan_in_the_same_history_resolves_nothing_it_did_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let full = complete_demo(dir.path());
    // The same organisation, one account only (`--accounts`, a shard, a subset inventory).
    let mut inv: Value = serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    let keep = inv["accounts"][0]["id"].as_str().unwrap().to_string();
    inv["accounts"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["id"] == keep.as_str());
    let part = dir.path().join("part.json");
    std::fs::write(&part, serde_json::to_string(&inv).unwrap()).unwrap();
    for p in [&full, &part] {
        let (code, _, err) = stdout_of(
            plaudit()
                .args(["scan", "--exit-zero", "--state"])
                .arg(&state)
                .arg("--inventory")
                .arg(p),
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = stdout_of(
        plaudit()
            .args(["drift", "--format", "json", "--state"])
            .arg(&state),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let elsewhere: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["account_id"] != keep.as_str())
        .collect();
    assert!(!elsewhere.is_empty(), "{v}");
    assert!(
        elsewhere.iter().all(|f| f["drift"] == "unverified"),
        "findings outside the partial scan are never resolved: {elsewhere:?}"
    );
}

#[test]
fn a_live_scan_without_a_region_says_how_to_set_one() {
    let (code, _, err) = stdout_of(
        plaudit()
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["scan", "--no-history"]),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no AWS region") && err.contains("AWS_REGION"),
        "{err}"
    );
}

#[test]
fn a_network_error_is_named_as_one_not_as_bad_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plaudit.yaml");
    std::fs::write(
        &cfg,
        "crawl:\n  max_attempts: 1\n  call_timeout_seconds: 2\n",
    )
    .unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Nothing listens on the discard port of loopback: connection refused.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["scan", "--no-history", "--config"])
            .arg(&cfg),
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach AWS STS"), "{err}");
    assert!(!err.contains("check the AWS credentials"), "{err}");
}

#[test]
fn drift_works_by_default_across_incomplete_scans() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    for _ in 0..2 {
        let (code, _, err) = stdout_of(
            plaudit()
                .args(["scan", "--state"])
                .arg(&state)
                .arg("--inventory")
                .arg(demo()),
        );
        assert_eq!(code, 3, "the demo has coverage gaps: {err}");
    }
    let (code, out, err) = stdout_of(
        plaudit()
            .args(["drift", "--format", "json", "--state"])
            .arg(&state),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let drifts: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["drift"].as_str().unwrap())
        .collect();
    assert!(!drifts.is_empty());
    assert!(
        drifts.iter().all(|d| *d == "open" || *d == "unverified"),
        "the same organisation twice: nothing new or resolved: {drifts:?}"
    );
}

#[test]
fn the_configs_history_keys_apply_to_every_command_that_reads_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("from-config.db");
    let cfg = dir.path().join("c.yaml");
    // Relative to the config's folder, like every path in it.
    std::fs::write(&cfg, "state: from-config.db\nhistory:\n  keep_scans: 2\n").unwrap();
    // An empty data directory: a command that ignored the config's `state` would find no
    // history there.
    let home = dir.path().join("xdg");
    let run = |args: &[&str]| {
        stdout_of(
            plaudit()
                .env("XDG_DATA_HOME", &home)
                .args(args)
                .arg("--config")
                .arg(&cfg),
        )
    };
    let demo = demo();
    for _ in 0..3 {
        let (code, _, err) = run(&["scan", "--inventory", demo.to_str().unwrap()]);
        assert_eq!(code, 3, "{err}");
    }
    assert!(state.is_file(), "scan records into the config's `state`");
    assert!(!home.join("plaudit/history.db").exists());
    // history: lists the config's history, pruned to keep_scans after each scan.
    let (code, out, err) = run(&["history", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let scans: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = scans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scan"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["2", "3"], "history.keep_scans: 2");
    // drift and export read the same file.
    let (code, out, err) = run(&["drift", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (d["from"]["id"].as_i64(), d["to"]["id"].as_i64()),
        (Some(2), Some(3))
    );
    let (code, out, err) = run(&["export", "endpoint-services"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("account_id,") && out.contains("first_seen"),
        "{out}"
    );
    // history prune takes history.keep_scans too.
    let (code, _, err) = run(&["history", "prune"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("pruned 0 scan(s)"), "{err}");
    // A flag still wins over the config.
    let other = dir.path().join("other.db");
    let (code, _, err) = stdout_of(
        plaudit()
            .env("XDG_DATA_HOME", &home)
            .args(["history", "--state"])
            .arg(&other)
            .arg("--config")
            .arg(&cfg),
    );
    assert_ne!(code, 0, "no history at the flag's path: {err}");
    assert!(err.contains("other.db"), "{err}");
}

#[test]
fn a_config_names_every_setting_it_refuses_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "crawl:\n  accounts: 0\n  page_size: 2\nrole:\n  duration_seconds: 60\n  arn_template: arn:aws:iam::1:role/x\n",
    )
    .unwrap();
    for cmd in [
        &["scan", "--inventory"][..],
        &["history"][..],
        &["preflight"][..],
    ] {
        let mut c = plaudit();
        c.args(cmd);
        if cmd[0] == "scan" {
            c.arg(demo());
        }
        let (code, _, err) = stdout_of(c.arg("--config").arg(&cfg));
        assert_eq!(code, 2, "{cmd:?}: {err}");
        for want in [
            "c.yaml` has 4 setting(s) to fix",
            "line 2: `crawl.accounts` is 0",
            "line 3: `crawl.page_size` is 2",
            "line 5: `role.duration_seconds` is 60",
            "line 6: `role.arn_template`",
        ] {
            assert!(err.contains(want), "{cmd:?}: no `{want}` in {err}");
        }
    }
}

#[test]
fn findings_new_since_the_baseline_are_marked_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let scan = |extra: &[&str]| {
        let mut c = plaudit();
        c.args(["scan", "--no-history", "--exit-zero", "--inventory"])
            .arg(demo())
            .args(extra);
        stdout_of(&mut c)
    };
    // A baseline that lacks one failing finding: that one is new.
    let (_, json, _) = scan(&["--format", "json"]);
    let mut base: Value = serde_json::from_str(&json).unwrap();
    let findings = base["findings"].as_array_mut().unwrap();
    let gone = findings
        .iter()
        .position(|f| f["rule_id"] == "private-dns-unverified" && f["status"] == "fail")
        .unwrap();
    let new_one = findings.remove(gone);
    let file = dir.path().join("base.json");
    std::fs::write(&file, serde_json::to_string(&base).unwrap()).unwrap();
    let b = file.to_str().unwrap();

    let (_, json, err) = scan(&["--format", "json", "--baseline", b]);
    assert!(
        err.contains("1 failing finding(s) new since the baseline"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let marked: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["new_since_baseline"] == true)
        .collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0]["resource_id"], new_one["resource_id"]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "fail")
            .all(|f| f["new_since_baseline"].is_boolean()),
        "every failing finding says whether it is new"
    );

    let (_, csv, _) = scan(&["--format", "csv", "--baseline", b]);
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(",new_since_baseline"), "{header}");
    assert_eq!(
        csv.lines().filter(|l| l.ends_with(",true")).count(),
        1,
        "{csv}"
    );
    // Without a baseline the CSV keeps its documented columns.
    let (_, plain, _) = scan(&["--format", "csv"]);
    assert!(!plain.lines().next().unwrap().contains("new_since_baseline"));

    let (_, table, _) = scan(&["--baseline", b]);
    let id = new_one["resource_id"].as_str().unwrap();
    let at = table.find(id).expect("the new finding is listed");
    assert!(
        table[..at].rsplit("────").next().unwrap().contains("new")
            || table[at..].split("────").next().unwrap().contains("new"),
        "the table marks it new:\n{table}"
    );
    let (_, html, _) = scan(&["--format", "html", "--baseline", b]);
    assert!(html.contains("new since the baseline"));
}

#[test]
fn query_writes_to_a_file_and_never_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.csv");
    let (code, stdout, err) = stdout_of(
        plaudit()
            .args(["query", "--format", "csv", "-o"])
            .arg(&out)
            .arg("--inventory")
            .arg(demo())
            .arg("SELECT account_id FROM accounts ORDER BY account_id"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("account_id\r\n111111111111"), "{text}");
    let copy = dir.path().join("inv.json");
    std::fs::copy(demo(), &copy).unwrap();
    let (code, _, err) = stdout_of(
        plaudit()
            .args(["query", "-o"])
            .arg(&copy)
            .arg("--inventory")
            .arg(&copy)
            .arg("SELECT 1"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        std::fs::read_to_string(&copy)
            .unwrap()
            .contains("schema_version")
    );
}

#[test]
fn ctrl_c_is_prompt_while_aws_does_not_answer() {
    use std::process::{Command as Std, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    // Many attempts with backoff: identifying the caller would retry for a long time.
    std::fs::write(&cfg, "crawl:\n  max_attempts: 20\n").unwrap();
    let child = Std::new(assert_cmd::cargo::cargo_bin("plaudit"))
        .args(["scan", "--no-history", "--regions", "us-east-1", "--config"])
        .arg(&cfg)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = std::time::Instant::now();
    // SAFETY: sending a signal to the child this test started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT)
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}: {err}",
        sent.elapsed()
    );
}

#[test]
fn findings_name_their_accounts_and_ou_paths_in_every_machine_format() {
    let run = |format: &str| {
        let (_, out, err) = stdout_of(
            plaudit()
                .args([
                    "scan",
                    "--no-history",
                    "--exit-zero",
                    "--format",
                    format,
                    "--inventory",
                ])
                .arg(demo()),
        );
        assert!(!out.is_empty(), "{err}");
        out
    };
    let v: Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(v["accounts"]["333333333333"]["name"], "ledger-prod");
    assert_eq!(v["accounts"]["333333333333"]["ou_path"], "/Workloads/Prod");
    assert_eq!(v["accounts"]["999988887777"]["member"], false);
    let csv = run("csv");
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let h = rd.headers().unwrap().clone();
    let (name, ou, acct) = (
        h.iter().position(|c| c == "account_name").unwrap(),
        h.iter().position(|c| c == "ou_path").unwrap(),
        h.iter().position(|c| c == "account_id").unwrap(),
    );
    for r in rd.records().map(Result::unwrap) {
        match &r[acct] {
            "333333333333" => assert_eq!((&r[name], &r[ou]), ("ledger-prod", "/Workloads/Prod")),
            "999988887777" => assert_eq!(&r[name], "(outside the organisation)"),
            _ => {}
        }
    }
    let ocsf: Value = serde_json::from_str(&run("ocsf")).unwrap();
    assert!(
        ocsf.as_array()
            .unwrap()
            .iter()
            .any(|e| e["cloud"]["account"]["name"] == "ledger-prod")
    );
    assert!(run("html").contains("ledger-prod"));
}

/// An organisation passes far more checks than it fails (two million passes at 10,000
/// accounts): a report counts passes, and lists one only where it is news — it resolves a
/// finding open in the history or failing in the baseline. `--show-pass` lists them all.
#[test]
fn passing_findings_are_counted_and_listed_only_where_they_resolve_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("history.db");
    let json = |extra: &[&str], inventory: &Path| -> Value {
        let (code, out, err) = stdout_of(
            plaudit()
                .args(["scan", "--exit-zero", "--format", "json"])
                .args(extra)
                .arg("--inventory")
                .arg(inventory),
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let passes = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "pass")
            .map(|f| format!("{} {}", f["rule_id"], f["resource_id"]))
            .collect()
    };
    let state_arg = state.to_str().unwrap();
    let first = json(&["--state", state_arg], &demo());
    assert!(passes(&first).is_empty(), "{:?}", passes(&first));
    let counted = first["scan"]["counts"]["pass"].as_u64().unwrap();
    assert!(counted > 10);
    assert_eq!(first["scan"]["passing_not_listed"], counted);
    let report1 = dir.path().join("first.json");
    std::fs::write(&report1, first.to_string()).unwrap();

    // The unverified private DNS name gets verified: that finding passes now.
    let mut inv = demo_json();
    let svc = inv["accounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter_map(|a| a.get_mut("regions").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(|r| r.get_mut("endpoint_services").and_then(Value::as_array_mut))
        .flatten()
        .find(|s| s["id"] == "vpce-svc-0f9e8d7c6b5a43210")
        .unwrap();
    svc["private_dns_state"] = "verified".into();
    let fixed = dir.path().join("fixed.json");
    std::fs::write(&fixed, inv.to_string()).unwrap();
    let resolved = "\"private-dns-unverified\" \"vpce-svc-0f9e8d7c6b5a43210\"".to_string();

    // Against the history: the one pass that resolves an open finding is listed.
    let second = json(&["--state", state_arg], &fixed);
    assert_eq!(passes(&second), vec![resolved.clone()]);
    assert_eq!(
        second["scan"]["passing_not_listed"].as_u64().unwrap(),
        second["scan"]["counts"]["pass"].as_u64().unwrap() - 1
    );
    // … recorded, so drift names it resolved by its pass, not as gone.
    let (code, drift, err) =
        stdout_of(plaudit().args(["drift", "--state", state_arg, "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let drift: Value = serde_json::from_str(&drift).unwrap();
    let change = drift["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["resource_id"] == "vpce-svc-0f9e8d7c6b5a43210"
                && c["rule_id"] == "private-dns-unverified"
        })
        .unwrap_or_else(|| panic!("{drift}"));
    assert_eq!(change["drift"], "resolved");
    assert!(
        !change["after"].as_str().unwrap_or("").contains("gone"),
        "{change}"
    );
    // A third scan: nothing is open for it any more, so its pass is not news.
    let third = json(&["--state", state_arg], &fixed);
    assert!(passes(&third).is_empty(), "{:?}", passes(&third));

    // Against a baseline report instead of the history: the same pass is listed.
    let baseline = json(
        &["--no-history", "--baseline", report1.to_str().unwrap()],
        &fixed,
    );
    assert_eq!(passes(&baseline), vec![resolved]);
    // Without either, none; with --show-pass, every one.
    assert!(passes(&json(&["--no-history"], &fixed)).is_empty());
    let all = json(&["--no-history", "--show-pass"], &fixed);
    assert_eq!(
        passes(&all).len() as u64,
        all["scan"]["counts"]["pass"].as_u64().unwrap()
    );
    assert_eq!(all["scan"]["passing_not_listed"], 0);
}
