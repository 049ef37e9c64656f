//! Drift: what changed between two recorded scans — in the findings (new, resolved, still
//! open with their age, changed) and in the PrivateLink graph itself (services, acceptance,
//! private DNS, principals, the AZ IDs served, consumers, connection states, security-group
//! rules on a PrivateLink path, accounts joining or leaving).
//!
//! A finding that is `unknown` now, or gone from an account-region that could not be read,
//! is never reported as resolved: it is `unverified`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::findings::{Severity, Status};
use crate::history::{History, Recorded, ScanRecord, age_days, scope_of};
use crate::inventory::{Account, Inventory, Region};

/// What happened to one finding between the two scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingDrift {
    /// Failing now, and first seen after the older scan.
    New,
    /// Failing in both, with a different severity or reason.
    Changed,
    /// Failing in both.
    Open,
    /// Failing before; passing or gone now from an account-region that was read.
    Resolved,
    /// Failing before; `unknown` now or its account-region could not be read.
    Unverified,
}

impl FindingDrift {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingDrift::New => "new",
            FindingDrift::Changed => "changed",
            FindingDrift::Open => "open",
            FindingDrift::Resolved => "resolved",
            FindingDrift::Unverified => "unverified",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FindingChange {
    pub drift: FindingDrift,
    pub rule_id: String,
    pub account_id: String,
    pub region: String,
    pub resource_id: String,
    pub severity: Severity,
    pub reason: String,
    /// The reason in the older scan, when it (or the severity) differs.
    pub before: Option<String>,
    /// The severity in the older scan, when it (or the reason) differs.
    pub before_severity: Option<Severity>,
    pub first_seen_scan: Option<i64>,
    /// Days the finding has been failing, at the newer scan.
    pub age_days: Option<f64>,
    pub waiver_id: Option<String>,
}

/// One change in the PrivateLink graph.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphChange {
    /// `service-added`, `acceptance-changed`, `principal-added`, …
    pub change: String,
    pub account_id: String,
    pub region: String,
    pub resource_id: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub from: ScanRecord,
    pub to: ScanRecord,
    pub findings: Vec<FindingChange>,
    pub graph: Vec<GraphChange>,
}

impl Drift {
    /// The drift between two finished scans of a history: `to` defaults to the last finished
    /// scan, `from` to the finished scan before it — complete or not: a real organisation
    /// nearly always has a gap somewhere, and what either scan could not read is
    /// `unverified`, never new or resolved.
    pub fn between(h: &History, from: Option<i64>, to: Option<i64>) -> anyhow::Result<Drift> {
        use anyhow::Context;
        let scans = h.scans()?;
        let finished: Vec<&ScanRecord> = scans.iter().filter(|s| s.finished()).collect();
        let to = match to {
            Some(id) => h.scan(id)?,
            None => finished.last().map(|s| (*s).clone()).context(
                "no finished scan in the history yet (`plaudit history`); record one with \
                 `plaudit scan`",
            )?,
        };
        let from = match from {
            Some(id) => h.scan(id)?,
            None => finished
                .iter()
                .rev()
                .find(|s| s.id < to.id)
                .map(|s| (*s).clone())
                .with_context(|| {
                    format!(
                        "no finished scan before scan {} to compare with; pick two with \
                         --from and --to (`plaudit history`)",
                        to.id
                    )
                })?,
        };
        for s in [&from, &to] {
            if !s.finished() {
                anyhow::bail!(
                    "scan {} did not finish ({}); pick another (`plaudit history`)",
                    s.id,
                    s.status
                );
            }
        }
        let (from_inventory, to_inventory) = (h.inventory(from.id)?, h.inventory(to.id)?);
        let (from_gaps, to_gaps) = (h.gaps(from.id)?, h.gaps(to.id)?);
        let (from_scope, to_scope) = (scope_of(&from_inventory), scope_of(&to_inventory));
        let findings = compare_findings(
            &from,
            &to,
            &h.findings(from.id)?,
            &h.findings(to.id)?,
            Read {
                gaps: &from_gaps,
                scope: &from_scope,
            },
            Read {
                gaps: &to_gaps,
                scope: &to_scope,
            },
        );
        let graph = compare_graph(&from_inventory, &to_inventory);
        Ok(Drift {
            from,
            to,
            findings,
            graph,
        })
    }

