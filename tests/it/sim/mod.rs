//! A simulated AWS organisation on 127.0.0.1, for tests and benchmarks only (never used by a
//! scan). It answers the wire protocols the crawler speaks — Organizations (JSON 1.1), STS,
//! EC2 and ELBv2 (query protocol, XML) — from an [`Inventory`] (usually `plaudit::synth`'s),
//! and behaves like AWS where it matters to a crawler:
//!
//! - every response waits a latency drawn from [`Latency`];
//! - AWS's published token buckets (EC2 per account, region and action: 100 burst, 20/s; ELBv2
//!   per account and region: 40 burst, 10/s; Organizations per API: the OU walk 5/s, ListAccounts
//!   and tags 8/s — see [`Buckets`]), answered with the real
//!   throttling codes;
//! - pages no larger than [`Options::page_cap`] (Organizations: 20, as AWS);
//! - injected [`Fault`]s: 5xx, stalled bodies, hangs, truncated XML, throttling storms; AssumeRole
//!   denied for chosen accounts; SCP denials for chosen regions; suspended accounts (from the
//!   inventory's account status).
//!
//! Callers are told apart by access key: `AKIA<account>SIMU` for the management account's own
//! credentials, `ASIA<account>SIMU` for what AssumeRole hands out. The region and service come
//! from the SigV4 credential scope.
//!
//! [`Sim::stats`] counts requests, throttles and retries per bucket, and [`Sim::lower_bound`]
//! computes how fast any crawler could possibly collect the organisation: the longest chain of
//! requests that depend on each other × latency, or the time the busiest bucket needs to serve
//! its requests at its refill rate — whichever is larger.
#![allow(dead_code)]

pub mod http;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use plaudit::inventory::{Account, Inventory, Region};
use serde_json::{Value, json};

use self::http::{Delivery, Request, Response};
use self::wire::{ELB_NS, Params, Protocol, STS_NS, Xml, ec2_ok, error, json_ok, query_ok};

/// Per-request latency.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    Fixed(Duration),
    /// Uniform between the two.
    Uniform(Duration, Duration),
    /// As a scanner in `us-east-1` sees AWS: the round trip to each region's endpoint
    /// ([`REGION_RTT_MS`]) plus the service's own time, uniform between the two bounds
    /// (jitter). Organizations and STS are answered from `us-east-1`.
    Regional {
        service: (Duration, Duration),
    },
}

/// Round-trip times in ms from `us-east-1` to each region's endpoints, rounded, from public
/// inter-region measurements (the median ping between EC2 instances per region pair, as
/// published by cloudping.co-style dashboards and AWS Network Manager's infrastructure
/// performance pages, 2024–2026). A request on a kept-alive HTTPS connection costs about one
/// round trip plus the service's time. A region missing here costs 100 ms.
pub const REGION_RTT_MS: [(&str, u64); 17] = [
    ("us-east-1", 2),
    ("us-east-2", 12),
    ("ca-central-1", 16),
    ("us-west-1", 62),
    ("us-west-2", 67),
    ("eu-west-1", 68),
    ("eu-west-2", 76),
    ("eu-west-3", 80),
    ("eu-central-1", 90),
    ("eu-north-1", 105),
    ("sa-east-1", 115),
    ("ap-northeast-1", 145),
    ("ap-northeast-3", 150),
    ("ap-northeast-2", 175),
    ("ap-south-1", 190),
    ("ap-southeast-2", 200),
    ("ap-southeast-1", 215),
];

fn region_rtt(region: &str) -> Duration {
    let ms = REGION_RTT_MS
        .iter()
        .find(|(r, _)| *r == region)
        .map_or(100, |(_, ms)| *ms);
    Duration::from_millis(ms)
}

impl Latency {
    /// The least a request to `region` can take.
    fn min(self, region: &str) -> Duration {
        match self {
            Latency::Fixed(d) | Latency::Uniform(d, _) => d,
            Latency::Regional { service } => region_rtt(region) + service.0,
        }
    }
    fn draw(self, n: u64, region: &str) -> Duration {
        let uniform = |lo: Duration, hi: Duration| {
            let span = hi.saturating_sub(lo).as_micros() as u64;
            let x = n.wrapping_mul(0x9e3779b97f4a7c15) >> 11;
            lo + Duration::from_micros(if span == 0 { 0 } else { x % span })
        };
        match self {
            Latency::Fixed(d) => d,
            Latency::Uniform(lo, hi) => uniform(lo, hi),
            Latency::Regional { service } => region_rtt(region) + uniform(service.0, service.1),
        }
    }
}

/// A token bucket's shape.
#[derive(Debug, Clone, Copy)]
pub struct BucketShape {
    pub burst: f64,
    pub per_second: f64,
}

/// AWS's published buckets (the defaults) — or tighter ones for a throttling storm.
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    pub ec2: BucketShape,
    pub elb: BucketShape,
    /// Organizations, per API: the OU walk (ListRoots, ListAccountsForParent,
    /// ListOrganizationalUnitsForParent, DescribeOrganization), each its own bucket.
    pub org: BucketShape,
    /// Organizations ListAccounts and ListTagsForResource, each its own (larger) bucket.
    pub org_list: BucketShape,
    pub sts: BucketShape,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            ec2: BucketShape {
                burst: 100.0,
                per_second: 20.0,
            },
            elb: BucketShape {
                burst: 40.0,
                per_second: 10.0,
            },
            // AWS's per-API numbers could not be confirmed from its documentation (see
            // plaudit's `crawl::api::org_bucket`): the walk at the reported 5/s, ListAccounts
            // and tags at 8/s, each per API and per organisation.
            org: BucketShape {
                burst: 5.0,
                per_second: 5.0,
            },
            org_list: BucketShape {
                burst: 8.0,
                per_second: 8.0,
            },
            sts: BucketShape {
                burst: 600.0,
                per_second: 600.0,
            },
        }
    }
}

