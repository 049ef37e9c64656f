//! Collectors for one account-region: EC2 (AZ map, endpoint services and their permissions
//! and connections, VPC endpoints, VPCs, subnets, security groups) and ELBv2 (the load
//! balancers behind endpoint services, the ALBs behind those, listeners, target groups and
//! health). Dependent details are fetched only for what PrivateLink touches, filtered by id.
//!
//! Every paginated call is followed to its last page. Every API's outcome goes into the
//! coverage ledger; a failed API leaves its part of the region empty and the rest goes on.
//!
//! Real EC2 returns states in camelCase (`pendingAcceptance`) while the SDK's enum variants
//! are PascalCase, so states are read with `as_str()` and compared case-insensitively
//! downstream — never matched on enum variants.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::api::{Gate, Outcome, classify};
use super::convert;
use crate::inventory::*;

/// Runs the futures concurrently and returns their outputs in order, like `join_all`, but
/// polls only the ones that were woken: `join_all` of fewer than 30 futures polls every one of
/// them on each wake, and an account's 17 regions, each with SDK calls in flight, were polled
/// 17 times per response.
pub fn join_each<I>(
    futures: I,
) -> futures::stream::Collect<
    futures::stream::FuturesOrdered<I::Item>,
    Vec<<I::Item as std::future::Future>::Output>,
>
where
    I: IntoIterator,
    I::Item: std::future::Future,
{
    use futures::StreamExt;
    futures
        .into_iter()
        .collect::<futures::stream::FuturesOrdered<_>>()
        .collect()
}

/// What a collector needs for one account-region.
pub struct RegionCtx<'a> {
    pub gate: &'a Gate,
    pub account: &'a str,
    pub region: &'a str,
    pub ec2: aws_sdk_ec2::Client,
    /// The ELBv2 client, made on first use by `make_elb` (most account-regions never need
    /// one; each client costs memory and CPU to build).
    pub elb: std::sync::OnceLock<aws_sdk_elasticloadbalancingv2::Client>,
    pub make_elb: Option<&'a (dyn Fn() -> aws_sdk_elasticloadbalancingv2::Client + Sync)>,
    pub page_size: Option<i32>,
}

impl RegionCtx<'_> {
    fn elb(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        self.elb.get_or_init(|| match self.make_elb {
            Some(make) => make(),
            None => unreachable!("RegionCtx without an ELBv2 client or a way to make one"),
        })
    }
}

impl RegionCtx<'_> {
    fn ok(&self, api: &str) {
        self.gate
            .record(self.account, Some(self.region), api, Outcome::ok());
    }

    /// One call, recorded in the ledger.
    async fn one<T, E, R, F, Fut>(&self, api: &str, f: F) -> Option<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
    {
        match self.gate.call(self.account, self.region, api, f).await {
            Ok(v) => {
                self.ok(api);
                Some(v)
            }
            Err(e) => {
                self.gate
                    .record(self.account, Some(self.region), api, classify(&e));
                None
            }
        }
    }

    /// Follows `NextToken`/`Marker` to the last page (see [`paginate`]).
    async fn pages<T, E, R, F, Fut>(&self, api: &str, f: F) -> Option<Vec<T>>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, R>>>,
    {
        super::api::paginate(self.gate, self.account, Some(self.region), api, f).await
    }
}

/// Filter values per EC2 call. EC2 rejects a call with more than 200 values in all
/// (`FilterLimitExceeded`): AWS does not document the number, public projects that hit it
/// report 200 and chunk at 100–200, so plaudit stays well under it.
pub const FILTER_VALUES_PER_CALL: usize = 100;

