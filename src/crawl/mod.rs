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

mod account;
pub mod api;
mod clients;
pub mod collect;
pub mod convert;
pub mod discover;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use futures::StreamExt;

use self::api::{Gate, Outcome, classify};
use self::collect::{RegionCtx, lookup_services};
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
    /// Take the accounts from this list (`plaudit accounts --save`) instead of discovery.
    pub accounts_from: Option<std::path::PathBuf>,
}

/// What every part of a crawl (and a preflight) shares: who scans, the settings, the base
/// configuration every client starts from, and the gate (limits, counters, the ledger).
struct Scan {
    base: SdkConfig,
    gate: Arc<Gate>,
    cfg: Arc<Config>,
    who: Who,
}

/// Reads who scans (STS GetCallerIdentity: account, partition) and sets up the gate.
async fn prepare(cfg: &Config) -> Result<Scan> {
    let base = clients::base_config(cfg).await;
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
    Ok(Scan {
        base,
        gate,
        cfg: Arc::new(cfg.clone()),
        who: Who {
            caller,
            home,
            partition,
            session: Duration::from_secs(u64::from(session)),
        },
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
    let started = std::time::Instant::now();
    // An account list given is read first: a bad file stops the scan before any call.
    let listed = opts
        .accounts_from
        .as_deref()
        .map(discover::read_list)
        .transpose()?
        .map(Arc::new);
    // Ctrl-C is prompt here too: identifying the caller retries a network that does not
    // answer for many seconds.
    let scan = tokio::select! {
        s = prepare(&opts.config) => Arc::new(s?),
        () = crate::interrupt::wait() => {
            return Err(crate::interrupt::Interrupted { accounts_done: 0, accounts: 0, requests: 0 }.into());
        }
    };
    let ticker = opts.progress.then(|| spawn_progress(scan.gate.clone()));
    let deadline = scan
        .cfg
        .crawl
        .deadline_seconds
        .map(|s| Duration::from_secs(s).saturating_sub(started.elapsed()));
    let stop = stop_signal(deadline);
    tokio::pin!(stop);
    let progress: Shared<Progress> = Arc::default();

    // Phase 1: discovery, and every account it finds.
    let (found, mut stopped) =
        crawl_accounts(&scan, opts.shard, listed, &progress, &mut stop, started).await;
    if let Some(Stop::Interrupted) = stopped {
        if let Some(t) = ticker {
            stop_progress(t).await;
        }
        let p = lock(&progress);
        return Err(interrupted(&scan.gate, p.done.len(), p.selected.len()));
    }
    let discovery = found.unwrap_or_else(|| listed_so_far(&progress));
    let (done, unfinished) = finished_and_not(&progress);
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "every account crawled"
    );

    // Phase 2: consumer-side lookups of services the organisation does not provide.
    let (mut accounts, jobs) = lookup_jobs(done);
    let wanted: Vec<(usize, usize, String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.account,
                j.region,
                j.account_id.clone(),
                j.region_name.clone(),
            )
        })
        .collect();
    let looked_up: Shared<Vec<(usize, usize, Vec<ServiceLookup>)>> = Arc::default();
    if stopped.is_none() && !jobs.is_empty() {
        stopped = look_up_services(&scan, jobs, &looked_up, &mut stop).await;
        if let Some(Stop::Interrupted) = stopped {
            let total = accounts.len() + unfinished.len();
            return Err(interrupted(&scan.gate, accounts.len(), total));
        }
    }
    let mut answered = BTreeSet::new();
    for (ai, ri, found) in lock(&looked_up).drain(..) {
        accounts[ai].regions[ri].service_lookups = found;
        answered.insert((ai, ri));
    }
    if let Some(t) = ticker {
        stop_progress(t).await;
    }
    if let Some(Stop::Deadline(d)) = stopped {
        let unanswered = wanted
            .iter()
            .filter(|(ai, ri, ..)| !answered.contains(&(*ai, *ri)))
            .map(|(_, _, a, r)| (a.as_str(), r.as_str()));
        record_timeouts(&scan.gate, d, unanswered, unfinished, &mut accounts);
    }
    Ok(assemble(&scan, accounts, discovery))
}

/// The error a crawl stopped by Ctrl-C returns, with how far it got.
fn interrupted(gate: &Gate, done: usize, total: usize) -> anyhow::Error {
    crate::interrupt::Interrupted {
        accounts_done: done as u64,
        accounts: total as u64,
        requests: gate.counters.requests.load(Ordering::Relaxed),
    }
    .into()
}

