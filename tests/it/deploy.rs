//! The deploy definitions. The audit role: the CloudFormation StackSet template and the
//! Terraform module grant exactly the member-account actions of
//! `deploy/plaudit-read-only-policy.json` (which `tests/it/iam_policy.rs` keeps equal to what
//! the crawler calls), and both are valid: cfn-lint passes the template, python-hcl2 parses
//! the module. The sharded scans: the Kubernetes manifests pass kubernetes-validate's strict
//! schema check and the AWS Batch template cfn-lint, both run one organisation walk, N
//! shards and an evaluation in that order, and every `plaudit` command line in them uses
//! flags the binary has. The tools are installed (pinned) into a venv under the target
//! directory on first use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support;

const TOOLS: [&str; 3] = [
    "cfn-lint==1.58.0",
    "python-hcl2==8.1.4",
    "kubernetes-validate==1.37.0",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        support::venv(
            "deploy-tools-venv",
            &TOOLS,
            "import cfnlint, hcl2, kubernetes_validate",
        )
    })
}

/// The member-account actions of the shipped policy (its first statement).
fn member_actions() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(root().join("deploy/plaudit-read-only-policy.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let st = &v["Statement"][0];
    assert_eq!(st["Sid"], "PrivateLinkInventory");
    st["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// cfn-lint finds nothing in the template.
fn assert_cfn_lint_passes(path: &Path) {
    let cfn_lint = python().with_file_name("cfn-lint");
    let out = Command::new(cfn_lint)
        .args(["--format", "parseable"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cloudformation_template_grants_exactly_the_policy_and_passes_cfn_lint() {
    let path = root().join("deploy/cloudformation/plaudit-member-role.yaml");
    let t: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let role = &t["Resources"]["PlauditAuditRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    let stmt = &role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert_eq!(strings(&stmt["Action"]), member_actions());
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Action"], "sts:AssumeRole");
    for p in [
        "ScannerAccountId",
        "RoleName",
        "RolePath",
        "ExternalId",
        "PermissionsBoundaryArn",
    ] {
        assert!(t["Parameters"][p].is_object(), "parameter {p}");
    }
    assert_cfn_lint_passes(&path);
}

#[test]
fn terraform_module_parses_and_grants_exactly_the_policy() {
    let dir = root().join("deploy/terraform/plaudit-member-role");
    // python-hcl2 keeps HCL string quotes in keys and values; strip them.
    let script = r#"
import hcl2, json, sys
def plain(x):
    if isinstance(x, dict):
        return {k.strip('"'): plain(v) for k, v in x.items() if k != "__is_block__"}
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, str) and len(x) >= 2 and x[0] == '"' and x[-1] == '"':
        return x[1:-1]
    return x
print(json.dumps({f: plain(hcl2.load(open(sys.argv[1] + "/" + f))) for f in ["main.tf", "variables.tf", "outputs.tf"]}))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "HCL does not parse:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let main = v["main.tf"].to_string();
    for want in [
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_policy_document",
    ] {
        assert!(main.contains(want), "main.tf lacks {want}");
    }
    let docs = v["main.tf"]["data"].as_array().unwrap();
    let read_only = docs
        .iter()
        .find_map(|d| {
            d.get("aws_iam_policy_document")
                .and_then(|x| x.get("read_only"))
        })
        .expect("the read_only policy document");
    assert_eq!(
        strings(&read_only["statement"][0]["actions"]),
        member_actions()
    );
    let vars: BTreeSet<String> = v["variables.tf"]["variable"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x.as_object().unwrap().keys().cloned())
        .collect();
    for want in [
        "scanner_account_id",
        "role_name",
        "role_path",
        "external_id",
        "permissions_boundary_arn",
    ] {
        assert!(vars.contains(want), "variable {want}");
    }
}

/// Every `plaudit SUBCOMMAND … --flag …` line of a script (with `\` continuations) names a
/// subcommand and flags that `plaudit SUBCOMMAND --help` lists.
fn assert_plaudit_lines_use_real_flags(script: &str, what: &str) {
    let joined = script.replace("\\\n", " ");
    let mut seen = 0;
    for line in joined.lines() {
        let Some(at) = line.find("plaudit ") else {
            continue;
        };
        let words: Vec<&str> = line[at..].split_whitespace().collect();
        let Some(sub) = words.get(1) else { continue };
        if sub.starts_with('-') || !sub.chars().all(|c| c.is_ascii_lowercase()) {
            continue;
        }
        let help = Command::new(env!("CARGO_BIN_EXE_plaudit"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(
            help.status.success(),
            "{what}: `plaudit {sub}` is no command"
        );
        let help = String::from_utf8_lossy(&help.stdout);
        for w in words.iter().filter(|w| w.starts_with("--")) {
            let flag = w.split('=').next().unwrap();
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{what}: `plaudit {sub}` has no {flag}"
            );
        }
        seen += 1;
    }
    assert!(seen > 0, "{what}: no plaudit command line found");
}

/// A container's shell script (`sh -c SCRIPT`).
fn script(container: &Value) -> String {
    container["args"][0]
        .as_str()
        .or_else(|| container["command"][2].as_str())
        .or_else(|| container["Command"][2].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn kubernetes_manifests_validate_and_crawl_one_account_list_in_shards() {
    let path = root().join("deploy/kubernetes/plaudit.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let validate = python().with_file_name("kubernetes-validate");
    let out = Command::new(validate)
        .args(["--strict", "--quiet", "--kubernetes-version", "1.31.0"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
    };
    let shards: u64 = find("ConfigMap", "plaudit-config")["data"]["SHARDS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let crawl = find("CronJob", "plaudit-crawl");
    assert_eq!(
        crawl["spec"]["suspend"], true,
        "a template, started by the driver"
    );
    let job = &crawl["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    assert_eq!(job["completions"].as_u64(), Some(shards));
    assert_eq!(job["parallelism"].as_u64(), Some(shards));
    let crawl_script = script(&job["template"]["spec"]["containers"][0]);
    assert!(crawl_script.contains("--accounts-from"), "{crawl_script}");
    assert!(
        crawl_script.contains("--shard \"$K/$SHARDS\""),
        "{crawl_script}"
    );

    let driver = find("CronJob", "plaudit");
    let driver_script =
        script(&driver["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]);
    let order: Vec<usize> = [
        "plaudit accounts",
        "run plaudit-crawl",
        "run plaudit-evaluate",
    ]
    .iter()
    .map(|s| {
        driver_script
            .find(s)
            .unwrap_or_else(|| panic!("driver lacks {s}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "list, crawl, evaluate"
    );
    let evaluate = find("CronJob", "plaudit-evaluate");
    assert_eq!(evaluate["spec"]["suspend"], true);
    let eval_script =
        script(&evaluate["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]);
    assert!(eval_script.contains("plaudit merge") && eval_script.contains("--inventory"));
    for (s, what) in [
        (&driver_script, "driver"),
        (&crawl_script, "crawl"),
        (&eval_script, "evaluate"),
    ] {
        assert_plaudit_lines_use_real_flags(s, what);
    }
}

#[test]
fn batch_template_passes_cfn_lint_and_runs_list_crawl_evaluate_in_order() {
    let path = root().join("deploy/cloudformation/plaudit-batch.yaml");
    assert_cfn_lint_passes(&path);
    let t: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let res = &t["Resources"];
    // The state machine's definition, with `${…}` given placeholder values, is JSON whose
    // states run the three job definitions in order, the crawl as an array job of `Shards`.
    let def = res["StateMachine"]["Properties"]["DefinitionString"]
        .as_str()
        .expect("a DefinitionString (!Sub)");
    let mut plain = String::new();
    let mut rest = def;
    while let Some(i) = rest.find("${") {
        plain.push_str(&rest[..i]);
        let j = rest[i..].find('}').unwrap();
        let name = &rest[i + 2..i + j];
        plain.push_str(if name == "Shards" { "4" } else { name });
        rest = &rest[i + j + 1..];
    }
    plain.push_str(rest);
    let sm: Value = serde_json::from_str(&plain).expect("the definition is JSON");
    let mut state = sm["StartAt"].as_str().unwrap().to_string();
    let mut jobs = Vec::new();
    loop {
        let s = &sm["States"][&state];
        assert!(s.is_object(), "state {state} does not exist");
        assert_eq!(
            s["Resource"],
            "arn:AWS::Partition:states:::batch:submitJob.sync"
        );
        jobs.push(
            s["Parameters"]["JobDefinition"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        if state == "Crawl" {
            assert_eq!(s["Parameters"]["ArrayProperties"]["Size"], 4, "a number");
        }
        match s["Next"].as_str() {
            Some(n) => state = n.to_string(),
            None => {
                assert_eq!(s["End"], true);
                break;
            }
        }
    }
    assert_eq!(jobs, ["ListAccountsJob", "CrawlJob", "EvaluateJob"]);
    for j in &jobs {
        let d = &res[j.as_str()];
        assert_eq!(d["Type"], "AWS::Batch::JobDefinition");
        let s = script(&d["Properties"]["ContainerProperties"]);
        assert_plaudit_lines_use_real_flags(&s, j);
    }
    let crawl = script(&res["CrawlJob"]["Properties"]["ContainerProperties"]);
    assert!(crawl.contains("--accounts-from") && crawl.contains("AWS_BATCH_JOB_ARRAY_INDEX"));
    let list = script(&res["ListAccountsJob"]["Properties"]["ContainerProperties"]);
    assert!(list.contains("plaudit accounts --save"));
}