/// A paginated EC2 listing (`MaxResults` + `NextToken`), optionally filtered by id:
/// `ec2_listing!(ctx, "ec2:DescribeVpcEndpoints", describe_vpc_endpoints, vpc_endpoints)` or
/// `… , filter "vpc-id" = ids)`. EC2 wants at least 5 per page on filtered calls.
macro_rules! ec2_listing {
    ($ctx:expr, $api:literal, $op:ident, $items:ident) => {{
        let ec2 = &$ctx.ec2;
        let ps = $ctx.page_size;
        $ctx.pages($api, move |t| async move {
            let o = ec2
                .$op()
                .set_max_results(ps)
                .set_next_token(t)
                .send()
                .await?;
            Ok((o.$items().to_vec(), o.next_token().map(str::to_string)))
        })
    }};
    ($ctx:expr, $api:literal, $op:ident, $items:ident, filter $name:literal = $values:expr) => {{
        let ctx = $ctx;
        let ec2 = &ctx.ec2;
        let ps = ctx.page_size.map(|p| p.max(5));
        let values: Vec<String> = $values;
        // EC2 rejects a call with too many filter values (FilterLimitExceeded): a hub
        // account-region with hundreds of endpoint security groups is listed in chunks.
        async move {
            let mut all = Vec::new();
            for chunk in values.chunks(FILTER_VALUES_PER_CALL) {
                let page = ctx
                    .pages($api, move |t| {
                        let filter = Filter::builder()
                            .name($name)
                            .set_values(Some(chunk.to_vec()))
                            .build();
                        async move {
                            let o = ec2
                                .$op()
                                .filters(filter)
                                .set_max_results(ps)
                                .set_next_token(t)
                                .send()
                                .await?;
                            Ok((o.$items().to_vec(), o.next_token().map(str::to_string)))
                        }
                    })
                    .await?;
                all.extend(page);
            }
            Some(all)
        }
    }};
}

/// Collects one account-region.
pub async fn collect_region(ctx: &RegionCtx<'_>) -> Region {
    let mut region = Region {
        name: ctx.region.to_string(),
        ..Default::default()
    };
    let ec2 = &ctx.ec2;

    // What the region holds first: services offered and endpoints consumed. Most
    // account-regions of an organisation hold neither; for those two calls are enough.
    let services = ec2_listing!(
        ctx,
        "ec2:DescribeVpcEndpointServiceConfigurations",
        describe_vpc_endpoint_service_configurations,
        service_configurations
    );
    let endpoints = ec2_listing!(
        ctx,
        "ec2:DescribeVpcEndpoints",
        describe_vpc_endpoints,
        vpc_endpoints
    );
    let (services, endpoints) = futures::join!(services, endpoints);
    let has_services = services.as_ref().is_none_or(|s| !s.is_empty());
    let has_endpoints = endpoints.as_ref().is_none_or(|e| !e.is_empty());
    if !has_services && !has_endpoints {
        return region;
    }
    // The AZ map (names → IDs, this account's own), and the connections to its services.
    let azs = async {
        ctx.one("ec2:DescribeAvailabilityZones", || {
            ec2.describe_availability_zones().send()
        })
        .await
    };
    let connections = async {
        if !has_services {
            return Some(Vec::new());
        }
        ec2_listing!(
            ctx,
            "ec2:DescribeVpcEndpointConnections",
            describe_vpc_endpoint_connections,
            vpc_endpoint_connections
        )
        .await
    };
    let (azs, connections) = futures::join!(azs, connections);
    if let Some(azs) = azs {
        region.availability_zones = azs
            .availability_zones()
            .iter()
            .filter_map(convert::availability_zone)
            .collect();
    }

    let (services, nlb_arns) = provided_services(ctx, services, connections).await;
    region.endpoint_services = services;
    let consumed = consumed_endpoints(&endpoints.unwrap_or_default());
    let (mut vpc_ids, mut sg_ids) = (consumed.vpc_ids, consumed.sg_ids);
    region.vpc_endpoints = consumed.endpoints;

    // Load balancers behind the services, then the ALBs behind those.
    let (lbs, tgs) = collect_load_balancers(ctx, nlb_arns).await;
    for lb in &lbs {
        if let Some(v) = &lb.vpc_id {
            vpc_ids.insert(v.clone());
        }
        sg_ids.extend(lb.security_groups.iter().cloned());
    }
    region.load_balancers = lbs;
    region.target_groups = tgs;

    // VPCs, the DNS attributes a rule reads, and subnets; security groups with their rules.
    let (vpcs, subnets, groups) = futures::join!(
        collect_vpcs(ctx, &vpc_ids, &consumed.dns_vpc_ids),
        collect_subnets(ctx, &vpc_ids),
        collect_security_groups(ctx, &sg_ids)
    );
    region.vpcs = vpcs;
    region.subnets = subnets;
    region.security_groups = groups;
    region
}