/// Phase 1: discovery hands accounts over as it finds them; each account is crawled on its
/// own task (all cores), at most `crawl.accounts` at once. Gives discovery's result (none
/// when stopped first) and why it stopped early, if it did.
async fn crawl_accounts(
    scan: &Arc<Scan>,
    shard: Option<(u32, u32)>,
    listed: Option<Arc<Inventory>>,
    progress: &Shared<Progress>,
    stop: &mut (impl Future<Output = Stop> + Unpin),
    started: std::time::Instant,
) -> (Option<Discovery>, Option<Stop>) {
    let gate = &scan.gate;
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<Account>();
    let (discovery, cancel_discovery) = match listed {
        // The list was made once for every shard: no walk here.
        Some(list) => {
            let (cancel, _) = tokio::sync::oneshot::channel::<()>();
            let gate = scan.gate.clone();
            let found: std::pin::Pin<Box<dyn Future<Output = Discovery> + Send>> =
                Box::pin(async move { discover::from_list(&list, &gate, shard, &tx) });
            (found, cancel)
        }
        None => {
            let (found, cancel) = discover_apart(scan, shard, tx);
            let found: std::pin::Pin<Box<dyn Future<Output = Discovery> + Send>> = Box::pin(found);
            (found, cancel)
        }
    };
    let discovered = std::sync::atomic::AtomicBool::new(false);
    let tasks: Shared<Vec<tokio::task::AbortHandle>> = Arc::default();
    let accounts = {
        let tasks = &tasks;
        // Borrowed, so that accounts still queued when a deadline stops the crawl can be
        // recorded as not crawled.
        (&mut rx)
            .map(move |acct| {
                lock(progress).selected.push(acct.clone());
                gate.counters.accounts_found.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(account::crawl(scan.clone(), acct, progress.clone()));
                lock(tasks).push(task.abort_handle());
                task
            })
            .buffer_unordered(scan.cfg.crawl.accounts.max(1))
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
        s = stop => { stopped = Some(s); None }
    };
    drop(cancel_discovery);
    for t in lock(&tasks).drain(..) {
        t.abort();
    }
    if let Some(Stop::Deadline(d)) = stopped {
        // Found but not started yet: not crawled either.
        while let Ok(a) = rx.try_recv() {
            lock(progress).selected.push(a);
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
    (found, stopped)
}

/// Discovery cut short by the deadline: the members listed so far, and not the whole
/// organisation.
fn listed_so_far(progress: &Shared<Progress>) -> Discovery {
    Discovery {
        membership: crate::inventory::Membership {
            complete: false,
            accounts: lock(progress)
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
    }
}

/// Accounts crawled to the end (with their configuration), and the others with the regions
/// they finished.
type Unfinished = Vec<(Account, Option<(Vec<String>, Vec<Region>)>)>;

fn finished_and_not(
    progress: &Shared<Progress>,
) -> (Vec<(Account, Option<SdkConfig>)>, Unfinished) {
    let mut p = lock(progress);
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
}

/// The consumer-side lookups of one account-region.
struct LookupJob {
    /// Indices of the account and region in the crawl's accounts.
    account: usize,
    region: usize,
    account_id: String,
    region_name: String,
    conf: SdkConfig,
    /// `(service name, service region when it is another)`.
    names: Vec<(String, Option<String>)>,
}

/// The accounts crawled to the end, and the lookups their regions need: endpoints that
/// reach an endpoint service the organisation does not provide (VPC Lattice endpoints carry
/// a service network or resource configuration ARN, not a service name: nothing to look
/// up), with the service's region when it is another.
fn lookup_jobs(done: Vec<(Account, Option<SdkConfig>)>) -> (Vec<Account>, Vec<LookupJob>) {
    let org_services: BTreeSet<String> = done
        .iter()
        .flat_map(|(a, _)| a.regions.iter())
        .flat_map(|r| r.endpoint_services.iter().map(|s| s.name.clone()))
        .collect();
    let mut accounts: Vec<Account> = Vec::with_capacity(done.len());
    let mut jobs = Vec::new();
    for (acct, conf) in done {
        let ai = accounts.len();
        for (ri, region) in acct.regions.iter().enumerate() {
            let Some(conf) = conf.clone() else { break };
            let names: BTreeSet<(String, Option<String>)> = region
                .vpc_endpoints
                .iter()
                .filter(|e| e.reaches_endpoint_service() && !e.service_name.is_empty())
                .filter(|e| !org_services.contains(&e.service_name))
                .map(|e| (e.service_name.clone(), e.service_region.clone()))
                .collect();
            if !names.is_empty() {
                jobs.push(LookupJob {
                    account: ai,
                    region: ri,
                    account_id: acct.id.clone(),
                    region_name: region.name.clone(),
                    conf,
                    names: names.into_iter().collect(),
                });
            }
        }
        accounts.push(acct);
    }
    (accounts, jobs)
}

/// Phase 2: runs the lookups, at most `crawl.requests` at once; what each found goes into
/// `looked_up`. Gives why it stopped early, if it did.
async fn look_up_services(
    scan: &Scan,
    jobs: Vec<LookupJob>,
    looked_up: &Shared<Vec<(usize, usize, Vec<ServiceLookup>)>>,
    stop: &mut (impl Future<Output = Stop> + Unpin),
) -> Option<Stop> {
    let lookups = futures::stream::iter(jobs.into_iter().map(|job| {
        let (gate, looked_up) = (scan.gate.clone(), looked_up.clone());
        let page_size = scan.cfg.crawl.page_size;
        async move {
            let ctx = RegionCtx {
                gate: &gate,
                account: &job.account_id,
                region: &job.region_name,
                ec2: clients::ec2_client(&job.conf, &gate, &job.account_id, &job.region_name),
                elb: std::sync::OnceLock::new(),
                make_elb: None,
                page_size,
            };
            let found = lookup_services(&ctx, &job.names).await;
            lock(&looked_up).push((job.account, job.region, found));
        }
    }))
    .buffer_unordered(scan.cfg.crawl.requests.max(1))
    .collect::<Vec<()>>();
    tokio::select! {
        _ = lookups => None,
        s = stop => Some(s),
    }
}

/// Past the deadline: what was collected is kept; the lookups not answered, the regions and
/// accounts not finished are named in the ledger as `timeout`.
fn record_timeouts<'a>(
    gate: &Gate,
    d: Duration,
    unanswered: impl Iterator<Item = (&'a str, &'a str)>,
    unfinished: Unfinished,
    accounts: &mut Vec<Account>,
) {
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
    for (account, region) in unanswered {
        gate.record(
            account,
            Some(region),
            "ec2:DescribeVpcEndpointServices",
            timeout(),
        );
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

/// Discovery alone (`plaudit accounts`): the organisation's selected accounts, its
/// membership and Organizations' outcomes, as an inventory without regions — the list
/// `scan --accounts-from` crawls, so that N shards walk the organisation once.
pub async fn list_accounts(opts: &CrawlOptions) -> Result<Inventory> {
    let scan = tokio::select! {
        s = prepare(&opts.config) => s?,
        () = crate::interrupt::wait() => {
            return Err(crate::interrupt::Interrupted { accounts_done: 0, accounts: 0, requests: 0 }.into());
        }
    };
    let (discovery, selected) = tokio::select! {
        r = discover_all(&scan, None) => r,
        () = crate::interrupt::wait() => {
            return Err(crate::interrupt::Interrupted { accounts_done: 0, accounts: 0, requests: 0 }.into());
        }
    };
    Ok(assemble(&scan, selected, discovery))
}

/// Discovery to the end, without crawling: what it found and the accounts it selected.
async fn discover_all(scan: &Scan, shard: Option<(u32, u32)>) -> (Discovery, Vec<Account>) {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Account>();
    let org = clients::organizations_client(&scan.base);
    let found = discover::discover(
        &org,
        &scan.gate,
        &scan.who.caller,
        &scan.cfg.accounts,
        shard,
        tx,
    );
    futures::join!(found, rx.collect::<Vec<Account>>())
}

/// [`list_accounts`] on a runtime of its own (for the synchronous command layer).
pub fn list_accounts_blocking(opts: &CrawlOptions) -> Result<Inventory> {
    let rt = runtime()?;
    let _guard = crate::interrupt::CrawlGuard::new();
    let r = rt.block_on(list_accounts(opts));
    rt.shutdown_background();
    r
}

/// The inventory: the accounts crawled (and those discovery skipped, without regions) in
/// order, the organisation, its membership and the ledger.
fn assemble(scan: &Scan, mut accounts: Vec<Account>, discovery: Discovery) -> Inventory {
    let Discovery {
        organization,
        skipped,
        membership,
    } = discovery;
    accounts.extend(skipped.into_iter().map(|mut a| {
        a.regions.clear();
        a
    }));
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for a in &mut accounts {
        a.regions.sort_by(|x, y| x.name.cmp(&y.name));
    }
    Inventory {
        schema_version: SCHEMA_VERSION,
        collected_at: Some(chrono::Utc::now()),
        organization,
        partition: Some(scan.who.partition.clone()),
        accounts,
        membership: Some(membership),
        coverage: scan.gate.ledger(),
    }
}

/// Runs discovery on a thread and runtime of its own, with its own connections. Organizations
/// allows 8 requests a second, so the OU walk sets the pace of the whole scan: on the crawl's
/// runtime its responses queued behind thousands of account tasks once the cores were busy
/// (discovery of 1,000 accounts took 9–10 s instead of 6.7 s). Dropping the returned sender
/// stops it; its accounts arrive on `tx`, and the channel closes when it is done.
fn discover_apart(
    scan: &Scan,
    shard: Option<(u32, u32)>,
    tx: futures::channel::mpsc::UnboundedSender<Account>,
) -> (
    impl Future<Output = Discovery> + use<>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (done, result) = tokio::sync::oneshot::channel::<Result<Discovery, String>>();
    let org = clients::organizations_client(&scan.base);
    let (gate, caller, cfg) = (scan.gate.clone(), scan.who.caller.clone(), scan.cfg.clone());
    let thread = {
        let gate = gate.clone();
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

/// Stops the progress bar and waits until it has left the screen.
async fn stop_progress(t: tokio::task::JoinHandle<()>) {
    t.abort();
    let _ = t.await;
}

/// The progress bar (a terminal only: [`crate::progress`]), updated from the gate's counters
/// four times a second until the task is aborted; the bar leaves the screen with it.
fn spawn_progress(gate: Arc<Gate>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(bar) = crate::progress::Bar::on_stderr() else {
            return;
        };
        loop {
            let c = &gate.counters;
            let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
            bar.update(&crate::progress::Snapshot {
                accounts_done: n(&c.accounts_done),
                accounts_found: n(&c.accounts_found),
                requests: n(&c.requests),
                retries: n(&c.retries),
                failures: n(&c.failures),
                gaps: n(&c.gaps),
            });
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
    "ec2:DescribeSecurityGroups",
    "elasticloadbalancing:DescribeLoadBalancers",
];

/// Assumes the role in every selected account and makes one cheap call per API family in
/// one region (the first configured, or the home region). Returns the ledger: the
/// permission matrix.
pub async fn preflight(opts: &CrawlOptions) -> Result<Vec<crate::inventory::CoverageEntry>> {
    let scan = prepare(&opts.config).await?;
    let (_, selected) = discover_all(&scan, opts.shard).await;
    let region = scan
        .cfg
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| scan.who.home.clone());
    futures::stream::iter(selected.iter())
        .map(|acct| probe_account(&scan, &acct.id, &region))
        .buffer_unordered(scan.cfg.crawl.accounts.max(1))
        .collect::<Vec<()>>()
        .await;
    Ok(scan.gate.ledger())
}

/// One cheap call per API family in one region of an account, through the scan's own
/// clients (the same retries, timeouts and checks as a scan).
async fn probe_account(scan: &Scan, account: &str, region: &str) {
    let Some(conf) = account::enter(scan, account).await else {
        return;
    };
    let gate = &*scan.gate;
    let ec2 = clients::ec2_client(&conf, gate, account, region);
    let elb = clients::elb_client(&conf, gate, account, region);
    let rec = |api: &str, o: Outcome| gate.record(account, Some(region), api, o);
    macro_rules! probe {
        ($api:expr, $call:expr) => {
            match gate.call(account, region, $api, || $call).await {
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
        ec2.describe_security_groups().max_results(5).send()
    );
    probe!(
        PREFLIGHT_APIS[5],
        elb.describe_load_balancers().page_size(1).send()
    );
}

/// Builds a runtime and runs a preflight (for the synchronous command layer).
pub fn preflight_blocking(opts: &CrawlOptions) -> Result<Vec<crate::inventory::CoverageEntry>> {
    runtime()?.block_on(preflight(opts))
}

/// The runtime a synchronous command runs the crawler's async work on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Builds a runtime and crawls (for the synchronous command layer).
pub fn crawl_blocking(opts: &CrawlOptions) -> Result<Inventory> {
    let rt = runtime()?;
    let _guard = crate::interrupt::CrawlGuard::new();
    let r = rt.block_on(crawl(opts));
    // Connections still open after a deadline or Ctrl-C are not worth waiting for.
    rt.shutdown_background();
    r
}
