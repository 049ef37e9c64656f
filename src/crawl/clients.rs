//! The crawler's AWS clients, built in one place so that every part of a scan — discovery,
//! the collectors, the consumer-side lookups and `plaudit preflight` — talks to AWS through
//! the same configuration: one base `SdkConfig` (credential chain, `AWS_ENDPOINT_URL`,
//! retries, timeouts), one shared HTTP client, a retry partition per account-region (per
//! scan for Organizations), and the interceptors that count retries and reject responses cut
//! short.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::region::Region as AwsRegion;

use super::api::{self, Gate};
use crate::config::Config;

/// The base configuration every client of the scan starts from: the credential chain, the
/// shared HTTP client, retries and timeouts from the config, `AWS_ENDPOINT_URL`.
pub(super) async fn base_config(cfg: &Config) -> SdkConfig {
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
pub(super) fn shared_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
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
pub(super) struct OneSession {
    inner: aws_config::sts::AssumeRoleProvider,
    current: tokio::sync::Mutex<Option<aws_credential_types::Credentials>>,
}

impl OneSession {
    pub(super) fn new(inner: aws_config::sts::AssumeRoleProvider) -> OneSession {
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
pub(super) fn ec2_client(
    conf: &SdkConfig,
    gate: &Gate,
    account: &str,
    region: &str,
) -> aws_sdk_ec2::Client {
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
pub(super) fn elb_client(
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

/// The Organizations client of discovery: its own retry partition, so that Organizations'
/// throttling does not slow the crawl's retries down, nor theirs discovery.
pub(super) fn organizations_client(base: &SdkConfig) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(base)
            .http_client(shared_http_client())
            .retry_partition(aws_sdk_organizations::config::retry::RetryPartition::new(
                "plaudit-organizations",
            ))
            .build(),
    )
}
