//! The crawler against moto, a widely used AWS emulator, on 127.0.0.1.
//!
//! The first test to need it installs `moto[server]` (pinned) into a venv under the target
//! directory when it is missing, then starts `tests/moto/org.py`: moto's server in-process
//! on a free loopback port, with the handlers moto lacks, seeded with an organisation of six
//! member accounts and cross-account PrivateLink. It stops when this test process exits (its
//! stdin closes). plaudit reaches it through the standard `AWS_ENDPOINT_URL`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::support;

use assert_cmd::Command;
use serde_json::Value;

pub(crate) const MOTO: &str = "moto[server]==5.2.5";

struct Moto {
    port: u16,
    info: Value,
    _child: Mutex<Child>,
}

fn venv_python() -> PathBuf {
    support::venv("moto-venv", &[MOTO], "import moto, boto3, flask")
}

fn moto() -> &'static Moto {
    static M: OnceLock<Moto> = OnceLock::new();
    M.get_or_init(|| {
        let python = venv_python();
        let log =
            std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto.log")).unwrap();
        let mut child = Std::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto/org.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting moto");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto did not start ({e}); see target/tmp/moto.log"));
        Moto {
            port: info["port"].as_u64().unwrap() as u16,
            info,
            _child: Mutex::new(child),
        }
    })
}

fn plaudit(m: &Moto) -> Command {
    let mut c = Command::cargo_bin("plaudit").unwrap();
    c.env(
        "XDG_DATA_HOME",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
    );
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", m.port))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    c
}

fn id(m: &Moto, name: &str) -> String {
    m.info["accounts"][name].as_str().unwrap().to_string()
}

fn expect(m: &Moto, key: &str) -> String {
    m.info["expect"][key].as_str().unwrap().to_string()
}

fn status_of(findings: &[Value], rule: &str, resource: &str) -> String {
    findings
        .iter()
        .find(|f| f["rule_id"] == rule && f["resource_id"] == resource)
        .map(|f| f["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {rule} finding for {resource}"))
}

/// One live scan of the seeded organisation, shared by the tests (crawls are read-only).
fn live_scan() -> &'static (i32, Value, PathBuf, tempfile::TempDir) {
    static S: OnceLock<(i32, Value, PathBuf, tempfile::TempDir)> = OnceLock::new();
    S.get_or_init(|| {
        let m = moto();
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("inventory.json");
        let cfg = dir.path().join("plaudit.yaml");
        // Pages of five items (the least AWS accepts) wherever moto honours MaxResults; the
        // simulated AWS tests pagination with pages of two, served by the server.
        std::fs::write(&cfg, "crawl:\n  page_size: 5\n").unwrap();
        let out = plaudit(m)
            .args([
                "scan",
                "--show-pass",
                "--format",
                "json",
                "--regions",
                "us-east-1,eu-west-1",
                "--quiet",
            ])
            .arg("--config")
            .arg(&cfg)
            .arg("--save-inventory")
            .arg(&saved)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
        (out.status.code().unwrap_or(-1), report, saved, dir)
    })
}

#[test]
fn crawl_reports_the_seeded_findings() {
    let m = moto();
    let (code, report, _, _) = live_scan();
    assert_eq!(*code, 3, "an unassumable role makes the scan incomplete");
    let f = report["findings"].as_array().unwrap();
    let svc = expect(m, "service_use1");
    assert_eq!(status_of(f, "private-dns-unverified", &svc), "fail");
    assert_eq!(status_of(f, "service-az-coverage", &svc), "fail");
    let svc_w = expect(m, "service_euw1");
    assert_eq!(status_of(f, "private-dns-unverified", &svc_w), "pass");
    assert_eq!(status_of(f, "service-az-coverage", &svc_w), "pass");
    assert_eq!(
        status_of(
            f,
            "endpoint-az-coverage",
            &expect(m, "endpoint_a_to_provider")
        ),
        "fail"
    );
    assert_eq!(
        status_of(f, "endpoint-az-coverage", &expect(m, "endpoint_a_to_s3")),
        "pass"
    );
    assert_eq!(
        status_of(
            f,
            "endpoint-az-coverage",
            &expect(m, "endpoint_b_to_provider")
        ),
        "pass"
    );
    // AWS hides a deleted service and one whose permissions no longer name the consumer
    // alike (InvalidServiceName): the endpoint is not proven orphaned.
    assert_eq!(
        status_of(f, "orphaned-connection", &expect(m, "endpoint_b_dangling")),
        "unknown"
    );
    assert_eq!(
        status_of(
            f,
            "orphaned-connection",
            &expect(m, "endpoint_a_to_provider")
        ),
        "pass"
    );
    assert_eq!(status_of(f, "alb-sg-blocks-nlb", &expect(m, "alb")), "fail");
}

