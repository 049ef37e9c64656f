//! The crawler: fills an [`Inventory`] from live AWS APIs. The only module that talks to AWS.
//!
//! Flow: who am I (STS) → which accounts (Organizations, [`discover`]) → per account,
//! concurrently: credentials (AssumeRole into the member role; the caller's own credentials in
//! the caller's account where no member role is deployed there) → regions (the configured or
//! all, less those not enabled in the account: DescribeRegions) → per region, concurrently: [`collect`] → then the
//! consumer-side lookups of services the organisation does not provide. Every outcome lands in
//! the coverage ledger ([`api::Gate`]); a failure in one account or region never stops the
//! others.
//!
//! Read-only: only `Describe*`, `List*` and `Get*` operations, plus `sts:AssumeRole`.
//! Clients are built from one base `SdkConfig`, so `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` keep working (moto, LocalStack).

pub mod api;
pub mod collect;
pub mod discover;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::region::Region as AwsRegion;
use futures::StreamExt;

use self::api::{Gate, Outcome, classify};
use self::collect::{RegionCtx, collect_region, lookup_services};
use self::discover::Discovery;
use crate::config::Config;
use crate::inventory::{Account, CoverageStatus, Inventory, Region, SCHEMA_VERSION, ServiceLookup};

/// A region enabled by default in every account of a partition: where DescribeRegions is
/// asked (an opt-in home region may be off in a member account).
fn default_region(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" => Some("us-east-1"),
        "aws-cn" => Some("cn-north-1"),
        "aws-us-gov" => Some("us-gov-west-1"),
        "aws-iso" => Some("us-iso-east-1"),
        "aws-iso-b" => Some("us-isob-east-1"),
        _ => None,
    }
}

/// The longest session AWS grants a role assumed with a role session's credentials (role
/// chaining): "Role chaining limits your … AWS API role session to a maximum of one hour"
/// (STS AssumeRole, DurationSeconds); a longer request fails.
const CHAINED_SESSION_SECONDS: u32 = 3_600;

/// Who is scanning: what entering an account needs besides the config.
#[derive(Debug, Clone)]
struct Who {
    /// The account whose credentials run the scan.
    caller: String,
    /// The configured region: STS and Organizations are called there.
    home: String,
    /// `aws`, `aws-cn`, `aws-us-gov`…, from the caller's ARN: role ARNs are built in it.
    partition: String,
    /// The session length asked of AssumeRole (clamped for role chaining).
    session: Duration,
}

/// Everything a crawl needs to know.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    pub config: Config,
    /// Show a progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Crawl only shard (index, count), 0-based: see [`crate::inventory::merge::shard_of`].
    pub shard: Option<(u32, u32)>,
}

/// Who is scanning, and the shared gate: what a crawl and a preflight share.
struct Prepared {
    base: SdkConfig,
    gate: Arc<Gate>,
    who: Arc<Who>,
    org: aws_sdk_organizations::Client,
}

async fn prepare(cfg: &Config) -> Result<Prepared> {
    let base = base_config(cfg).await;
    let Some(home) = base.region().map(|r| r.to_string()) else {
        anyhow::bail!(
            "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION), or `region` in \
             the profile of ~/.aws/config; plaudit calls STS and Organizations there, and scans \
             the regions enabled in each account unless `--regions` narrows them"
        );
    };
    let gate = Arc::new(Gate::new(
        cfg.crawl.requests,
        cfg.crawl.requests_per_account,
    ));

    let sts = aws_sdk_sts::Client::new(&base);
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| match &e {
            aws_smithy_runtime_api::client::result::SdkError::DispatchFailure(d) if d.is_io() => {
                anyhow::anyhow!(
                    "cannot reach AWS STS (a network error: {}); check the network, an HTTPS proxy \
                 (HTTPS_PROXY) or AWS_ENDPOINT_URL",
                    api::error_chain(&e)
                )
            }
            _ => anyhow::anyhow!(
                "cannot identify the caller (sts:GetCallerIdentity): {}; check the AWS credentials \
             (environment, profile, SSO or instance role)",
                api::error_chain(&e)
            ),
        })?;
    let caller = me.account().unwrap_or_default().to_string();
    let arn = me.arn().unwrap_or_default();
    let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
    tracing::info!("scanning as account {caller} (partition {partition})");
    let mut session = cfg.role.duration_seconds;
    // Credentials of a role session (an assumed role, an ECS task or instance role) make
    // every AssumeRole a role chain, which AWS caps at an hour.
    if arn.contains(":assumed-role/") && session > CHAINED_SESSION_SECONDS {
        tracing::warn!(
            "role.duration_seconds is {session}, but the scan runs with a role session's \
             credentials ({arn}): AWS caps chained role sessions at {CHAINED_SESSION_SECONDS} s, \
             so that is what plaudit asks for"
        );
        session = CHAINED_SESSION_SECONDS;
    }
    let org = aws_sdk_organizations::Client::new(&base);
    Ok(Prepared {
        base,
        gate,
        who: Arc::new(Who {
            caller,
            home,
            partition,
            session: Duration::from_secs(u64::from(session)),
        }),
        org,
    })
}

