//! The inventory: one graph of PrivateLink resources across the accounts of an organisation.
//!
//! This is the contract between the crawler (which fills it from live AWS APIs) and everything
//! downstream (the SQLite store, the rules, the reports). It is a versioned serde snapshot:
//! a JSON document whose `schema_version` must equal [`SCHEMA_VERSION`]. The layout follows
//! AWS's own nesting: accounts hold regions, regions hold resources, a load balancer holds its
//! listeners, an endpoint service holds its connections and allowed principals.
//!
//! Availability Zones: AWS maps AZ *names* (`us-east-1a`) to physical zones differently in every
//! account. Only AZ *IDs* (`use1-az4`) are comparable across accounts. Each account-region
//! carries its own AZ map ([`Region::availability_zones`]); resources that AWS reports by name
//! (load balancers, endpoint services) are resolved to IDs through the map of the account that
//! reported them (see [`crate::store`]). Names are kept for display only.
//!
//! Not in here: evaluation (see [`crate::rules`]) and AWS calls (the crawler).
//!
//! # Example
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "collected_at": "2026-11-20T08:00:00Z",
//!   "organization": { "id": "o-abc123", "management_account_id": "111111111111" },
//!   "accounts": [
//!     { "id": "111111111111", "name": "management", "status": "ACTIVE",
//!       "regions": [ { "name": "us-east-1",
//!         "availability_zones": [ { "name": "us-east-1a", "id": "use1-az4" } ] } ] }
//!   ],
//!   "coverage": [
//!     { "account_id": "111111111111", "region": "us-east-1",
//!       "api": "ec2:DescribeVpcEndpoints", "status": "ok" }
//!   ]
//! }
//! ```

pub mod load;
pub mod merge;

pub use load::{InventoryError, load_file, parse_json};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The inventory format version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

fn current_schema() -> u32 {
    SCHEMA_VERSION
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A whole-organisation snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default = "current_schema")]
    pub schema_version: u32,
    /// When the crawl finished; ages (pending connections, abandoned services) are measured
    /// against this instant so that re-evaluating a saved inventory gives identical results.
    #[serde(default)]
    pub collected_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// The coverage ledger: one entry per (account, region, API) outcome.
    #[serde(default)]
    pub coverage: Vec<CoverageEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub management_account_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, as Organizations reports it.
    #[serde(default = "active")]
    pub status: String,
    /// OU path from the root, e.g. `/Workloads/Prod`.
    #[serde(default)]
    pub ou_path: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub regions: Vec<Region>,
}

fn active() -> String {
    "ACTIVE".to_string()
}

/// Everything one account holds in one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Region code, e.g. `eu-west-1`.
    pub name: String,
    /// This account's AZ name → AZ ID map for the region.
    #[serde(default)]
    pub availability_zones: Vec<AvailabilityZone>,
    #[serde(default)]
    pub vpcs: Vec<Vpc>,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default)]
    pub target_groups: Vec<TargetGroup>,
    /// Endpoint services this account provides (provider side).
    #[serde(default)]
    pub endpoint_services: Vec<EndpointService>,
    /// VPC endpoints this account owns (consumer side).
    #[serde(default)]
    pub vpc_endpoints: Vec<VpcEndpoint>,
    /// Consumer-side descriptions of services this account's endpoints use but the
    /// organisation does not provide (partners, AWS services), or that no longer exist.
    #[serde(default)]
    pub service_lookups: Vec<ServiceLookup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityZone {
    /// The account-specific name, e.g. `us-east-1a`.
    pub name: String,
    /// The physical zone id, e.g. `use1-az4`: the only identity used in comparisons.
    pub id: String,
    /// `availability-zone`, `local-zone` or `wavelength-zone`.
    #[serde(default = "az_type", rename = "type")]
    pub zone_type: String,
}

fn az_type() -> String {
    "availability-zone".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    pub id: String,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default = "yes")]
    pub enable_dns_support: bool,
    #[serde(default)]
    pub enable_dns_hostnames: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_default: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub ipv6_cidr: Option<String>,
    /// AZ name as this account sees it.
    pub availability_zone: String,
    /// AZ ID; resolved from the account's AZ map when absent.
    #[serde(default)]
    pub availability_zone_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub rules: Vec<SecurityGroupRule>,
}

