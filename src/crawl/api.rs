//! Etiquette for every AWS call: a global cap and a per-account cap on requests in flight, a
//! rate limiter per (account, region, API family) set below AWS's published buckets, and the
//! coverage ledger entry for each (account, region, API). Collectors call AWS only through
//! [`Gate::call`].

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::inventory::{CoverageEntry, CoverageStatus};

/// AWS's published token buckets, and ours, a little below them so that an audit never
/// starves the accounts' own automation, which spends the same buckets.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub burst: u32,
    pub per_second: f64,
}

/// EC2 Describe*: AWS gives 100 burst, 20/s per account, region and action.
pub const EC2_BUCKET: Bucket = Bucket {
    burst: 50,
    per_second: 16.0,
};
/// ELBv2 Describe*: AWS gives 40 burst, 10/s per account and region.
pub const ELB_BUCKET: Bucket = Bucket {
    burst: 20,
    per_second: 8.0,
};
/// Organizations throttles per API and per organisation (the management account's other
/// automation spends the same buckets). Discovery is on every account's critical path, so it
/// runs at each bucket's refill rate, with one token of burst less than AWS's: a request that
/// arrives late (network jitter) and the next one on time still fit.
///
/// AWS's per-API numbers could not be confirmed from its documentation here (for years the
/// Organizations guide published none; see awsdocs/aws-organizations-docs#39), so these are
/// the conservative reading: the OU walk (`ListRoots`, `ListAccountsForParent`,
/// `ListOrganizationalUnitsForParent`, `DescribeOrganization`) at 5/s per API — the low end of
/// what is reported for the walk — and `ListAccounts` and `ListTagsForResource`, reported to
/// have larger buckets, at the 8/s plaudit used before for everything. Slower than AWS
/// allows costs seconds; faster costs throttling errors in someone else's automation.
pub fn org_bucket(api: &str) -> Bucket {
    match api {
        "organizations:ListAccounts" | "organizations:ListTagsForResource" => Bucket {
            burst: 7,
            per_second: 8.0,
        },
        _ => Bucket {
            burst: 4,
            per_second: 5.0,
        },
    }
}
/// STS (AssumeRole, GetCallerIdentity): generous regional limits; stay modest.
pub const STS_BUCKET: Bucket = Bucket {
    burst: 20,
    per_second: 10.0,
};

fn limiter(b: Bucket, clock: &governor::clock::DefaultClock) -> DefaultDirectRateLimiter {
    let period = std::time::Duration::from_secs_f64(1.0 / b.per_second.max(0.1));
    let q = Quota::with_period(period)
        .expect("a positive period")
        .allow_burst(NonZeroU32::new(b.burst.max(1)).unwrap());
    // One clock for all limiters: creating one calibrates a timer (measurable at 17,000
    // account-regions × API families).
    RateLimiter::direct_with_clock(q, clock.clone())
}

/// The API family an operation's rate limit belongs to: EC2 and Organizations limit per
/// action, ELBv2 and STS per service.
fn family(api: &str) -> (String, Bucket) {
    match api.split_once(':') {
        Some(("ec2", _)) => (api.to_string(), EC2_BUCKET),
        Some(("elasticloadbalancing", _)) => ("elasticloadbalancing".into(), ELB_BUCKET),
        Some(("organizations", _)) => (api.to_string(), org_bucket(api)),
        _ => ("sts".into(), STS_BUCKET),
    }
}

/// Counters for progress and the end-of-scan summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    /// Attempts the SDK retried (throttling, 5xx, timeouts), counted by [`CountRetries`].
    pub retries: Arc<AtomicU64>,
    pub accounts_found: AtomicU64,
    pub accounts_done: AtomicU64,
    /// Ledger entries that are gaps (for the progress bar; the ledger itself is the record).
    pub gaps: AtomicU64,
}