/// What the crawl has finished so far; kept outside the crawl's futures so that a deadline
/// or Ctrl-C loses nothing that was collected.
#[derive(Default)]
struct Progress {
    /// Accounts handed to the crawl by discovery, in order.
    selected: Vec<Account>,
    /// Finished accounts, with the configuration (credentials) the second phase reuses.
    done: Vec<(Account, Option<SdkConfig>)>,
    /// Account → its regions (once known) and the ones finished so far.
    partial: std::collections::HashMap<String, (Vec<String>, Vec<Region>)>,
}

type Shared<T> = Arc<std::sync::Mutex<T>>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a crawl stopped early.
enum Stop {
    Deadline(Duration),
    Interrupted,
}

/// Resolves when the crawl must stop: its deadline passed, or Ctrl-C.
async fn stop_signal(deadline: Option<Duration>) -> Stop {
    let deadline = async {
        match deadline {
            Some(d) => {
                tokio::time::sleep(d).await;
                d
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        d = deadline => Stop::Deadline(d),
        () = crate::interrupt::wait() => Stop::Interrupted,
    }
}

/// Crawls the organisation. Errors only when nothing can be scanned at all (no usable
/// credentials) or on Ctrl-C ([`crate::interrupt::Interrupted`]); everything else becomes a
/// coverage gap. Past the deadline (`crawl.deadline_seconds`), what was collected is kept and
/// the rest is recorded as `timeout` gaps.
pub async fn crawl(opts: &CrawlOptions) -> Result<Inventory> {
    let cfg = Arc::new(opts.config.clone());
    let started = std::time::Instant::now();
    let Prepared {
        base,
        gate,
        who,
        org: _,
    } = prepare(&cfg).await?;
    let caller = who.caller.clone();
    let ticker = opts.progress.then(|| spawn_progress(gate.clone()));
    let progress: Shared<Progress> = Arc::default();
    let deadline = cfg
        .crawl
        .deadline_seconds
        .map(|s| Duration::from_secs(s).saturating_sub(started.elapsed()));
    let stop = stop_signal(deadline);
    tokio::pin!(stop);

    // Phase 1: discovery hands accounts over as it finds them; each account is crawled on
    // its own task (all cores), at most `crawl.accounts` at once.
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<Account>();
    let (discovery, cancel_discovery) = discover_apart(
        &base,
        gate.clone(),
        caller.clone(),
        cfg.clone(),
        opts.shard,
        tx,
    );
    let discovered = std::sync::atomic::AtomicBool::new(false);
    let tasks: Shared<Vec<tokio::task::AbortHandle>> = Arc::default();
    let accounts = {
        let (progress, tasks) = (&progress, &tasks);
        let (base, gate, who, cfg) = (&base, &gate, &who, &cfg);
        // Borrowed, so that accounts still queued when a deadline stops the crawl can be
        // recorded as not crawled.
        (&mut rx).map(move |acct| {
            lock(progress).selected.push(acct.clone());
            gate.counters.accounts_found.fetch_add(1, Ordering::Relaxed);
            let task = tokio::spawn(crawl_account(
                base.clone(),
                gate.clone(),
                cfg.clone(),
                who.clone(),
                acct,
                progress.clone(),
            ));
            lock(tasks).push(task.abort_handle());
            task
        })
        .buffer_unordered(cfg.crawl.accounts.max(1))
        .for_each(|r| {
            if let Ok(done) = r {
                let n = gate.counters.accounts_done.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(account = %done.0.id, regions = done.0.regions.len(), "account done ({n})");
                lock(progress).done.push(done);
            }
            async {}
        })
    };
    let discovery = async {
        let d = discovery.await;
        discovered.store(true, Ordering::Relaxed);
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            accounts = gate.counters.accounts_found.load(Ordering::Relaxed),
            "discovery done"
        );
        d
    };
    let phase1 = async { futures::join!(discovery, accounts).0 };
    let mut stopped = None;
    let found = tokio::select! {
        d = phase1 => Some(d),
        s = &mut stop => { stopped = Some(s); None }
    };
    drop(cancel_discovery);
    for t in lock(&tasks).drain(..) {
        t.abort();
    }
    if let Some(Stop::Interrupted) = stopped {
        if let Some(t) = ticker {
            t.abort();
        }
        let p = lock(&progress);
        return Err(crate::interrupt::Interrupted {
            accounts_done: p.done.len() as u64,
            accounts: p.selected.len() as u64,
            requests: gate.counters.requests.load(Ordering::Relaxed),
        }
        .into());
    }
    if let Some(Stop::Deadline(d)) = stopped {
        // Found but not started yet: not crawled either.
        while let Ok(a) = rx.try_recv() {
            lock(&progress).selected.push(a);
        }
        if !discovered.load(Ordering::Relaxed) {
            gate.record(
                crate::inventory::ORGANIZATION,
                None,
                "organizations:ListAccountsForParent",
                Outcome {
                    status: CoverageStatus::Timeout,
                    error: Some(format!(
                        "the scan's deadline ({}s) passed before discovery finished: accounts \
                         not listed by then are not in this scan",
                        d.as_secs()
                    )),
                },
            );
        }
    }
    // Discovery cut short by the deadline: the members listed so far, and not the whole
    // organisation.
    let Discovery {
        organization,
        skipped,
        membership,
    } = match found {
        Some(d) => d,
        None => Discovery {
            membership: crate::inventory::Membership {
                complete: false,
                accounts: lock(&progress)
                    .selected
                    .iter()
                    .map(|a| crate::inventory::Member {
                        id: a.id.clone(),
                        name: a.name.clone(),
                        state: a.status.clone(),
                        ou_path: a.ou_path.clone(),
                    })
                    .collect(),
            },
            ..Default::default()
        },
    };
    let (done, unfinished) = {
        let mut p = lock(&progress);
        let done = std::mem::take(&mut p.done);
        let finished: BTreeSet<String> = done.iter().map(|(a, _)| a.id.clone()).collect();
        let mut unfinished = Vec::new();
        for a in std::mem::take(&mut p.selected) {
            if !finished.contains(&a.id) {
                let part = p.partial.remove(&a.id);
                unfinished.push((a, part));
            }
        }
        (done, unfinished)
    };

    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "every account crawled"
    );
    // Phase 2: consumer-side lookups of services the organisation does not provide.
    let org_services: BTreeSet<String> = done
        .iter()
        .flat_map(|(a, _)| a.regions.iter())
        .flat_map(|r| r.endpoint_services.iter().map(|s| s.name.clone()))
        .collect();
    let mut accounts: Vec<Account> = Vec::with_capacity(done.len() + unfinished.len());
    let mut jobs = Vec::new();
    for (acct, conf) in done {
        let ai = accounts.len();
        for (ri, region) in acct.regions.iter().enumerate() {
            let Some(conf) = conf.clone() else { break };
            // Endpoints that reach an endpoint service the organisation does not provide (VPC
            // Lattice endpoints carry a service network or resource configuration ARN, not a
            // service name: nothing to look up), with the service's region when it is another.
            let names: BTreeSet<(String, Option<String>)> = region
                .vpc_endpoints
                .iter()
                .filter(|e| e.reaches_endpoint_service() && !e.service_name.is_empty())
                .filter(|e| !org_services.contains(&e.service_name))
                .map(|e| (e.service_name.clone(), e.service_region.clone()))
                .collect();
            if !names.is_empty() {
                let names: Vec<(String, Option<String>)> = names.into_iter().collect();
                jobs.push((ai, ri, acct.id.clone(), region.name.clone(), conf, names));
            }
        }
        accounts.push(acct);
    }
    let looked_up: Shared<Vec<(usize, usize, Vec<ServiceLookup>)>> = Arc::default();
    let wanted: Vec<(usize, usize, String, String)> = jobs
        .iter()
        .map(|j| (j.0, j.1, j.2.clone(), j.3.clone()))
        .collect();
    if stopped.is_none() && !jobs.is_empty() {
        let lookups = futures::stream::iter(jobs.into_iter().map(
            |(ai, ri, account, region, conf, names)| {
                let (gate, looked_up) = (gate.clone(), looked_up.clone());
                let page_size = cfg.crawl.page_size;
                async move {
                    let ctx = RegionCtx {
                        gate: &gate,
                        account: &account,
                        region: &region,
                        ec2: ec2_client(&conf, &gate, &account, &region),
                        elb: std::sync::OnceLock::new(),
                        make_elb: None,
                        page_size,
                    };
                    let found = lookup_services(&ctx, &names).await;
                    lock(&looked_up).push((ai, ri, found));
                }
            },
        ))
        .buffer_unordered(cfg.crawl.requests.max(1))
        .collect::<Vec<()>>();
        tokio::select! {
            _ = lookups => {}
            s = &mut stop => { stopped = Some(s); }
        }
        if let Some(Stop::Interrupted) = stopped {
            return Err(crate::interrupt::Interrupted {
                accounts_done: accounts.len() as u64,
                accounts: (accounts.len() + unfinished.len()) as u64,
                requests: gate.counters.requests.load(Ordering::Relaxed),
            }
            .into());
        }
    }
    let mut answered = BTreeSet::new();
    for (ai, ri, found) in lock(&looked_up).drain(..) {
        accounts[ai].regions[ri].service_lookups = found;
        answered.insert((ai, ri));
    }
    if let Some(t) = ticker {
        t.abort();
        eprintln!();
    }

    // Past the deadline: keep what was collected, name the rest in the ledger.
    if let Some(Stop::Deadline(d)) = stopped {
        let timeout = || Outcome {
            status: CoverageStatus::Timeout,
            error: Some(format!(
                "the scan's deadline ({}s, crawl.deadline_seconds) passed first",
                d.as_secs()
            )),
        };
        tracing::warn!(
            "deadline of {}s reached: the rest of the scan is recorded as timeouts",
            d.as_secs()
        );
        for (ai, ri, account, region) in &wanted {
            if !answered.contains(&(*ai, *ri)) {
                gate.record(
                    account,
                    Some(region),
                    "ec2:DescribeVpcEndpointServices",
                    timeout(),
                );
            }
        }
        for (mut a, part) in unfinished {
            match part {
                Some((regions, got)) if !regions.is_empty() => {
                    let have: BTreeSet<String> = got.iter().map(|r| r.name.clone()).collect();
                    for r in regions.iter().filter(|r| !have.contains(*r)) {
                        gate.record(&a.id, Some(r), "*", timeout());
                    }
                    a.regions = got;
                }
                _ => {
                    gate.record(&a.id, None, "*", timeout());
                    a.regions.clear();
                }
            }
            accounts.push(a);
        }
    }

    accounts.extend(skipped.into_iter().map(|mut a| {
        a.regions.clear();
        a
    }));
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for a in &mut accounts {
        a.regions.sort_by(|x, y| x.name.cmp(&y.name));
    }
    Ok(Inventory {
        schema_version: SCHEMA_VERSION,
        collected_at: Some(chrono::Utc::now()),
        organization,
        partition: Some(who.partition.clone()),
        accounts,
        membership: Some(membership),
        coverage: gate.ledger(),
    })
}