/// The account-region's endpoint services, each with its allowed principals (one listing per
/// service, concurrently) and connections; and the load balancers behind them.
async fn provided_services(
    ctx: &RegionCtx<'_>,
    services: Option<Vec<aws_sdk_ec2::types::ServiceConfiguration>>,
    connections: Option<Vec<aws_sdk_ec2::types::VpcEndpointConnection>>,
) -> (Vec<EndpointService>, BTreeSet<String>) {
    let mut conns: BTreeMap<String, Vec<EndpointConnection>> = BTreeMap::new();
    for (service, c) in connections
        .unwrap_or_default()
        .iter()
        .filter_map(convert::endpoint_connection)
    {
        conns.entry(service).or_default().push(c);
    }
    let (ec2, ps) = (&ctx.ec2, ctx.page_size);
    let services = services.unwrap_or_default();
    let permissions = join_each(services.iter().map(|s| {
        let sid = s.service_id().unwrap_or_default().to_string();
        ctx.pages("ec2:DescribeVpcEndpointServicePermissions", move |t| {
            let sid = sid.clone();
            async move {
                let o = ec2
                    .describe_vpc_endpoint_service_permissions()
                    .service_id(sid)
                    .set_max_results(ps)
                    .set_next_token(t)
                    .send()
                    .await?;
                Ok((
                    o.allowed_principals().to_vec(),
                    o.next_token().map(str::to_string),
                ))
            }
        })
    }))
    .await;
    let mut out = Vec::new();
    let mut lb_arns: BTreeSet<String> = BTreeSet::new();
    for (s, principals) in services.iter().zip(permissions) {
        let Some(id) = s.service_id() else { continue };
        lb_arns.extend(s.network_load_balancer_arns().iter().cloned());
        lb_arns.extend(s.gateway_load_balancer_arns().iter().cloned());
        let connections = conns.remove(id).unwrap_or_default();
        out.extend(convert::endpoint_service(
            s,
            &principals.unwrap_or_default(),
            connections,
        ));
    }
    (out, lb_arns)
}

/// The account-region's VPC endpoints, with the VPCs and security groups they use.
struct Consumed {
    endpoints: Vec<VpcEndpoint>,
    vpc_ids: BTreeSet<String>,
    sg_ids: BTreeSet<String>,
    /// The VPCs whose DNS attributes a rule reads (`vpc-dns-blocks-private-dns`): those of
    /// interface endpoints with private DNS on.
    dns_vpc_ids: BTreeSet<String>,
}

fn consumed_endpoints(endpoints: &[aws_sdk_ec2::types::VpcEndpoint]) -> Consumed {
    let mut c = Consumed {
        endpoints: Vec::new(),
        vpc_ids: BTreeSet::new(),
        sg_ids: BTreeSet::new(),
        dns_vpc_ids: BTreeSet::new(),
    };
    for e in endpoints {
        let Some(ep) = convert::vpc_endpoint(e) else {
            continue;
        };
        if let Some(v) = e.vpc_id() {
            c.vpc_ids.insert(v.to_string());
            if ep.private_dns_enabled && ep.endpoint_type.eq_ignore_ascii_case("interface") {
                c.dns_vpc_ids.insert(v.to_string());
            }
        }
        c.sg_ids.extend(ep.security_group_ids.iter().cloned());
        c.endpoints.push(ep);
    }
    c
}

/// The VPCs, with DNS attributes for those in `dns_ids` only (two calls per VPC, and no rule
/// reads them elsewhere: a load balancer's VPC does not resolve anyone's private DNS).
async fn collect_vpcs(
    ctx: &RegionCtx<'_>,
    ids: &BTreeSet<String>,
    dns_ids: &BTreeSet<String>,
) -> Vec<Vpc> {
    if ids.is_empty() {
        return Vec::new();
    }
    let ec2 = &ctx.ec2;
    let Some(vpcs) = ec2_listing!(
        ctx,
        "ec2:DescribeVpcs",
        describe_vpcs,
        vpcs,
        filter "vpc-id" = ids.iter().cloned().collect()
    )
    .await
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for v in vpcs {
        let Some(id) = v.vpc_id().map(str::to_string) else {
            continue;
        };
        let attr = |name: VpcAttributeName| {
            let id = id.clone();
            async move {
                if !dns_ids.contains(&id) {
                    return None;
                }
                ctx.one("ec2:DescribeVpcAttribute", || {
                    ec2.describe_vpc_attribute()
                        .vpc_id(id)
                        .attribute(name)
                        .send()
                })
                .await
            }
        };
        let (support, hostnames) = futures::join!(
            attr(VpcAttributeName::EnableDnsSupport),
            attr(VpcAttributeName::EnableDnsHostnames)
        );
        // An attribute not read stays unknown (a failed read: the ledger records the gap).
        out.extend(convert::vpc(
            &v,
            support.and_then(|a| a.enable_dns_support().and_then(|b| b.value())),
            hostnames.and_then(|a| a.enable_dns_hostnames().and_then(|b| b.value())),
        ));
    }
    out
}