/// Counts the SDK's retried attempts (its `amz-sdk-request: attempt=N` header, N > 1): most
/// are throttling, which the progress line shows.
#[derive(Debug)]
pub struct CountRetries(pub Arc<AtomicU64>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "CountRetries"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(h) = ctx.request().headers().get("amz-sdk-request")
            && !h.starts_with("attempt=1;")
            && h != "attempt=1"
        {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Shared by every task of a crawl.
pub struct Gate {
    global: Semaphore,
    per_account: usize,
    accounts: Mutex<BTreeMap<String, Arc<Semaphore>>>,
    limiters: Mutex<BTreeMap<(String, String, String), Arc<DefaultDirectRateLimiter>>>,
    clock: governor::clock::DefaultClock,
    ledger: Mutex<BTreeMap<(String, String, String), CoverageEntry>>,
    pub counters: Counters,
}

impl Gate {
    pub fn new(requests: usize, per_account: usize) -> Gate {
        Gate {
            global: Semaphore::new(requests.max(1)),
            per_account: per_account.max(1),
            accounts: Mutex::default(),
            limiters: Mutex::default(),
            clock: governor::clock::DefaultClock::default(),
            ledger: Mutex::default(),
            counters: Counters::default(),
        }
    }

    fn account_sem(&self, account: &str) -> Arc<Semaphore> {
        let mut m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(account.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
            .clone()
    }

    fn rate(&self, account: &str, region: &str, api: &str) -> Arc<DefaultDirectRateLimiter> {
        let (fam, bucket) = family(api);
        // Organizations limits are per organisation, not per account.
        let key = if fam.starts_with("organizations:") {
            (String::new(), String::new(), fam)
        } else {
            (account.to_string(), region.to_string(), fam)
        };
        let mut m = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key)
            .or_insert_with(|| Arc::new(limiter(bucket, &self.clock)))
            .clone()
    }

    /// Runs one AWS request under the caps and the rate limiter. The SDK retries throttling
    /// and 5xx with backoff and jitter inside `f`; what still fails is returned.
    pub async fn call<T, E, R, F, Fut>(
        &self,
        account: &str,
        region: &str,
        api: &str,
        f: F,
    ) -> Result<T, SdkError<E, R>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
    {
        // The rate limiter first, then the permits: a call waiting for its bucket to refill
        // must not hold the account's (or the scan's) permits, or one hot action would
        // starve the account's other calls.
        self.rate(account, region, api).until_ready().await;
        let acct = self.account_sem(account);
        let _a = acct.acquire().await.expect("semaphore never closed");
        let _g = self.global.acquire().await.expect("semaphore never closed");
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(account, region, api, "request");
        let r = f().await;
        if r.is_err() {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(account, region, api, "request failed");
        }
        r
    }

    /// Records the outcome of an API in an account-region. A gap is never overwritten by a
    /// later `ok` of the same API (one failed page makes the whole listing incomplete).
    pub fn record(&self, account: &str, region: Option<&str>, api: &str, outcome: Outcome) {
        let key = (
            account.to_string(),
            region.unwrap_or("*").to_string(),
            api.to_string(),
        );
        let entry = CoverageEntry {
            account_id: account.to_string(),
            region: region.map(str::to_string),
            api: crate::inventory::Api::known(api),
            status: outcome.status,
            error: outcome.error,
        };
        if entry.status.is_gap() {
            tracing::warn!(
                account,
                region = region.unwrap_or("*"),
                api,
                status = entry.status.as_str(),
                error = entry.error.as_deref().unwrap_or(""),
                "coverage gap"
            );
        }
        let mut l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        match l.get(&key) {
            Some(old) if old.status.is_gap() => {}
            _ => {
                if entry.status.is_gap() {
                    self.counters.gaps.fetch_add(1, Ordering::Relaxed);
                }
                l.insert(key, entry);
            }
        }
    }

    pub fn ledger(&self) -> Vec<CoverageEntry> {
        let l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        l.values().cloned().collect()
    }
}

/// A response whose body is not a whole XML document. The SDK's XML deserializers stop
/// quietly at the end of the input, so a body cut short would otherwise give a shorter
/// listing and no error: silent data loss. [`CheckComplete`] turns it into an error and
/// [`IncompleteIsTransient`] has it retried like a 5xx.
#[derive(Debug, thiserror::Error)]
#[error("the response was cut short: {0}")]
pub struct IncompleteResponse(String);

/// Why an XML body is incomplete, or `None` when it ends by closing its root element (or is
/// not XML: other formats fail in their own parsers).
pub fn xml_incomplete(body: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Some("the body is not UTF-8".into());
    };
    let t = text.trim();
    if !t.starts_with('<') {
        return None;
    }
    let mut rest = t;
    if rest.starts_with("<?") {
        let Some(end) = rest.find("?>") else {
            return Some("the XML declaration is not closed".into());
        };
        rest = rest[end + 2..].trim_start();
    }
    let name = rest
        .get(1..)?
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or("");
    if name.is_empty() {
        return Some("no root element".into());
    }
    if t.ends_with(&format!("</{name}>")) || (rest.ends_with("/>") && !rest[1..].contains('<')) {
        None
    } else {
        Some(format!("{} bytes, no closing </{name}>", body.len()))
    }
}

/// Checks that each XML response is whole (see [`IncompleteResponse`]).
#[derive(Debug)]
pub struct CheckComplete;

impl aws_smithy_runtime_api::client::interceptors::Intercept for CheckComplete {
    fn name(&self) -> &'static str {
        "CheckComplete"
    }

    fn read_after_deserialization(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        // Only a successful answer can be a listing cut short; an error status is the
        // service's (or a proxy's) error, named by its status and code, whatever its body is.
        if !ctx.response().status().is_success() {
            return Ok(());
        }
        match ctx.response().body().bytes().and_then(xml_incomplete) {
            Some(why) => Err(Box::new(IncompleteResponse(why))),
            None => Ok(()),
        }
    }
}