/// One rule of a security group, flattened to a single source or destination, as
/// DescribeSecurityGroupRules reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRule {
    #[serde(default)]
    pub id: Option<String>,
    /// `ingress` or `egress`.
    #[serde(default = "ingress")]
    pub direction: String,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// Absent for protocol `-1`.
    #[serde(default)]
    pub from_port: Option<i64>,
    #[serde(default)]
    pub to_port: Option<i64>,
    #[serde(default)]
    pub cidr_ipv4: Option<String>,
    #[serde(default)]
    pub cidr_ipv6: Option<String>,
    #[serde(default)]
    pub referenced_group_id: Option<String>,
    /// Owner account of the referenced group (cross-account references).
    #[serde(default)]
    pub referenced_group_owner: Option<String>,
    #[serde(default)]
    pub prefix_list_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

fn ingress() -> String {
    "ingress".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    /// `network`, `application` or `gateway`.
    #[serde(rename = "type")]
    pub lb_type: String,
    #[serde(default = "internal")]
    pub scheme: String,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default = "active_lc")]
    pub state: String,
    #[serde(default)]
    pub dns_name: Option<String>,
    #[serde(default)]
    pub availability_zones: Vec<LoadBalancerZone>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic` (NLBs with security groups).
    #[serde(default)]
    pub enforce_sg_inbound_on_privatelink: Option<bool>,
    /// `load_balancing.cross_zone.enabled`.
    #[serde(default)]
    pub cross_zone: Option<bool>,
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

fn internal() -> String {
    "internal".to_string()
}
fn active_lc() -> String {
    "active".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerZone {
    /// AZ name as the load balancer's account sees it.
    pub name: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// Private IPv4 addresses of the load balancer's nodes in this zone.
    #[serde(default)]
    pub private_ips: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    #[serde(default)]
    pub arn: Option<String>,
    pub protocol: String,
    pub port: i64,
    /// Target groups the default action forwards to.
    #[serde(default)]
    pub target_group_arns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// `traffic-port` or a number, as ELBv2 reports it.
    #[serde(default)]
    pub health_check_port: Option<String>,
    #[serde(default)]
    pub load_balancer_arns: Vec<String>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Instance id, IP address, Lambda ARN or ALB ARN.
    pub id: String,
    #[serde(default)]
    pub port: Option<i64>,
    /// AZ name of the target (or `all`), as the target group's account sees it.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// `healthy`, `unhealthy`, `initial`, `unused`, `draining`, `unavailable`.
    #[serde(default)]
    pub health: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointService {
    /// `vpce-svc-…`
    pub id: String,
    /// `com.amazonaws.vpce.<region>.vpce-svc-…`
    pub name: String,
    /// `Interface` or `GatewayLoadBalancer`.
    #[serde(default = "interface")]
    pub service_type: String,
    /// `Available`, `Pending`, `Deleting`, `Deleted`, `Failed` (as EC2 reports it).
    #[serde(default = "available")]
    pub state: String,
    #[serde(default)]
    pub acceptance_required: bool,
    #[serde(default)]
    pub network_load_balancer_arns: Vec<String>,
    #[serde(default)]
    pub gateway_load_balancer_arns: Vec<String>,
    /// AZ names (in the provider's account) where the service is offered.
    #[serde(default)]
    pub availability_zones: Vec<String>,
    #[serde(default)]
    pub private_dns_name: Option<String>,
    /// `verified`, `pendingVerification` or `failed`.
    #[serde(default)]
    pub private_dns_state: Option<String>,
    #[serde(default)]
    pub private_dns_txt_name: Option<String>,
    #[serde(default)]
    pub private_dns_txt_value: Option<String>,
    /// Allowed principals (ARNs, or `*`).
    #[serde(default)]
    pub allowed_principals: Vec<String>,
    /// Regions from which consumers may connect (cross-region PrivateLink).
    #[serde(default)]
    pub supported_regions: Vec<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Connections as the provider sees them.
    #[serde(default)]
    pub connections: Vec<EndpointConnection>,
}

fn interface() -> String {
    "Interface".to_string()
}
fn available() -> String {
    "Available".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConnection {
    /// The consumer's `vpce-…` id.
    pub endpoint_id: String,
    pub endpoint_owner: String,
    /// `pendingAcceptance`, `pending`, `available`, `deleting`, `deleted`, `rejected`,
    /// `failed`, `expired`.
    pub state: String,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Region of the consumer endpoint (cross-region PrivateLink).
    #[serde(default)]
    pub endpoint_region: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcEndpoint {
    /// `vpce-…`
    pub id: String,
    /// `Interface`, `Gateway` or `GatewayLoadBalancer`.
    #[serde(default = "interface")]
    pub endpoint_type: String,
    pub vpc_id: String,
    pub service_name: String,
    /// Region of the service, when it differs from the endpoint's (cross-region PrivateLink).
    #[serde(default)]
    pub service_region: Option<String>,
    /// `pendingAcceptance`, `pending`, `available`, `deleting`, `deleted`, `rejected`,
    /// `failed`, `expired`.
    #[serde(default = "available_lc")]
    pub state: String,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub network_interface_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub private_dns_enabled: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

fn available_lc() -> String {
    "available".to_string()
}

/// What DescribeVpcEndpointServices told a consumer account about a service by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLookup {
    pub service_name: String,
    /// `false` when AWS answered that no such service exists (InvalidServiceName).
    #[serde(default = "yes")]
    pub found: bool,
    #[serde(default)]
    pub service_id: Option<String>,
    /// Owner account, or `amazon`.
    #[serde(default)]
    pub owner: Option<String>,
    /// AZ names, as the *consumer's* account sees them.
    #[serde(default)]
    pub availability_zones: Vec<String>,
    /// AZ IDs, when AWS reports them (newer API versions do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zone_ids: Vec<String>,
    #[serde(default)]
    pub private_dns_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_regions: Vec<String>,
}

/// The outcome of one (account, region, API) in a crawl.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageEntry {
    pub account_id: String,
    /// `None` (or `*` in SQL) for account-wide outcomes such as AssumeRole.
    #[serde(default)]
    pub region: Option<String>,
    /// `service:Operation`, e.g. `ec2:DescribeVpcEndpoints`, or `sts:AssumeRole`.
    pub api: String,
    pub status: CoverageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `ok`, or the named reason a part of the organisation could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    Ok,
    AssumeRoleFailed,
    AccessDenied,
    RegionDisabled,
    Throttled,
    Timeout,
    Error,
    /// The account is suspended and was not scanned.
    Suspended,
}

impl CoverageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Ok => "ok",
            CoverageStatus::AssumeRoleFailed => "assume_role_failed",
            CoverageStatus::AccessDenied => "access_denied",
            CoverageStatus::RegionDisabled => "region_disabled",
            CoverageStatus::Throttled => "throttled",
            CoverageStatus::Timeout => "timeout",
            CoverageStatus::Error => "error",
            CoverageStatus::Suspended => "suspended",
        }
    }

    /// A gap makes the scan incomplete. A suspended account is skipped on purpose and listed,
    /// but is not a gap.
    pub fn is_gap(self) -> bool {
        !matches!(self, CoverageStatus::Ok | CoverageStatus::Suspended)
    }
}

impl Inventory {
    /// Coverage entries that are not `ok`.
    pub fn gaps(&self) -> impl Iterator<Item = &CoverageEntry> {
        self.coverage.iter().filter(|c| c.status.is_gap())
    }

    /// Number of (account, region) pairs held in the inventory.
    pub fn account_regions(&self) -> usize {
        self.accounts.iter().map(|a| a.regions.len()).sum()
    }

    /// Distinct region codes, sorted.
    pub fn region_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .accounts
            .iter()
            .flat_map(|a| a.regions.iter().map(|r| r.name.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
