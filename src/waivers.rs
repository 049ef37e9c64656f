//! Waivers: accepted risks, with an owner, a reason and an expiry date. A waived finding keeps
//! its place in every output with status `waived` and the waiver's id (auditors must see it)
//! and does not count toward the exit code. An expired waiver stops applying and is reported;
//! one that matched nothing is reported as stale.
//!
//! ```yaml
//! waivers:
//!   - id: legacy-payments-dns
//!     rules: [private-dns-unverified]        # rule ids, or "*"
//!     accounts: ["111111111111"]             # selectors: all given must match, empty = any
//!     ous: [/Workloads/Legacy]               # OU paths, recursive
//!     regions: [us-east-1]
//!     resources: ["vpce-svc-0abc*"]          # resource ids, `*` matches any run of characters
//!     tags: {team: payments}                 # account tags (`*`: any value)
//!     reason: DNS moves to the new zone in Q1
//!     owner: payments-platform@example.com
//!     ticket: SEC-1234                       # optional
//!     expires: 2027-03-31
//! ```
//!
//! Several waivers combine with OR: a finding is waived by the first that matches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::findings::{Finding, Status};
use crate::inventory::Inventory;

#[derive(Debug, thiserror::Error)]
pub enum WaiverError {
    #[error("cannot read the waivers file `{path}`")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default)]
    waivers: Vec<Waiver>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub id: String,
    /// Rule ids, or `*` for every rule.
    pub rules: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub ous: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub reason: String,
    pub owner: String,
    #[serde(default)]
    pub ticket: Option<String>,
    pub expires: NaiveDate,
}

/// A loaded, validated waivers file.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    pub path: PathBuf,
    pub list: Vec<Waiver>,
    /// Where each waiver and each of its rule ids is in the file, for messages.
    lines: Vec<WaiverLines>,
}