async fn collect_subnets(ctx: &RegionCtx<'_>, vpc_ids: &BTreeSet<String>) -> Vec<Subnet> {
    if vpc_ids.is_empty() {
        return Vec::new();
    }
    ec2_listing!(
        ctx,
        "ec2:DescribeSubnets",
        describe_subnets,
        subnets,
        filter "vpc-id" = vpc_ids.iter().cloned().collect()
    )
    .await
    .unwrap_or_default()
    .iter()
    .filter_map(convert::subnet)
    .collect()
}

async fn collect_security_groups(
    ctx: &RegionCtx<'_>,
    ids: &BTreeSet<String>,
) -> Vec<SecurityGroup> {
    if ids.is_empty() {
        return Vec::new();
    }
    // The groups carry their rules as IP permissions (DescribeSecurityGroupRules would be
    // one more request for the same facts).
    ec2_listing!(
        ctx,
        "ec2:DescribeSecurityGroups",
        describe_security_groups,
        security_groups,
        filter "group-id" = ids.iter().cloned().collect()
    )
    .await
    .unwrap_or_default()
    .iter()
    .filter_map(convert::security_group)
    .collect()
}

/// ELBv2 DescribeLoadBalancers takes at most 20 ARNs per call.
const LB_ARNS_PER_CALL: usize = 20;

/// The load balancers named; with `details`, their attributes (cross-zone) and listeners too.
/// Only the load balancers of endpoint services need those: no rule reads an ALB's listeners
/// or its cross-zone setting (always on at an ALB's load-balancer level, AWS says), so the
/// ALBs behind an NLB cost one call per 20.
async fn describe_lbs(
    ctx: &RegionCtx<'_>,
    arns: &BTreeSet<String>,
    details: bool,
) -> Vec<LoadBalancer> {
    let elb = ctx.elb();
    let mut out = Vec::new();
    let list: Vec<String> = arns.iter().cloned().collect();
    for chunk in list.chunks(LB_ARNS_PER_CALL) {
        let chunk = chunk.to_vec();
        let Some(lbs) = ctx
            .pages("elasticloadbalancing:DescribeLoadBalancers", |m| {
                let chunk = chunk.clone();
                async move {
                    let o = elb
                        .describe_load_balancers()
                        .set_load_balancer_arns(Some(chunk))
                        .set_marker(m)
                        .send()
                        .await?;
                    Ok((
                        o.load_balancers().to_vec(),
                        o.next_marker().map(str::to_string),
                    ))
                }
            })
            .await
        else {
            continue;
        };
        let built = join_each(lbs.into_iter().map(|lb| async move {
            let arn = lb.load_balancer_arn()?.to_string();
            if !details {
                return convert::load_balancer(&lb, None, &[]);
            }
            let (attrs, listeners) = futures::join!(
                ctx.one(
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    || {
                        elb.describe_load_balancer_attributes()
                            .load_balancer_arn(arn.clone())
                            .send()
                    }
                ),
                ctx.pages("elasticloadbalancing:DescribeListeners", |m| {
                    let arn = arn.clone();
                    async move {
                        let o = elb
                            .describe_listeners()
                            .load_balancer_arn(arn)
                            .set_marker(m)
                            .send()
                            .await?;
                        Ok((o.listeners().to_vec(), o.next_marker().map(str::to_string)))
                    }
                })
            );
            convert::load_balancer(
                &lb,
                attrs.and_then(|a| convert::lb_cross_zone(a.attributes())),
                &listeners.unwrap_or_default(),
            )
        }))
        .await;
        out.extend(built.into_iter().flatten());
    }
    out
}

