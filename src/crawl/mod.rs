//! The crawler: fills an [`Inventory`] from live AWS APIs. The only module that talks to AWS.
//!
//! Flow: who am I (STS) → which accounts (Organizations, [`discover`]) → per account,
//! concurrently: credentials (AssumeRole, or the caller's own for the caller's account) →
//! regions (config, or DescribeRegions) → per region, concurrently: [`collect`] → then the
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

use std::collections::BTreeSet;
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
use crate::config::Config;
use crate::inventory::{Account, CoverageStatus, Inventory, Region, SCHEMA_VERSION};

/// Where account-wide calls (STS, Organizations, DescribeRegions) go when no region is set.
const HOME_REGION: &str = "us-east-1";

/// Everything a crawl needs to know.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    pub config: Config,
    /// Show a progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Crawl only shard (index, count), 0-based: see [`crate::inventory::merge::shard_of`].
    pub shard: Option<(u32, u32)>,
}

/// Who is scanning, which accounts, and the shared gate: what a crawl and a preflight share.
struct Prepared {
    base: SdkConfig,
    home: String,
    gate: Arc<Gate>,
    caller: String,
    organization: Option<crate::inventory::Organization>,
    selected: Vec<Account>,
    skipped: Vec<Account>,
}

async fn prepare(cfg: &Config, shard: Option<(u32, u32)>) -> Result<Prepared> {
    let base = base_config(cfg).await;
    let home = base
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| HOME_REGION.to_string());
    let gate = Arc::new(Gate::new(
        cfg.crawl.requests,
        cfg.crawl.requests_per_account,
    ));

    let sts = aws_sdk_sts::Client::new(&base);
    let me = sts.get_caller_identity().send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot identify the caller (sts:GetCallerIdentity): {}; check the AWS credentials \
             (environment, profile, SSO or instance role)",
            api::error_chain(&e)
        )
    })?;
    let caller = me.account().unwrap_or_default().to_string();
    tracing::info!("scanning as account {caller}");

    let org = aws_sdk_organizations::Client::new(&base);
    let found = discover::discover(&org, &gate, &caller, &cfg.accounts).await;
    let ou_ids = found.ou_ids.clone();

    let mut selected = Vec::new();
    let mut skipped = Vec::new();
    for a in found.accounts {
        if let Some((index, count)) = shard {
            // Each account belongs to exactly one shard, suspended ones included, so the
            // merged ledger lists every account once.
            if crate::inventory::merge::shard_of(&a.id, count) != index {
                continue;
            }
        }
        if let Some(why) = discover::excluded(&a, &cfg.accounts, &ou_ids) {
            tracing::info!("account {} left out: {why}", a.id);
            continue;
        }
        match discover::is_scannable(&a) {
            Ok(()) => selected.push(a),
            Err(status) => {
                gate.record(
                    &a.id,
                    None,
                    "organizations:ListAccounts",
                    Outcome {
                        status,
                        error: Some(format!("account is {}; not scanned", a.status)),
                    },
                );
                skipped.push(a);
            }
        }
    }
    Ok(Prepared {
        base,
        home,
        gate,
        caller,
        organization: found.organization,
        selected,
        skipped,
    })
}