/// Runs discovery on a thread and runtime of its own, with its own connections. Organizations
/// allows 8 requests a second, so the OU walk sets the pace of the whole scan: on the crawl's
/// runtime its responses queued behind thousands of account tasks once the cores were busy
/// (discovery of 1,000 accounts took 9–10 s instead of 6.7 s). Dropping the returned sender
/// stops it; its accounts arrive on `tx`, and the channel closes when it is done.
fn discover_apart(
    base: &SdkConfig,
    gate: Arc<Gate>,
    caller: String,
    cfg: Arc<Config>,
    shard: Option<(u32, u32)>,
    tx: futures::channel::mpsc::UnboundedSender<Account>,
) -> (
    impl Future<Output = Discovery>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (done, result) = tokio::sync::oneshot::channel::<Result<Discovery, String>>();
    // Its own retry partition: Organizations' throttling must not slow the crawl's retries
    // down, nor theirs discovery.
    let org = aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(base)
            .http_client(shared_http_client())
            .retry_partition(aws_sdk_organizations::config::retry::RetryPartition::new(
                "plaudit-organizations",
            ))
            .build(),
    );
    let thread = {
        let (gate, caller) = (gate.clone(), caller);
        std::thread::Builder::new()
            .name("plaudit-discovery".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = done.send(Err(format!("cannot start discovery: {e}")));
                        return;
                    }
                };
                rt.block_on(async {
                    let found = discover::discover(&org, &gate, &caller, &cfg.accounts, shard, tx);
                    tokio::select! {
                        d = found => { let _ = done.send(Ok(d)); }
                        _ = cancelled => {}
                    }
                });
                rt.shutdown_background();
            })
    };
    let result = async move {
        let outcome = match thread {
            Err(e) => Err(format!("cannot start discovery: {e}")),
            Ok(_) => result
                .await
                .unwrap_or_else(|_| Err("discovery stopped unexpectedly".into())),
        };
        outcome.unwrap_or_else(|why| {
            gate.record(
                crate::inventory::ORGANIZATION,
                None,
                "organizations:ListAccountsForParent",
                Outcome {
                    status: CoverageStatus::Error,
                    error: Some(why),
                },
            );
            Discovery::default()
        })
    };
    (result, cancel)
}

