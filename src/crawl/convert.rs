//! AWS's answers turned into the inventory: one function per inventory type, from the SDK's
//! types. Nothing here calls AWS or decides what to fetch ([`super::collect`] does); a value
//! AWS did not send stays absent (or, for a field the inventory requires, the item is
//! skipped), never a guessed default that a rule could read as a pass.
//!
//! Real EC2 returns states in camelCase (`pendingAcceptance`) while the SDK's enum variants
//! are PascalCase, so states are kept with `as_str()` and compared case-insensitively
//! downstream — never matched on enum variants.

use std::collections::BTreeSet;

use aws_sdk_ec2::types as ec2;
use aws_sdk_elasticloadbalancingv2::types as elb;
use chrono::{DateTime, Utc};

use crate::inventory::*;

/// An SDK timestamp as UTC.
pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// A zone of the account's AZ map (its own name → ID mapping).
pub fn availability_zone(z: &ec2::AvailabilityZone) -> Option<AvailabilityZone> {
    Some(AvailabilityZone {
        name: z.zone_name()?.to_string(),
        id: z.zone_id()?.to_string(),
        zone_type: z.zone_type().unwrap_or("availability-zone").to_string(),
    })
}

/// A connection to one of the account's services, with that service's id.
pub fn endpoint_connection(c: &ec2::VpcEndpointConnection) -> Option<(String, EndpointConnection)> {
    let (svc, ep) = (c.service_id()?, c.vpc_endpoint_id()?);
    Some((
        svc.to_string(),
        EndpointConnection {
            endpoint_id: ep.to_string(),
            endpoint_owner: c.vpc_endpoint_owner().unwrap_or_default().to_string(),
            state: c
                .vpc_endpoint_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            created_at: time(c.creation_timestamp()),
            endpoint_region: c.vpc_endpoint_region().map(str::to_string),
        },
    ))
}

/// An endpoint service the account provides, with its allowed principals and connections.
pub fn endpoint_service(
    s: &ec2::ServiceConfiguration,
    principals: &[ec2::AllowedPrincipal],
    connections: Vec<EndpointConnection>,
) -> Option<EndpointService> {
    let dns = s.private_dns_name_configuration();
    Some(EndpointService {
        id: s.service_id()?.to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        service_type: s
            .service_type()
            .first()
            .and_then(|t| t.service_type())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "Interface".into()),
        state: s
            .service_state()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        acceptance_required: s.acceptance_required().unwrap_or(false),
        network_load_balancer_arns: s.network_load_balancer_arns().to_vec(),
        gateway_load_balancer_arns: s.gateway_load_balancer_arns().to_vec(),
        availability_zones: s.availability_zones().to_vec(),
        private_dns_name: s.private_dns_name().map(str::to_string),
        private_dns_state: dns.and_then(|d| d.state()).map(|x| x.as_str().to_string()),
        private_dns_txt_name: dns.and_then(|d| d.name()).map(str::to_string),
        private_dns_txt_value: dns.and_then(|d| d.value()).map(str::to_string),
        allowed_principals: principals
            .iter()
            .filter_map(|p| p.principal().map(str::to_string))
            .collect(),
        supported_regions: s
            .supported_regions()
            .iter()
            .filter_map(|r| r.region().map(str::to_string))
            .collect(),
        created_at: None,
        connections,
    })
}

/// A VPC endpoint the account consumes through.
pub fn vpc_endpoint(e: &ec2::VpcEndpoint) -> Option<VpcEndpoint> {
    Some(VpcEndpoint {
        id: e.vpc_endpoint_id()?.to_string(),
        endpoint_type: e
            .vpc_endpoint_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "Interface".into()),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        service_network_arn: e.service_network_arn().map(str::to_string),
        resource_configuration_arn: e.resource_configuration_arn().map(str::to_string),
        service_region: e.service_region().map(str::to_string),
        state: e
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        subnet_ids: e.subnet_ids().to_vec(),
        network_interface_ids: e.network_interface_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
        created_at: time(e.creation_timestamp()),
    })
}