/// Which requests a fault hits (all of the given, any when `None`).
#[derive(Debug, Clone, Default)]
pub struct Match {
    pub account: Option<String>,
    pub region: Option<String>,
    /// `DescribeVpcEndpoints`, `ListAccounts`, …
    pub action: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// 500 InternalError / InternalFailure.
    ServerError,
    /// 503 ServiceUnavailable / Unavailable.
    Unavailable,
    /// Headers and half the body, then a pause.
    StallBody(Duration),
    /// No answer for a while.
    Hang(Duration),
    /// XML cut in half.
    Truncated,
    /// The service's throttling error, whatever the bucket says.
    Throttle,
    /// 500 with an HTML page for a body (a proxy's or an emulator's error page).
    HtmlError,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub on: Match,
    pub kind: FaultKind,
    /// How many matching requests it hits; `None`: all of them.
    pub times: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub latency: Latency,
    /// Enforce the token buckets.
    pub throttling: bool,
    pub buckets: Buckets,
    /// Items per page at most for EC2 and ELBv2 listings (AWS: up to 1000 / 400).
    pub page_cap: usize,
    /// Items per page for Organizations (AWS: 20).
    pub org_page_cap: usize,
    pub faults: Vec<Fault>,
    /// AssumeRole into these accounts is denied.
    pub deny_assume_role: BTreeSet<String>,
    /// EC2 and ELBv2 calls in these regions are denied by an SCP (for every account).
    pub scp_denied_regions: BTreeSet<String>,
    /// Also send Organizations' retired account `Status` beside `State`. AWS retired `Status`
    /// on 2026-09-09 (the SDK's model text), so by default only `State` is sent.
    pub legacy_account_status: bool,
    /// Account → regions it has not opted in to: DescribeRegions lists them as
    /// `not-opted-in` (only when asked for all regions), and EC2/ELBv2 calls there answer
    /// AuthFailure (as reported for disabled regions; AWS does not document the code).
    pub not_enabled: BTreeMap<String, BTreeSet<String>>,
    /// The scan's own credentials are a role session (`assumed-role/…`): AssumeRole is role
    /// chaining, and AWS refuses a DurationSeconds over 3,600 with a ValidationError.
    pub caller_is_role: bool,
    /// EC2 rejects a call with more filter values than this in all (FilterLimitExceeded).
    /// AWS does not document the number; public projects report 200.
    pub filter_value_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            latency: Latency::Fixed(Duration::from_millis(0)),
            throttling: true,
            buckets: Buckets::default(),
            page_cap: 1000,
            org_page_cap: 20,
            faults: Vec::new(),
            deny_assume_role: BTreeSet::new(),
            scp_denied_regions: BTreeSet::new(),
            legacy_account_status: false,
            not_enabled: BTreeMap::new(),
            caller_is_role: false,
            filter_value_limit: 200,
        }
    }
}

/// What the simulator saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    /// Throttling errors sent (by a bucket or a fault).
    pub throttled: u64,
    /// Requests that were a retry (the SDK's `amz-sdk-request: attempt=N`, N > 1).
    pub retries: u64,
    /// Faults injected.
    pub faults: u64,
    pub per_action: BTreeMap<String, u64>,
    /// The bucket that needs the longest to serve its requests: (name, seconds).
    pub busiest_bucket: Option<(String, f64)>,
    pub buckets: usize,
}

/// How fast any crawler could collect the organisation.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The longest chain of requests that depend on each other.
    pub chain_requests: u64,
    pub chain_seconds: f64,
    /// The bucket that needs the longest at its refill rate: (name, seconds).
    pub bucket: (String, f64),
    pub seconds: f64,
}

struct Bucket {
    shape: BucketShape,
    tokens: f64,
    last: Instant,
    served: u64,
    throttled: u64,
}

/// Indexes over the inventory the simulator serves.
struct Model {
    inv: Inventory,
    by_id: HashMap<String, usize>,
    regions: Vec<String>,
    region_of: HashMap<(usize, String), usize>,
    /// Service name → (account, region, service) indexes.
    services: HashMap<String, (usize, usize, usize)>,
    /// OU id → (name, parent id); the root is `r-sim0`.
    ous: BTreeMap<String, (String, String)>,
    /// Parent id → child OU ids, in order.
    children: BTreeMap<String, Vec<String>>,
    /// Parent id → account indexes, in order.
    members: BTreeMap<String, Vec<usize>>,
    management: String,
}

const ROOT: &str = "r-sim0";
static EMPTY: LazyLock<Region> = LazyLock::new(Region::default);

impl Model {
    fn new(inv: Inventory) -> Model {
        let mut by_id = HashMap::new();
        let mut regions: Vec<String> = Vec::new();
        let mut region_of = HashMap::new();
        let mut services = HashMap::new();
        let mut ous: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut ou_by_path: HashMap<String, String> = HashMap::new();
        for (ai, a) in inv.accounts.iter().enumerate() {
            by_id.insert(a.id.clone(), ai);
            for (ri, r) in a.regions.iter().enumerate() {
                if !regions.contains(&r.name) {
                    regions.push(r.name.clone());
                }
                region_of.insert((ai, r.name.clone()), ri);
                for (si, s) in r.endpoint_services.iter().enumerate() {
                    services.insert(s.name.clone(), (ai, ri, si));
                }
            }
            // The OU path, one OU per segment.
            let mut parent = ROOT.to_string();
            let mut path = String::new();
            for seg in a.ou_path.split('/').filter(|s| !s.is_empty()) {
                path.push('/');
                path.push_str(seg);
                let id = match ou_by_path.get(&path) {
                    Some(id) => id.clone(),
                    None => {
                        let id = format!("ou-sim0-{:08x}", ou_by_path.len() + 1);
                        ou_by_path.insert(path.clone(), id.clone());
                        ous.insert(id.clone(), (seg.to_string(), parent.clone()));
                        children.entry(parent.clone()).or_default().push(id.clone());
                        id
                    }
                };
                parent = id;
            }
            members.entry(parent).or_default().push(ai);
        }
        let management = inv
            .organization
            .as_ref()
            .and_then(|o| o.management_account_id.clone())
            .or_else(|| inv.accounts.first().map(|a| a.id.clone()))
            .unwrap_or_default();
        Model {
            inv,
            by_id,
            regions,
            region_of,
            services,
            ous,
            children,
            members,
            management,
        }
    }

    fn region(&self, account: usize, region: &str) -> &Region {
        match self.region_of.get(&(account, region.to_string())) {
            Some(&ri) => &self.inv.accounts[account].regions[ri],
            None => &EMPTY,
        }
    }

    fn account(&self, i: usize) -> &Account {
        &self.inv.accounts[i]
    }
}