/// Retries an [`IncompleteResponse`] (with the SDK's backoff) as it would a 5xx.
#[derive(Debug)]
pub struct IncompleteIsTransient;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for IncompleteIsTransient {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let Some(Err(e)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if err.downcast_ref::<IncompleteResponse>().is_some() {
                return RetryAction::transient_error();
            }
            cur = err.source();
        }
        RetryAction::NoActionIndicated
    }

    fn name(&self) -> &'static str {
        "IncompleteIsTransient"
    }
}

/// Follows `NextToken`/`Marker` to the last page, each page through [`Gate::call`]. `None`
/// when a page failed (the listing is then incomplete, and the ledger says why) or AWS sent
/// the same token twice; the API's ledger entry is written either way.
pub async fn paginate<T, E, R, F, Fut>(
    gate: &Gate,
    account: &str,
    region: Option<&str>,
    api: &str,
    mut f: F,
) -> Option<Vec<T>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug + 'static,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, R>>>,
{
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let t = token.clone();
        match gate
            .call(account, region.unwrap_or("*"), api, || f(t))
            .await
        {
            Ok((items, next)) => {
                all.extend(items);
                match next.filter(|n| !n.is_empty()) {
                    None => break,
                    Some(n) if !seen.insert(n.clone()) => {
                        let error = Some("AWS returned the same pagination token twice".into());
                        let status = CoverageStatus::Error;
                        gate.record(account, region, api, Outcome { status, error });
                        return None;
                    }
                    Some(n) => token = Some(n),
                }
            }
            Err(e) => {
                gate.record(account, region, api, classify(&e));
                return None;
            }
        }
    }
    gate.record(account, region, api, Outcome::ok());
    Some(all)
}

/// The ledger outcome of one API.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: CoverageStatus,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome {
            status: CoverageStatus::Ok,
            error: None,
        }
    }
}

/// Names the gap an SDK error leaves: access denied (IAM or an SCP), a disabled region,
/// throttling that outlasted the retries, a timeout, or another error — with AWS's message.
pub fn classify<E, R>(e: &SdkError<E, R>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug + 'static,
{
    let (status, error) = match e {
        SdkError::TimeoutError(_) => (CoverageStatus::Timeout, "the call timed out".to_string()),
        SdkError::DispatchFailure(d) if d.is_timeout() => (
            CoverageStatus::Timeout,
            "the connection timed out".to_string(),
        ),
        SdkError::ServiceError(s) => {
            let err = s.err();
            let raw: &dyn std::any::Any = s.raw();
            let status = raw
                .downcast_ref::<aws_smithy_runtime_api::client::orchestrator::HttpResponse>()
                .map(|r| r.status().as_u16().to_string())
                .unwrap_or_else(|| "error".into());
            match err.code() {
                Some(code) => (
                    classify_code(code),
                    format!("{code}: {}", err.message().unwrap_or("")),
                ),
                // No error document (an HTML page from a proxy, an empty body): the HTTP
                // status says what happened.
                None => (
                    CoverageStatus::Error,
                    format!("HTTP {status} without an AWS error code"),
                ),
            }
        }
        SdkError::DispatchFailure(d) if d.is_io() => (
            CoverageStatus::Error,
            format!("cannot reach AWS (a network error): {}", error_chain(e)),
        ),
        other => (CoverageStatus::Error, error_chain(other)),
    };
    Outcome {
        status,
        error: Some(error),
    }
}

/// The messages of an error and its sources, once each, short enough for a table cell.
/// (The SDK's `DisplayErrorContext` ends with a `Debug` dump of the raw response.)
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    // AWS's own error (code and message) deep in the chain, e.g. AssumeRole's AccessDenied
    // behind a credentials error, says it best; request ids would make every scan differ.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(meta) = err.downcast_ref::<aws_smithy_types::error::ErrorMetadata>()
            && let Some(code) = meta.code()
        {
            return format!("{code}: {}", meta.message().unwrap_or(""));
        }
        cur = err.source();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let msg = err.to_string();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = err.source();
    }
    let mut s = parts.join(": ");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The coverage status an AWS error code means.