async fn collect_load_balancers(
    ctx: &RegionCtx<'_>,
    service_lbs: BTreeSet<String>,
) -> (Vec<LoadBalancer>, Vec<TargetGroup>) {
    if service_lbs.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let elb = ctx.elb();
    let mut lbs = describe_lbs(ctx, &service_lbs, true).await;
    let mut tgs = Vec::new();
    let mut albs: BTreeSet<String> = BTreeSet::new();
    let groups = join_each(lbs.iter().map(|lb| {
        let arn = lb.arn.clone();
        ctx.pages("elasticloadbalancing:DescribeTargetGroups", move |m| {
            let arn = arn.clone();
            async move {
                match elb
                    .describe_target_groups()
                    .load_balancer_arn(arn)
                    .set_marker(m)
                    .send()
                    .await
                {
                    Ok(o) => Ok((
                        o.target_groups().to_vec(),
                        o.next_marker().map(str::to_string),
                    )),
                    // A load balancer without target groups: nothing to list.
                    Err(e) if e.code() == Some("TargetGroupNotFound") => Ok((Vec::new(), None)),
                    Err(e) => Err(e),
                }
            }
        })
    }))
    .await;
    let groups: Vec<_> = groups
        .into_iter()
        .flat_map(Option::unwrap_or_default)
        .collect();
    let built = join_each(groups.into_iter().map(|g| async move {
        let tg_arn = g.target_group_arn()?.to_string();
        // The target group's own cross-zone setting decides where traffic goes (it can
        // override the load balancer's since 2022).
        let (health, attrs) = futures::join!(
            ctx.one("elasticloadbalancing:DescribeTargetHealth", || {
                elb.describe_target_health()
                    .target_group_arn(tg_arn.clone())
                    .send()
            }),
            ctx.one("elasticloadbalancing:DescribeTargetGroupAttributes", || {
                elb.describe_target_group_attributes()
                    .target_group_arn(tg_arn.clone())
                    .send()
            })
        );
        let targets: Vec<Target> = health
            .map(|h| {
                h.target_health_descriptions()
                    .iter()
                    .filter_map(convert::target)
                    .collect()
            })
            .unwrap_or_default();
        convert::target_group(
            &g,
            attrs.and_then(|a| convert::tg_cross_zone(a.attributes())),
            targets,
        )
    }))
    .await;
    for tg in built.into_iter().flatten() {
        if tg.target_type.eq_ignore_ascii_case("alb") {
            albs.extend(tg.targets.iter().map(|t| t.id.clone()));
        }
        tgs.push(tg);
    }
    albs.retain(|a| !service_lbs.contains(a));
    if !albs.is_empty() {
        lbs.extend(describe_lbs(ctx, &albs, false).await);
    }
    (lbs, tgs)
}

/// Consumer-side lookups (DescribeVpcEndpointServices, by name) for services that the
/// organisation's inventory does not hold: `(name, service region)`, the region only for a
/// cross-region endpoint (looked up with ServiceRegions; AWS finds a service of another
/// region only so). AWS rejects the whole call when one name is not visible, so a failed
/// batch is retried name by name to find which. "Not visible" (InvalidServiceName) is
/// recorded as `found: false`; it does not prove the service was deleted (see the store's
/// `endpoint_services_resolved`).
pub async fn lookup_services(
    ctx: &RegionCtx<'_>,
    wanted: &[(String, Option<String>)],
) -> Vec<ServiceLookup> {
    let mut by_region: BTreeMap<Option<&str>, Vec<String>> = BTreeMap::new();
    for (name, region) in wanted {
        let region = region.as_deref().filter(|r| *r != ctx.region);
        by_region.entry(region).or_default().push(name.clone());
    }
    let mut out: Vec<ServiceLookup> = Vec::new();
    for (region, names) in by_region {
        for chunk in names.chunks(20) {
            match describe_services(ctx, chunk, region).await {
                Ok(found) => out.extend(found),
                Err(code) if code == "InvalidServiceName" => {
                    for name in chunk {
                        match describe_services(ctx, std::slice::from_ref(name), region).await {
                            Ok(found) => out.extend(found),
                            Err(code) if code == "InvalidServiceName" => out.push(ServiceLookup {
                                service_name: name.clone(),
                                found: false,
                                service_region: region.map(str::to_string),
                                ..Default::default()
                            }),
                            Err(_) => {}
                        }
                    }
                }
                Err(_) => {}
            }
        }
    }
    // AWS lists some services twice under one name (S3: a Gateway and an Interface entry):
    // one lookup per name, with the union of their zones.
    let mut merged: BTreeMap<String, ServiceLookup> = BTreeMap::new();
    for l in out {
        match merged.get_mut(&l.service_name) {
            None => {
                merged.insert(l.service_name.clone(), l);
            }
            Some(m) => {
                for z in l.availability_zones {
                    if !m.availability_zones.contains(&z) {
                        m.availability_zones.push(z);
                    }
                }
                for z in l.availability_zone_ids {
                    if !m.availability_zone_ids.contains(&z) {
                        m.availability_zone_ids.push(z);
                    }
                }
                m.found |= l.found;
                m.service_region = m.service_region.take().or(l.service_region);
                m.service_id = m.service_id.take().or(l.service_id);
                m.private_dns_name = m.private_dns_name.take().or(l.private_dns_name);
            }
        }
    }
    merged.into_values().collect()
}