/// The simulator: start it, point `AWS_ENDPOINT_URL` at [`Sim::url`], use
/// [`Sim::caller_key`] as the access key.
pub struct Sim {
    model: Model,
    opts: Options,
    fault_left: Vec<AtomicI64>,
    buckets: Mutex<HashMap<String, Bucket>>,
    seq: AtomicU64,
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    faults: AtomicU64,
    per_action: Mutex<BTreeMap<String, u64>>,
    addr: Mutex<Option<SocketAddr>>,
    _rt: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Sim {
    /// Serves `inv` on a free port of 127.0.0.1, on its own runtime with `threads` workers.
    pub fn start(inv: Inventory, opts: Options, threads: usize) -> Arc<Sim> {
        let fault_left = opts
            .faults
            .iter()
            .map(|f| AtomicI64::new(f.times.map(i64::from).unwrap_or(-1)))
            .collect();
        let sim = Arc::new(Sim {
            model: Model::new(inv),
            opts,
            fault_left,
            buckets: Mutex::default(),
            seq: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            per_action: Mutex::default(),
            addr: Mutex::new(None),
            _rt: Mutex::new(None),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("aws-sim")
            .enable_all()
            .build()
            .expect("simulator runtime");
        let addr = rt
            .block_on(http::serve(sim.clone()))
            .expect("bind 127.0.0.1");
        *sim.addr.lock().unwrap() = Some(addr);
        *sim._rt.lock().unwrap() = Some(rt);
        sim
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.lock().unwrap().expect("started"))
    }

    /// The access key of the management account's own credentials.
    pub fn caller_key(&self) -> String {
        format!("AKIA{}SIMU", self.model.management)
    }

    pub fn management_account(&self) -> &str {
        &self.model.management
    }

    /// Environment for a `plaudit` process that talks to this simulator only.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url()),
            ("AWS_ACCESS_KEY_ID", self.caller_key()),
            ("AWS_SECRET_ACCESS_KEY", "simulated-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    pub fn stats(&self) -> Stats {
        let b = self.buckets.lock().unwrap();
        let busiest = b
            .iter()
            .map(|(k, v)| (k.clone(), bucket_seconds(v)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            per_action: self.per_action.lock().unwrap().clone(),
            busiest_bucket: busiest,
            buckets: b.len(),
        }
    }

    /// The lower bound of a crawl of the whole organisation (every account, every region in
    /// the inventory, regions found with DescribeRegions), from the requests served so far.
    pub fn lower_bound(&self) -> Bound {
        let (chain, chain_seconds) = self.chain();
        let bucket = self
            .stats()
            .busiest_bucket
            .unwrap_or_else(|| (String::new(), 0.0));
        Bound {
            chain_requests: chain,
            chain_seconds,
            seconds: chain_seconds.max(bucket.1),
            bucket,
        }
    }

    /// The longest chain of dependent requests: discovering an account (ListRoots, the OU pages
    /// leading to it, its page of ListAccountsForParent), then AssumeRole, DescribeRegions, and
    /// its slowest region: the longest of its listings' page chains and what depends on them
    /// (endpoints → VPCs → DNS attributes; services → load balancers → target groups → health
    /// → the ALBs behind). Gives the chain's requests and its seconds: the discovery steps
    /// and AssumeRole at `us-east-1`'s latency (Organizations and STS), DescribeRegions at the
    /// home region's (`us-east-1`), the region's steps at that region's.
    fn chain(&self) -> (u64, f64) {
        let m = &self.model;
        let page = |n: usize, cap: usize| n.div_ceil(cap.max(1)).max(1) as u64;
        let pos = |i: usize, cap: usize| (i / cap.max(1) + 1) as u64;
        let cap = self.opts.page_cap;
        let ocap = self.opts.org_page_cap;
        // OU id → requests to learn of it from the root.
        let mut reach: HashMap<String, u64> = HashMap::new();
        reach.insert(ROOT.into(), 1); // ListRoots
        let mut stack = vec![ROOT.to_string()];
        while let Some(p) = stack.pop() {
            let base = reach[&p];
            for (i, c) in m.children.get(&p).into_iter().flatten().enumerate() {
                reach.insert(c.clone(), base + pos(i, ocap));
                stack.push(c.clone());
            }
        }
        let lat = |region: &str| self.opts.latency.min(region).as_secs_f64();
        let home = lat("us-east-1");
        let mut longest = (0, 0.0);
        for (parent, accts) in &m.members {
            for (i, &ai) in accts.iter().enumerate() {
                let a = m.account(ai);
                if !matches!(a.status.to_ascii_uppercase().as_str(), "ACTIVE" | "") {
                    continue;
                }
                // discovery, AssumeRole, DescribeRegions
                let before = reach[parent] + pos(i, ocap) + 2;
                let region = a
                    .regions
                    .iter()
                    .map(|r| {
                        let eps = page(r.vpc_endpoints.len(), cap)
                            + if r.vpc_endpoints.is_empty() { 0 } else { 2 };
                        let albs = r.load_balancers.iter().any(|l| l.lb_type == "application");
                        // services → load balancers → target groups → health → the ALBs
                        // behind; then the VPCs, subnets and groups of them all
                        let svcs = page(r.endpoint_services.len(), cap)
                            + if r.endpoint_services.is_empty() {
                                0
                            } else {
                                3 + if albs { 2 } else { 0 }
                            };
                        let steps = eps.max(svcs).max(1);
                        (steps, steps as f64 * lat(&r.name))
                    })
                    .max_by(|x, y| x.1.total_cmp(&y.1))
                    .unwrap_or((0, 0.0));
                let total = (before + region.0, before as f64 * home + region.1);
                if total.1 > longest.1 {
                    longest = total;
                }
            }
        }
        longest
    }

    fn fault_for(&self, account: &str, region: &str, action: &str) -> Option<FaultKind> {
        for (f, left) in self.opts.faults.iter().zip(&self.fault_left) {
            let on = &f.on;
            if on.account.as_deref().is_some_and(|a| a != account)
                || on.region.as_deref().is_some_and(|r| r != region)
                || on.action.as_deref().is_some_and(|x| x != action)
            {
                continue;
            }
            let take = left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
                    -1 => Some(-1),
                    0 => None,
                    n => Some(n - 1),
                })
                .is_ok();
            if take {
                self.faults.fetch_add(1, Ordering::Relaxed);
                return Some(f.kind);
            }
        }
        None
    }

    /// Takes a token; false when the bucket is empty (the request is throttled).
    fn take_token(&self, key: String, shape: BucketShape) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap();
        let e = b.entry(key).or_insert(Bucket {
            shape,
            tokens: shape.burst,
            last: now,
            served: 0,
            throttled: 0,
        });
        let dt = now.duration_since(e.last).as_secs_f64();
        e.tokens = (e.tokens + dt * shape.per_second).min(shape.burst);
        e.last = now;
        if !self.opts.throttling || e.tokens >= 1.0 {
            e.tokens -= 1.0;
            e.served += 1;
            true
        } else {
            e.throttled += 1;
            false
        }
    }
}

fn bucket_seconds(b: &Bucket) -> f64 {
    ((b.served as f64 - b.shape.burst) / b.shape.per_second).max(0.0)
}

/// Who is calling, where, and what.
struct Call {
    account: String,
    region: String,
    service: String,
    action: String,
    id: u64,
}