/// Crawls the organisation. Errors only when nothing can be scanned at all (no usable
/// credentials); everything else becomes a coverage gap.
pub async fn crawl(opts: &CrawlOptions) -> Result<Inventory> {
    let cfg = &opts.config;
    let Prepared {
        base,
        home,
        gate,
        caller,
        organization,
        selected,
        skipped,
    } = prepare(cfg, opts.shard).await?;
    let total = selected.len();
    let ticker = opts.progress.then(|| spawn_progress(gate.clone(), total));

    // Phase 1: every account, every region.
    let results: Vec<(Account, Vec<RegionClients>)> = futures::stream::iter(selected)
        .map(|acct| {
            let base = base.clone();
            let gate = gate.clone();
            let caller = caller.clone();
            let home = home.clone();
            async move {
                let id = acct.id.clone();
                let r = crawl_account(&base, &gate, cfg, &caller, &home, acct).await;
                let done = gate.counters.accounts_done.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(account = %id, regions = r.0.regions.len(), "account done ({done}/{total})");
                r
            }
        })
        .buffer_unordered(cfg.crawl.accounts.max(1))
        .collect()
        .await;

    // Phase 2: consumer-side lookups of services the organisation does not provide.
    let org_services: BTreeSet<String> = results
        .iter()
        .flat_map(|(a, _)| a.regions.iter())
        .flat_map(|r| r.endpoint_services.iter().map(|s| s.name.clone()))
        .collect();
    let mut accounts: Vec<Account> = Vec::with_capacity(results.len());
    let lookups = futures::stream::iter(results.into_iter().map(|(mut acct, clients)| {
        let gate = gate.clone();
        let org_services = &org_services;
        async move {
            for (region, c) in acct.regions.iter_mut().zip(clients) {
                let names: BTreeSet<String> = region
                    .vpc_endpoints
                    .iter()
                    .filter(|e| !e.endpoint_type.eq_ignore_ascii_case("gateway"))
                    .filter(|e| !org_services.contains(&e.service_name))
                    .map(|e| e.service_name.clone())
                    .collect();
                if names.is_empty() {
                    continue;
                }
                let ctx = RegionCtx {
                    gate: &gate,
                    account: &acct.id,
                    region: &region.name,
                    ec2: c.ec2,
                    elb: c.elb,
                    page_size: cfg.crawl.page_size,
                };
                let names: Vec<String> = names.into_iter().collect();
                region.service_lookups = lookup_services(&ctx, &names).await;
            }
            acct
        }
    }))
    .buffer_unordered(cfg.crawl.accounts.max(1));
    futures::pin_mut!(lookups);
    while let Some(a) = lookups.next().await {
        accounts.push(a);
    }
    if let Some(t) = ticker {
        t.abort();
        eprintln!();
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
        accounts,
        coverage: gate.ledger(),
    })
}

async fn base_config(cfg: &Config) -> SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let attempt = Duration::from_secs(cfg.crawl.call_timeout_seconds.max(1));
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(cfg.crawl.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(attempt)
                .operation_timeout(attempt * cfg.crawl.max_attempts.max(1))
                .build(),
        )
        .load()
        .await
}

/// Clients of one account-region, kept for the second phase.
struct RegionClients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// Credentials for an account: the caller's own for the caller's account, AssumeRole for the
/// others. Proves they work (this is where AssumeRole happens) and belong to the account; a
/// failure is recorded in the ledger and gives `None`.
async fn enter_account(
    base: &SdkConfig,
    gate: &Gate,
    cfg: &Config,
    caller: &str,
    home: &str,
    account: &str,
) -> Option<SdkConfig> {
    let conf = if account == caller {
        base.clone()
    } else {
        let mut b = aws_config::sts::AssumeRoleProvider::builder(cfg.role.arn_for(account))
            .session_name(cfg.role.session_name.clone())
            .session_length(Duration::from_secs(u64::from(cfg.role.duration_seconds)))
            .region(AwsRegion::new(home.to_string()))
            .configure(base);
        if let Some(x) = &cfg.role.external_id {
            b = b.external_id(x.clone());
        }
        let provider = b.build().await;
        base.to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build()
    };
    let sts = aws_sdk_sts::Client::new(&conf);
    // The caller's account is entered without AssumeRole; the ledger says which way it was.
    let how = if account == caller {
        "sts:GetCallerIdentity"
    } else {
        "sts:AssumeRole"
    };
    let who = gate
        .call(account, "*", how, || sts.get_caller_identity().send())
        .await;
    let failed = |error: Option<String>| {
        gate.record(
            account,
            None,
            how,
            Outcome {
                status: CoverageStatus::AssumeRoleFailed,
                error,
            },
        );
        None
    };
    match who {
        Ok(w) if w.account() == Some(account) => {
            gate.record(account, None, how, Outcome::ok());
            Some(conf)
        }
        Ok(w) => failed(Some(format!(
            "the role's credentials belong to account {}, not {account}",
            w.account().unwrap_or("?")
        ))),
        Err(e) => failed(classify(&e).error),
    }
}