async fn base_config(cfg: &Config) -> SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let attempt = Duration::from_secs(cfg.crawl.call_timeout_seconds.max(1));
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_http_client())
        // The per-attempt timeout already bounds a stalled response; the SDK's own stall
        // detection adds a timer task to every request (measurable at 75,000 requests).
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(cfg.crawl.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                // No operation timeout on top: attempts are bounded by this timeout and the
                // retry count, and the scan by its deadline; one more timer per request was
                // measurable.
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .load()
        .await
}

/// One HTTP client (connection pool, TLS configuration) for every service client of the
/// crawl. Left to itself the SDK builds one per service client: at 1,000 accounts × 17
/// regions that is 34,000 pools and TLS setups (most of a scan's CPU and memory).
fn shared_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        // Without settings the SDK only asks for a connector to validate each new service
        // client, and throws it away: skip the TLS setup (root certificates) there, or it
        // costs more than the crawl's requests.
        let Some(settings) = settings else {
            return ConnectorBuilder::default().build_http();
        };
        let mut c = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        c.set_connector_settings(Some(settings.clone()));
        if let Some(rc) = components {
            c.set_sleep_impl(rc.sleep_impl());
        }
        // HTTPS_PROXY / NO_PROXY, as the SDK's own default client honours them.
        c.set_proxy_config(Some(ProxyConfig::from_env()));
        c.build()
    })
}

