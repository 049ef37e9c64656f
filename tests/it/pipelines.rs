//! The findings pipelines: OCSF for Security Lake and SIEMs, ASFF for Security Hub.
//!
//! Checked against what the other side accepts, not against our own reading of it:
//! - every OCSF event of the demo validates against the OCSF 1.3.0 JSON Schema of Compliance
//!   Finding (vendored under `tests/fixtures/ocsf/`, made from the OCSF schema repository's
//!   tag 1.3.0; see its README) and is accepted by py-ocsf-models;
//! - every ASFF finding passes botocore's own validation of a BatchImportFindings call (the
//!   check the AWS SDK for Python and the AWS CLI make before sending) and its model's enums,
//!   patterns and limits, plus the limits AWS's API reference gives in prose;
//! - `deploy/securityhub/import-findings.sh` imports them into moto's Security Hub with the
//!   AWS CLI, 100 at a time, each account with its own credentials, and a second import
//!   updates the findings instead of adding to them.
//!
//! The Python tools are installed (pinned) into a venv under the target directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support;

const TOOLS: [&str; 4] = [
    "py-ocsf-models==0.10.0",
    "botocore==1.44.8",
    "awscli==1.46.3",
    "duckdb==2.0.1",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        support::venv(
            "pipeline-tools-venv",
            &TOOLS,
            "import py_ocsf_models, botocore, awscli, duckdb",
        )
    })
}

fn demo() -> PathBuf {
    root().join("examples/demo-org.json")
}