#[test]
fn ledger_names_the_locked_and_the_closed_account() {
    let m = moto();
    let (_, report, _, _) = live_scan();
    let cov = report["coverage"].as_array().unwrap();
    let entry = |acct: &str, api: &str| {
        cov.iter()
            .find(|c| c["account_id"] == acct && c["api"] == api)
            .unwrap_or_else(|| panic!("no ledger entry {acct} {api}"))
    };
    let locked = entry(&id(m, "locked"), "sts:AssumeRole");
    assert_eq!(locked["status"], "assume_role_failed");
    assert!(locked["error"].as_str().unwrap().contains("AccessDenied"));
    assert_eq!(
        entry(&id(m, "closed"), "organizations:ListAccounts")["status"],
        "suspended"
    );
    // Every readable account-region is fully covered.
    for name in ["provider", "consumer-a", "consumer-b", "quiet"] {
        for region in ["us-east-1", "eu-west-1"] {
            for api in [
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeVpcEndpointServiceConfigurations",
            ] {
                let e = cov
                    .iter()
                    .find(|c| {
                        c["account_id"] == id(m, name) && c["region"] == region && c["api"] == api
                    })
                    .unwrap_or_else(|| panic!("no {api} for {name} {region}"));
                assert_eq!(e["status"], "ok", "{name} {region} {api}: {e}");
            }
        }
    }
    // AZ maps only where there is PrivateLink to map: not in the quiet account.
    let az_calls = |name: &str| {
        cov.iter()
            .filter(|c| {
                c["account_id"] == id(m, name) && c["api"] == "ec2:DescribeAvailabilityZones"
            })
            .count()
    };
    assert_eq!(az_calls("quiet"), 0);
    assert!(az_calls("provider") > 0 && az_calls("consumer-a") > 0);
    // The unreadable account is `unknown` for every rule, never `pass`.
    let f = report["findings"].as_array().unwrap();
    assert!(
        f.iter()
            .any(|x| x["account_id"] == id(m, "locked") && x["status"] == "unknown")
    );
    assert!(
        !f.iter()
            .any(|x| x["account_id"] == id(m, "locked") && x["status"] == "pass")
    );
}

