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

mod api;
pub mod export;
pub mod load;
pub mod merge;

pub use api::Api;
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
    /// The AWS partition the organisation lives in (`aws`, `aws-cn`, `aws-us-gov`), from the
    /// scanning identity's ARN; resource ARNs in every output are built in it. Absent: `aws`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// The organisation's membership as Organizations listed it — every account, crawled or
    /// not (`--accounts`, selectors, shards and deadlines narrow what is crawled, not what the
    /// organisation is). `None` in inventories written before plaudit recorded it; their
    /// `accounts` are then taken as the membership (see [`Inventory::members`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
    /// The coverage ledger: one entry per (account, region, API) outcome.
    #[serde(default)]
    pub coverage: Vec<CoverageEntry>,
}

/// Ledger entries about the organisation as a whole (Organizations calls) carry this in
/// place of an account id: a failed OU page or tag call is not a gap of the account whose
/// credentials ran the scan.
pub const ORGANIZATION: &str = "organization";

/// Every account the organisation listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The list is the whole organisation. False when Organizations could not be read in
    /// full (access denied, a failed page, the scan's deadline) or when the accounts came
    /// from the config's `accounts.list`: then an account missing from the list may still
    /// be a member, and rules say `unknown` rather than "outside the organisation".
    pub complete: bool,
    #[serde(default)]
    pub accounts: Vec<Member>,
}

/// One account of the organisation, as Organizations listed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Organizations' account `State` (see [`Account::status`]).
    pub state: String,
    /// OU path from the root; empty when unknown (found only by `ListAccounts`).
    #[serde(default)]
    pub ou_path: String,
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
    /// The account's state as Organizations reports it: `State` (`PENDING_ACTIVATION`,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`), or the retired `Status` where
    /// `State` is absent; `UNKNOWN` when Organizations sent neither. Only `ACTIVE` accounts
    /// are crawled and trusted.
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
    /// The primary IPv4 CIDR.
    #[serde(default)]
    pub cidr: Option<String>,
    /// Every IPv4 CIDR associated with the VPC (the primary and the secondary ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    /// Every IPv6 CIDR associated with the VPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_cidrs: Vec<String>,
    /// `enableDnsSupport`. Absent from a file: AWS's default (on). `null`: not read — the
    /// crawler reads the DNS attributes only of the VPCs a rule looks at (those of interface
    /// endpoints with private DNS), or the read failed (the ledger says which).
    #[serde(default = "on")]
    pub enable_dns_support: Option<bool>,
    /// `enableDnsHostnames`. Absent from a file: AWS's default for a VPC that is not the
    /// default VPC (off). `null`: not read, as above.
    #[serde(default = "off")]
    pub enable_dns_hostnames: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_default: bool,
}

fn yes() -> bool {
    true
}

// `Some`, for serde defaults: absent means AWS's default, `null` means unknown.
#[allow(clippy::unnecessary_wraps)]
fn on() -> Option<bool> {
    Some(true)
}

