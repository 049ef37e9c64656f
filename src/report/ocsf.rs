//! OCSF (Open Cybersecurity Schema Framework) output: one Compliance Finding (class 2003,
//! schema 1.3.0, profile `cloud`) per finding, as a JSON array, for Security Lake, SIEMs and
//! data lakes. The mapping is documented in `docs/outputs.md`; the integration tests check
//! every event against the OCSF 1.3.0 JSON Schema of the class (`tests/fixtures/ocsf/`) and
//! with py-ocsf-models.

use std::io::Write;

use serde_json::{Value, json};

use super::{Printer, ScanReport};
use crate::findings::{Severity, Status};

pub const OCSF_VERSION: &str = "1.3.0";
const CLASS_UID: u32 = 2003;
const CATEGORY_UID: u32 = 2;
/// Activity 1: Create.
const ACTIVITY_ID: u32 = 1;

fn severity(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// compliance.status_id: 1 Pass, 2 Warning (not decided: missing information), 3 Fail.
fn compliance_status(s: Status) -> (u32, &'static str) {
    match s {
        Status::Pass => (1, "Pass"),
        Status::Unknown => (2, "Warning"),
        Status::Fail | Status::Waived => (3, "Fail"),
    }
}

/// Removes attributes whose value is null, except inside `unmapped` (free-form): OCSF types
/// its attributes (a string is never null), so an absent value is left out.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for (k, x) in m.iter_mut() {
                if k != "unmapped" {
                    drop_nulls(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

pub struct OcsfPrinter;

impl Printer for OcsfPrinter {
    fn print(&self, report: &ScanReport, out: &mut dyn Write) -> anyhow::Result<()> {
        let time = report
            .scan
            .collected_at
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        // Built one at a time as the array is written (see `write_json_array`).
        let event = |f: &crate::findings::Finding| -> Value {
            {
                let (sev_id, sev) = severity(f.severity);
                let (cs_id, cs) = compliance_status(f.status);
                let info = report.rules.get(&f.rule_id);
                let mut standards: Vec<String> = info
                    .map(|r| r.compliance.iter().map(|c| c.framework.clone()).collect())
                    .unwrap_or_default();
                standards.sort();
                standards.dedup();
                if standards.is_empty() {
                    standards.push("plaudit PrivateLink rules".into());
                }
                let requirements: Vec<String> = info
                    .map(|r| {
                        r.compliance
                            .iter()
                            .map(|c| format!("{} {}", c.framework, c.control))
                            .collect()
                    })
                    .unwrap_or_default();
                let name = report.account(&f.account_id).map(|a| a.label());
                let account = json!({ "uid": f.account_id, "name": name, "type": "AWS Account", "type_id": 10 });
                let region = (f.region != "*").then_some(f.region.as_str());
                let (status_id, status) = if f.status == Status::Waived {
                    (3, "Suppressed")
                } else {
                    (1, "New")
                };
                let mut event = json!({
                    "activity_id": ACTIVITY_ID,
                    "activity_name": "Create",
                    "category_uid": CATEGORY_UID,
                    "category_name": "Findings",
                    "class_uid": CLASS_UID,
                    "class_name": "Compliance Finding",
                    "type_uid": CLASS_UID * 100 + ACTIVITY_ID,
                    "type_name": "Compliance Finding: Create",
                    "severity_id": sev_id,
                    "severity": sev,
                    "time": time,
                    "message": f.reason,
                    "status_id": status_id,
                    "status": status,
                    "metadata": {
                        "version": OCSF_VERSION,
                        "profiles": ["cloud"],
                        "product": {
                            "name": "plaudit",
                            "vendor_name": "plaudit",
                            "version": report.scan.tool_version,
                        },
                    },
                    "finding_info": {
                        "uid": f.fingerprint(),
                        "title": f.title,
                        "desc": f.reason,
                        "types": [f.resource_type],
                        "analytic": { "uid": f.rule_id, "name": f.rule_id, "type_id": 1, "type": "Rule" },
                    },
                    "compliance": {
                        "standards": standards,
                        "requirements": requirements,
                        "control": f.rule_id,
                        "status_id": cs_id,
                        "status": cs,
                        "status_detail": f.reason,
                    },
                    "remediation": {
                        "desc": info.map(|r| r.fix.as_str()).unwrap_or(""),
                        "references": info.and_then(|r| r.reference.as_deref()).map(|u| vec![u]),
                    },
                    // The owning account is `cloud.account`: OCSF's `owner` is a user (a
                    // person or service identity), which an account is not.
                    "resources": [{
                        "uid": if f.resource_arn.is_empty() { &f.resource_id } else { &f.resource_arn },
                        "name": f.resource_id,
                        "type": f.resource_type,
                        "region": region,
                        "cloud_partition": report.partition,
                    }],
                    "cloud": { "provider": "AWS", "region": region, "account": account },
                    "unmapped": {
                        "plaudit_status": f.status.as_str(),
                        "path": f.path,
                        "waiver_id": f.waiver_id,
                    },
                });
                drop_nulls(&mut event);
                event
            }
        };
        super::write_json_array(out, &report.findings, event)
    }
}