/// A VPC, with its DNS attributes as DescribeVpcAttribute answered them (`None`: not read —
/// not asked for, or the ledger records the gap; rules treat it as unknown) and its
/// associated CIDR blocks.
pub fn vpc(v: &ec2::Vpc, dns_support: Option<bool>, dns_hostnames: Option<bool>) -> Option<Vpc> {
    let associated =
        |state: Option<&str>| state.is_none_or(|s| s == "associated" || s == "associating");
    Some(Vpc {
        id: v.vpc_id()?.to_string(),
        cidr: v.cidr_block().map(str::to_string),
        cidrs: v
            .cidr_block_association_set()
            .iter()
            .filter(|a| {
                associated(
                    a.cidr_block_state()
                        .and_then(|s| s.state())
                        .map(|s| s.as_str()),
                )
            })
            .filter_map(|a| a.cidr_block().map(str::to_string))
            .collect(),
        ipv6_cidrs: v
            .ipv6_cidr_block_association_set()
            .iter()
            .filter(|a| {
                associated(
                    a.ipv6_cidr_block_state()
                        .and_then(|s| s.state())
                        .map(|s| s.as_str()),
                )
            })
            .filter_map(|a| a.ipv6_cidr_block().map(str::to_string))
            .collect(),
        enable_dns_support: dns_support,
        enable_dns_hostnames: dns_hostnames,
        is_default: v.is_default().unwrap_or(false),
    })
}

/// A subnet (its AZ name and, where AWS sends it, AZ ID).
pub fn subnet(s: &ec2::Subnet) -> Option<Subnet> {
    Some(Subnet {
        id: s.subnet_id()?.to_string(),
        vpc_id: s.vpc_id()?.to_string(),
        cidr: s.cidr_block().map(str::to_string),
        ipv6_cidr: s
            .ipv6_cidr_block_association_set()
            .first()
            .and_then(|a| a.ipv6_cidr_block())
            .map(str::to_string),
        availability_zone: s.availability_zone()?.to_string(),
        availability_zone_id: s.availability_zone_id().map(str::to_string),
    })
}

/// A security group with its rules, flattened from DescribeSecurityGroups' IP permissions
/// (one rule per source or destination, as DescribeSecurityGroupRules would list them: that
/// call would cost one more request per account-region for the same facts, less the rule ids).
pub fn security_group(g: &ec2::SecurityGroup) -> Option<SecurityGroup> {
    let mut rules = Vec::new();
    for (direction, perms) in [
        ("ingress", g.ip_permissions()),
        ("egress", g.ip_permissions_egress()),
    ] {
        for p in perms {
            flatten_permission(direction, p, &mut rules);
        }
    }
    Some(SecurityGroup {
        id: g.group_id()?.to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(str::to_string),
        rules,
    })
}

/// One IP permission → one rule per IPv4 range, IPv6 range, prefix list and group it names.
fn flatten_permission(direction: &str, p: &ec2::IpPermission, out: &mut Vec<SecurityGroupRule>) {
    let base = SecurityGroupRule {
        id: None,
        direction: direction.to_string(),
        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: p.from_port().map(i64::from),
        to_port: p.to_port().map(i64::from),
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut SecurityGroupRule), description: Option<&str>| {
        let mut r = base.clone();
        f(&mut r);
        r.description = description.map(str::to_string);
        r
    };
    for r in p.ip_ranges() {
        out.push(with(
            &|x| x.cidr_ipv4 = r.cidr_ip().map(str::to_string),
            r.description(),
        ));
    }
    for r in p.ipv6_ranges() {
        out.push(with(
            &|x| x.cidr_ipv6 = r.cidr_ipv6().map(str::to_string),
            r.description(),
        ));
    }
    for r in p.prefix_list_ids() {
        out.push(with(
            &|x| x.prefix_list_id = r.prefix_list_id().map(str::to_string),
            r.description(),
        ));
    }
    for r in p.user_id_group_pairs() {
        out.push(with(
            &|x| {
                x.referenced_group_id = r.group_id().map(str::to_string);
                x.referenced_group_owner = r.user_id().map(str::to_string);
            },
            r.description(),
        ));
    }
}