impl http::Handler for Sim {
    async fn handle(&self, req: Request) -> Response {
        let id = self.seq.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if req
            .header("amz-sdk-request")
            .is_some_and(|h| !h.contains("attempt=1;") && !h.ends_with("attempt=1"))
        {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        // Credential=AKID/date/region/service/aws4_request
        let scope = req
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split(',').next())
            .map(|c| c.split('/').map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default();
        if scope.len() < 4 || scope[0].len() != 20 || req.method != "POST" {
            return error(
                Protocol::Query,
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                id,
            );
        }
        let account = scope[0][4..16].to_string();
        let (region, service) = (scope[2].clone(), scope[3].clone());
        // Organizations and STS answer from us-east-1 whatever the signing region says.
        let served_from = match service.as_str() {
            "organizations" | "sts" => "us-east-1",
            _ => region.as_str(),
        };
        tokio::time::sleep(self.opts.latency.draw(id, served_from)).await;
        let params = Params::parse(&req.body);
        let action = if service == "organizations" {
            req.header("x-amz-target")
                .and_then(|t| t.split('.').nth(1))
                .unwrap_or("")
                .to_string()
        } else {
            params.get("Action").unwrap_or("").to_string()
        };
        *self
            .per_action
            .lock()
            .unwrap()
            .entry(format!("{service}:{action}"))
            .or_default() += 1;
        let call = Call {
            account,
            region,
            service,
            action,
            id,
        };
        let protocol = match call.service.as_str() {
            "ec2" => Protocol::Ec2,
            "organizations" => Protocol::Json,
            _ => Protocol::Query,
        };
        let b = self.opts.buckets;
        let (key, shape, throttle_code, throttle_status) = match call.service.as_str() {
            "ec2" => (
                format!("ec2 {} {} {}", call.account, call.region, call.action),
                b.ec2,
                "RequestLimitExceeded",
                503,
            ),
            "elasticloadbalancing" => (
                format!("elbv2 {} {}", call.account, call.region),
                b.elb,
                "Throttling",
                400,
            ),
            "organizations" => (
                format!("organizations {}", call.action),
                if matches!(call.action.as_str(), "ListAccounts" | "ListTagsForResource") {
                    b.org_list
                } else {
                    b.org
                },
                "TooManyRequestsException",
                400,
            ),
            _ => (
                format!("sts {} {}", call.account, call.region),
                b.sts,
                "Throttling",
                400,
            ),
        };
        let fault = self.fault_for(&call.account, &call.region, &call.action);
        let throttled = !self.take_token(key, shape) || fault == Some(FaultKind::Throttle);
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return error(
                protocol,
                throttle_status,
                throttle_code,
                "Rate exceeded",
                id,
            );
        }
        let delivery = match fault {
            Some(FaultKind::ServerError) => {
                let code = if protocol == Protocol::Ec2 {
                    "InternalError"
                } else {
                    "InternalFailure"
                };
                return error(
                    protocol,
                    500,
                    code,
                    "We encountered an internal error. Please try again.",
                    id,
                );
            }
            Some(FaultKind::Unavailable) => {
                let code = if protocol == Protocol::Ec2 {
                    "Unavailable"
                } else {
                    "ServiceUnavailable"
                };
                return error(
                    protocol,
                    503,
                    code,
                    "The service is unavailable. Please try again shortly.",
                    id,
                );
            }
            Some(FaultKind::HtmlError) => return wire::html_error(500),
            Some(FaultKind::StallBody(d)) => Delivery::StallBody(d),
            Some(FaultKind::Hang(d)) => Delivery::Hang(d),
            Some(FaultKind::Truncated) => Delivery::Truncate,
            _ => Delivery::Normal,
        };
        let mut resp = match self.answer(&call, &params, &req) {
            Ok(r) => r,
            Err((status, code, msg)) => error(protocol, status, code, &msg, id),
        };
        resp.delivery = delivery;
        resp
    }
}

/// An error answer: HTTP status, AWS error code, message.
type Refusal = (u16, &'static str, String);
type Answer = Result<Response, Refusal>;

fn bad(code: &'static str, msg: impl Into<String>) -> Refusal {
    (400, code, msg.into())
}

/// A page of `items` from the opaque `token` (`p<offset>`), at most `max` long.
fn page<'a, T>(
    items: &'a [T],
    token: Option<&str>,
    max: usize,
) -> Result<(&'a [T], Option<String>), Refusal> {
    let start = match token {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n <= items.len())
            .ok_or_else(|| bad("InvalidPaginationToken", format!("invalid token {t}")))?,
    };
    let end = (start + max.max(1)).min(items.len());
    let next = (end < items.len()).then(|| format!("p{end}"));
    Ok((&items[start..end], next))
}

fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl Sim {
    fn answer(&self, c: &Call, p: &Params, req: &Request) -> Answer {
        match c.service.as_str() {
            "sts" => self.sts(c, p),
            "organizations" => self.organizations(c, req),
            "ec2" | "elasticloadbalancing" => {
                let Some(&ai) = self.model.by_id.get(&c.account) else {
                    return Err((
                        403,
                        "AuthFailure",
                        "AWS was not able to validate the provided access credentials".into(),
                    ));
                };
                if c.action != "DescribeRegions"
                    && self
                        .opts
                        .not_enabled
                        .get(&c.account)
                        .is_some_and(|r| r.contains(&c.region))
                {
                    return Err((
                        401,
                        "AuthFailure",
                        "AWS was not able to validate the provided access credentials".into(),
                    ));
                }
                if self.opts.scp_denied_regions.contains(&c.region) && c.action != "DescribeRegions"
                {
                    let msg = format!(
                        "User: arn:aws:sts::{}:assumed-role/PlauditAudit/plaudit is not authorized to perform: {}:{} with an explicit deny in a service control policy",
                        c.account, c.service, c.action
                    );
                    let code = if c.service == "ec2" {
                        "UnauthorizedOperation"
                    } else {
                        "AccessDenied"
                    };
                    return Err((403, code, msg));
                }
                if c.service == "ec2" {
                    self.ec2(ai, c, p)
                } else {
                    self.elb(ai, c, p)
                }
            }
            other => Err(bad(
                "UnknownService",
                format!("the simulator does not speak {other}"),
            )),
        }
    }

    fn sts(&self, c: &Call, p: &Params) -> Answer {
        let mut x = Xml::default();
        match c.action.as_str() {
            "GetCallerIdentity" => {
                let arn = if c.account == self.model.management && self.opts.caller_is_role {
                    format!("arn:aws:sts::{}:assumed-role/Scanner/ecs-task", c.account)
                } else if c.account == self.model.management {
                    format!("arn:aws:iam::{}:user/auditor", c.account)
                } else {
                    format!(
                        "arn:aws:sts::{}:assumed-role/PlauditAudit/plaudit",
                        c.account
                    )
                };
                x.leaf("Arn", arn)
                    .leaf("UserId", "AIDASIMULATED")
                    .leaf("Account", &c.account);
                Ok(query_ok("GetCallerIdentity", STS_NS, c.id, &x.0))
            }
            "AssumeRole" => {
                let arn = p.get("RoleArn").unwrap_or("");
                let target = arn.split(':').nth(4).unwrap_or("").to_string();
                let denied = || {
                    (
                        403,
                        "AccessDenied",
                        format!(
                            "User: arn:aws:iam::{}:user/auditor is not authorized to perform: sts:AssumeRole on resource: {arn}",
                            c.account
                        ),
                    )
                };
                let Some(&ai) = self.model.by_id.get(&target) else {
                    return Err(denied());
                };
                let status = self.model.account(ai).status.to_ascii_uppercase();
                if self.opts.deny_assume_role.contains(&target)
                    || !(status == "ACTIVE" || status.is_empty())
                {
                    return Err(denied());
                }
                let duration = p.usize("DurationSeconds").unwrap_or(3600);
                if self.opts.caller_is_role && duration > 3600 {
                    return Err(bad(
                        "ValidationError",
                        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                    ));
                }
                let exp = chrono::Utc::now() + chrono::Duration::hours(1);
                x.open("Credentials")
                    .leaf("AccessKeyId", format!("ASIA{target}SIMU"))
                    .leaf("SecretAccessKey", "simulated-secret")
                    .leaf("SessionToken", "simulated-session-token")
                    .leaf(
                        "Expiration",
                        exp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                    .close("Credentials")
                    .open("AssumedRoleUser")
                    .leaf("AssumedRoleId", "AROASIMULATED:plaudit")
                    .leaf(
                        "Arn",
                        format!("arn:aws:sts::{target}:assumed-role/PlauditAudit/plaudit"),
                    )
                    .close("AssumedRoleUser");
                Ok(query_ok("AssumeRole", STS_NS, c.id, &x.0))
            }
            a => Err(bad("InvalidAction", format!("{a} is not simulated"))),
        }
    }

    fn organizations(&self, c: &Call, req: &Request) -> Answer {
        let m = &self.model;
        if c.account != m.management {
            return Err(bad(
                "AWSOrganizationsNotInUseException",
                "Your account is not a member of an organization.",
            ));
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let token = body.get("NextToken").and_then(Value::as_str);
        let cap = body
            .get("MaxResults")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .unwrap_or(20)
            .min(self.opts.org_page_cap);
        let legacy = self.opts.legacy_account_status;
        let account_json = |a: &Account| {
            let mut v = json!({
                "Id": a.id, "Arn": format!("arn:aws:organizations::{}:account/o-sim/{}", m.management, a.id),
                "Email": a.email, "Name": a.name, "State": a.status,
                "JoinedMethod": "CREATED", "JoinedTimestamp": 1.7e9,
            });
            // The retired Status had three values; the newer states have no equivalent.
            if legacy
                && matches!(
                    a.status.as_str(),
                    "ACTIVE" | "SUSPENDED" | "PENDING_CLOSURE"
                )
            {
                v["Status"] = json!(a.status);
            }
            v
        };
        let v = match c.action.as_str() {
            "DescribeOrganization" => json!({"Organization": {
                "Id": "o-sim", "Arn": format!("arn:aws:organizations::{}:organization/o-sim", m.management),
                "FeatureSet": "ALL", "MasterAccountId": m.management,
                "MasterAccountArn": format!("arn:aws:organizations::{0}:account/o-sim/{0}", m.management),
            }}),
            "ListRoots" => {
                json!({"Roots": [{"Id": ROOT, "Name": "Root", "Arn": format!("arn:aws:organizations::{}:root/o-sim/{ROOT}", m.management)}]})
            }
            "ListAccounts" => {
                let all: Vec<&Account> = m.inv.accounts.iter().collect();
                let (items, next) = page(&all, token, cap)?;
                json!({"Accounts": items.iter().map(|a| account_json(a)).collect::<Vec<_>>(), "NextToken": next})
            }
            "ListAccountsForParent" | "ListOrganizationalUnitsForParent" => {
                let parent = body.get("ParentId").and_then(Value::as_str).unwrap_or("");
                if parent != ROOT && !m.ous.contains_key(parent) {
                    return Err(bad(
                        "ParentNotFoundException",
                        format!("parent {parent} not found"),
                    ));
                }
                if c.action == "ListAccountsForParent" {
                    let all: Vec<usize> = m.members.get(parent).cloned().unwrap_or_default();
                    let (items, next) = page(&all, token, cap)?;
                    json!({"Accounts": items.iter().map(|&i| account_json(m.account(i))).collect::<Vec<_>>(), "NextToken": next})
                } else {
                    let all: Vec<String> = m.children.get(parent).cloned().unwrap_or_default();
                    let (items, next) = page(&all, token, cap)?;
                    json!({"OrganizationalUnits": items.iter().map(|id| json!({
                        "Id": id, "Name": m.ous[id].0,
                        "Arn": format!("arn:aws:organizations::{}:ou/o-sim/{id}", m.management),
                    })).collect::<Vec<_>>(), "NextToken": next})
                }
            }
            "ListTagsForResource" => {
                let id = body.get("ResourceId").and_then(Value::as_str).unwrap_or("");
                let Some(&ai) = m.by_id.get(id) else {
                    return Err(bad("TargetNotFoundException", format!("{id} not found")));
                };
                json!({"Tags": m.account(ai).tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()})
            }
            a => return Err(bad("InvalidAction", format!("{a} is not simulated"))),
        };
        Ok(json_ok(&v))
    }

    fn ec2(&self, ai: usize, c: &Call, p: &Params) -> Answer {
        let r = self.model.region(ai, &c.region);
        let max = p
            .usize("MaxResults")
            .unwrap_or(1000)
            .min(self.opts.page_cap);
        let token = p.get("NextToken");
        let mut x = Xml::default();
        let az_id = |name: &str| {
            r.availability_zones
                .iter()
                .find(|z| z.name == name)
                .map(|z| z.id.clone())
        };
        // A filtered listing: keep items whose key is among the filter's values.
        let keep = |name: &str, v: &str| {
            p.filter(name)
                .is_none_or(|vals| vals.iter().any(|x| x == v))
        };
        macro_rules! listing {
            ($set:literal, $items:expr, |$it:ident| $body:block) => {{
                let all: Vec<_> = $items;
                let (items, next) = page(&all, token, max)?;
                x.open($set);
                for $it in items {
                    x.open("item");
                    $body
                    x.close("item");
                }
                x.close($set);
                x.opt("nextToken", next);
            }};
        }
        let values = (1..=50)
            .map(|n| p.list(&format!("Filter.{n}.Value")).len())
            .sum::<usize>();
        if values > self.opts.filter_value_limit {
            return Err(bad(
                "FilterLimitExceeded",
                format!(
                    "The maximum number of filter values specified on a single call is {}",
                    self.opts.filter_value_limit
                ),
            ));
        }
        match c.action.as_str() {
            "DescribeRegions" => {
                // Without AllRegions, AWS lists only the regions enabled for the account.
                let all = p.get("AllRegions") == Some("true");
                let off = self.opts.not_enabled.get(&c.account);
                x.open("regionInfo");
                for name in &self.model.regions {
                    let enabled = off.is_none_or(|o| !o.contains(name));
                    if !enabled && !all {
                        continue;
                    }
                    x.open("item")
                        .leaf("regionName", name)
                        .leaf("regionEndpoint", format!("ec2.{name}.amazonaws.com"))
                        .leaf(
                            "optInStatus",
                            if enabled {
                                "opt-in-not-required"
                            } else {
                                "not-opted-in"
                            },
                        )
                        .close("item");
                }
                x.close("regionInfo");
            }
            "DescribeAvailabilityZones" => {
                x.open("availabilityZoneInfo");
                for z in &r.availability_zones {
                    x.open("item")
                        .leaf("zoneName", &z.name)
                        .leaf("zoneId", &z.id)
                        .leaf("zoneType", &z.zone_type)
                        .leaf("regionName", &c.region)
                        .leaf("zoneState", "available")
                        .close("item");
                }
                x.close("availabilityZoneInfo");
            }
            "DescribeVpcEndpointServiceConfigurations" => {
                listing!(
                    "serviceConfigurationSet",
                    r.endpoint_services.iter().collect(),
                    |s| {
                        x.leaf("serviceId", &s.id).leaf("serviceName", &s.name);
                        x.open("serviceType")
                            .open("item")
                            .leaf("serviceType", &s.service_type)
                            .close("item")
                            .close("serviceType");
                        x.leaf("serviceState", &s.state)
                            .leaf("acceptanceRequired", s.acceptance_required);
                        x.list(
                            "networkLoadBalancerArnSet",
                            "item",
                            &s.network_load_balancer_arns,
                        );
                        x.list(
                            "gatewayLoadBalancerArnSet",
                            "item",
                            &s.gateway_load_balancer_arns,
                        );
                        x.list("availabilityZoneSet", "item", &s.availability_zones);
                        x.opt("privateDnsName", s.private_dns_name.as_ref());
                        if s.private_dns_state.is_some() {
                            x.open("privateDnsNameConfiguration")
                                .opt("state", s.private_dns_state.as_ref())
                                .leaf("type", "TXT")
                                .opt("value", s.private_dns_txt_value.as_ref())
                                .opt("name", s.private_dns_txt_name.as_ref())
                                .close("privateDnsNameConfiguration");
                        }
                        x.open("supportedRegionSet");
                        for sr in &s.supported_regions {
                            x.open("item")
                                .leaf("region", sr)
                                .leaf("serviceState", "Available")
                                .close("item");
                        }
                        x.close("supportedRegionSet");
                    }
                );
            }
            "DescribeVpcEndpointServicePermissions" => {
                let sid = p.get("ServiceId").unwrap_or("");
                let Some(s) = r.endpoint_services.iter().find(|s| s.id == sid) else {
                    return Err(bad(
                        "InvalidVpcEndpointServiceId.NotFound",
                        format!("The Vpc Endpoint Service Id '{sid}' does not exist"),
                    ));
                };
                listing!(
                    "allowedPrincipals",
                    s.allowed_principals.iter().collect(),
                    |a| {
                        x.leaf("principalType", "Account").leaf("principal", a);
                    }
                );
            }
            "DescribeVpcEndpointConnections" => {
                let all: Vec<(&str, &plaudit::inventory::EndpointConnection)> = r
                    .endpoint_services
                    .iter()
                    .flat_map(|s| s.connections.iter().map(move |c| (s.id.as_str(), c)))
                    .collect();
                listing!("vpcEndpointConnectionSet", all, |sc| {
                    let (sid, k) = sc;
                    x.leaf("serviceId", sid)
                        .leaf("vpcEndpointId", &k.endpoint_id)
                        .leaf("vpcEndpointOwner", &k.endpoint_owner)
                        .leaf("vpcEndpointState", &k.state)
                        .opt("creationTimestamp", ts(k.created_at))
                        .opt("vpcEndpointRegion", k.endpoint_region.as_ref());
                });
            }
            "DescribeVpcEndpoints" => {
                listing!("vpcEndpointSet", r.vpc_endpoints.iter().collect(), |e| {
                    x.leaf("vpcEndpointId", &e.id)
                        .leaf("vpcEndpointType", &e.endpoint_type)
                        .leaf("vpcId", &e.vpc_id)
                        .opt(
                            "serviceName",
                            (!e.service_name.is_empty()).then_some(&e.service_name),
                        )
                        .opt("serviceNetworkArn", e.service_network_arn.as_ref())
                        .opt(
                            "resourceConfigurationArn",
                            e.resource_configuration_arn.as_ref(),
                        )
                        .opt("serviceRegion", e.service_region.as_ref())
                        .leaf("state", &e.state)
                        .list("subnetIdSet", "item", &e.subnet_ids)
                        .list("networkInterfaceIdSet", "item", &e.network_interface_ids);
                    x.open("groupSet");
                    for g in &e.security_group_ids {
                        x.open("item")
                            .leaf("groupId", g)
                            .leaf("groupName", "sg")
                            .close("item");
                    }
                    x.close("groupSet");
                    x.leaf("privateDnsEnabled", e.private_dns_enabled)
                        .opt("creationTimestamp", ts(e.created_at));
                });
            }
            "DescribeVpcEndpointServices" => {
                let names = p.list("ServiceName");
                // A service in another region is found only when that region is asked for
                // (ServiceRegions, cross-region PrivateLink); and only services the caller may
                // use are visible (its own, or ones whose permissions allow it or `*`): AWS
                // answers InvalidServiceName for the rest, deleted or not.
                let regions = p.list("ServiceRegion");
                let visible = |s: &plaudit::inventory::EndpointService, owner: &str| {
                    owner == c.account
                        || s.allowed_principals
                            .iter()
                            .any(|p| p == "*" || p.split(':').nth(4) == Some(c.account.as_str()))
                };
                let mut found = Vec::new();
                for n in &names {
                    match self.model.services.get(n) {
                        Some(&(a, ri, si))
                            if {
                                let reg = &self.model.inv.accounts[a].regions[ri];
                                (reg.name == c.region || regions.contains(&reg.name))
                                    && visible(
                                        &reg.endpoint_services[si],
                                        &self.model.inv.accounts[a].id,
                                    )
                            } =>
                        {
                            found.push((a, ri, si));
                        }
                        _ => {
                            return Err(bad(
                                "InvalidServiceName",
                                format!("The Vpc Endpoint Service '{n}' does not exist"),
                            ));
                        }
                    }
                }
                listing!("serviceDetailSet", found, |f| {
                    let (a, ri, si) = f;
                    let reg = &self.model.inv.accounts[*a].regions[*ri];
                    let s = &reg.endpoint_services[*si];
                    // Zone names as the *consumer* account sees them: through the IDs.
                    let ids: Vec<String> = s
                        .availability_zones
                        .iter()
                        .filter_map(|n| {
                            reg.availability_zones
                                .iter()
                                .find(|z| &z.name == n)
                                .map(|z| z.id.clone())
                        })
                        .collect();
                    let mine = self.model.region(ai, &reg.name);
                    let names: Vec<String> = ids
                        .iter()
                        .filter_map(|id| {
                            mine.availability_zones
                                .iter()
                                .find(|z| &z.id == id)
                                .map(|z| z.name.clone())
                        })
                        .collect();
                    x.leaf("serviceName", &s.name)
                        .leaf("serviceId", &s.id)
                        .opt("serviceRegion", (reg.name != c.region).then_some(&reg.name))
                        .leaf("owner", &self.model.inv.accounts[*a].id)
                        .list("availabilityZoneSet", "item", &names)
                        .list("availabilityZoneIdSet", "item", &ids)
                        .opt("privateDnsName", s.private_dns_name.as_ref());
                });
            }
            "DescribeVpcs" => {
                listing!(
                    "vpcSet",
                    r.vpcs.iter().filter(|v| keep("vpc-id", &v.id)).collect(),
                    |v| {
                        x.leaf("vpcId", &v.id)
                            .opt("cidrBlock", v.cidr.as_ref())
                            .leaf("isDefault", v.is_default)
                            .leaf("state", "available");
                        let v4: Vec<&String> = if v.cidrs.is_empty() {
                            v.cidr.iter().collect()
                        } else {
                            v.cidrs.iter().collect()
                        };
                        x.open("cidrBlockAssociationSet");
                        for (i, c) in v4.iter().enumerate() {
                            x.open("item")
                                .leaf("associationId", format!("vpc-cidr-assoc-{i}"))
                                .leaf("cidrBlock", c)
                                .open("cidrBlockState")
                                .leaf("state", "associated")
                                .close("cidrBlockState")
                                .close("item");
                        }
                        x.close("cidrBlockAssociationSet");
                        x.open("ipv6CidrBlockAssociationSet");
                        for (i, c) in v.ipv6_cidrs.iter().enumerate() {
                            x.open("item")
                                .leaf("associationId", format!("vpc-cidr-assoc-6{i}"))
                                .leaf("ipv6CidrBlock", c)
                                .open("ipv6CidrBlockState")
                                .leaf("state", "associated")
                                .close("ipv6CidrBlockState")
                                .close("item");
                        }
                        x.close("ipv6CidrBlockAssociationSet");
                    }
                );
            }
            "DescribeVpcAttribute" => {
                let vid = p.get("VpcId").unwrap_or("");
                let Some(v) = r.vpcs.iter().find(|v| v.id == vid) else {
                    return Err(bad(
                        "InvalidVpcID.NotFound",
                        format!("The vpc ID '{vid}' does not exist"),
                    ));
                };
                x.leaf("vpcId", vid);
                match p.get("Attribute") {
                    Some("enableDnsSupport") => {
                        x.open("enableDnsSupport")
                            .leaf("value", v.enable_dns_support.unwrap_or(true))
                            .close("enableDnsSupport");
                    }
                    Some("enableDnsHostnames") => {
                        x.open("enableDnsHostnames")
                            .leaf("value", v.enable_dns_hostnames.unwrap_or(false))
                            .close("enableDnsHostnames");
                    }
                    a => {
                        return Err(bad(
                            "InvalidParameterValue",
                            format!("attribute {a:?} is not simulated"),
                        ));
                    }
                }
            }
            "DescribeSubnets" => {
                listing!(
                    "subnetSet",
                    r.subnets
                        .iter()
                        .filter(|s| keep("vpc-id", &s.vpc_id))
                        .collect(),
                    |s| {
                        x.leaf("subnetId", &s.id)
                            .leaf("vpcId", &s.vpc_id)
                            .opt("cidrBlock", s.cidr.as_ref())
                            .leaf("availabilityZone", &s.availability_zone)
                            .opt(
                                "availabilityZoneId",
                                s.availability_zone_id
                                    .clone()
                                    .or_else(|| az_id(&s.availability_zone)),
                            );
                        if let Some(v6) = &s.ipv6_cidr {
                            x.open("ipv6CidrBlockAssociationSet")
                                .open("item")
                                .leaf("ipv6CidrBlock", v6)
                                .close("item")
                                .close("ipv6CidrBlockAssociationSet");
                        }
                    }
                );
            }
            "DescribeSecurityGroups" => {
                listing!(
                    "securityGroupInfo",
                    r.security_groups
                        .iter()
                        .filter(|g| keep("group-id", &g.id))
                        .collect(),
                    |g| {
                        x.leaf("groupId", &g.id)
                            .leaf("groupName", &g.name)
                            .opt("vpcId", g.vpc_id.as_ref())
                            .leaf("ownerId", &c.account);
                        // One IP permission per rule (AWS groups rules of the same protocol
                        // and ports into one; the flattened rules are the same).
                        for (tag, egress) in
                            [("ipPermissions", false), ("ipPermissionsEgress", true)]
                        {
                            x.open(tag);
                            for k in g
                                .rules
                                .iter()
                                .filter(|k| (k.direction == "egress") == egress)
                            {
                                ip_permission(&mut x, k);
                            }
                            x.close(tag);
                        }
                    }
                );
            }
            "DescribeSecurityGroupRules" => {
                let all: Vec<(&str, &plaudit::inventory::SecurityGroupRule)> = r
                    .security_groups
                    .iter()
                    .filter(|g| keep("group-id", &g.id))
                    .flat_map(|g| g.rules.iter().map(move |k| (g.id.as_str(), k)))
                    .collect();
                listing!("securityGroupRuleSet", all, |gr| {
                    let (gid, k) = gr;
                    x.opt("securityGroupRuleId", k.id.as_ref())
                        .leaf("groupId", gid)
                        .leaf("isEgress", k.direction == "egress")
                        .leaf("ipProtocol", &k.protocol)
                        .opt("fromPort", k.from_port)
                        .opt("toPort", k.to_port)
                        .opt("cidrIpv4", k.cidr_ipv4.as_ref())
                        .opt("cidrIpv6", k.cidr_ipv6.as_ref())
                        .opt("prefixListId", k.prefix_list_id.as_ref())
                        .opt("description", k.description.as_ref());
                    if k.referenced_group_id.is_some() {
                        x.open("referencedGroupInfo")
                            .opt("groupId", k.referenced_group_id.as_ref())
                            .opt("userId", k.referenced_group_owner.as_ref())
                            .close("referencedGroupInfo");
                    }
                });
            }
            a => {
                return Err(bad(
                    "InvalidAction",
                    format!("The action {a} is not valid for this web service."),
                ));
            }
        }
        Ok(ec2_ok(&c.action, c.id, &x.0))
    }

    fn elb(&self, ai: usize, c: &Call, p: &Params) -> Answer {
        let r = self.model.region(ai, &c.region);
        let max = p.usize("PageSize").unwrap_or(400).min(self.opts.page_cap);
        let marker = p.get("Marker");
        let mut x = Xml::default();
        let lb_by_arn = |arn: &str| r.load_balancers.iter().find(|l| l.arn == arn);
        let not_found = |what: &str| {
            bad(
                "LoadBalancerNotFound",
                format!("One or more load balancers not found: {what}"),
            )
        };
        match c.action.as_str() {
            "DescribeLoadBalancers" => {
                let arns = p.list("LoadBalancerArns.member");
                let mut all = Vec::new();
                if arns.is_empty() {
                    all.extend(r.load_balancers.iter());
                }
                for a in &arns {
                    all.push(lb_by_arn(a).ok_or_else(|| not_found(a))?);
                }
                let (items, next) = page(&all, marker, max)?;
                x.open("LoadBalancers");
                for l in items {
                    x.open("member")
                        .leaf("LoadBalancerArn", &l.arn)
                        .leaf("LoadBalancerName", &l.name)
                        .leaf("Type", &l.lb_type)
                        .leaf(
                            "Scheme",
                            if l.scheme.is_empty() {
                                "internal"
                            } else {
                                &l.scheme
                            },
                        )
                        .opt("VpcId", l.vpc_id.as_ref())
                        .open("State")
                        .leaf(
                            "Code",
                            if l.state.is_empty() {
                                "active"
                            } else {
                                &l.state
                            },
                        )
                        .close("State")
                        .opt("DNSName", l.dns_name.as_ref());
                    x.open("AvailabilityZones");
                    for z in &l.availability_zones {
                        x.open("member")
                            .leaf("ZoneName", &z.name)
                            .opt("SubnetId", z.subnet_id.as_ref());
                        x.open("LoadBalancerAddresses");
                        for ip in &z.private_ips {
                            x.open("member")
                                .leaf("PrivateIPv4Address", ip)
                                .close("member");
                        }
                        x.close("LoadBalancerAddresses").close("member");
                    }
                    x.close("AvailabilityZones");
                    x.list("SecurityGroups", "member", &l.security_groups);
                    if let Some(e) = l.enforce_sg_inbound_on_privatelink {
                        x.leaf(
                            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
                            if e { "on" } else { "off" },
                        );
                    }
                    x.close("member");
                }
                x.close("LoadBalancers").opt("NextMarker", next);
            }
            "DescribeLoadBalancerAttributes" => {
                let arn = p.get("LoadBalancerArn").unwrap_or("");
                let l = lb_by_arn(arn).ok_or_else(|| not_found(arn))?;
                x.open("Attributes");
                if let Some(cz) = l.cross_zone {
                    x.open("member")
                        .leaf("Key", "load_balancing.cross_zone.enabled")
                        .leaf("Value", cz)
                        .close("member");
                }
                x.open("member")
                    .leaf("Key", "deletion_protection.enabled")
                    .leaf("Value", "false")
                    .close("member");
                x.close("Attributes");
            }
            "DescribeListeners" => {
                let arn = p.get("LoadBalancerArn").unwrap_or("");
                let l = lb_by_arn(arn).ok_or_else(|| not_found(arn))?;
                let all: Vec<_> = l.listeners.iter().collect();
                let (items, next) = page(&all, marker, max)?;
                x.open("Listeners");
                for li in items {
                    x.open("member")
                        .opt("ListenerArn", li.arn.as_ref())
                        .leaf("LoadBalancerArn", arn)
                        .leaf("Port", li.port)
                        .leaf("Protocol", &li.protocol)
                        .open("DefaultActions");
                    for tg in &li.target_group_arns {
                        x.open("member")
                            .leaf("Type", "forward")
                            .leaf("TargetGroupArn", tg)
                            .close("member");
                    }
                    x.close("DefaultActions").close("member");
                }
                x.close("Listeners").opt("NextMarker", next);
            }
            "DescribeTargetGroups" => {
                let lb = p.get("LoadBalancerArn");
                if let Some(a) = lb {
                    lb_by_arn(a).ok_or_else(|| not_found(a))?;
                }
                let all: Vec<_> = r
                    .target_groups
                    .iter()
                    .filter(|t| lb.is_none_or(|a| t.load_balancer_arns.iter().any(|x| x == a)))
                    .collect();
                let (items, next) = page(&all, marker, max)?;
                x.open("TargetGroups");
                for t in items {
                    x.open("member")
                        .leaf("TargetGroupArn", &t.arn)
                        .leaf("TargetGroupName", &t.name)
                        .opt("Protocol", t.protocol.as_ref())
                        .opt("Port", t.port)
                        .opt("VpcId", t.vpc_id.as_ref())
                        .opt("HealthCheckPort", t.health_check_port.as_ref())
                        .leaf("TargetType", &t.target_type)
                        .list("LoadBalancerArns", "member", &t.load_balancer_arns)
                        .close("member");
                }
                x.close("TargetGroups").opt("NextMarker", next);
            }
            "DescribeTargetGroupAttributes" => {
                let arn = p.get("TargetGroupArn").unwrap_or("");
                let Some(t) = r.target_groups.iter().find(|t| t.arn == arn) else {
                    return Err(bad(
                        "TargetGroupNotFound",
                        format!("Target groups '{arn}' not found"),
                    ));
                };
                x.open("Attributes");
                x.open("member")
                    .leaf("Key", "load_balancing.cross_zone.enabled")
                    .leaf(
                        "Value",
                        t.cross_zone
                            .as_deref()
                            .unwrap_or("use_load_balancer_configuration"),
                    )
                    .close("member");
                x.open("member")
                    .leaf("Key", "deregistration_delay.timeout_seconds")
                    .leaf("Value", "300")
                    .close("member");
                x.close("Attributes");
            }
            "DescribeTargetHealth" => {
                let arn = p.get("TargetGroupArn").unwrap_or("");
                let Some(t) = r.target_groups.iter().find(|t| t.arn == arn) else {
                    return Err(bad(
                        "TargetGroupNotFound",
                        format!("Target groups '{arn}' not found"),
                    ));
                };
                x.open("TargetHealthDescriptions");
                for tg in &t.targets {
                    x.open("member")
                        .open("Target")
                        .leaf("Id", &tg.id)
                        .opt("Port", tg.port)
                        .opt("AvailabilityZone", tg.availability_zone.as_ref())
                        .close("Target");
                    if let Some(h) = &tg.health {
                        x.open("TargetHealth")
                            .leaf("State", h)
                            .close("TargetHealth");
                    }
                    x.close("member");
                }
                x.close("TargetHealthDescriptions");
            }
            a => return Err(bad("InvalidAction", format!("{a} is not simulated"))),
        }
        Ok(query_ok(&c.action, ELB_NS, c.id, &x.0))
    }
}

/// One security group rule as an EC2 `IpPermission` item (DescribeSecurityGroups).
fn ip_permission(x: &mut Xml, k: &plaudit::inventory::SecurityGroupRule) {
    x.open("item")
        .leaf("ipProtocol", &k.protocol)
        .opt("fromPort", k.from_port)
        .opt("toPort", k.to_port);
    let list = |x: &mut Xml, tag: &str, leaf: &str, v: Option<&String>| {
        x.open(tag);
        if let Some(v) = v {
            x.open("item")
                .leaf(leaf, v)
                .opt("description", k.description.as_ref())
                .close("item");
        }
        x.close(tag);
    };
    list(x, "ipRanges", "cidrIp", k.cidr_ipv4.as_ref());
    list(x, "ipv6Ranges", "cidrIpv6", k.cidr_ipv6.as_ref());
    list(
        x,
        "prefixListIds",
        "prefixListId",
        k.prefix_list_id.as_ref(),
    );
    x.open("groups");
    if k.referenced_group_id.is_some() {
        x.open("item")
            .opt("groupId", k.referenced_group_id.as_ref())
            .opt("userId", k.referenced_group_owner.as_ref())
            .opt("description", k.description.as_ref())
            .close("item");
    }
    x.close("groups");
    x.close("item");
}