pub fn classify_code(code: &str) -> CoverageStatus {
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnauthorizedAccess"
        | "AWSOrganizationsNotInUseException" => CoverageStatus::AccessDenied,
        // Whether a region is enabled is decided from DescribeRegions (`not_enabled`, not a
        // gap). A call that still meets OptInRequired is a region AWS says needs opting in.
        "OptInRequired" => CoverageStatus::RegionDisabled,
        // Credentials AWS did not accept. AWS also answers so in a region the account has
        // not enabled (reported widely, not documented), which is why enablement is read
        // from DescribeRegions instead of inferred from this code.
        "AuthFailure" | "InvalidClientTokenId" | "UnrecognizedClientException" => {
            CoverageStatus::AuthFailed
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            CoverageStatus::CredentialsExpired
        }
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "SlowDown" => CoverageStatus::Throttled,
        "RequestTimeout" | "RequestTimeoutException" => CoverageStatus::Timeout,
        _ => CoverageStatus::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_xml_document_is_incomplete() {
        let whole = b"<?xml version=\"1.0\"?>\n<DescribeVpcsResponse xmlns=\"x\"><vpcSet><item/></vpcSet></DescribeVpcsResponse>\n";
        assert_eq!(xml_incomplete(whole), None);
        assert!(xml_incomplete(&whole[..60]).is_some());
        assert!(xml_incomplete(b"<Response><Errors>").is_some());
        assert_eq!(
            xml_incomplete(b"{\"json\": true}"),
            None,
            "other formats are left to their parsers"
        );
        assert_eq!(xml_incomplete(b""), None);
    }

    #[test]
    fn codes_map_to_named_gaps() {
        assert_eq!(
            classify_code("UnauthorizedOperation"),
            CoverageStatus::AccessDenied
        );
        assert_eq!(
            classify_code("RequestLimitExceeded"),
            CoverageStatus::Throttled
        );
        assert_eq!(
            classify_code("OptInRequired"),
            CoverageStatus::RegionDisabled
        );
        assert_eq!(classify_code("AuthFailure"), CoverageStatus::AuthFailed);
        assert_eq!(
            classify_code("ExpiredToken"),
            CoverageStatus::CredentialsExpired
        );
        assert_eq!(classify_code("InternalError"), CoverageStatus::Error);
    }

    #[test]
    fn a_gap_is_not_overwritten_by_a_later_ok() {
        let g = Gate::new(4, 2);
        g.record(
            "1",
            Some("r"),
            "ec2:DescribeVpcEndpoints",
            Outcome {
                status: CoverageStatus::Throttled,
                error: Some("x".into()),
            },
        );
        g.record("1", Some("r"), "ec2:DescribeVpcEndpoints", Outcome::ok());
        assert_eq!(g.ledger()[0].status, CoverageStatus::Throttled);
    }

    #[tokio::test]
    async fn a_call_waiting_for_its_bucket_holds_no_permit() {
        // One request in flight per account: with the permit taken before the limiter, a call
        // waiting for an empty bucket would hold it and block the account's other APIs.
        let g = Gate::new(4, 1);
        let hot = "ec2:DescribeSubnets";
        for _ in 0..EC2_BUCKET.burst {
            let _ = g
                .call("1", "r", hot, || async {
                    Ok::<(), SdkError<std::io::Error, ()>>(())
                })
                .await;
        }
        let order = Mutex::new(Vec::new());
        let waiting = g.call("1", "r", hot, || async {
            order.lock().unwrap().push("hot");
            Ok::<(), SdkError<std::io::Error, ()>>(())
        });
        let other = async {
            // Let the hot call start waiting first.
            tokio::task::yield_now().await;
            g.call("1", "r", "ec2:DescribeVpcs", || async {
                order.lock().unwrap().push("other");
                Ok::<(), SdkError<std::io::Error, ()>>(())
            })
            .await
        };
        let _ = futures::join!(waiting, other);
        assert_eq!(*order.lock().unwrap(), ["other", "hot"]);
    }

    #[test]
    fn organizations_limits_per_api_the_walk_slowest() {
        let walk = family("organizations:ListAccountsForParent");
        let list = family("organizations:ListAccounts");
        assert_ne!(
            walk.0,
            family("organizations:ListOrganizationalUnitsForParent").0
        );
        assert!(walk.1.per_second < list.1.per_second);
    }

    #[test]
    fn ec2_limits_per_action_elb_per_service() {
        assert_eq!(family("ec2:DescribeSubnets").0, "ec2:DescribeSubnets");
        assert_eq!(
            family("elasticloadbalancing:DescribeTargetHealth").0,
            "elasticloadbalancing"
        );
    }
}
