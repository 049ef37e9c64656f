//! Inventory CSVs for compliance spreadsheets: endpoint services, endpoints, connections, load
//! balancers and the coverage ledger, one row per resource, keyed by account and region, with
//! AZ names next to their AZ IDs. Read from a history scan they also carry when each resource
//! was first and last seen and the waivers on its findings. Column sets are versioned
//! ([`EXPORT_COLUMNS_VERSION`], documented in `docs/outputs.md`); `--columns` picks and orders.

use std::collections::{BTreeMap, BTreeSet};

use super::{Inventory, Region};

/// Version of the export column sets below.
pub const EXPORT_COLUMNS_VERSION: u32 = 1;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum ExportKind {
    EndpointServices,
    Endpoints,
    Connections,
    LoadBalancers,
    Coverage,
}

impl ExportKind {
    /// The columns, in their default order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ExportKind::EndpointServices => &[
                "account_id",
                "region",
                "service_id",
                "service_name",
                "service_type",
                "state",
                "acceptance_required",
                "private_dns_name",
                "private_dns_state",
                "availability_zones",
                "load_balancer_arns",
                "allowed_principals",
                "connections",
                "first_seen",
                "last_seen",
                "waiver_ids",
            ],
            ExportKind::Endpoints => &[
                "account_id",
                "region",
                "endpoint_id",
                "endpoint_type",
                "vpc_id",
                "service_name",
                "service_region",
                "lattice_arn",
                "state",
                "private_dns_enabled",
                "availability_zones",
                "subnet_ids",
                "security_group_ids",
                "created_at",
                "first_seen",
                "last_seen",
                "waiver_ids",
            ],
            ExportKind::Connections => &[
                "account_id",
                "region",
                "service_id",
                "endpoint_id",
                "endpoint_owner",
                "state",
                "created_at",
                "first_seen",
                "last_seen",
                "waiver_ids",
            ],
            ExportKind::LoadBalancers => &[
                "account_id",
                "region",
                "arn",
                "name",
                "type",
                "scheme",
                "state",
                "vpc_id",
                "availability_zones",
                "security_groups",
                "cross_zone",
                "listeners",
                "first_seen",
                "last_seen",
                "waiver_ids",
            ],
            ExportKind::Coverage => &["account_id", "region", "api", "status", "error"],
        }
    }
}

/// When each resource was first and last seen across the history, and the waivers on its
/// findings in the exported scan. Keyed by resource id (service id, endpoint id,
/// `service/endpoint` for connections, load balancer ARN).
#[derive(Debug, Default)]
pub struct Seen {
    pub first_last: BTreeMap<String, (String, String)>,
    pub waivers: BTreeMap<String, BTreeSet<String>>,
}

impl Seen {
    /// Records the resources of one scan (scans oldest first).
    pub fn add(&mut self, inv: &Inventory, at: &str) {
        for (_, r) in regions(inv) {
            let keys = r
                .endpoint_services
                .iter()
                .map(|s| s.id.clone())
                .chain(r.vpc_endpoints.iter().map(|e| e.id.clone()))
                .chain(r.endpoint_services.iter().flat_map(|s| {
                    s.connections
                        .iter()
                        .map(move |c| format!("{}/{}", s.id, c.endpoint_id))
                }))
                .chain(r.load_balancers.iter().map(|l| l.arn.clone()));
            for k in keys {
                let e = self
                    .first_last
                    .entry(k)
                    .or_insert_with(|| (at.to_string(), at.to_string()));
                e.1 = at.to_string();
            }
        }
    }
}

fn regions(inv: &Inventory) -> impl Iterator<Item = (&str, &Region)> {
    inv.accounts
        .iter()
        .flat_map(|a| a.regions.iter().map(move |r| (a.id.as_str(), r)))
}

/// `us-east-1a (use1-az4)`, through the account-region's own AZ map.
fn az(r: &Region, name: &str) -> String {
    match r.availability_zones.iter().find(|z| z.name == name) {
        Some(z) => format!("{name} ({})", z.id),
        None => name.to_string(),
    }
}

