//! The deployable audit role: the CloudFormation StackSet template and the Terraform module
//! grant exactly the member-account actions of `deploy/plaudit-read-only-policy.json` (which
//! `tests/it/iam_policy.rs` keeps equal to what the crawler calls), and both are valid: cfn-lint
//! passes the template, python-hcl2 parses the module. Both tools are installed (pinned) into a
//! venv under the target directory on first use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support;

const TOOLS: [&str; 2] = ["cfn-lint==1.58.0", "python-hcl2==8.1.4"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| support::venv("deploy-tools-venv", &TOOLS, "import cfnlint, hcl2"))
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
    let cfn_lint = python().with_file_name("cfn-lint");
    let out = Command::new(cfn_lint)
        .args(["--format", "parseable"])
        .arg(&path)
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
