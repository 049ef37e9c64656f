-- plaudit's SQLite schema: one table per resource kind, plus views for the PrivateLink joins.
-- Rules and `plaudit query` read these. Every regional table carries account_id and region.
-- AZ comparisons use *_az_id columns only; *_az_name columns are for display.
-- Booleans are 0/1. Timestamps are RFC 3339 text (UTC). Lists are one row per element.

-- Organisation accounts, as Organizations reports them.
CREATE TABLE accounts (
  account_id TEXT PRIMARY KEY,
  name TEXT NOT NULL, email TEXT NOT NULL,
  status TEXT NOT NULL,              -- Organizations' State: ACTIVE, SUSPENDED, PENDING_CLOSURE, ...
  ou_path TEXT NOT NULL,             -- /Workloads/Prod
  tags TEXT NOT NULL                 -- JSON object
);

-- Every account of the organisation, crawled or not (Organizations' listing). Trust rules
-- judge principals against this table, never against `accounts` (what was crawled). Whether
-- the list is the whole organisation is in scan_meta ('membership_complete', '1' or '0').
CREATE TABLE org_members (
  account_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL,               -- ACTIVE, SUSPENDED, PENDING_ACTIVATION, PENDING_CLOSURE, CLOSED
  ou_path TEXT NOT NULL              -- '' when unknown
);

-- Each account's own AZ name -> AZ ID map, per region.
CREATE TABLE availability_zones (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  az_name TEXT NOT NULL, az_id TEXT NOT NULL,
  zone_type TEXT NOT NULL,           -- availability-zone, local-zone, wavelength-zone
  PRIMARY KEY (account_id, region, az_name)
);

CREATE TABLE vpcs (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  vpc_id TEXT NOT NULL, cidr TEXT,
  enable_dns_support INTEGER, enable_dns_hostnames INTEGER, -- NULL: not read
  is_default INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, vpc_id)
);

-- Every CIDR associated with a VPC (primary and secondary IPv4, IPv6): the addresses its
-- clients may come from.
CREATE TABLE vpc_cidrs (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  vpc_id TEXT NOT NULL, cidr TEXT NOT NULL,
  family TEXT NOT NULL               -- ipv4, ipv6
);
CREATE INDEX vpcc_vpc ON vpc_cidrs (account_id, region, vpc_id);

CREATE TABLE subnets (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  subnet_id TEXT NOT NULL, vpc_id TEXT NOT NULL,
  cidr TEXT, ipv6_cidr TEXT,
  az_name TEXT NOT NULL, az_id TEXT,  -- az_id NULL only when the account's AZ map is missing
  PRIMARY KEY (account_id, region, subnet_id)
);
CREATE INDEX subnet_vpc ON subnets (account_id, region, vpc_id);
CREATE INDEX subnet_id ON subnets (subnet_id);

CREATE TABLE security_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  group_id TEXT NOT NULL, group_name TEXT NOT NULL, vpc_id TEXT,
  PRIMARY KEY (account_id, region, group_id)
);

-- One row per rule and source/destination (as DescribeSecurityGroupRules reports them).
CREATE TABLE security_group_rules (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  group_id TEXT NOT NULL, rule_id TEXT,
  direction TEXT NOT NULL,           -- ingress, egress
  protocol TEXT NOT NULL,            -- tcp, udp, icmp, -1 (all)
  from_port INTEGER, to_port INTEGER,-- NULL for protocol -1
  cidr_ipv4 TEXT, cidr_ipv6 TEXT,
  referenced_group_id TEXT, referenced_group_owner TEXT,
  prefix_list_id TEXT, description TEXT
);
CREATE INDEX sgr_group ON security_group_rules (group_id);
CREATE INDEX sgr_ref ON security_group_rules (referenced_group_id);