    /// How many findings drifted this way.
    pub fn count(&self, kind: FindingDrift) -> usize {
        self.findings.iter().filter(|c| c.drift == kind).count()
    }

    /// One line: the scans compared and what changed.
    pub fn summary(&self) -> String {
        use FindingDrift as D;
        format!(
            "scan {} → scan {}: {} new, {} resolved, {} changed, {} still open, {} unverified · {} changes in the PrivateLink graph",
            self.from.id,
            self.to.id,
            self.count(D::New),
            self.count(D::Resolved),
            self.count(D::Changed),
            self.count(D::Open),
            self.count(D::Unverified),
            self.graph.len()
        )
    }
}

fn is_failing(r: &Recorded) -> bool {
    r.status.is_failing()
}

/// Compares the findings of two scans. `to_gaps`: the newer scan's unreadable
/// (account, region) pairs (`*`: the whole account).
/// What a scan read: the account-regions in its scope, less its coverage gaps (`*`: the
/// whole account).
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub gaps: &'a BTreeSet<(String, String)>,
    pub scope: &'a BTreeSet<(String, String)>,
}

impl Read<'_> {
    fn covers(&self, account: &str, region: &str) -> bool {
        let key = |r: &str| (account.to_string(), r.to_string());
        self.scope.contains(&key(region))
            && !self.gaps.contains(&key(region))
            && !self.gaps.contains(&key("*"))
    }
}

/// Two reasons say the same thing when they differ only in a rendered age (`pending for 48
/// days` → `55 days`): a daily drift must not flag every pending connection as changed.
fn same_reason(a: &str, b: &str) -> bool {
    a == b || without_ages(a) == without_ages(b)
}