/// One DescribeVpcEndpointServices call (no paginator: loop on NextToken). Errors other
/// than `InvalidServiceName` go into the ledger; the code comes back either way.
async fn describe_services(
    ctx: &RegionCtx<'_>,
    names: &[String],
    service_region: Option<&str>,
) -> Result<Vec<ServiceLookup>, String> {
    const API: &str = "ec2:DescribeVpcEndpointServices";
    let ec2 = &ctx.ec2;
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let t = token.clone();
        let r = ctx
            .gate
            .call(ctx.account, ctx.region, API, || {
                ec2.describe_vpc_endpoint_services()
                    .set_service_names(Some(names.to_vec()))
                    .set_service_regions(service_region.map(|r| vec![r.to_string()]))
                    .set_next_token(t)
                    .send()
            })
            .await;
        match r {
            Ok(o) => {
                for d in o.service_details() {
                    let Some(name) = d.service_name() else {
                        continue;
                    };
                    if !names.iter().any(|n| n == name) {
                        continue;
                    }
                    out.extend(convert::service_lookup(d, ctx.region, service_region));
                }
                token = o.next_token().map(str::to_string).filter(|t| !t.is_empty());
                if token.is_none() {
                    ctx.ok(API);
                    return Ok(out);
                }
            }
            Err(e) => {
                let code = e.code().unwrap_or("").to_string();
                if code != "InvalidServiceName" {
                    ctx.gate
                        .record(ctx.account, Some(ctx.region), API, classify(&e));
                }
                return Err(code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::Client as Ec2;
    use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
    use aws_sdk_ec2::operation::describe_vpc_endpoint_connections::DescribeVpcEndpointConnectionsOutput;
    use aws_sdk_ec2::operation::describe_vpc_endpoint_service_configurations::DescribeVpcEndpointServiceConfigurationsOutput;
    use aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
    use aws_sdk_ec2::types as t;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn ec2_error(code: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(if code == "RequestLimitExceeded" {
                503
            } else {
                403
            })
            .unwrap(),
            SdkBody::from(format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{code} for the test</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
            )),
        )
    }

    fn endpoint(id: &str, state: &str) -> t::VpcEndpoint {
        t::VpcEndpoint::builder()
            .vpc_endpoint_id(id)
            .vpc_endpoint_type(t::VpcEndpointType::Interface)
            .vpc_id("vpc-1")
            .service_name("com.amazonaws.vpce.us-east-1.vpce-svc-1")
            .state(t::State::from(state))
            .subnet_ids("subnet-1")
            .private_dns_enabled(id == "vpce-1")
            .build()
    }

    /// Rules for every call a region with one VPC makes, answering with empty or small pages.
    fn background() -> Vec<Rule> {
        vec![
            mock!(Ec2::describe_availability_zones).then_output(|| {
                DescribeAvailabilityZonesOutput::builder()
                    .availability_zones(
                        t::AvailabilityZone::builder()
                            .zone_name("us-east-1a")
                            .zone_id("use1-az4")
                            .zone_type("availability-zone")
                            .build(),
                    )
                    .build()
            }),
            mock!(Ec2::describe_vpc_endpoint_connections)
                .then_output(|| DescribeVpcEndpointConnectionsOutput::builder().build()),
            mock!(Ec2::describe_vpcs).then_output(|| {
                DescribeVpcsOutput::builder()
                    .vpcs(
                        t::Vpc::builder()
                            .vpc_id("vpc-1")
                            .cidr_block("10.0.0.0/16")
                            .build(),
                    )
                    .build()
            }),
            mock!(Ec2::describe_vpc_attribute).then_output(|| {
                DescribeVpcAttributeOutput::builder()
                    .vpc_id("vpc-1")
                    .enable_dns_support(t::AttributeBooleanValue::builder().value(true).build())
                    .build()
            }),
            mock!(Ec2::describe_subnets).then_output(|| {
                DescribeSubnetsOutput::builder()
                    .subnets(
                        t::Subnet::builder()
                            .subnet_id("subnet-1")
                            .vpc_id("vpc-1")
                            .availability_zone("us-east-1a")
                            .availability_zone_id("use1-az4")
                            .cidr_block("10.0.1.0/24")
                            .build(),
                    )
                    .build()
            }),
            mock!(Ec2::describe_security_groups)
                .then_output(|| DescribeSecurityGroupsOutput::builder().build()),
        ]
    }

    fn ec2_client(rules: &[Rule]) -> Ec2 {
        let refs: Vec<&Rule> = rules.iter().collect();
        mock_client!(aws_sdk_ec2, RuleMode::MatchAny, refs.as_slice(), |b| b
            .retry_config(
                aws_sdk_ec2::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ))
    }

    fn elb_client() -> aws_sdk_elasticloadbalancingv2::Client {
        mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, &[])
    }

    async fn run(rules: Vec<Rule>) -> (Region, Vec<CoverageEntry>) {
        let gate = Gate::new(8, 8);
        let ctx = RegionCtx {
            gate: &gate,
            account: "111111111111",
            region: "us-east-1",
            ec2: ec2_client(&rules),
            elb: std::sync::OnceLock::from(elb_client()),
            make_elb: None,
            page_size: Some(1),
        };
        let region = collect_region(&ctx).await;
        (region, gate.ledger())
    }

    fn status(ledger: &[CoverageEntry], api: &str) -> CoverageStatus {
        ledger
            .iter()
            .find(|c| c.api == api)
            .unwrap_or_else(|| panic!("no ledger entry for {api}"))
            .status
    }

    #[tokio::test]
    async fn endpoints_are_followed_across_pages_and_camel_case_states_survive() {
        let mut rules = background();
        rules.push(
            mock!(Ec2::describe_vpc_endpoint_service_configurations)
                .then_output(|| DescribeVpcEndpointServiceConfigurationsOutput::builder().build()),
        );
        rules.push(
            mock!(Ec2::describe_vpc_endpoints)
                .match_requests(|r| r.next_token().is_none())
                .then_output(|| {
                    DescribeVpcEndpointsOutput::builder()
                        .vpc_endpoints(endpoint("vpce-1", "available"))
                        .next_token("page-2")
                        .build()
                }),
        );
        rules.push(
            mock!(Ec2::describe_vpc_endpoints)
                .match_requests(|r| r.next_token() == Some("page-2"))
                .then_output(|| {
                    DescribeVpcEndpointsOutput::builder()
                        .vpc_endpoints(endpoint("vpce-2", "pendingAcceptance"))
                        .next_token("page-3")
                        .build()
                }),
        );
        rules.push(
            mock!(Ec2::describe_vpc_endpoints)
                .match_requests(|r| r.next_token() == Some("page-3"))
                .then_output(|| {
                    DescribeVpcEndpointsOutput::builder()
                        .vpc_endpoints(endpoint("vpce-3", "rejected"))
                        .build()
                }),
        );
        let (region, ledger) = run(rules).await;
        let ids: Vec<&str> = region.vpc_endpoints.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["vpce-1", "vpce-2", "vpce-3"]);
        // The SDK's enum has PascalCase variants; EC2 sends camelCase: keep the string.
        assert_eq!(region.vpc_endpoints[1].state, "pendingAcceptance");
        assert_eq!(
            status(&ledger, "ec2:DescribeVpcEndpoints"),
            CoverageStatus::Ok
        );
        assert_eq!(region.subnets.len(), 1);
        assert_eq!(region.vpcs.len(), 1);
        assert_eq!(region.vpcs[0].enable_dns_support, Some(true));
    }

    #[tokio::test]
    async fn throttling_then_success_is_retried_and_complete() {
        let mut rules = background();
        rules.push(
            mock!(Ec2::describe_vpc_endpoint_service_configurations)
                .sequence()
                .http_response(|| ec2_error("RequestLimitExceeded"))
                .output(|| {
                    DescribeVpcEndpointServiceConfigurationsOutput::builder()
                        .service_configurations(
                            t::ServiceConfiguration::builder()
                                .service_id("vpce-svc-1")
                                .service_name("com.amazonaws.vpce.us-east-1.vpce-svc-1")
                                .service_state(t::ServiceState::from("Available"))
                                .private_dns_name("api.example.com")
                                .private_dns_name_configuration(
                                    t::PrivateDnsNameConfiguration::builder()
                                        .state(t::DnsNameState::from("pendingVerification"))
                                        .name("_x")
                                        .value("v")
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                })
                .repeatedly()
                .build(),
        );
        rules.push(mock!(Ec2::describe_vpc_endpoint_service_permissions).then_output(|| {
            aws_sdk_ec2::operation::describe_vpc_endpoint_service_permissions::DescribeVpcEndpointServicePermissionsOutput::builder()
                .allowed_principals(t::AllowedPrincipal::builder().principal("arn:aws:iam::222222222222:root").build())
                .build()
        }));
        rules.push(
            mock!(Ec2::describe_vpc_endpoints)
                .then_output(|| DescribeVpcEndpointsOutput::builder().build()),
        );
        let (region, ledger) = run(rules).await;
        assert_eq!(region.endpoint_services.len(), 1);
        let s = &region.endpoint_services[0];
        assert_eq!(s.private_dns_state.as_deref(), Some("pendingVerification"));
        assert_eq!(s.allowed_principals, ["arn:aws:iam::222222222222:root"]);
        assert_eq!(
            status(&ledger, "ec2:DescribeVpcEndpointServiceConfigurations"),
            CoverageStatus::Ok
        );
    }

    #[tokio::test]
    async fn access_denied_is_a_named_gap_and_the_rest_is_collected() {
        let mut rules = background();
        rules.push(
            mock!(Ec2::describe_vpc_endpoint_service_configurations)
                .then_output(|| DescribeVpcEndpointServiceConfigurationsOutput::builder().build()),
        );
        rules.push(
            mock!(Ec2::describe_vpc_endpoints)
                .then_http_response(|| ec2_error("UnauthorizedOperation")),
        );
        let (region, ledger) = run(rules).await;
        assert_eq!(
            status(&ledger, "ec2:DescribeVpcEndpoints"),
            CoverageStatus::AccessDenied
        );
        let e = ledger
            .iter()
            .find(|c| c.api == "ec2:DescribeVpcEndpoints")
            .unwrap();
        assert!(
            e.error
                .as_deref()
                .unwrap()
                .contains("UnauthorizedOperation")
        );
        assert!(region.vpc_endpoints.is_empty());
        assert_eq!(
            region.availability_zones.len(),
            1,
            "the AZ map is still collected"
        );
        assert_eq!(
            status(&ledger, "ec2:DescribeAvailabilityZones"),
            CoverageStatus::Ok
        );
    }

    #[tokio::test]
    async fn a_denied_region_is_a_gap_on_every_api() {
        let rules = vec![
            mock!(Ec2::describe_availability_zones)
                .then_http_response(|| ec2_error("OptInRequired")),
            mock!(Ec2::describe_vpc_endpoint_service_configurations)
                .then_http_response(|| ec2_error("OptInRequired")),
            mock!(Ec2::describe_vpc_endpoint_connections)
                .then_http_response(|| ec2_error("OptInRequired")),
            mock!(Ec2::describe_vpc_endpoints).then_http_response(|| ec2_error("OptInRequired")),
        ];
        let (region, ledger) = run(rules).await;
        assert!(region.availability_zones.is_empty() && region.vpc_endpoints.is_empty());
        for api in [
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeVpcEndpointServiceConfigurations",
            "ec2:DescribeVpcEndpointConnections",
            "ec2:DescribeVpcEndpoints",
        ] {
            assert_eq!(
                status(&ledger, api),
                CoverageStatus::RegionDisabled,
                "{api}"
            );
        }
    }

    #[tokio::test]
    async fn a_repeated_page_token_stops_instead_of_looping() {
        let mut rules = background();
        rules.push(
            mock!(Ec2::describe_vpc_endpoint_service_configurations)
                .then_output(|| DescribeVpcEndpointServiceConfigurationsOutput::builder().build()),
        );
        rules.push(mock!(Ec2::describe_vpc_endpoints).then_output(|| {
            DescribeVpcEndpointsOutput::builder()
                .vpc_endpoints(endpoint("vpce-1", "available"))
                .next_token("same")
                .build()
        }));
        let (_, ledger) = run(rules).await;
        assert_eq!(
            status(&ledger, "ec2:DescribeVpcEndpoints"),
            CoverageStatus::Error
        );
    }
}