#[allow(clippy::unnecessary_wraps)]
fn off() -> Option<bool> {
    Some(false)
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

/// One rule of a security group, flattened to a single source or destination (the crawler
/// reads it from DescribeSecurityGroups' IP permissions, where `id` is absent; inventories
/// written before read DescribeSecurityGroupRules, which names each rule).
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
    /// The target group's `load_balancing.cross_zone.enabled` (`true`, `false`, or
    /// `use_load_balancer_configuration`): since 2022 it overrides the load balancer's.
    /// Absent when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone: Option<String>,
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
    /// `Interface`, `Gateway`, `GatewayLoadBalancer`, or the VPC Lattice types `Resource` and
    /// `ServiceNetwork`, which reach a resource configuration or a service network, not an
    /// endpoint service.
    #[serde(default = "interface")]
    pub endpoint_type: String,
    pub vpc_id: String,
    /// The endpoint service's name; empty for `Resource` and `ServiceNetwork` endpoints.
    #[serde(default)]
    pub service_name: String,
    /// The VPC Lattice service network a `ServiceNetwork` endpoint reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_network_arn: Option<String>,
    /// The VPC Lattice resource configuration a `Resource` endpoint reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_configuration_arn: Option<String>,
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

impl VpcEndpoint {
    /// Whether the endpoint reaches an endpoint service (Interface, Gateway Load Balancer):
    /// VPC Lattice endpoints (`Resource`, `ServiceNetwork`) and gateway endpoints do not.
    pub fn reaches_endpoint_service(&self) -> bool {
        self.endpoint_type.eq_ignore_ascii_case("interface")
            || self
                .endpoint_type
                .eq_ignore_ascii_case("gatewayloadbalancer")
    }
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
    /// The service's region when it differs from the consumer's (a cross-region lookup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_region: Option<String>,
}

/// The outcome of one (account, region, API) in a crawl.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageEntry {
    pub account_id: String,
    /// `None` (or `*` in SQL) for account-wide outcomes such as AssumeRole.
    #[serde(default)]
    pub region: Option<String>,
    /// `service:Operation`, e.g. `ec2:DescribeVpcEndpoints`, or `sts:AssumeRole`; `*`: every
    /// API of the account-region.
    pub api: Api,
    pub status: CoverageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Written in place of a region for an account-wide entry (in SQL, CSV and tables).
pub const ALL_REGIONS: &str = "*";

impl CoverageEntry {
    /// Whether the entry is about the whole account (AssumeRole, DescribeRegions, an account
    /// the deadline stopped), not one region.
    pub fn is_account_wide(&self) -> bool {
        self.region.as_deref().is_none_or(|r| r == ALL_REGIONS)
    }

    /// The region, or `*` for an account-wide entry.
    pub fn region_or_all(&self) -> &str {
        self.region.as_deref().unwrap_or(ALL_REGIONS)
    }
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
    /// The account is suspended or closing (or closed) and was not scanned.
    Suspended,
    /// The account is not active yet (`PENDING_ACTIVATION`) and was not scanned.
    NotActive,
    /// The region is not enabled in the account (an opt-in region it has not opted in to):
    /// it cannot hold resources, so there is nothing to read.
    NotEnabled,
    /// AWS did not accept the credentials (`AuthFailure`, `InvalidClientTokenId`): not a
    /// permission, not a disabled region.
    AuthFailed,
    /// The session's credentials expired (`ExpiredToken`, `RequestExpired`).
    CredentialsExpired,
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
            CoverageStatus::NotActive => "not_active",
            CoverageStatus::NotEnabled => "not_enabled",
            CoverageStatus::AuthFailed => "auth_failed",
            CoverageStatus::CredentialsExpired => "credentials_expired",
        }
    }

    /// The statuses that are not gaps, as an SQL list (`'ok', 'suspended', …`), for queries
    /// over stored ledgers.
    pub const NOT_GAPS_SQL: &'static str = "'ok', 'suspended', 'not_active', 'not_enabled'";

    /// A gap makes the scan incomplete. An account that is not active, or a region that is
    /// not enabled, holds nothing to read: listed, but not a gap.
    pub fn is_gap(self) -> bool {
        !matches!(
            self,
            CoverageStatus::Ok
                | CoverageStatus::Suspended
                | CoverageStatus::NotActive
                | CoverageStatus::NotEnabled
        )
    }
}

impl Inventory {
    /// The AWS partition, `aws` unless the inventory says otherwise.
    pub fn partition(&self) -> &str {
        self.partition.as_deref().unwrap_or("aws")
    }

    /// Coverage entries that are not `ok`.
    pub fn gaps(&self) -> impl Iterator<Item = &CoverageEntry> {
        self.coverage.iter().filter(|c| c.status.is_gap())
    }

    /// The organisation's membership: the recorded one, or — for inventories written before
    /// plaudit recorded it — the accounts, complete unless listing them failed.
    pub fn members(&self) -> std::borrow::Cow<'_, Membership> {
        match &self.membership {
            Some(m) => std::borrow::Cow::Borrowed(m),
            None => std::borrow::Cow::Owned(Membership {
                // As plaudit judged such inventories before: complete unless listing the
                // accounts failed.
                complete: !self.gaps().any(|g| g.api == "organizations:ListAccounts"),
                accounts: self
                    .accounts
                    .iter()
                    .map(|a| Member {
                        id: a.id.clone(),
                        name: a.name.clone(),
                        state: a.status.clone(),
                        ou_path: a.ou_path.clone(),
                    })
                    .collect(),
            }),
        }
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
