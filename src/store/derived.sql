-- ===== Derived relationships =====
-- Computed once after the inventory is loaded (tables, indexed) or kept as views where cheap.
-- Read them like any table.

-- The Availability Zone IDs of each account-region (regular AZs only).
CREATE VIEW region_az_ids AS
  SELECT account_id, region, az_id, az_name FROM availability_zones
  WHERE zone_type = 'availability-zone';

-- Service -> the AZ IDs its load balancers serve (all of them together).
CREATE TABLE service_lb_az_ids AS
  SELECT DISTINCT s.account_id, s.region, s.service_id, z.az_id, z.az_name
  FROM endpoint_services s
  JOIN endpoint_service_load_balancers sl ON sl.service_id = s.service_id
  JOIN load_balancer_zones z ON z.lb_arn = sl.lb_arn
  WHERE z.az_id IS NOT NULL;
CREATE INDEX slai_svc ON service_lb_az_ids (service_id, az_id);

-- Endpoint -> its service, across accounts: the in-org provider when there is one, else the
-- consumer's own lookup. provider_account is NULL for services outside the organisation.
-- 'not_found' means AWS did not show the service to the consumer (InvalidServiceName): it
-- may be deleted, or its permissions may no longer name the consumer, or it is in a region
-- the lookup did not ask: never proof that it is gone. Only endpoints that reach an endpoint
-- service (Interface, GatewayLoadBalancer); VPC Lattice endpoints have none.
CREATE TABLE endpoint_services_resolved AS
  SELECT e.account_id, e.region, e.endpoint_id, e.service_name, e.service_region,
         s.service_id, s.account_id AS provider_account, s.region AS provider_region,
         CASE WHEN s.service_id IS NOT NULL THEN 'organization'
              WHEN l.found = 1 THEN 'lookup'
              WHEN l.found = 0 THEN 'not_found'
              ELSE 'unknown' END AS resolution
  FROM vpc_endpoints e
  LEFT JOIN endpoint_services s ON s.service_name = e.service_name
  LEFT JOIN (SELECT account_id, region, service_name, max(found) AS found
             FROM service_lookups GROUP BY account_id, region, service_name) l
       ON l.service_name = e.service_name
       AND l.account_id = e.account_id AND l.region = e.region
  WHERE e.endpoint_type IN ('Interface', 'GatewayLoadBalancer');
CREATE INDEX esr_ep ON endpoint_services_resolved (endpoint_id);

-- Endpoint -> the AZ IDs its service offers (provider's zones for in-org services, the
-- consumer's lookup otherwise). Both sides resolved through their own account's AZ map.
CREATE TABLE endpoint_service_az_ids AS
  SELECT r.endpoint_id, z.az_id, z.az_name AS provider_az_name
  FROM endpoint_services_resolved r
  JOIN endpoint_service_zones z ON z.service_id = r.service_id
  WHERE r.resolution = 'organization' AND z.az_id IS NOT NULL
  UNION
  SELECT r.endpoint_id, lz.az_id, lz.az_name
  FROM endpoint_services_resolved r
  JOIN service_lookup_zones lz ON lz.service_name = r.service_name
       AND lz.account_id = r.account_id AND lz.region = r.region
  WHERE r.resolution = 'lookup' AND lz.az_id IS NOT NULL;
CREATE INDEX esai_ep ON endpoint_service_az_ids (endpoint_id, az_id);

-- NLB -> target group of type alb -> the ALB registered in it.
CREATE VIEW nlb_alb_chain AS
  SELECT nlb.account_id, nlb.region, nlb.lb_arn AS nlb_arn, nlb.name AS nlb_name,
         tg.tg_arn, tg.name AS tg_name, tg.port AS tg_port, tg.health_check_port,
         alb.lb_arn AS alb_arn, alb.name AS alb_name
  FROM load_balancers nlb
  JOIN target_group_load_balancers tl ON tl.lb_arn = nlb.lb_arn
  JOIN target_groups tg ON tg.tg_arn = tl.tg_arn AND tg.target_type = 'alb'
  JOIN targets t ON t.tg_arn = tg.tg_arn
  JOIN load_balancers alb ON alb.lb_arn = t.target_id AND alb.lb_type = 'application'
  WHERE nlb.lb_type = 'network';

-- Ingress rules flattened with the group's owner.
CREATE VIEW ingress_rules AS
  SELECT * FROM security_group_rules WHERE direction = 'ingress';

-- Gaps only (an account that is not active or a region that is not enabled holds nothing to
-- read: not a gap).
CREATE VIEW coverage_gaps AS
  SELECT * FROM coverage WHERE status NOT IN ('ok', 'suspended', 'not_active', 'not_enabled');

-- Whether org_members is the whole organisation (1) or may miss members (0). Trust rules say
-- `unknown`, never "outside the organisation", for a principal they cannot place.
CREATE VIEW membership AS
  SELECT coalesce((SELECT value = '1' FROM scan_meta WHERE key = 'membership_complete'), 0)
    AND EXISTS (SELECT 1 FROM org_members) AS complete;

-- Each allowed principal and each live connection's owner, placed against the membership:
-- 'anyone' (*), 'member' (an ACTIVE account of the organisation), 'inactive' (a member that
-- is suspended, closing or not yet active), 'outside' (not a member, and the membership is
-- complete), 'unplaced' (not in an incomplete membership: it may be a member).
CREATE VIEW service_trust AS
  SELECT p.account_id, p.region, p.service_id, 'principal' AS kind, p.principal AS who,
    p.principal_account AS who_account, m.state,
    CASE WHEN p.principal = '*' THEN 'anyone'
         WHEN m.account_id IS NOT NULL AND m.state = 'ACTIVE' THEN 'member'
         WHEN m.account_id IS NOT NULL THEN 'inactive'
         WHEN (SELECT complete FROM membership) THEN 'outside'
         ELSE 'unplaced' END AS placement
  FROM endpoint_service_principals p
  LEFT JOIN org_members m ON m.account_id = p.principal_account
  UNION ALL
  SELECT c.account_id, c.region, c.service_id, 'connection', c.endpoint_id, c.endpoint_owner,
    m.state,
    CASE WHEN m.account_id IS NOT NULL AND m.state = 'ACTIVE' THEN 'member'
         WHEN m.account_id IS NOT NULL THEN 'inactive'
         WHEN (SELECT complete FROM membership) THEN 'outside'
         ELSE 'unplaced' END
  FROM endpoint_connections c
  LEFT JOIN org_members m ON m.account_id = c.endpoint_owner
  WHERE c.state NOT IN ('rejected', 'deleted', 'deleting', 'expired', 'failed');

-- The addresses a load balancer's traffic comes from: its nodes' private IPs, or, where
-- those are unknown, the CIDRs of its subnets. kind is 'ip' or 'subnet'.
CREATE TABLE load_balancer_sources AS
  SELECT account_id, region, lb_arn, az_id, private_ip AS source, 'ip' AS kind
  FROM load_balancer_addresses
  UNION
  SELECT z.account_id, z.region, z.lb_arn, z.az_id, s.cidr, 'subnet'
  FROM load_balancer_zones z
  JOIN subnets s ON s.subnet_id = z.subnet_id AND s.account_id = z.account_id
       AND s.region = z.region
  WHERE s.cidr IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM load_balancer_addresses a WHERE a.lb_arn = z.lb_arn);
CREATE INDEX lbsrc_lb ON load_balancer_sources (lb_arn);