/// An account's AssumeRole session, shared by all of its service clients. The SDK caches
/// credentials per client, so 17 regions × 2 services would each assume the role (8 calls per
/// account measured); this asks once, and again only when the session is about to expire.
#[derive(Debug)]
struct OneSession {
    inner: aws_config::sts::AssumeRoleProvider,
    current: tokio::sync::Mutex<Option<aws_credential_types::Credentials>>,
}

impl OneSession {
    fn new(inner: aws_config::sts::AssumeRoleProvider) -> OneSession {
        OneSession {
            inner,
            current: tokio::sync::Mutex::new(None),
        }
    }
}

impl aws_credential_types::provider::ProvideCredentials for OneSession {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let mut current = self.current.lock().await;
            let fresh_until = std::time::SystemTime::now() + Duration::from_secs(300);
            if let Some(c) = current.as_ref()
                && c.expiry().is_none_or(|e| e > fresh_until)
            {
                return Ok(c.clone());
            }
            let c = self.inner.provide_credentials().await?;
            *current = Some(c.clone());
            Ok(c)
        })
    }
}

/// The EC2 client of an account-region. Each account-region has its own retry partition:
/// one throttled account must not slow the others down.
fn ec2_client(conf: &SdkConfig, gate: &Gate, account: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(conf)
            .region(AwsRegion::new(region.to_string()))
            .retry_partition(aws_sdk_ec2::config::retry::RetryPartition::new(format!(
                "plaudit-{account}-{region}"
            )))
            .interceptor(api::CountRetries(gate.counters.retries.clone()))
            .interceptor(api::CheckComplete)
            .retry_classifier(api::IncompleteIsTransient)
            .build(),
    )
}

