//! The shipped IAM policy grants exactly the AWS actions the crawler calls: a new call that
//! the policy lacks, or a grant the code never uses, fails here.

use std::collections::BTreeSet;
use std::path::Path;

fn actions_in_code() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/crawl");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            let Some((svc, op)) = piece.split_once(':') else {
                continue;
            };
            let known = ["ec2", "elasticloadbalancing", "organizations", "sts"];
            if known.contains(&svc)
                && op.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && op.chars().all(|c| c.is_ascii_alphanumeric())
            {
                found.insert(piece.to_string());
            }
        }
    }
    found
}

fn actions_in_policy() -> BTreeSet<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/plaudit-read-only-policy.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn policy_grants_exactly_what_the_crawler_calls() {
    let code = actions_in_code();
    let policy = actions_in_policy();
    assert!(
        code.len() > 15,
        "found too few actions in src/crawl: {code:?}"
    );
    let missing: Vec<_> = code.difference(&policy).collect();
    let unused: Vec<_> = policy.difference(&code).collect();
    assert!(missing.is_empty(), "the policy lacks: {missing:?}");
    assert!(
        unused.is_empty(),
        "the policy grants what the code never calls: {unused:?}"
    );
}

#[test]
fn the_crawler_is_read_only() {
    for a in actions_in_code() {
        let op = a.split_once(':').unwrap().1;
        assert!(
            op.starts_with("Describe")
                || op.starts_with("List")
                || op.starts_with("Get")
                || a == "sts:AssumeRole",
            "`{a}` is not a read-only operation"
        );
    }
}