CREATE TABLE load_balancers (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  lb_arn TEXT PRIMARY KEY, name TEXT NOT NULL,
  lb_type TEXT NOT NULL,             -- network, application, gateway
  scheme TEXT NOT NULL, vpc_id TEXT, state TEXT NOT NULL, dns_name TEXT,
  enforce_sg_inbound_on_privatelink INTEGER, -- NULL when unknown / not applicable
  cross_zone INTEGER                 -- NULL when unknown
);

-- The AZs a load balancer is enabled in, with the node addresses there.
CREATE TABLE load_balancer_zones (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  lb_arn TEXT NOT NULL, az_name TEXT NOT NULL, az_id TEXT, subnet_id TEXT
);
CREATE INDEX lbz_lb ON load_balancer_zones (lb_arn);

CREATE TABLE load_balancer_addresses (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  lb_arn TEXT NOT NULL, az_id TEXT, private_ip TEXT NOT NULL
);
CREATE INDEX lba_lb ON load_balancer_addresses (lb_arn);

CREATE TABLE load_balancer_security_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  lb_arn TEXT NOT NULL, group_id TEXT NOT NULL
);
CREATE INDEX lbsg_lb ON load_balancer_security_groups (lb_arn);
CREATE INDEX lbsg_group ON load_balancer_security_groups (group_id);

CREATE TABLE listeners (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  lb_arn TEXT NOT NULL, listener_arn TEXT,
  protocol TEXT NOT NULL, port INTEGER NOT NULL
);
CREATE INDEX lis_lb ON listeners (lb_arn);

CREATE TABLE target_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  tg_arn TEXT PRIMARY KEY, name TEXT NOT NULL,
  target_type TEXT NOT NULL,         -- instance, ip, lambda, alb
  protocol TEXT, port INTEGER, vpc_id TEXT,
  health_check_port INTEGER,         -- resolved: 'traffic-port' becomes the target group port
  cross_zone TEXT                    -- the group's own setting: true, false,
                                     -- use_load_balancer_configuration; NULL when not read
);

-- Which load balancers a target group is attached to.
CREATE TABLE target_group_load_balancers (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  tg_arn TEXT NOT NULL, lb_arn TEXT NOT NULL
);
CREATE INDEX tglb_lb ON target_group_load_balancers (lb_arn);
CREATE INDEX tglb_tg ON target_group_load_balancers (tg_arn);

CREATE TABLE targets (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  tg_arn TEXT NOT NULL,
  target_id TEXT NOT NULL,           -- instance id, IP, Lambda ARN or ALB ARN
  port INTEGER, az_name TEXT, az_id TEXT, health TEXT
);
CREATE INDEX tgt_tg ON targets (tg_arn);

-- Endpoint services, provider side.
CREATE TABLE endpoint_services (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_id TEXT PRIMARY KEY, service_name TEXT NOT NULL,
  service_type TEXT NOT NULL,        -- Interface, GatewayLoadBalancer
  state TEXT NOT NULL,               -- Available, Pending, Deleting, Deleted, Failed
  acceptance_required INTEGER NOT NULL,
  private_dns_name TEXT,
  private_dns_state TEXT,            -- verified, pendingVerification, failed
  private_dns_txt_name TEXT, private_dns_txt_value TEXT,
  created_at TEXT
);
CREATE INDEX es_name ON endpoint_services (service_name);

-- The load balancers behind each service.
CREATE TABLE endpoint_service_load_balancers (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_id TEXT NOT NULL, lb_arn TEXT NOT NULL,
  lb_kind TEXT NOT NULL              -- network, gateway
);
CREATE INDEX eslb_svc ON endpoint_service_load_balancers (service_id);
CREATE INDEX eslb_lb ON endpoint_service_load_balancers (lb_arn);

-- The AZs a service is offered in (provider's names, resolved to IDs with the provider's map).
CREATE TABLE endpoint_service_zones (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_id TEXT NOT NULL, az_name TEXT NOT NULL, az_id TEXT
);
CREATE INDEX esz_svc ON endpoint_service_zones (service_id);