/// Where the waivers file's keys are (a second, lenient reading of the same text, with
/// serde-saphyr's locations): only for naming lines in messages.
#[derive(Debug, Default, Deserialize)]
struct FileLines {
    #[serde(default)]
    waivers: Vec<serde_saphyr::Spanned<WaiverLines>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct WaiverLines {
    #[serde(skip)]
    line: u64,
    #[serde(default)]
    rules: Vec<serde_saphyr::Spanned<String>>,
}

/// What applying the waivers did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Finding fingerprint → waiver id.
    pub waived: BTreeMap<String, String>,
    /// Waivers past their expiry date (not applied).
    pub expired: Vec<Waiver>,
    /// Waivers in force that matched no failing finding.
    pub stale: Vec<Waiver>,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

impl Waivers {
    pub fn load(path: &Path) -> Result<Waivers, WaiverError> {
        let text = std::fs::read_to_string(path).map_err(|source| WaiverError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Waivers::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Waivers, WaiverError> {
        let invalid = |message: String| WaiverError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: WaiverFile = if text.trim().is_empty() {
            WaiverFile {
                waivers: Vec::new(),
            }
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| invalid(crate::config::yaml_error(&e, &path.display().to_string())))?
        };
        let lines: Vec<WaiverLines> = if file.waivers.is_empty() {
            Vec::new()
        } else {
            let found: FileLines = serde_saphyr::from_str(text)
                .map_err(|e| invalid(crate::config::yaml_error(&e, &path.display().to_string())))?;
            found
                .waivers
                .into_iter()
                .map(|w| WaiverLines {
                    line: w.referenced.line(),
                    ..w.value
                })
                .collect()
        };
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, w) in file.waivers.iter().enumerate() {
            let line = lines.get(i).map_or(0, |l| l.line);
            let mut at = |m: String| problems.push(format!("line {line}: waiver `{}`: {m}", w.id));
            if w.id.trim().is_empty() {
                at("the id is empty".into());
            } else if !seen.insert(w.id.clone()) {
                at("the id is used twice".into());
            }
            if w.rules.is_empty() {
                at("`rules` is empty (name rule ids, or \"*\")".into());
            }
            for (field, v) in [("reason", &w.reason), ("owner", &w.owner)] {
                if v.trim().is_empty() {
                    at(format!("`{field}` is empty"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(invalid(problems.join("\n  ")));
        }
        Ok(Waivers {
            path: path.to_path_buf(),
            list: file.waivers,
            lines,
        })
    }

    /// The waivers, once every rule they name is in the rule set.
    pub fn checked_against(self, set: &crate::rules::RuleSet) -> Result<Waivers, WaiverError> {
        self.check_rules(&set.rules().iter().map(|r| r.id.clone()).collect())?;
        Ok(self)
    }

    /// Rule ids the waivers name that are not in `known`: every one, each with its line.
    pub fn check_rules(&self, known: &BTreeSet<String>) -> Result<(), WaiverError> {
        let mut problems = Vec::new();
        for (i, w) in self.list.iter().enumerate() {
            let at = self.lines.get(i);
            for (j, r) in w.rules.iter().enumerate() {
                if r != "*" && !known.contains(r) {
                    let line = at
                        .and_then(|l| l.rules.get(j))
                        .map(|s| s.referenced.line())
                        .or(at.map(|l| l.line))
                        .unwrap_or(0);
                    problems.push(format!(
                        "line {line}: waiver `{}` names rule `{r}`, which does not exist \
                         (`plaudit rules list`)",
                        w.id
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(WaiverError::Invalid {
                path: self.path.clone(),
                message: problems.join("\n  "),
            })
        }
    }

    fn matches(w: &Waiver, f: &Finding, inv: &Inventory) -> bool {
        let acct = inv.accounts.iter().find(|a| a.id == f.account_id);
        let any = |v: &[String], ok: &dyn Fn(&str) -> bool| v.is_empty() || v.iter().any(|x| ok(x));
        any(&w.rules, &|r| r == "*" || r == f.rule_id)
            && any(&w.accounts, &|a| a == f.account_id)
            && any(&w.regions, &|r| r == f.region)
            && any(&w.resources, &|p| glob(p, &f.resource_id))
            && any(&w.ous, &|ou| {
                let ou = ou.trim_end_matches('/');
                acct.is_some_and(|a| {
                    ou.is_empty() || a.ou_path == ou || a.ou_path.starts_with(&format!("{ou}/"))
                })
            })
            && w.tags.iter().all(|(k, v)| {
                acct.and_then(|a| a.tags.get(k))
                    .is_some_and(|have| v == "*" || have == v)
            })
    }

    /// Waives the failing findings a waiver in force matches (status `waived`, the waiver's
    /// id recorded); reports expired and stale waivers.
    pub fn apply(&self, findings: &mut [Finding], inv: &Inventory, today: NaiveDate) -> Applied {
        let mut out = Applied::default();
        let (live, expired): (Vec<&Waiver>, Vec<&Waiver>) =
            self.list.iter().partition(|w| w.expires >= today);
        out.expired = expired.into_iter().cloned().collect();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for f in findings.iter_mut() {
            if f.status != Status::Fail {
                continue;
            }
            if let Some(w) = live.iter().find(|w| Self::matches(w, f, inv)) {
                f.status = Status::Waived;
                f.waiver_id = Some(w.id.clone());
                used.insert(&w.id);
                out.waived.insert(f.fingerprint(), w.id.clone());
            }
        }
        out.stale = live
            .into_iter()
            .filter(|w| !used.contains(w.id.as_str()))
            .cloned()
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;
    use crate::inventory::Account;

    fn finding(rule: &str, account: &str, region: &str, resource: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            title: "t".into(),
            severity: Severity::High,
            status: Status::Fail,
            account_id: account.into(),
            region: region.into(),
            resource_type: "x".into(),
            resource_id: resource.into(),
            resource_arn: String::new(),
            reason: "r".into(),
            path: None,
            waiver_id: None,
            new_since_baseline: None,
        }
    }

    fn inv() -> Inventory {
        let mut tags = BTreeMap::new();
        tags.insert("team".to_string(), "payments".to_string());
        Inventory {
            accounts: vec![
                Account {
                    id: "111111111111".into(),
                    ou_path: "/Workloads/Legacy/Old".into(),
                    tags,
                    ..Default::default()
                },
                Account {
                    id: "222222222222".into(),
                    ou_path: "/Workloads/Prod".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    const FILE: &str = r#"
waivers:
  - id: by-ou-and-tag
    rules: [private-dns-unverified]
    ous: [/Workloads/Legacy]
    tags: {team: payments}
    reason: moving zones
    owner: payments@example.com
    expires: 2027-03-31
  - id: by-resource
    rules: ["*"]
    accounts: ["222222222222"]
    resources: ["vpce-svc-0ab*"]
    reason: accepted
    owner: sec@example.com
    ticket: SEC-1
    expires: 2027-01-01
  - id: expired
    rules: ["*"]
    reason: old
    owner: sec@example.com
    expires: 2026-01-01
  - id: stale
    rules: [orphaned-connection]
    accounts: ["999999999999"]
    reason: nothing left
    owner: sec@example.com
    expires: 2030-01-01
"#;

    #[test]
    fn waivers_combine_with_or_expire_and_go_stale() {
        let w = Waivers::parse(FILE, Path::new("w.yaml")).unwrap();
        let mut f = vec![
            finding(
                "private-dns-unverified",
                "111111111111",
                "us-east-1",
                "vpce-svc-1",
            ),
            finding(
                "endpoint-az-coverage",
                "222222222222",
                "eu-west-1",
                "vpce-svc-0abc",
            ),
            finding(
                "endpoint-az-coverage",
                "222222222222",
                "eu-west-1",
                "vpce-svc-1",
            ),
            finding(
                "private-dns-unverified",
                "222222222222",
                "us-east-1",
                "vpce-svc-2",
            ),
        ];
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let a = w.apply(&mut f, &inv(), today);
        let status: Vec<&str> = f.iter().map(|x| x.status.as_str()).collect();
        assert_eq!(status, ["waived", "waived", "fail", "fail"]);
        assert_eq!(f[0].waiver_id.as_deref(), Some("by-ou-and-tag"));
        assert_eq!(f[1].waiver_id.as_deref(), Some("by-resource"));
        let ids = |v: &[Waiver]| v.iter().map(|w| w.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&a.expired),
            ["expired"],
            "an expired waiver does not apply"
        );
        assert_eq!(ids(&a.stale), ["stale"]);
        // The day after by-resource expires, its finding fails again.
        let mut g = vec![finding(
            "endpoint-az-coverage",
            "222222222222",
            "eu-west-1",
            "vpce-svc-0abc",
        )];
        w.apply(&mut g, &inv(), NaiveDate::from_ymd_opt(2027, 1, 2).unwrap());
        assert_eq!(g[0].status, Status::Fail);
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let e = Waivers::parse("waivers:\n  - id: x\n    rulez: [a]\n", Path::new("w.yaml"))
            .unwrap_err();
        assert!(
            e.to_string().contains("w.yaml") && e.to_string().contains("rulez"),
            "{e}"
        );
        let bad_date = "waivers:\n  - id: x\n    rules: [a]\n    reason: r\n    owner: o\n    expires: 2027-13-40\n";
        let e = Waivers::parse(bad_date, Path::new("w.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("w.yaml") && e.contains("line 6"), "{e}");
        let w = Waivers::parse(
            "waivers:\n  - id: x\n    rules: [no-such-rule]\n    reason: r\n    owner: o\n    expires: 2027-01-01\n",
            Path::new("w.yaml"),
        )
        .unwrap();
        let e = w
            .check_rules(&BTreeSet::from(["a".to_string()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("no-such-rule"), "{e}");
    }

    #[test]
    fn globs() {
        assert!(glob("vpce-*", "vpce-123"));
        assert!(glob("*abc*", "xxabcyy"));
        assert!(!glob("vpce-*", "vpc-1"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
        assert!(glob("a*b*c", "a-b-c") && !glob("a*b*c", "a-c"));
    }

    #[test]
    fn every_unknown_rule_is_named_at_its_own_line() {
        let text = "\
waivers:
  - id: a
    reason: until nope-rule is retired
    rules:
      - nope-rule
      - private-dns-unverified
    owner: x
    expires: 2030-01-01
  - id: b
    rules: [other-nope]
    reason: r
    owner: y
    expires: 2030-01-01
";
        let w = Waivers::parse(text, Path::new("w.yaml")).unwrap();
        let known = BTreeSet::from(["private-dns-unverified".to_string()]);
        let err = w.check_rules(&known).unwrap_err().to_string();
        // The rule's own line, not the first line that mentions it (the reason, line 3).
        assert!(
            err.contains("line 5: waiver `a` names rule `nope-rule`"),
            "{err}"
        );
        assert!(
            err.contains("line 10: waiver `b` names rule `other-nope`"),
            "{err}"
        );
    }

    #[test]
    fn every_invalid_waiver_is_named_with_its_line() {
        let text = "\
waivers:
  - id: a
    rules: []
    reason: \" \"
    owner: x
    expires: 2030-01-01
  - id: a
    rules: [\"*\"]
    reason: r
    owner: y
    expires: 2030-01-01
";
        let err = Waivers::parse(text, Path::new("w.yaml"))
            .unwrap_err()
            .to_string();
        for want in [
            "line 2: waiver `a`: `rules` is empty",
            "line 2: waiver `a`: `reason` is empty",
            "line 7: waiver `a`: the id is used twice",
        ] {
            assert!(err.contains(want), "no `{want}` in {err}");
        }
    }
}