#[test]
fn the_management_account_without_a_member_role_is_read_with_the_callers_credentials() {
    let m = moto();
    let (_, report, saved, _) = live_scan();
    let mgmt = m.info["management"].as_str().unwrap();
    let cov = report["coverage"].as_array().unwrap();
    // AssumeRole into the management account is denied by the launcher (no member role is
    // deployed there): plaudit falls back to its own credentials, and that is no gap.
    assert!(cov.iter().any(|c| c["account_id"] == mgmt
        && c["api"] == "sts:GetCallerIdentity"
        && c["status"] == "ok"));
    assert!(
        !cov.iter()
            .any(|c| c["account_id"] == mgmt && c["api"] == "sts:AssumeRole")
    );
    let inv: Value = serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    let acct = inv["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == mgmt)
        .unwrap();
    assert_eq!(acct["regions"].as_array().unwrap().len(), 2);
}

#[test]
fn inventory_has_ou_paths_az_maps_connections_and_the_lb_chain() {
    let m = moto();
    let (_, _, saved, _) = live_scan();
    let inv: Value = serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    let accounts = inv["accounts"].as_array().unwrap();
    let provider = accounts
        .iter()
        .find(|a| a["id"] == id(m, "provider"))
        .unwrap();
    assert_eq!(provider["ou_path"], "/Workloads/Prod");
    let use1 = provider["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "us-east-1")
        .unwrap();
    assert!(use1["availability_zones"].as_array().unwrap().len() >= 3);
    let svc = &use1["endpoint_services"][0];
    assert_eq!(svc["id"], expect(m, "service_use1").as_str());
    assert_eq!(svc["private_dns_state"], "pendingVerification");
    let principals = svc["allowed_principals"].as_array().unwrap();
    assert_eq!(principals.len(), 2, "{principals:?}");
    let conns = svc["connections"].as_array().unwrap();
    assert!(conns.iter().any(
        |c| c["endpoint_id"] == expect(m, "endpoint_a_to_provider").as_str()
            && c["endpoint_owner"] == id(m, "consumer-a").as_str()
    ));
    let lbs = use1["load_balancers"].as_array().unwrap();
    assert!(lbs.iter().any(|l| l["type"] == "network"));
    assert!(
        lbs.iter().any(|l| l["arn"] == expect(m, "alb").as_str()),
        "the ALB behind the NLB is collected"
    );
    let tgs = use1["target_groups"].as_array().unwrap();
    assert!(tgs.iter().any(|t| t["target_type"] == "alb"));
    let groups = use1["security_groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| !g["rules"].as_array().unwrap().is_empty())
    );
    // The consumer's lookup of a service that does not exist is recorded as not found.
    let b = accounts
        .iter()
        .find(|a| a["id"] == id(m, "consumer-b"))
        .unwrap();
    let euw1 = b["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "eu-west-1")
        .unwrap();
    assert!(
        euw1["service_lookups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["found"] == false)
    );
}

#[test]
fn saved_inventory_reevaluates_to_the_same_findings() {
    let (code, live, saved, _) = live_scan();
    let out = Command::cargo_bin("plaudit")
        .unwrap()
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        .args(["scan", "--show-pass", "--format", "json", "--inventory"])
        .arg(saved)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(*code));
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offline["findings"], live["findings"]);
    assert_eq!(offline["coverage"], live["coverage"]);
}

#[test]
fn account_selection_limits_the_crawl() {
    let m = moto();
    let out = plaudit(m)
        .args([
            "scan",
            "--format",
            "json",
            "--regions",
            "eu-west-1",
            "--quiet",
            "--accounts",
        ])
        .arg(id(m, "consumer-b"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["scan"]["accounts"],
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Complete; consumer-b's one doubtful endpoint (its service is not visible) is `unknown`,
    // not a failure.
    assert_eq!(out.status.code(), Some(0), "a complete scan");
    let statuses: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["account_id"] == id(m, "consumer-b").as_str())
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"unknown"), "{statuses:?}");
}

#[test]
fn preflight_prints_a_permission_matrix() {
    let m = moto();
    let out = plaudit(m)
        .args([
            "preflight",
            "--format",
            "csv",
            "--regions",
            "eu-west-1",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the locked account is denied: {stdout}"
    );
    let mut rdr = csv::Reader::from_reader(stdout.as_bytes());
    let header = rdr.headers().unwrap().clone();
    assert_eq!(&header[0], "account");
    assert!(header.iter().any(|h| h == "ec2:DescribeVpcEndpoints"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let row = |name: &str| rows.iter().find(|r| r[0] == id(m, name)).unwrap().clone();
    assert!(
        row("locked")[1].starts_with("assume_role_failed"),
        "{:?}",
        row("locked")
    );
    let provider = row("provider");
    assert!(provider[1].starts_with("ok"));
    assert!(provider.iter().skip(2).all(|c| c == "ok"), "{provider:?}");
    assert!(row("closed")[1].starts_with("suspended"));
}

#[test]
fn regions_default_to_those_enabled_in_the_account() {
    let m = moto();
    let out = plaudit(m)
        .args(["scan", "--format", "json", "--quiet", "--accounts"])
        .arg(id(m, "quiet"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["scan"]["regions"].as_u64().unwrap() > 2, "{}", v["scan"]);
    let cov = v["coverage"].as_array().unwrap();
    assert!(
        cov.iter()
            .any(|c| c["api"] == "ec2:DescribeRegions" && c["status"] == "ok")
    );
}

#[test]
fn verbose_logs_go_to_stderr_and_never_show_credentials() {
    let m = moto();
    let out = plaudit(m)
        .env("AWS_SECRET_ACCESS_KEY", "canary-secret-7f3a")
        .args([
            "scan",
            "-vv",
            "--format",
            "json",
            "--regions",
            "eu-west-1",
            "--quiet",
            "--accounts",
        ])
        .arg(id(m, "consumer-b"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("request"), "per-call logs at -vv: {stderr}");
    assert!(stderr.contains("account done"), "{stderr}");
    assert!(
        !stderr.contains("canary-secret-7f3a"),
        "a credential was logged"
    );
    let _: Value = serde_json::from_slice(&out.stdout).expect("stdout stays pure JSON");
}

#[test]
fn two_shards_merged_equal_one_live_scan() {
    let m = moto();
    let (_, live, _, _) = live_scan();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("plaudit.yaml");
    std::fs::write(&cfg, "crawl:\n  page_size: 5\n").unwrap();
    let mut parts = Vec::new();
    for k in 1..=2 {
        let p = dir.path().join(format!("shard-{k}.json"));
        let out = plaudit(m)
            .args([
                "scan",
                "--format",
                "json",
                "--regions",
                "us-east-1,eu-west-1",
                "--quiet",
                "--exit-zero",
            ])
            .arg("--shard")
            .arg(format!("{k}/2"))
            .arg("--config")
            .arg(&cfg)
            .arg("--save-inventory")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parts.push(p);
    }
    let merged = dir.path().join("merged.json");
    let out = Command::cargo_bin("plaudit")
        .unwrap()
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        .arg("merge")
        .args(&parts)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::cargo_bin("plaudit")
        .unwrap()
        .env(
            "XDG_DATA_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-data"),
        )
        .args(["scan", "--show-pass", "--format", "json", "--inventory"])
        .arg(&merged)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Ledger entries of the scanning account (Organizations, the caller) appear in every
    // shard; after the merge each is there once, and the findings are those of one scan.
    assert_eq!(v["findings"], live["findings"]);
    assert_eq!(v["scan"]["accounts"], live["scan"]["accounts"]);
}