/// The ELBv2 client of an account-region (see [`ec2_client`]).
fn elb_client(
    conf: &SdkConfig,
    gate: &Gate,
    account: &str,
    region: &str,
) -> aws_sdk_elasticloadbalancingv2::Client {
    use aws_sdk_elasticloadbalancingv2::config::{Builder, retry::RetryPartition};
    aws_sdk_elasticloadbalancingv2::Client::from_conf(
        Builder::from(conf)
            .region(AwsRegion::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!("plaudit-{account}-{region}")))
            .interceptor(api::CountRetries(gate.counters.retries.clone()))
            .interceptor(api::CheckComplete)
            .retry_classifier(api::IncompleteIsTransient)
            .build(),
    )
}

/// Credentials for an account: AssumeRole into the member role (once per account, shared
/// by all its clients). In the caller's own account the member role is used where it is
/// deployed, and the caller's own credentials where it is not (the ledger says which way).
/// A failure is recorded in the ledger with AWS's message and gives `None`.
async fn enter_account(
    base: &SdkConfig,
    gate: &Gate,
    cfg: &Config,
    who: &Who,
    account: &str,
) -> Option<SdkConfig> {
    use aws_credential_types::provider::ProvideCredentials;
    let api = "sts:AssumeRole";
    let own = account == who.caller;
    let failed = |error: String| {
        if own {
            // The documented setup may give the scanning principal itself no read access;
            // the member role deployed here does. Without one, the caller's own credentials
            // are tried, and any API they may not call is a named gap.
            tracing::info!(
                "no member role usable in the scanner's own account {account} ({error}); \
                 reading it with the scan's own credentials"
            );
            gate.record(account, None, "sts:GetCallerIdentity", Outcome::ok());
            return Some(base.clone());
        }
        let status = CoverageStatus::AssumeRoleFailed;
        gate.record(
            account,
            None,
            api,
            Outcome {
                status,
                error: Some(error),
            },
        );
        None
    };
    // Credentials from AssumeRole are the role's account's: a role ARN (from a template) in
    // another account would file that account's resources under this one.
    let arn = cfg.role.arn_for(account, &who.partition);
    if arn.split(':').nth(4) != Some(account) {
        return failed(format!("the role ARN `{arn}` is not in account {account}"));
    }
    let mut b = aws_config::sts::AssumeRoleProvider::builder(arn)
        .session_name(cfg.role.session_name.clone())
        .session_length(who.session)
        .region(AwsRegion::new(who.home.clone()))
        .configure(base);
    if let Some(x) = &cfg.role.external_id {
        b = b.external_id(x.clone());
    }
    let session = OneSession::new(b.build().await);
    // Assume the role now: this is where a denied role shows, before any other call.
    gate.counters.requests.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = session.provide_credentials().await {
        gate.counters.failures.fetch_add(1, Ordering::Relaxed);
        return failed(api::error_chain(&e));
    }
    gate.record(account, None, api, Outcome::ok());
    Some(
        base.to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(session),
            )
            .build(),
    )
}

