//! ASFF (AWS Security Finding Format) output: one `AwsSecurityFinding` per finding, as a JSON
//! array, in the shape Security Hub CSPM's `BatchImportFindings` takes. The mapping and the
//! import recipe are in `docs/outputs.md`; `deploy/securityhub/import-findings.sh` does it.
//!
//! What AWS documents and this follows:
//! - every attribute AWS lists as required (the API model's ten, and the user guide's
//!   `Severity` and `Types`), with the documented length limits: `Id` and `GeneratorId` at
//!   most 512 characters, `Title` 256, `Description` 1,024, `ProductFields` 50 pairs of at
//!   most 128/2,048 characters, `Remediation.Recommendation.Text` 512;
//! - the product ARN of a custom integration, `arn:<partition>:securityhub:<region>:
//!   <account>:product/<account>/default`: with it, Security Hub accepts a finding only from
//!   the account the finding names, in the region of its product ARN — so each finding names
//!   its own account and region, and the recipe imports each account's findings with that
//!   account's credentials;
//! - `Id` names the finding's rule, account, region and resource (see [`finding_id`]): a
//!   re-import updates the finding instead of adding one, and a passing result resolves a
//!   failing one;
//! - `Severity` and `Types` are also given in `FindingProviderFields`, the provider's copy AWS
//!   updates on re-import (the top-level ones belong to the customer after creation).

use std::io::Write;

use serde_json::{Map, Value, json};

use super::{Printer, ScanReport};
use crate::findings::{Finding, Severity, Status};

/// The only ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The finding type every plaudit finding has (namespace/category; AWS lists both).
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

const MAX_ID: usize = 512;
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RECOMMENDATION: usize = 512;
const MAX_PRODUCT_FIELD: usize = 2048;
const MAX_REQUIREMENTS: usize = 32;

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// `Compliance.Status`: a finding whose inputs were incomplete is `NOT_AVAILABLE` (never a
/// pass); a waived finding still fails the check.
fn compliance_status(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASSED",
        Status::Fail | Status::Waived => "FAILED",
        Status::Unknown => "NOT_AVAILABLE",
    }
}

/// The ASFF resource type of a rule's resource kind (the types AWS lists; `Other` for kinds
/// it has no type for).
fn resource_type(kind: &str) -> &'static str {
    match kind {
        "endpoint-service" => "AwsEc2VpcEndpointService",
        "load-balancer" => "AwsElbv2LoadBalancer",
        "vpc" => "AwsEc2Vpc",
        "subnet" => "AwsEc2Subnet",
        "security-group" => "AwsEc2SecurityGroup",
        _ => "Other",
    }
}

/// The region a finding is filed in: its own, or for a finding that names none the
/// partition's first region.
fn region_of<'a>(f: &'a Finding, partition: &str) -> &'a str {
    if !f.region.is_empty() && f.region != "*" {
        return &f.region;
    }
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The finding's id: `plaudit/<rule>/<account>/<region>/<resource>`, each part with `%`, `/`
/// and `|` percent-encoded, so that one id names one finding. (Not the `|`-joined fingerprint:
/// tools split ids on `|` — moto's paginator does.) For an id longer than AWS allows, its start
/// and a hash of the whole (still stable, still distinct).
pub fn finding_id(f: &Finding) -> String {
    fn part(s: &str) -> std::borrow::Cow<'_, str> {
        if !s.contains(['%', '/', '|']) {
            return s.into();
        }
        s.replace('%', "%25")
            .replace('/', "%2F")
            .replace('|', "%7C")
            .into()
    }
    let id = format!(
        "plaudit/{}/{}/{}/{}",
        part(&f.rule_id),
        part(&f.account_id),
        part(&f.region),
        part(&f.resource_id)
    );
    if id.chars().count() <= MAX_ID {
        return id;
    }
    // FNV-1a, 64 bits: stable across runs and platforms.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let head: String = id.chars().take(MAX_ID - 17).collect();
    format!("{head}#{hash:016x}")
}

