//! Synthetic organisations: large, deterministic inventories generated from a seed, for the
//! rule-evaluation benchmark and scale tests. Not used by scans.
//!
//! Every account gets its own AZ name → ID rotation (as AWS does), a VPC with subnets, security
//! groups, and interface endpoints to services of other accounts in the same region. A share of
//! account-regions are providers: an endpoint service behind an NLB that forwards to an ALB,
//! with connections from the consumers. Defects (unverified DNS, missing AZs, blocking security
//! groups, stale connections) are sprinkled at fixed rates so every rule has work to do.

use chrono::{DateTime, Duration, TimeZone, Utc};

use plaudit::inventory::*;

/// Shape of the synthetic organisation.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub accounts: usize,
    pub regions: usize,
    pub seed: u64,
    /// One account-region in `provider_every` provides an endpoint service.
    pub provider_every: usize,
    /// Interface endpoints per consumer account-region.
    pub endpoints_per_region: usize,
    /// One account-region in `consumer_every` has a VPC with interface endpoints (1: all of
    /// them; a real organisation leaves most regions empty).
    pub consumer_every: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            accounts: 10,
            regions: 2,
            seed: 1,
            provider_every: 4,
            endpoints_per_region: 2,
            consumer_every: 1,
        }
    }
}

/// Real region codes, with their AZ ID prefixes, in a fixed order.
const REGIONS: [(&str, &str, usize); 17] = [
    ("us-east-1", "use1", 6),
    ("us-east-2", "use2", 3),
    ("us-west-1", "usw1", 2),
    ("us-west-2", "usw2", 4),
    ("ca-central-1", "cac1", 3),
    ("eu-west-1", "euw1", 3),
    ("eu-west-2", "euw2", 3),
    ("eu-west-3", "euw3", 3),
    ("eu-central-1", "euc1", 3),
    ("eu-north-1", "eun1", 3),
    ("ap-south-1", "aps1", 3),
    ("ap-northeast-1", "apne1", 3),
    ("ap-northeast-2", "apne2", 4),
    ("ap-northeast-3", "apne3", 3),
    ("ap-southeast-1", "apse1", 3),
    ("ap-southeast-2", "apse2", 3),
    ("sa-east-1", "sae1", 3),
];

/// splitmix64: tiny, deterministic, good enough for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

fn account_id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