/// The regions to crawl in an account: the configured ones (or all) that are enabled there.
/// Enablement is read from DescribeRegions with all regions, asked in a region every account
/// of the partition has: a region the account has not opted in to cannot hold resources, so
/// it is recorded `not_enabled` (listed, not a gap) and not crawled. When DescribeRegions
/// fails, the configured regions are crawled as they are (none without a list) and the
/// failure is a gap.
async fn account_regions(
    gate: &Gate,
    cfg: &Config,
    who: &Who,
    conf: &SdkConfig,
    account: &str,
) -> Vec<String> {
    let api = "ec2:DescribeRegions";
    let at = default_region(&who.partition).unwrap_or(&who.home);
    let ec2 = ec2_client(conf, gate, account, at);
    let listed = match gate
        .call(account, at, api, || {
            ec2.describe_regions().all_regions(true).send()
        })
        .await
    {
        Ok(r) => {
            gate.record(account, None, api, Outcome::ok());
            r.regions()
                .iter()
                .filter_map(|r| {
                    let name = r.region_name()?.to_string();
                    // `opt-in-not-required`, `opted-in`, `not-opted-in`; absent on older
                    // partitions, where every listed region is enabled.
                    let enabled = r.opt_in_status() != Some("not-opted-in");
                    Some((name, enabled))
                })
                .collect::<BTreeMap<String, bool>>()
        }
        Err(e) => {
            gate.record(account, None, api, classify(&e));
            return cfg.regions.clone();
        }
    };
    let wanted: Vec<String> = if cfg.regions.is_empty() {
        listed.keys().cloned().collect()
    } else {
        cfg.regions.clone()
    };
    let mut out = Vec::new();
    for r in wanted {
        match listed.get(&r) {
            Some(false) => gate.record(
                account,
                Some(&r),
                "*",
                Outcome {
                    status: CoverageStatus::NotEnabled,
                    error: Some(format!(
                        "region {r} is not enabled in this account (DescribeRegions: \
                         not-opted-in); it cannot hold resources"
                    )),
                },
            ),
            // Enabled, or a region DescribeRegions does not list (a new one): crawled, and
            // any failure is recorded.
            _ => out.push(r),
        }
    }
    out.sort();
    out
}

async fn crawl_account(
    base: SdkConfig,
    gate: Arc<Gate>,
    cfg: Arc<Config>,
    who: Arc<Who>,
    mut acct: Account,
    progress: Shared<Progress>,
) -> (Account, Option<SdkConfig>) {
    let (gate, cfg) = (&*gate, &*cfg);
    let Some(conf) = enter_account(&base, gate, cfg, &who, &acct.id).await else {
        return (acct, None);
    };
    let regions = account_regions(gate, cfg, &who, &conf, &acct.id).await;
    lock(&progress)
        .partial
        .insert(acct.id.clone(), (regions.clone(), Vec::new()));

    let page_size = cfg.crawl.page_size;
    let progress = &progress;
    let per_region = regions.iter().map(|r| {
        let conf = &conf;
        let account = acct.id.clone();
        async move {
            let make_elb = || elb_client(conf, gate, &account, r);
            let ctx = RegionCtx {
                gate,
                account: &account,
                region: r,
                ec2: ec2_client(conf, gate, &account, r),
                elb: std::sync::OnceLock::new(),
                make_elb: Some(&make_elb),
                page_size,
            };
            // Kept in the progress record (not cloned there) so that a deadline loses
            // nothing already collected; the account takes its regions back at the end.
            let region: Region = collect_region(&ctx).await;
            if let Some(p) = lock(progress).partial.get_mut(&account) {
                p.1.push(region);
            }
        }
    });
    collect::join_each(per_region).await;
    acct.regions = lock(progress)
        .partial
        .remove(&acct.id)
        .map(|p| p.1)
        .unwrap_or_default();
    (acct, Some(conf))
}