fn join<I: IntoIterator<Item = S>, S: AsRef<str>>(v: I) -> String {
    v.into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The rows of one export, as column → value.
pub fn rows(kind: ExportKind, inv: &Inventory, seen: Option<&Seen>) -> Vec<Row> {
    // Each row with the key its first/last-seen dates and waivers are kept under.
    let keyed: Vec<(String, Row)> = match kind {
        ExportKind::Coverage => coverage_rows(inv),
        _ => regions(inv)
            .flat_map(|(account, r)| {
                let per = match kind {
                    ExportKind::EndpointServices => service_rows(r),
                    ExportKind::Endpoints => endpoint_rows(r),
                    ExportKind::Connections => connection_rows(r),
                    ExportKind::LoadBalancers | ExportKind::Coverage => lb_rows(r),
                };
                per.into_iter().map(move |(key, mut row)| {
                    row.insert("account_id", account.to_string());
                    row.insert("region", r.name.clone());
                    (key, row)
                })
            })
            .collect(),
    };
    keyed
        .into_iter()
        .map(|(key, mut row)| {
            if let Some(s) = seen {
                let (first, last) = s.first_last.get(&key).cloned().unwrap_or_default();
                row.insert("first_seen", first);
                row.insert("last_seen", last);
                row.insert(
                    "waiver_ids",
                    join(s.waivers.get(&key).into_iter().flatten()),
                );
            }
            row
        })
        .collect()
}

/// One export row: column → cell.
pub type Row = BTreeMap<&'static str, String>;

/// The coverage ledger, one row per entry.
fn coverage_rows(inv: &Inventory) -> Vec<(String, Row)> {
    inv.coverage
        .iter()
        .map(|c| {
            let row = BTreeMap::from([
                ("account_id", c.account_id.clone()),
                ("region", c.region_or_all().to_string()),
                ("api", c.api.to_string()),
                ("status", c.status.as_str().to_string()),
                ("error", opt(&c.error)),
            ]);
            (String::new(), row)
        })
        .collect()
}

/// Endpoint services, with AZ names beside AZ IDs.
fn service_rows(r: &Region) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    for s in &r.endpoint_services {
        let mut row = Row::new();
        row.extend([
            ("service_id", s.id.clone()),
            ("service_name", s.name.clone()),
            ("service_type", s.service_type.clone()),
            ("state", s.state.clone()),
            ("acceptance_required", s.acceptance_required.to_string()),
            ("private_dns_name", opt(&s.private_dns_name)),
            ("private_dns_state", opt(&s.private_dns_state)),
            (
                "availability_zones",
                join(s.availability_zones.iter().map(|n| az(r, n))),
            ),
            (
                "load_balancer_arns",
                join(
                    s.network_load_balancer_arns
                        .iter()
                        .chain(&s.gateway_load_balancer_arns),
                ),
            ),
            ("allowed_principals", join(&s.allowed_principals)),
            ("connections", s.connections.len().to_string()),
        ]);
        out.push((s.id.to_string(), row));
    }
    out
}

/// VPC endpoints, with the AZs of their subnets.
fn endpoint_rows(r: &Region) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    for e in &r.vpc_endpoints {
        let zones: BTreeSet<String> = e
            .subnet_ids
            .iter()
            .filter_map(|id| r.subnets.iter().find(|s| &s.id == id))
            .map(|s| az(r, &s.availability_zone))
            .collect();
        let mut row = Row::new();
        row.extend([
            ("endpoint_id", e.id.clone()),
            ("endpoint_type", e.endpoint_type.clone()),
            ("vpc_id", e.vpc_id.clone()),
            ("service_name", e.service_name.clone()),
            (
                "service_region",
                e.service_region.clone().unwrap_or_else(|| r.name.clone()),
            ),
            (
                "lattice_arn",
                opt(&e
                    .service_network_arn
                    .clone()
                    .or_else(|| e.resource_configuration_arn.clone())),
            ),
            ("state", e.state.clone()),
            ("private_dns_enabled", e.private_dns_enabled.to_string()),
            ("availability_zones", join(zones)),
            ("subnet_ids", join(&e.subnet_ids)),
            ("security_group_ids", join(&e.security_group_ids)),
            (
                "created_at",
                opt(&e
                    .created_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
            ),
        ]);
        out.push((e.id.to_string(), row));
    }
    out
}

/// Connections, keyed by service and endpoint.
fn connection_rows(r: &Region) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    for s in &r.endpoint_services {
        for c in &s.connections {
            let mut row = Row::new();
            row.extend([
                ("service_id", s.id.clone()),
                ("endpoint_id", c.endpoint_id.clone()),
                ("endpoint_owner", c.endpoint_owner.clone()),
                ("state", c.state.clone()),
                (
                    "created_at",
                    opt(&c
                        .created_at
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
                ),
            ]);
            out.push((format!("{}/{}", s.id, c.endpoint_id), row));
        }
    }
    out
}

/// Load balancers, with their zones and listeners.
fn lb_rows(r: &Region) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    for l in &r.load_balancers {
        let mut row = Row::new();
        row.extend([
            ("arn", l.arn.clone()),
            ("name", l.name.clone()),
            ("type", l.lb_type.clone()),
            ("scheme", l.scheme.clone()),
            ("state", l.state.clone()),
            ("vpc_id", opt(&l.vpc_id)),
            (
                "availability_zones",
                join(l.availability_zones.iter().map(|z| az(r, &z.name))),
            ),
            ("security_groups", join(&l.security_groups)),
            ("cross_zone", opt(&l.cross_zone)),
            (
                "listeners",
                join(
                    l.listeners
                        .iter()
                        .map(|x| format!("{}:{}", x.protocol, x.port)),
                ),
            ),
        ]);
        out.push((l.arn.to_string(), row));
    }
    out
}