/// Generates the organisation.
pub fn generate(shape: Shape) -> Inventory {
    let mut rng = Rng(shape.seed);
    let collected_at: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let regions = &REGIONS[..shape.regions.min(REGIONS.len())];
    let n = shape.accounts.max(1);

    // Which account-regions provide a service: (account index, region index).
    let is_provider =
        |a: usize, r: usize| (a * 7 + r * 3).is_multiple_of(shape.provider_every.max(1));
    let svc_id = |a: usize, r: usize| format!("vpce-svc-{:017x}", (a as u64) << 8 | r as u64);
    let svc_name =
        |a: usize, r: usize| format!("com.amazonaws.vpce.{}.{}", regions[r].0, svc_id(a, r));
    let providers_in: Vec<Vec<usize>> = (0..regions.len())
        .map(|r| (0..n).filter(|&a| is_provider(a, r)).collect())
        .collect();
    // Consumers of each (provider, region), decided up front so both sides agree.
    let mut consumers: Vec<Vec<Vec<(usize, String, String)>>> =
        vec![vec![Vec::new(); regions.len()]; n];
    let mut endpoints: Vec<Vec<Vec<VpcEndpoint>>> = vec![vec![Vec::new(); regions.len()]; n];
    for (a, endpoints_of_a) in endpoints.iter_mut().enumerate() {
        for (r, _) in regions.iter().enumerate() {
            let vpc = format!("vpc-{a:08x}{r:02x}");
            if (a * 5 + r) % shape.consumer_every.max(1) != 0 {
                continue;
            }
            for k in 0..shape.endpoints_per_region {
                let list = &providers_in[r];
                if list.is_empty() {
                    break;
                }
                let p = list[rng.below(list.len())];
                if p == a {
                    continue;
                }
                let id = format!("vpce-{a:08x}{r:02x}{k:02x}");
                let stale = rng.chance(40);
                let state = if stale {
                    "pendingAcceptance"
                } else {
                    "available"
                };
                let created = collected_at - Duration::days(if stale { 30 } else { 200 });
                consumers[p][r].push((a, id.clone(), state.to_string()));
                endpoints_of_a[r].push(VpcEndpoint {
                    id,
                    endpoint_type: "Interface".into(),
                    vpc_id: vpc.clone(),
                    service_name: svc_name(p, r),
                    state: state.into(),
                    subnet_ids: (0..2)
                        .map(|s| format!("subnet-{a:08x}{r:02x}{s}"))
                        .collect(),
                    security_group_ids: vec![format!("sg-{a:08x}{r:02x}e")],
                    private_dns_enabled: true,
                    created_at: Some(created),
                    ..Default::default()
                });
            }
        }
    }

    let mut accounts = Vec::with_capacity(n);
    for a in 0..n {
        let acct = account_id(a);
        let mut regs = Vec::with_capacity(regions.len());
        for (r, (region, prefix, n_az)) in regions.iter().enumerate() {
            let letters = ['a', 'b', 'c', 'd', 'e', 'f'];
            // AWS shuffles names per account: rotate the mapping by the account index.
            let availability_zones: Vec<AvailabilityZone> = (0..*n_az)
                .map(|i| AvailabilityZone {
                    name: format!("{region}{}", letters[i]),
                    id: format!("{prefix}-az{}", (i + a) % n_az + 1),
                    zone_type: "availability-zone".into(),
                })
                .collect();
            let vpc = format!("vpc-{a:08x}{r:02x}");
            let subnets: Vec<Subnet> = (0..(*n_az).min(3))
                .map(|s| Subnet {
                    id: format!("subnet-{a:08x}{r:02x}{s}"),
                    vpc_id: vpc.clone(),
                    cidr: Some(format!("10.{r}.{s}.0/24")),
                    availability_zone: availability_zones[s].name.clone(),
                    ..Default::default()
                })
                .collect();
            let mut security_groups = vec![SecurityGroup {
                id: format!("sg-{a:08x}{r:02x}e"),
                name: "endpoints".into(),
                vpc_id: Some(vpc.clone()),
                rules: vec![SecurityGroupRule {
                    direction: "ingress".into(),
                    protocol: "tcp".into(),
                    from_port: Some(443),
                    to_port: Some(443),
                    cidr_ipv4: Some("10.0.0.0/8".into()),
                    ..Default::default()
                }],
            }];
            let mut load_balancers = Vec::new();
            let mut target_groups = Vec::new();
            let mut endpoint_services = Vec::new();
            if is_provider(a, r) {
                let arn = |kind: &str, name: &str| {
                    format!(
                        "arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/{kind}/{name}/{a:x}{r:x}"
                    )
                };
                let nlb = arn("net", "nlb");
                let alb = arn("app", "alb");
                let tg = format!(
                    "arn:aws:elasticloadbalancing:{region}:{acct}:targetgroup/to-alb/{a:x}{r:x}"
                );
                let short_az = rng.chance(5);
                let nlb_zones = if short_az {
                    subnets.len().saturating_sub(1).max(1)
                } else {
                    subnets.len()
                };
                let blocks = rng.chance(6);
                security_groups.push(SecurityGroup {
                    id: format!("sg-{a:08x}{r:02x}a"),
                    name: "alb".into(),
                    vpc_id: Some(vpc.clone()),
                    rules: vec![SecurityGroupRule {
                        direction: "ingress".into(),
                        protocol: "tcp".into(),
                        from_port: Some(443),
                        to_port: Some(443),
                        cidr_ipv4: Some(if blocks {
                            format!("10.{r}.0.0/24")
                        } else {
                            format!("10.{r}.0.0/16")
                        }),
                        ..Default::default()
                    }],
                });
                load_balancers.push(LoadBalancer {
                    arn: nlb.clone(),
                    name: "nlb".into(),
                    lb_type: "network".into(),
                    vpc_id: Some(vpc.clone()),
                    availability_zones: subnets[..nlb_zones]
                        .iter()
                        .enumerate()
                        .map(|(s, sn)| LoadBalancerZone {
                            name: sn.availability_zone.clone(),
                            subnet_id: Some(sn.id.clone()),
                            private_ips: vec![format!("10.{r}.{s}.10")],
                            ..Default::default()
                        })
                        .collect(),
                    listeners: vec![Listener {
                        protocol: "TCP".into(),
                        port: 443,
                        target_group_arns: vec![tg.clone()],
                        arn: None,
                    }],
                    cross_zone: Some(false),
                    ..Default::default()
                });
                load_balancers.push(LoadBalancer {
                    arn: alb.clone(),
                    name: "alb".into(),
                    lb_type: "application".into(),
                    vpc_id: Some(vpc.clone()),
                    security_groups: vec![format!("sg-{a:08x}{r:02x}a")],
                    availability_zones: subnets
                        .iter()
                        .map(|sn| LoadBalancerZone {
                            name: sn.availability_zone.clone(),
                            subnet_id: Some(sn.id.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                });
                target_groups.push(TargetGroup {
                    arn: tg,
                    name: "to-alb".into(),
                    target_type: "alb".into(),
                    protocol: Some("TCP".into()),
                    port: Some(443),
                    vpc_id: Some(vpc.clone()),
                    load_balancer_arns: vec![nlb.clone()],
                    cross_zone: None,
                    targets: vec![Target {
                        id: alb,
                        port: Some(443),
                        health: Some("healthy".into()),
                        availability_zone: None,
                    }],
                    health_check_port: Some("traffic-port".into()),
                });
                let unverified = rng.chance(10);
                endpoint_services.push(EndpointService {
                    id: svc_id(a, r),
                    name: svc_name(a, r),
                    acceptance_required: true,
                    network_load_balancer_arns: vec![nlb],
                    availability_zones: subnets[..nlb_zones]
                        .iter()
                        .map(|s| s.availability_zone.clone())
                        .collect(),
                    private_dns_name: Some(format!("svc{a}.{region}.example.com")),
                    private_dns_state: Some(
                        if unverified {
                            "pendingVerification"
                        } else {
                            "verified"
                        }
                        .into(),
                    ),
                    private_dns_txt_name: Some(format!("_v{a:x}")),
                    private_dns_txt_value: Some(format!("vpce:{a:x}{r:x}")),
                    allowed_principals: vec![format!(
                        "arn:aws:iam::{}:root",
                        account_id((a + 1) % n)
                    )],
                    connections: consumers[a][r]
                        .iter()
                        .map(|(c, id, state)| EndpointConnection {
                            endpoint_id: id.clone(),
                            endpoint_owner: account_id(*c),
                            state: state.clone(),
                            created_at: Some(
                                collected_at
                                    - Duration::days(if state == "available" { 200 } else { 30 }),
                            ),
                            endpoint_region: None,
                        })
                        .collect(),
                    ..Default::default()
                });
            }
            regs.push(Region {
                name: region.to_string(),
                availability_zones,
                vpcs: vec![Vpc {
                    id: vpc.clone(),
                    cidr: Some(format!("10.{r}.0.0/16")),
                    cidrs: vec![format!("10.{r}.0.0/16")],
                    ipv6_cidrs: Vec::new(),
                    enable_dns_support: Some(true),
                    enable_dns_hostnames: Some(true),
                    is_default: false,
                }],
                subnets,
                security_groups,
                load_balancers,
                target_groups,
                endpoint_services,
                vpc_endpoints: std::mem::take(&mut endpoints[a][r]),
                service_lookups: Vec::new(),
            });
        }
        accounts.push(Account {
            id: acct,
            name: format!("account-{a}"),
            email: format!("aws+{a}@example.com"),
            status: "ACTIVE".into(),
            ou_path: format!("/Workloads/{}", if a % 3 == 0 { "Prod" } else { "Dev" }),
            tags: Default::default(),
            regions: regs,
        });
    }
    let mut coverage = Vec::new();
    for acct in &accounts {
        for reg in &acct.regions {
            coverage.push(CoverageEntry {
                account_id: acct.id.clone(),
                region: Some(reg.name.clone()),
                api: Api::parse("ec2:DescribeVpcEndpoints").unwrap(),
                status: CoverageStatus::Ok,
                error: None,
            });
        }
    }
    Inventory {
        schema_version: SCHEMA_VERSION,
        collected_at: Some(collected_at),
        organization: Some(Organization {
            id: "o-synthetic".into(),
            management_account_id: Some(account_id(0)),
        }),
        partition: None,
        accounts,
        membership: None,
        coverage,
    }
}