/// The demo scanned in `format`, parsed.
fn scan(format: &str, inventory: &Path) -> Value {
    let out = assert_cmd::Command::cargo_bin("plaudit")
        .unwrap()
        // Every pass too: the validators must see each status's shape.
        .args([
            "scan",
            "--no-history",
            "--show-pass",
            "--format",
            format,
            "--inventory",
        ])
        .arg(inventory)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no {format} document ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs a checker script of `tests/pipelines/` on `input`; returns (success, its output).
fn check(script: &str, input: &Value) -> (bool, String) {
    let mut child = Command::new(python())
        .arg(root().join("tests/pipelines").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ocsf_schema() -> jsonschema::Validator {
    let path = root().join("tests/fixtures/ocsf/compliance_finding-1.3.0-cloud.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft7::new(&schema).expect("the vendored schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, event: &Value) -> Vec<String> {
    v.iter_errors(event)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The shape OCSF events had before: `resources[].owner` holding the account. OCSF's
/// `owner` is a user, which needs a name or uid.
fn with_old_owner(events: &Value) -> Value {
    let mut old = events.clone();
    for e in old.as_array_mut().unwrap() {
        let account = e["cloud"]["account"].clone();
        e["resources"][0]["owner"] = serde_json::json!({ "account": account });
    }
    old
}

#[test]
fn every_ocsf_event_validates_against_the_ocsf_1_3_0_schema() {
    let events = scan("ocsf", &demo());
    let validator = ocsf_schema();
    let events_list = events.as_array().unwrap();
    assert_eq!(events_list.len(), 90, "the demo's findings");
    for (i, e) in events_list.iter().enumerate() {
        let errors = schema_errors(&validator, e);
        assert!(errors.is_empty(), "event {i}: {errors:#?}\n{e:#}");
    }
    // The schema does catch what was wrong: the old owner, a missing required attribute, a
    // status outside the enum, an attribute OCSF does not define.
    let old = with_old_owner(&events);
    assert!(
        schema_errors(&validator, &old[0])
            .iter()
            .any(|e| e.contains("/resources/0/owner")),
        "{:#?}",
        schema_errors(&validator, &old[0])
    );
    let mut broken = events[0].clone();
    broken.as_object_mut().unwrap().remove("finding_info");
    broken["compliance"]["status_id"] = 7.into();
    broken["cloud"]["colour"] = "blue".into();
    let errors = schema_errors(&validator, &broken).join("\n");
    for part in ["finding_info", "/compliance/status_id", "colour"] {
        assert!(errors.contains(part), "{part} not flagged:\n{errors}");
    }
}

#[test]
fn py_ocsf_models_accepts_every_ocsf_event_and_rejected_the_old_owner() {
    let events = scan("ocsf", &demo());
    let (ok, out) = check("check_ocsf.py", &events);
    assert!(ok, "{out}");
    assert!(out.contains("90 of 90 accepted"), "{out}");
    let (ok, out) = check("check_ocsf.py", &with_old_owner(&events));
    assert!(!ok && out.contains("resources.0.owner"), "{out}");
}

/// docs/outputs.md's way into Security Lake: its DuckDB statement turns the OCSF document into
/// Parquet, every event in it.
#[test]
fn the_documented_parquet_conversion_keeps_every_ocsf_event() {
    let dir = tempfile::tempdir().unwrap();
    let events = scan("ocsf", &demo());
    std::fs::write(
        dir.path().join("findings.ocsf.json"),
        serde_json::to_vec(&events).unwrap(),
    )
    .unwrap();
    let doc = std::fs::read_to_string(root().join("docs/outputs.md")).unwrap();
    let statement = "COPY (SELECT * FROM read_json_auto('findings.ocsf.json')) TO 'plaudit.parquet' (FORMAT parquet)";
    assert!(
        doc.contains(statement),
        "docs/outputs.md no longer says {statement}"
    );
    let out = Command::new(python())
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "import duckdb\nduckdb.sql(\"{statement}\")\n\
             print(duckdb.sql(\"SELECT count(*), count(DISTINCT finding_info.uid), min(class_uid), max(class_uid) FROM 'plaudit.parquet'\").fetchall())"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "[(90, 90, 2003, 2003)]");
}

/// What AWS's user guide lists as required of every finding (the API model marks the first
/// ten; Severity and Types are required for findings a provider imports).
const ASFF_REQUIRED: [&str; 12] = [
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Title",
    "UpdatedAt",
    "Severity",
    "Types",
];

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

#[test]
fn asff_findings_have_every_required_attribute_within_aws_limits() {
    let asff = scan("asff", &demo());
    let report = scan("json", &demo());
    let findings = asff.as_array().unwrap();
    let json = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), json.len());
    let mut ids = BTreeSet::new();
    for (a, f) in findings.iter().zip(json) {
        for k in ASFF_REQUIRED {
            assert!(a.get(k).is_some_and(|v| !v.is_null()), "{k} missing: {a:#}");
        }
        assert_eq!(a["SchemaVersion"], "2018-10-08");
        assert_eq!(a["AwsAccountId"], f["account_id"]);
        assert_eq!(chars(&a["AwsAccountId"]), 12);
        assert!(chars(&a["Id"]) <= 512 && chars(&a["GeneratorId"]) <= 512);
        assert!(chars(&a["Title"]) <= 256);
        assert!((1..=1024).contains(&chars(&a["Description"])));
        let product_fields = a["ProductFields"].as_object().unwrap();
        assert!(product_fields.len() <= 50);
        for (k, v) in product_fields {
            assert!(k.chars().count() <= 128 && chars(v) <= 2048, "{k}");
        }
        assert!(serde_json::to_vec(a).unwrap().len() < 240 * 1024);
        // Security Hub takes a custom integration's finding only from the account it names,
        // in the region of its product ARN.
        let region = a["Region"].as_str().unwrap();
        assert_eq!(
            a["ProductArn"],
            format!(
                "arn:aws:securityhub:{region}:{0}:product/{0}/default",
                f["account_id"].as_str().unwrap()
            )
        );
        assert_eq!(a["Resources"][0]["Region"], region);
        let expected = match f["status"].as_str().unwrap() {
            "pass" => "PASSED",
            "fail" | "waived" => "FAILED",
            "unknown" => "NOT_AVAILABLE",
            other => panic!("{other}"),
        };
        assert_eq!(a["Compliance"]["Status"], expected, "{a:#}");
        assert_eq!(
            a["Workflow"]["Status"] == "SUPPRESSED",
            f["status"] == "waived"
        );
        assert_eq!(a["FindingProviderFields"]["Severity"], a["Severity"]);
        assert!(ids.insert(a["Id"].as_str().unwrap().to_string()), "unique");
        let resource = if f["resource_arn"] == "" {
            &f["resource_id"]
        } else {
            &f["resource_arn"]
        };
        assert_eq!(&a["Resources"][0]["Id"], resource);
    }
    // Stable: the same inventory gives the same ids (a re-import updates, never duplicates).
    let again: BTreeSet<String> = scan("asff", &demo())
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again, ids);
}

#[test]
fn asff_batches_pass_botocores_validation_of_batch_import_findings() {
    let asff = scan("asff", &demo());
    let (ok, out) = check("check_asff.py", &asff);
    assert!(ok, "{out}");
    assert!(out.contains("90 findings, 0 problems"), "{out}");
    // The checker does catch a bad finding: a missing required member, a label outside the
    // enum, a member the model does not have.
    let mut bad = asff;
    bad[0].as_object_mut().unwrap().remove("Title");
    bad[1]["Severity"]["Label"] = "SEVERE".into();
    bad[2]["Colour"] = "blue".into();
    let (ok, out) = check("check_asff.py", &bad);
    assert!(!ok, "{out}");
    for part in ["Title", "SEVERE", "Colour"] {
        assert!(out.contains(part), "{part} not flagged:\n{out}");
    }
}

/// moto's server on a free loopback port, for as long as the returned guard lives.
struct MotoServer {
    port: u16,
    child: std::process::Child,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> MotoServer {
    let python = support::venv(
        "moto-venv",
        &[crate::crawl_moto::MOTO],
        "import moto, boto3, flask",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python.with_file_name("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "moto did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    MotoServer { port, child }
}

/// The AWS CLI and the recipe pointed at moto with the given credentials.
fn aws_env(cmd: &mut Command, port: u16, env: &[(&str, &str)]) {
    let bin = python().parent().unwrap();
    cmd.env(
        "PATH",
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    )
    .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .env_remove("AWS_SESSION_TOKEN")
    .env_remove("AWS_PROFILE")
    .env("AWS_DEFAULT_REGION", "us-east-1")
    .env("AWS_CONFIG_FILE", "/dev/null")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    for (k, v) in env {
        cmd.env(k, v);
    }
}

fn import(port: u16, file: &Path, role: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = Command::new(root().join("deploy/securityhub/import-findings.sh"));
    cmd.arg(file);
    if let Some(r) = role {
        cmd.arg(r);
    }
    aws_env(&mut cmd, port, &[]);
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The findings moto holds for `account` in `region`, read as that account.
fn findings_in(port: u16, account: &str, region: &str) -> Vec<Value> {
    let mut c = Command::new("aws");
    aws_env(&mut c, port, &[]);
    let out = c
        .args(["sts", "assume-role", "--role-session-name", "check"])
        .arg("--role-arn")
        .arg(format!("arn:aws:iam::{account}:role/check"))
        .args([
            "--query",
            "Credentials.[AccessKeyId,SecretAccessKey,SessionToken]",
        ])
        .args(["--output", "text"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let creds: Vec<&str> = text.split_whitespace().collect();
    let [key, secret, token] = creds[..] else {
        panic!(
            "no credentials: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut c = Command::new("aws");
    aws_env(
        &mut c,
        port,
        &[
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", token),
        ],
    );
    let out = c
        .args(["securityhub", "get-findings", "--region", region])
        .args(["--output", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    v["Findings"].as_array().unwrap().clone()
}

#[test]
fn the_security_hub_recipe_imports_each_accounts_findings_once() {
    let dir = tempfile::tempdir().unwrap();
    // More than 100 findings in one account and region: a synthetic organisation.
    let inventory = dir.path().join("synth.json");
    let inv = crate::synth::generate(crate::synth::Shape {
        accounts: 3,
        regions: 2,
        seed: 1,
        endpoints_per_region: 25,
        ..Default::default()
    });
    std::fs::write(&inventory, serde_json::to_vec(&inv).unwrap()).unwrap();
    let asff = scan("asff", &inventory);
    let file = dir.path().join("findings.asff.json");
    std::fs::write(&file, serde_json::to_vec(&asff).unwrap()).unwrap();
    let mut expected: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for f in asff.as_array().unwrap() {
        expected
            .entry((
                f["AwsAccountId"].as_str().unwrap().into(),
                f["Region"].as_str().unwrap().into(),
            ))
            .or_default()
            .insert(f["Id"].as_str().unwrap().into());
    }
    assert!(
        expected.values().any(|ids| ids.len() > 100),
        "a group needs more than one batch: {:?}",
        expected.values().map(BTreeSet::len).collect::<Vec<_>>()
    );
    // The recipe's own tools: the AWS CLI (in the venv) and jq.
    support::debian_tool("jq", "jq", "the Security Hub import recipe");
    let moto = moto_server();
    // Without a role only the caller's own account could be imported: none of these.
    let (code, out) = import(moto.port, &file, None);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("skipped") && out.contains("give ROLE_NAME"),
        "{out}"
    );
    for (account, region) in expected.keys() {
        assert!(findings_in(moto.port, account, region).is_empty());
    }
    // With a role: every account's findings in its own account and region, twice.
    for round in 0..2 {
        let (code, out) = import(moto.port, &file, Some("plaudit-import"));
        assert_eq!(code, Some(0), "round {round}: {out}");
        for ((account, region), ids) in &expected {
            let held: BTreeSet<String> = findings_in(moto.port, account, region)
                .iter()
                .map(|f| f["Id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(&held, ids, "round {round}: {account} {region}");
        }
    }
}