/// A load balancer, with its cross-zone attribute and listeners.
pub fn load_balancer(
    lb: &elb::LoadBalancer,
    cross_zone: Option<bool>,
    listeners: &[elb::Listener],
) -> Option<LoadBalancer> {
    Some(LoadBalancer {
        arn: lb.load_balancer_arn()?.to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        lb_type: lb
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        scheme: lb
            .scheme()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        vpc_id: lb.vpc_id().map(str::to_string),
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        dns_name: lb.dns_name().map(str::to_string),
        availability_zones: lb
            .availability_zones()
            .iter()
            .filter_map(|z| {
                Some(LoadBalancerZone {
                    name: z.zone_name()?.to_string(),
                    id: None,
                    subnet_id: z.subnet_id().map(str::to_string),
                    private_ips: z
                        .load_balancer_addresses()
                        .iter()
                        .filter_map(|a| a.private_ipv4_address().map(str::to_string))
                        .collect(),
                })
            })
            .collect(),
        security_groups: lb.security_groups().to_vec(),
        enforce_sg_inbound_on_privatelink: lb
            .enforce_security_group_inbound_rules_on_private_link_traffic()
            .map(|v| v.eq_ignore_ascii_case("on")),
        cross_zone,
        listeners: listeners.iter().map(listener).collect(),
    })
}

/// A listener, with the target groups its default actions forward to.
pub fn listener(l: &elb::Listener) -> Listener {
    Listener {
        arn: l.listener_arn().map(str::to_string),
        protocol: l
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        port: l.port().map(i64::from).unwrap_or(0),
        target_group_arns: l
            .default_actions()
            .iter()
            .flat_map(|a| {
                let mut v: Vec<String> = a
                    .target_group_arn()
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                if let Some(fc) = a.forward_config() {
                    v.extend(
                        fc.target_groups()
                            .iter()
                            .filter_map(|t| t.target_group_arn().map(str::to_string)),
                    );
                }
                v
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// The attribute that says whether a load balancer balances across zones.
pub const CROSS_ZONE: &str = "load_balancing.cross_zone.enabled";

/// A load balancer's cross-zone setting, from its attributes.
pub fn lb_cross_zone(attrs: &[elb::LoadBalancerAttribute]) -> Option<bool> {
    attrs
        .iter()
        .find(|x| x.key() == Some(CROSS_ZONE))
        .and_then(|x| x.value())
        .map(|v| v.eq_ignore_ascii_case("true"))
}

/// A target group's cross-zone setting (`true`, `false` or `use_load_balancer_configuration`).
pub fn tg_cross_zone(attrs: &[elb::TargetGroupAttribute]) -> Option<String> {
    attrs
        .iter()
        .find(|x| x.key() == Some(CROSS_ZONE))
        .and_then(|x| x.value())
        .map(str::to_string)
}

/// A registered target with its health.
pub fn target(d: &elb::TargetHealthDescription) -> Option<Target> {
    let t = d.target()?;
    Some(Target {
        id: t.id()?.to_string(),
        port: t.port().map(i64::from),
        availability_zone: t.availability_zone().map(str::to_string),
        health: d
            .target_health()
            .and_then(|h| h.state())
            .map(|s| s.as_str().to_string()),
    })
}

/// A target group with its cross-zone setting and targets.
pub fn target_group(
    g: &elb::TargetGroup,
    cross_zone: Option<String>,
    targets: Vec<Target>,
) -> Option<TargetGroup> {
    Some(TargetGroup {
        arn: g.target_group_arn()?.to_string(),
        name: g.target_group_name().unwrap_or_default().to_string(),
        target_type: g
            .target_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        protocol: g.protocol().map(|p| p.as_str().to_string()),
        port: g.port().map(i64::from),
        vpc_id: g.vpc_id().map(str::to_string),
        health_check_port: g.health_check_port().map(str::to_string),
        load_balancer_arns: g.load_balancer_arns().to_vec(),
        cross_zone,
        targets,
    })
}

/// A service found by a consumer-side lookup. `asked_region`: the region asked with
/// ServiceRegions (a cross-region lookup); the service's region is kept only when it is
/// not the endpoint's own (`scan_region`).
pub fn service_lookup(
    d: &ec2::ServiceDetail,
    scan_region: &str,
    asked_region: Option<&str>,
) -> Option<ServiceLookup> {
    Some(ServiceLookup {
        service_name: d.service_name()?.to_string(),
        found: true,
        service_id: d.service_id().map(str::to_string),
        owner: d.owner().map(str::to_string),
        availability_zones: d.availability_zones().to_vec(),
        availability_zone_ids: d.availability_zone_ids().to_vec(),
        private_dns_name: d.private_dns_name().map(str::to_string),
        supported_regions: Vec::new(),
        service_region: d
            .service_region()
            .or(asked_region)
            .filter(|r| *r != scan_region)
            .map(str::to_string),
    })
}