fn spawn_progress(gate: Arc<Gate>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        loop {
            let gaps = gate.ledger().iter().filter(|c| c.status.is_gap()).count();
            let c = &gate.counters;
            eprint!(
                "\r\x1b[2Kscanning: {}/{} accounts · {} requests · {} retried (throttling, 5xx) · {} failed calls · {} coverage gaps",
                c.accounts_done.load(Ordering::Relaxed),
                c.accounts_found.load(Ordering::Relaxed),
                c.requests.load(Ordering::Relaxed),
                c.retries.load(Ordering::Relaxed),
                c.failures.load(Ordering::Relaxed),
                gaps
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

/// The APIs a preflight probes in each account, one cheap call each.
pub const PREFLIGHT_APIS: [&str; 6] = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeVpcEndpointServiceConfigurations",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcEndpointConnections",
    "ec2:DescribeSecurityGroupRules",
    "elasticloadbalancing:DescribeLoadBalancers",
];

/// Assumes the role in every selected account and makes one cheap call per API family in
/// one region (the first configured, or the home region). Returns the ledger: the
/// permission matrix.
pub async fn preflight(opts: &CrawlOptions) -> Result<Vec<crate::inventory::CoverageEntry>> {
    let cfg = &opts.config;
    let p = prepare(cfg).await?;
    let (tx, rx) = futures::channel::mpsc::unbounded::<Account>();
    let found = discover::discover(
        &p.org,
        &p.gate,
        &p.who.caller,
        &cfg.accounts,
        opts.shard,
        tx,
    );
    let (_, selected) = futures::join!(found, rx.collect::<Vec<Account>>());
    let region = cfg
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| p.who.home.clone());
    let gate = &p.gate;
    futures::stream::iter(selected.iter())
        .map(|acct| {
            let region = region.clone();
            let (base, who) = (&p.base, &p.who);
            async move {
                let Some(conf) = enter_account(base, gate, cfg, who, &acct.id).await else {
                    return;
                };
                let r = AwsRegion::new(region.clone());
                let ec2 = aws_sdk_ec2::Client::from_conf(
                    aws_sdk_ec2::config::Builder::from(&conf)
                        .region(r.clone())
                        .build(),
                );
                let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
                    aws_sdk_elasticloadbalancingv2::config::Builder::from(&conf)
                        .region(r)
                        .build(),
                );
                let (a, rg) = (acct.id.as_str(), region.as_str());
                let rec = |api: &str, o: Outcome| gate.record(a, Some(rg), api, o);
                macro_rules! probe {
                    ($api:expr, $call:expr) => {
                        match gate.call(a, rg, $api, || $call).await {
                            Ok(_) => rec($api, Outcome::ok()),
                            Err(e) => rec($api, classify(&e)),
                        }
                    };
                }
                probe!(PREFLIGHT_APIS[0], ec2.describe_availability_zones().send());
                probe!(
                    PREFLIGHT_APIS[1],
                    ec2.describe_vpc_endpoint_service_configurations()
                        .max_results(5)
                        .send()
                );
                probe!(
                    PREFLIGHT_APIS[2],
                    ec2.describe_vpc_endpoints().max_results(5).send()
                );
                probe!(
                    PREFLIGHT_APIS[3],
                    ec2.describe_vpc_endpoint_connections()
                        .max_results(5)
                        .send()
                );
                probe!(
                    PREFLIGHT_APIS[4],
                    ec2.describe_security_group_rules().max_results(5).send()
                );
                probe!(
                    PREFLIGHT_APIS[5],
                    elb.describe_load_balancers().page_size(1).send()
                );
            }
        })
        .buffer_unordered(cfg.crawl.accounts.max(1))
        .collect::<Vec<()>>()
        .await;
    Ok(gate.ledger())
}

/// Builds a runtime and runs a preflight (for the synchronous command layer).
pub fn preflight_blocking(opts: &CrawlOptions) -> Result<Vec<crate::inventory::CoverageEntry>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(preflight(opts))
}

/// Builds a runtime and crawls (for the synchronous command layer).
pub fn crawl_blocking(opts: &CrawlOptions) -> Result<Inventory> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let _guard = crate::interrupt::CrawlGuard::new();
    let r = rt.block_on(crawl(opts));
    // Connections still open after a deadline or Ctrl-C are not worth waiting for.
    rt.shutdown_background();
    r
}
