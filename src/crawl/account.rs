//! One account of a crawl: entering it (AssumeRole into the member role, or the scan's own
//! credentials in its own account), the regions to read there, and its regions collected
//! concurrently ([`super::collect`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_config::SdkConfig;
use aws_types::region::Region as AwsRegion;

use super::api::{self, Outcome, classify};
use super::clients::{OneSession, ec2_client, elb_client};
use super::collect::{self, RegionCtx, collect_region};
use super::{Progress, Scan, Shared, default_region, lock};
use crate::inventory::{Account, CoverageStatus, Region};

/// Credentials for an account: AssumeRole into the member role (once per account, shared
/// by all its clients). In the caller's own account the member role is used where it is
/// deployed, and the caller's own credentials where it is not (the ledger says which way).
/// A failure is recorded in the ledger with AWS's message and gives `None`.
pub(super) async fn enter(scan: &Scan, account: &str) -> Option<SdkConfig> {
    let Scan {
        base,
        gate,
        cfg,
        who,
    } = scan;
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
pub(super) async fn regions(scan: &Scan, conf: &SdkConfig, account: &str) -> Vec<String> {
    let Scan { gate, cfg, who, .. } = scan;
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

/// Crawls one account: enters it, lists its regions, collects each (concurrently). Regions
/// finished so far live in the progress record, so a deadline loses none of them. Gives the
/// account and the configuration (credentials) the consumer-side lookups reuse.
pub(super) async fn crawl(
    scan: Arc<Scan>,
    mut acct: Account,
    progress: Shared<Progress>,
) -> (Account, Option<SdkConfig>) {
    let Some(conf) = enter(&scan, &acct.id).await else {
        return (acct, None);
    };
    let regions = regions(&scan, &conf, &acct.id).await;
    let (gate, cfg) = (&*scan.gate, &*scan.cfg);
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