fn finding(report: &ScanReport, f: &Finding, time: &str) -> Value {
    let partition = report.partition.as_str();
    let region = region_of(f, partition);
    let account = &f.account_id;
    let info = report.rules.get(&f.rule_id);
    // AWS's convention for its own controls: a passed check is informational.
    let severity = json!({
        "Label": if f.status == Status::Pass { "INFORMATIONAL" } else { label(f.severity) },
        "Original": f.severity.as_str(),
    });
    let types = json!([FINDING_TYPE]);
    let description = if f.reason.trim().is_empty() {
        &f.title
    } else {
        &f.reason
    };
    let mut product_fields = Map::new();
    let mut field = |k: &str, v: &str| {
        if !v.is_empty() {
            product_fields.insert(format!("plaudit/{k}"), cut(v, MAX_PRODUCT_FIELD).into());
        }
    };
    field("fingerprint", &f.fingerprint());
    field("rule_id", &f.rule_id);
    field("status", f.status.as_str());
    field("resource_id", &f.resource_id);
    field("path", f.path.as_deref().unwrap_or(""));
    field("waiver_id", f.waiver_id.as_deref().unwrap_or(""));
    field("tool_version", &report.scan.tool_version);
    let requirements: Vec<String> = info
        .map(|r| {
            r.compliance
                .iter()
                .map(|c| format!("{} {}", c.framework, c.control))
                .take(MAX_REQUIREMENTS)
                .collect()
        })
        .unwrap_or_default();
    let resource_id = if f.resource_arn.is_empty() {
        &f.resource_id
    } else {
        &f.resource_arn
    };
    let mut other = Map::new();
    other.insert(
        "plaudit_resource_type".into(),
        f.resource_type.clone().into(),
    );
    other.insert("resource_id".into(), f.resource_id.clone().into());
    let mut out = json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(f),
        "ProductArn": format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default"),
        "ProductName": "plaudit",
        "CompanyName": "plaudit",
        "Region": region,
        "GeneratorId": cut(&format!("plaudit/{}", f.rule_id), MAX_ID),
        "AwsAccountId": account,
        "Types": types,
        "FirstObservedAt": time,
        "LastObservedAt": time,
        "CreatedAt": time,
        "UpdatedAt": time,
        "Severity": severity,
        "Title": cut(&f.title, MAX_TITLE),
        "Description": cut(description, MAX_DESCRIPTION),
        "ProductFields": product_fields,
        "Resources": [{
            "Type": resource_type(&f.resource_type),
            "Id": resource_id,
            "Partition": partition,
            "Region": region,
            "Details": { "Other": other },
        }],
        "Compliance": { "Status": compliance_status(f.status) },
        "RecordState": "ACTIVE",
        "FindingProviderFields": { "Severity": severity, "Types": types },
    });
    if let Some(name) = report.account(account).map(|a| a.name.as_str())
        && !name.is_empty()
    {
        out["AwsAccountName"] = name.into();
    }
    if !requirements.is_empty() {
        out["Compliance"]["RelatedRequirements"] = requirements.into();
    }
    if let Some(info) = info.filter(|i| !i.fix.trim().is_empty()) {
        let mut rec = json!({ "Text": cut(info.fix.trim(), MAX_RECOMMENDATION) });
        if let Some(url) = &info.reference {
            rec["Url"] = url.as_str().into();
        }
        out["Remediation"] = json!({ "Recommendation": rec });
    }
    // A waiver is the customer's decision: the finding arrives suppressed. (After creation
    // AWS keeps the workflow status for the customer: BatchImportFindings cannot change it.)
    if f.status == Status::Waived {
        out["Workflow"] = json!({ "Status": "SUPPRESSED" });
    }
    out
}

pub struct AsffPrinter;

impl Printer for AsffPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        let time = report
            .scan
            .collected_at
            .unwrap_or_else(chrono::Utc::now)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        super::write_json_array(out, &report.findings, |f| finding(report, f, &time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(resource: &str) -> Finding {
        Finding {
            rule_id: "r".into(),
            title: "t".into(),
            severity: Severity::High,
            status: Status::Fail,
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            resource_type: "vpc-endpoint".into(),
            resource_id: resource.into(),
            resource_arn: String::new(),
            reason: String::new(),
            path: None,
            waiver_id: None,
            new_since_baseline: None,
        }
    }

    #[test]
    fn ids_are_the_fingerprint_and_stay_within_the_limit_and_distinct() {
        assert_eq!(
            finding_id(&f("vpce-1")),
            "plaudit/r/111111111111/eu-west-1/vpce-1"
        );
        // Ids stay distinct where a naive join would not: `a/b` in the resource is not a
        // resource `b` in region `…/a`.
        let mut g = f("b");
        g.region = "eu-west-1/a".into();
        assert_ne!(finding_id(&f("a/b")), finding_id(&g));
        assert_eq!(
            finding_id(&f("app/x|y%")),
            "plaudit/r/111111111111/eu-west-1/app%2Fx%7Cy%25"
        );
        let (a, b) = (f(&"x".repeat(600)), f(&format!("{}y", "x".repeat(599))));
        let (ia, ib) = (finding_id(&a), finding_id(&b));
        assert_eq!(ia.chars().count(), MAX_ID);
        assert_ne!(ia, ib);
        assert_eq!(ia, finding_id(&a), "stable");
    }

    #[test]
    fn texts_are_cut_to_the_documented_limits() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(
            cut(&"é".repeat(2000), MAX_DESCRIPTION).chars().count(),
            1024
        );
    }

    #[test]
    fn a_finding_without_a_region_is_filed_in_the_partitions_first_region() {
        let mut x = f("a");
        x.region = "*".into();
        assert_eq!(region_of(&x, "aws"), "us-east-1");
        assert_eq!(region_of(&x, "aws-cn"), "cn-north-1");
        assert_eq!(region_of(&f("a"), "aws-cn"), "eu-west-1");
    }
}