async fn crawl_account(
    base: &SdkConfig,
    gate: &Gate,
    cfg: &Config,
    caller: &str,
    home: &str,
    mut acct: Account,
) -> (Account, Vec<RegionClients>) {
    let Some(conf) = enter_account(base, gate, cfg, caller, home, &acct.id).await else {
        return (acct, Vec::new());
    };

    let regions: Vec<String> = if !cfg.regions.is_empty() {
        cfg.regions.clone()
    } else {
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&conf)
                .region(AwsRegion::new(home.to_string()))
                .build(),
        );
        match gate
            .call(&acct.id, home, "ec2:DescribeRegions", || {
                ec2.describe_regions().send()
            })
            .await
        {
            Ok(r) => {
                gate.record(&acct.id, None, "ec2:DescribeRegions", Outcome::ok());
                let mut v: Vec<String> = r
                    .regions()
                    .iter()
                    .filter(|r| r.opt_in_status() != Some("not-opted-in"))
                    .filter_map(|r| r.region_name().map(str::to_string))
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                gate.record(&acct.id, None, "ec2:DescribeRegions", classify(&e));
                Vec::new()
            }
        }
    };

    let page_size = cfg.crawl.page_size;
    let per_region = regions.iter().map(|r| {
        let conf = conf.clone();
        let account = acct.id.clone();
        async move {
            // Each account-region has its own retry partition: one throttled account must
            // not slow the others down.
            let partition = format!("plaudit-{account}-{r}");
            let ec2 = aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&conf)
                    .region(AwsRegion::new(r.clone()))
                    .retry_partition(aws_sdk_ec2::config::retry::RetryPartition::new(
                        partition.clone(),
                    ))
                    .build(),
            );
            let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(&conf)
                    .region(AwsRegion::new(r.clone()))
                    .retry_partition(
                        aws_sdk_elasticloadbalancingv2::config::retry::RetryPartition::new(
                            partition,
                        ),
                    )
                    .build(),
            );
            let ctx = RegionCtx {
                gate,
                account: &account,
                region: r,
                ec2: ec2.clone(),
                elb: elb.clone(),
                page_size,
            };
            let region: Region = collect_region(&ctx).await;
            (region, RegionClients { ec2, elb })
        }
    });
    let done: Vec<(Region, RegionClients)> = futures::future::join_all(per_region).await;
    let mut clients = Vec::new();
    acct.regions.clear();
    for (r, c) in done {
        acct.regions.push(r);
        clients.push(c);
    }
    (acct, clients)
}

fn spawn_progress(gate: Arc<Gate>, total: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        loop {
            let gaps = gate.ledger().iter().filter(|c| c.status.is_gap()).count();
            eprint!(
                "\r\x1b[2Kscanning: {}/{} accounts · {} requests · {} failed calls · {} coverage gaps",
                gate.counters.accounts_done.load(Ordering::Relaxed),
                total,
                gate.counters.requests.load(Ordering::Relaxed),
                gate.counters.failures.load(Ordering::Relaxed),
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
    let p = prepare(cfg, opts.shard).await?;
    let region = cfg
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| p.home.clone());
    let gate = &p.gate;
    futures::stream::iter(p.selected.iter())
        .map(|acct| {
            let region = region.clone();
            let (base, caller, home) = (&p.base, &p.caller, &p.home);
            async move {
                let Some(conf) = enter_account(base, gate, cfg, caller, home, &acct.id).await
                else {
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
    rt.block_on(crawl(opts))
}