/// The text with every `<number> day` (days, day(s)) replaced by `N day`.
fn without_ages(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let n = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let after = &tail[n..];
        if after.starts_with(" day") {
            out.push('N');
        } else {
            out.push_str(&tail[..n]);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

pub fn compare_findings(
    from: &ScanRecord,
    to: &ScanRecord,
    before: &[Recorded],
    after: &[Recorded],
    from_read: Read<'_>,
    to_read: Read<'_>,
) -> Vec<FindingChange> {
    let to_gaps = to_read.gaps;
    let to_scope = to_read.scope;
    let old: BTreeMap<&str, &Recorded> =
        before.iter().map(|r| (r.fingerprint.as_str(), r)).collect();
    let new: BTreeMap<&str, &Recorded> =
        after.iter().map(|r| (r.fingerprint.as_str(), r)).collect();
    let mut out = Vec::new();
    let change = |d: FindingDrift, r: &Recorded, prev: Option<&Recorded>| {
        let before = prev
            .filter(|p| p.severity != r.severity || !same_reason(&p.reason, &r.reason))
            .map(|p| (p.severity, p.reason.clone()));
        FindingChange {
            drift: d,
            rule_id: r.rule_id.clone(),
            account_id: r.account_id.clone(),
            region: r.region.clone(),
            resource_id: r.resource_id.clone(),
            severity: r.severity,
            reason: r.reason.clone(),
            before_severity: before.as_ref().map(|b| b.0),
            before: before.map(|b| b.1),
            first_seen_scan: r.first_seen_scan,
            age_days: age_days(r.first_seen_at.as_deref(), Some(&to.started_at)),
            waiver_id: r.waiver_id.clone(),
        }
    };
    for (fp, r) in &new {
        if !is_failing(r) {
            continue;
        }
        let prev = old.get(fp).copied();
        let was_failing = prev.is_some_and(is_failing);
        let first_after_from = r.first_seen_scan.is_none_or(|s| s > from.id);
        let d = if was_failing {
            let p = prev.unwrap();
            if p.severity != r.severity || !same_reason(&p.reason, &r.reason) {
                FindingDrift::Changed
            } else {
                FindingDrift::Open
            }
        } else if !from_read.covers(&r.account_id, &r.region)
            || prev.is_some_and(|p| p.status == Status::Unknown)
        {
            // The older scan could not tell (a gap, outside its scope, unknown): not new.
            FindingDrift::Unverified
        } else if first_after_from {
            FindingDrift::New
        } else {
            // Failing since before the older scan, which could not see it (a gap then).
            FindingDrift::Open
        };
        out.push(change(d, r, prev));
    }
    for (fp, p) in &old {
        if !is_failing(p) {
            continue;
        }
        match new.get(fp) {
            Some(r) if is_failing(r) => {}
            Some(r) if r.status == Status::Unknown => {
                out.push(change(FindingDrift::Unverified, r, Some(p)));
            }
            Some(r) => out.push(change(FindingDrift::Resolved, r, Some(p))),
            None => {
                // Gone only from an account-region the newer scan had in scope and read
                // completely; a partial scan (--accounts, --regions, a shard) or a gap cannot
                // tell.
                let out_of_scope = !to_scope.contains(&(p.account_id.clone(), p.region.clone()));
                let gap = out_of_scope
                    || to_gaps.contains(&(p.account_id.clone(), p.region.clone()))
                    || to_gaps.contains(&(p.account_id.clone(), "*".to_string()));
                let mut c = change(
                    if gap {
                        FindingDrift::Unverified
                    } else {
                        FindingDrift::Resolved
                    },
                    p,
                    None,
                );
                c.reason = if out_of_scope {
                    "not evaluated: its account-region was not in the newer scan's scope".into()
                } else if gap {
                    "not evaluated: its account-region could not be read".into()
                } else {
                    // A scan lists only the passes that resolve an open finding (all of them
                    // with --show-pass): one absent from a scan that read its account-region
                    // passes there, or its resource is gone.
                    "no longer failing: it passes, or the resource is gone".into()
                };
                c.before = Some(p.reason.clone());
                c.before_severity = Some(p.severity);
                c.age_days = None;
                out.push(c);
            }
        }
    }
    out.sort_by(|a, b| {
        (
            a.drift,
            &a.rule_id,
            &a.account_id,
            &a.region,
            &a.resource_id,
        )
            .cmp(&(
                b.drift,
                &b.rule_id,
                &b.account_id,
                &b.region,
                &b.resource_id,
            ))
    });
    out
}

/// Changes in the PrivateLink graph between two inventories.
pub fn compare_graph(a: &Inventory, b: &Inventory) -> Vec<GraphChange> {
    let mut out = Vec::new();
    let mut push =
        |change: &str, acct: &str, region: &str, res: &str, before: String, after: String| {
            out.push(GraphChange {
                change: change.into(),
                account_id: acct.into(),
                region: region.into(),
                resource_id: res.into(),
                before,
                after,
            });
        };
    let accounts = |inv: &Inventory| -> BTreeMap<String, Account> {
        inv.accounts
            .iter()
            .map(|a| (a.id.clone(), a.clone()))
            .collect()
    };
    let (aa, bb) = (accounts(a), accounts(b));
    for id in aa.keys().filter(|k| !bb.contains_key(*k)) {
        push(
            "account-left",
            id,
            "*",
            id,
            aa[id].name.clone(),
            String::new(),
        );
    }
    for id in bb.keys().filter(|k| !aa.contains_key(*k)) {
        push(
            "account-joined",
            id,
            "*",
            id,
            String::new(),
            bb[id].name.clone(),
        );
    }
    for (id, acct_b) in &bb {
        let Some(acct_a) = aa.get(id) else { continue };
        let regions = |x: &Account| -> BTreeMap<String, Region> {
            x.regions
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect()
        };
        let (ra, rb) = (regions(acct_a), regions(acct_b));
        for (name, rb) in &rb {
            let Some(ra) = ra.get(name) else { continue };
            region_changes(id, name, ra, rb, &mut push);
        }
    }
    out.sort();
    out
}

fn set<T: Ord + Clone>(v: &[T]) -> BTreeSet<T> {
    v.iter().cloned().collect()
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(" ")
}

fn az_ids(r: &Region, names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| {
            r.availability_zones
                .iter()
                .find(|z| &z.name == n)
                .map(|z| z.id.clone())
                .unwrap_or_else(|| n.clone())
        })
        .collect()
}

fn region_changes(
    acct: &str,
    region: &str,
    a: &Region,
    b: &Region,
    push: &mut impl FnMut(&str, &str, &str, &str, String, String),
) {
    let svc_a: BTreeMap<&str, _> = a
        .endpoint_services
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    let svc_b: BTreeMap<&str, _> = b
        .endpoint_services
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    for (id, s) in &svc_a {
        if !svc_b.contains_key(id) {
            push(
                "service-removed",
                acct,
                region,
                id,
                s.name.clone(),
                String::new(),
            );
        }
    }
    for (id, sb) in &svc_b {
        let Some(sa) = svc_a.get(id) else {
            push(
                "service-added",
                acct,
                region,
                id,
                String::new(),
                sb.name.clone(),
            );
            continue;
        };
        service_changes((acct, region), (a, b), sa, sb, push);
    }
    sg_rule_changes((acct, region), a, b, push);
}

/// What changed on one endpoint service present in both scans: acceptance, private DNS,
/// principals, AZ IDs, consumers, connections.
fn service_changes(
    (acct, region): (&str, &str),
    (a, b): (&Region, &Region),
    sa: &crate::inventory::EndpointService,
    sb: &crate::inventory::EndpointService,
    push: &mut impl FnMut(&str, &str, &str, &str, String, String),
) {
    let id = sa.id.as_str();
    if sa.acceptance_required != sb.acceptance_required {
        push(
            "acceptance-changed",
            acct,
            region,
            id,
            sa.acceptance_required.to_string(),
            sb.acceptance_required.to_string(),
        );
    }
    let dns = |s: &crate::inventory::EndpointService| {
        format!(
            "{} ({})",
            s.private_dns_name.as_deref().unwrap_or("-"),
            s.private_dns_state.as_deref().unwrap_or("-")
        )
    };
    if dns(sa) != dns(sb) {
        push("private-dns-changed", acct, region, id, dns(sa), dns(sb));
    }
    let (pa, pb) = (set(&sa.allowed_principals), set(&sb.allowed_principals));
    for p in pb.difference(&pa) {
        push(
            "principal-added",
            acct,
            region,
            id,
            String::new(),
            p.clone(),
        );
    }
    for p in pa.difference(&pb) {
        push(
            "principal-removed",
            acct,
            region,
            id,
            p.clone(),
            String::new(),
        );
    }
    let (za, zb) = (
        az_ids(a, &sa.availability_zones),
        az_ids(b, &sb.availability_zones),
    );
    if za != zb {
        push(
            "service-az-ids-changed",
            acct,
            region,
            id,
            join(&za),
            join(&zb),
        );
    }
    let owners = |s: &crate::inventory::EndpointService| -> BTreeSet<String> {
        s.connections
            .iter()
            .map(|c| c.endpoint_owner.clone())
            .collect()
    };
    for o in owners(sb).difference(&owners(sa)) {
        push(
            "consumer-connected",
            acct,
            region,
            id,
            String::new(),
            o.clone(),
        );
    }
    connection_changes((acct, region), sa, sb, push);
}

/// Connections added, removed or changed state on one endpoint service.
fn connection_changes(
    (acct, region): (&str, &str),
    sa: &crate::inventory::EndpointService,
    sb: &crate::inventory::EndpointService,
    push: &mut impl FnMut(&str, &str, &str, &str, String, String),
) {
    let conns = |s: &crate::inventory::EndpointService| -> BTreeMap<String, String> {
        s.connections
            .iter()
            .map(|c| (c.endpoint_id.clone(), c.state.clone()))
            .collect()
    };
    let (ca, cb) = (conns(sa), conns(sb));
    for (ep, st) in &cb {
        match ca.get(ep) {
            None => push(
                "connection-added",
                acct,
                region,
                ep,
                String::new(),
                st.clone(),
            ),
            Some(old) if !old.eq_ignore_ascii_case(st) => push(
                "connection-state-changed",
                acct,
                region,
                ep,
                old.clone(),
                st.clone(),
            ),
            _ => {}
        }
    }
    for (ep, st) in &ca {
        if !cb.contains_key(ep) {
            push(
                "connection-removed",
                acct,
                region,
                ep,
                st.clone(),
                String::new(),
            );
        }
    }
}

/// Security-group rules of the load balancers on a PrivateLink path (the services' NLBs and
/// the ALBs behind them), compared rule by rule.
fn sg_rule_changes(
    (acct, region): (&str, &str),
    a: &Region,
    b: &Region,
    push: &mut impl FnMut(&str, &str, &str, &str, String, String),
) {
    let on_path = |r: &Region| -> BTreeSet<String> {
        let mut lbs: BTreeSet<String> = r
            .endpoint_services
            .iter()
            .flat_map(|s| s.network_load_balancer_arns.iter().cloned())
            .collect();
        for tg in &r.target_groups {
            if tg.load_balancer_arns.iter().any(|l| lbs.contains(l)) && tg.target_type == "alb" {
                lbs.extend(tg.targets.iter().map(|t| t.id.clone()));
            }
        }
        r.load_balancers
            .iter()
            .filter(|l| lbs.contains(&l.arn))
            .flat_map(|l| l.security_groups.iter().cloned())
            .collect()
    };
    let groups = on_path(a)
        .union(&on_path(b))
        .cloned()
        .collect::<BTreeSet<_>>();
    let rules = |r: &Region, g: &str| -> BTreeSet<String> {
        r.security_groups
            .iter()
            .filter(|x| x.id == g)
            .flat_map(|x| x.rules.iter())
            .map(|k| {
                format!(
                    "{} {} {}-{} {}",
                    k.direction,
                    k.protocol,
                    k.from_port.map_or("*".into(), |p| p.to_string()),
                    k.to_port.map_or("*".into(), |p| p.to_string()),
                    k.cidr_ipv4
                        .clone()
                        .or(k.cidr_ipv6.clone())
                        .or(k.referenced_group_id.clone())
                        .or(k.prefix_list_id.clone())
                        .unwrap_or_default()
                )
            })
            .collect()
    };
    for g in groups {
        let (ra, rb) = (rules(a, &g), rules(b, &g));
        for x in rb.difference(&ra) {
            push("sg-rule-added", acct, region, &g, String::new(), x.clone());
        }
        for x in ra.difference(&rb) {
            push(
                "sg-rule-removed",
                acct,
                region,
                &g,
                x.clone(),
                String::new(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fp: &str, status: &str, reason: &str, first: Option<i64>) -> Recorded {
        let p: Vec<&str> = fp.split('|').collect();
        Recorded {
            fingerprint: fp.into(),
            rule_id: p[0].into(),
            account_id: p[1].into(),
            region: p[2].into(),
            resource_id: p[3].into(),
            resource_type: "x".into(),
            title: "t".into(),
            status: status.parse().unwrap(),
            severity: Severity::High,
            reason: reason.into(),
            path: None,
            waiver_id: None,
            first_seen_scan: first,
            first_seen_at: first.map(|_| "2026-11-01T00:00:00Z".into()),
        }
    }

    fn scan(id: i64) -> ScanRecord {
        ScanRecord {
            id,
            started_at: "2026-11-11T00:00:00Z".into(),
            finished_at: None,
            tool_version: "0".into(),
            ruleset_hash: "h".into(),
            source: "crawl".into(),
            status: crate::history::ScanStatus::Complete,
            exit_code: Some(1),
            accounts: None,
            account_regions: None,
            gaps: None,
            failing: None,
            unknown: None,
            waived: None,
        }
    }

    #[test]
    fn each_finding_gets_its_drift_and_a_gap_never_resolves() {
        let before = vec![
            rec("r|1|us-east-1|open", "fail", "x", Some(1)),
            rec("r|1|us-east-1|changed", "fail", "x", Some(1)),
            rec("r|1|us-east-1|fixed", "fail", "x", Some(1)),
            rec("r|1|us-east-1|gone", "fail", "x", Some(1)),
            rec("r|2|us-east-1|hidden", "fail", "x", Some(1)),
            rec("r|1|us-east-1|dim", "fail", "x", Some(1)),
            rec("r|1|us-east-1|new", "pass", "ok", None),
        ];
        let after = vec![
            rec("r|1|us-east-1|open", "fail", "x", Some(1)),
            rec("r|1|us-east-1|changed", "fail", "y", Some(1)),
            rec("r|1|us-east-1|fixed", "pass", "ok", None),
            rec("r|1|us-east-1|dim", "unknown", "?", None),
            rec("r|1|us-east-1|new", "fail", "z", Some(2)),
        ];
        let gaps = BTreeSet::from([("2".to_string(), "*".to_string())]);
        let scope = BTreeSet::from([
            ("1".to_string(), "us-east-1".to_string()),
            ("2".to_string(), "us-east-1".to_string()),
        ]);
        let none = BTreeSet::new();
        let d = compare_findings(
            &scan(1),
            &scan(2),
            &before,
            &after,
            Read {
                gaps: &none,
                scope: &scope,
            },
            Read {
                gaps: &gaps,
                scope: &scope,
            },
        );
        let got: BTreeMap<&str, &str> = d
            .iter()
            .map(|c| (c.resource_id.as_str(), c.drift.as_str()))
            .collect();
        let want = BTreeMap::from([
            ("open", "open"),
            ("changed", "changed"),
            ("fixed", "resolved"),
            ("gone", "resolved"),
            ("hidden", "unverified"),
            ("dim", "unverified"),
            ("new", "new"),
        ]);
        assert_eq!(got, want);
        let changed = d.iter().find(|c| c.resource_id == "changed").unwrap();
        assert_eq!(changed.before.as_deref(), Some("x"));
        assert_eq!(changed.before_severity, Some(Severity::High));
        let open = d.iter().find(|c| c.resource_id == "open").unwrap();
        assert_eq!(open.age_days, Some(10.0));
    }

    #[test]
    fn a_finding_outside_the_newer_scans_scope_is_unverified_not_resolved() {
        let before = vec![rec("r|3|eu-west-1|elsewhere", "fail", "x", Some(1))];
        let scope = BTreeSet::from([("1".to_string(), "us-east-1".to_string())]);
        let none = BTreeSet::new();
        let read = Read {
            gaps: &none,
            scope: &scope,
        };
        let d = compare_findings(&scan(1), &scan(2), &before, &[], read, read);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].drift.as_str(), "unverified");
        assert!(d[0].reason.contains("scope"), "{}", d[0].reason);
    }

    #[test]
    fn a_finding_the_older_scan_could_not_read_is_unverified_not_new() {
        let after = vec![
            rec("r|2|us-east-1|was-dark", "fail", "x", Some(2)),
            rec("r|1|us-east-1|was-unknown", "fail", "x", Some(2)),
            rec("r|1|us-east-1|really-new", "fail", "x", Some(2)),
        ];
        let before = vec![rec("r|1|us-east-1|was-unknown", "unknown", "?", None)];
        let scope = BTreeSet::from([
            ("1".to_string(), "us-east-1".to_string()),
            ("2".to_string(), "us-east-1".to_string()),
        ]);
        let none = BTreeSet::new();
        let dark = BTreeSet::from([("2".to_string(), "us-east-1".to_string())]);
        let d = compare_findings(
            &scan(1),
            &scan(2),
            &before,
            &after,
            Read {
                gaps: &dark,
                scope: &scope,
            },
            Read {
                gaps: &none,
                scope: &scope,
            },
        );
        let got: BTreeMap<&str, &str> = d
            .iter()
            .map(|c| (c.resource_id.as_str(), c.drift.as_str()))
            .collect();
        assert_eq!(got["was-dark"], "unverified");
        assert_eq!(got["was-unknown"], "unverified");
        assert_eq!(got["really-new"], "new");
    }

    #[test]
    fn an_age_that_moved_is_not_a_change() {
        let before = vec![rec(
            "r|1|us-east-1|pending",
            "fail",
            "connection to `x` has been pending acceptance for 48 days (limit 7)",
            Some(1),
        )];
        let after = vec![rec(
            "r|1|us-east-1|pending",
            "fail",
            "connection to `x` has been pending acceptance for 55 days (limit 7)",
            Some(1),
        )];
        let scope = BTreeSet::from([("1".to_string(), "us-east-1".to_string())]);
        let none = BTreeSet::new();
        let read = Read {
            gaps: &none,
            scope: &scope,
        };
        let d = compare_findings(&scan(1), &scan(2), &before, &after, read, read);
        assert_eq!(d[0].drift.as_str(), "open");
        assert!(d[0].before.is_none());
        // A real change of the limit is still one.
        let after = vec![rec(
            "r|1|us-east-1|pending",
            "fail",
            "connection to `x` has been pending acceptance for 55 days (limit 14)",
            Some(1),
        )];
        let d = compare_findings(&scan(1), &scan(2), &before, &after, read, read);
        assert_eq!(d[0].drift.as_str(), "changed");
    }
}