CREATE TABLE endpoint_service_principals (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_id TEXT NOT NULL,
  principal TEXT NOT NULL,           -- an ARN or *
  principal_account TEXT             -- the account id inside the ARN; NULL for *
);

CREATE TABLE endpoint_service_regions (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_id TEXT NOT NULL, supported_region TEXT NOT NULL
);

-- Connections, as the provider sees them.
CREATE TABLE endpoint_connections (
  account_id TEXT NOT NULL, region TEXT NOT NULL,   -- the provider's
  service_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL, endpoint_owner TEXT NOT NULL,
  state TEXT NOT NULL,               -- lower-cased: pendingacceptance, available, rejected, ...
  created_at TEXT, endpoint_region TEXT
);
CREATE INDEX ec_ep ON endpoint_connections (endpoint_id);
CREATE INDEX ec_svc ON endpoint_connections (service_id, state);

-- VPC endpoints, consumer side.
CREATE TABLE vpc_endpoints (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  endpoint_id TEXT PRIMARY KEY,
  endpoint_type TEXT NOT NULL,       -- Interface, Gateway, GatewayLoadBalancer, Resource,
                                     -- ServiceNetwork (the last two: VPC Lattice, no service)
  vpc_id TEXT NOT NULL, service_name TEXT NOT NULL,
  service_region TEXT NOT NULL,      -- the endpoint's region unless cross-region
  state TEXT NOT NULL,               -- lower-cased: pendingacceptance, available, rejected, ...
  private_dns_enabled INTEGER NOT NULL,
  created_at TEXT,
  service_network_arn TEXT,          -- VPC Lattice ServiceNetwork endpoints
  resource_configuration_arn TEXT    -- VPC Lattice Resource endpoints
);
CREATE INDEX vpce_svc ON vpc_endpoints (service_name);

CREATE TABLE vpc_endpoint_subnets (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  endpoint_id TEXT NOT NULL, subnet_id TEXT NOT NULL
);
CREATE INDEX vpces_ep ON vpc_endpoint_subnets (endpoint_id);
CREATE TABLE vpc_endpoint_security_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  endpoint_id TEXT NOT NULL, group_id TEXT NOT NULL
);
CREATE INDEX vpcesg_ep ON vpc_endpoint_security_groups (endpoint_id);

-- What DescribeVpcEndpointServices told a consumer about a service it does not own.
CREATE TABLE service_lookups (
  account_id TEXT NOT NULL, region TEXT NOT NULL,   -- the consumer's
  service_name TEXT NOT NULL,
  found INTEGER NOT NULL,            -- 0: AWS does not show it to this account (deleted, or
                                     -- its permissions do not name it): not proof of deletion
  service_id TEXT, owner TEXT, private_dns_name TEXT,
  service_region TEXT                -- the service's region when another (cross-region)
);
CREATE INDEX sl_name ON service_lookups (service_name, account_id, region);

-- Offered AZs of a looked-up service (consumer's names, resolved with the consumer's map).
CREATE TABLE service_lookup_zones (
  account_id TEXT NOT NULL, region TEXT NOT NULL,
  service_name TEXT NOT NULL, az_name TEXT NOT NULL, az_id TEXT
);
CREATE INDEX slz_name ON service_lookup_zones (service_name, account_id, region);

-- The coverage ledger. region is '*' for account-wide outcomes (AssumeRole, suspended);
-- account_id is 'organization' for outcomes about the organisation (Organizations calls).
CREATE TABLE coverage (
  account_id TEXT NOT NULL, region TEXT NOT NULL, api TEXT NOT NULL,
  status TEXT NOT NULL,              -- ok, assume_role_failed, access_denied, region_disabled,
                                     -- throttled, timeout, error, auth_failed,
                                     -- credentials_expired; not gaps: suspended,
                                     -- not_active, not_enabled
  error TEXT
);
CREATE INDEX cov_acct ON coverage (account_id, region);

-- Scan metadata: collected_at is the reference time for ages.
CREATE TABLE scan_meta (key TEXT PRIMARY KEY, value TEXT);
