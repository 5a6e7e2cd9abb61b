//! Ingest protections that run before a body is read: which address a request
//! counts as coming from (`trusted_proxies`), the webhook's IP allow-list (403) and
//! its rate limit (429), and the cap on how many refusals one address may write to
//! the audit log each minute.
//!
//! Rate limits are GCRA token buckets from `governor`, one per webhook and
//! process: with several replicas each allows the configured rate (documented in
//! docs/protections.md). A bucket is kept across registry reloads as long as the
//! webhook's limit is unchanged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;
use switchyard_core::routing::access;
use switchyard_core::routing::RateLimit;

use crate::error::{Error, ErrorKind};

/// The most distinct addresses the refusal cap remembers before forgetting the
/// quiet ones.
const REMEMBERED_REMOTES: usize = 10_000;

/// The protections' shared state.
pub struct Protections {
    trusted_proxies: Vec<IpNet>,
    default_rate: Option<RateLimit>,
    buckets: Mutex<HashMap<String, (RateLimit, Arc<DefaultDirectRateLimiter>)>>,
    /// Refusals recorded per remote address per minute; `None` records them all.
    refusals: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for Protections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protections")
            .field("trusted_proxies", &self.trusted_proxies)
            .field("default_rate", &self.default_rate)
            .finish_non_exhaustive()
    }
}

impl Protections {
    /// `refusals_per_minute`: refusals one address may record a minute (0: none).
    pub fn new(
        trusted_proxies: Vec<IpNet>,
        default_rate: Option<RateLimit>,
        refusals_per_minute: u32,
    ) -> Self {
        let refusals =
            NonZeroU32::new(refusals_per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            trusted_proxies,
            default_rate,
            buckets: Mutex::new(HashMap::new()),
            refusals,
        }
    }

    /// The address a request counts as coming from: the peer, unless the peer is a
    /// trusted proxy; then the right-most `X-Forwarded-For` address that is not
    /// itself a trusted proxy (a client can prepend anything, so only what trusted
    /// proxies appended is believed).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !access::contains(&self.trusted_proxies, peer) {
            return peer;
        }
        let mut client = peer;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage from beyond the trusted proxies: stop at the last good hop.
                break;
            };
            client = ip;
            if !access::contains(&self.trusted_proxies, ip) {
                break;
            }
        }
        client
    }

    /// Refuses `client` when the webhook lists the addresses allowed to post and
    /// `client` is not among them.
    pub fn check_allowed(&self, allowed: &[IpNet], client: IpAddr) -> Result<(), Error> {
        if allowed.is_empty() || access::contains(allowed, client) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Forbidden,
            "ip_not_allowed",
            format!("{client} is not in this webhook's allowed_ips"),
        ))
    }

    /// Takes one request from the webhook's bucket (its own limit, else the
    /// default); 429 with the wait when it is empty.
    pub fn check_rate(&self, webhook_id: &str, own: Option<RateLimit>) -> Result<(), Error> {
        let Some(limit) = own.or(self.default_rate) else {
            return Ok(());
        };
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            match buckets.get(webhook_id) {
                Some((l, b)) if *l == limit => b.clone(),
                _ => {
                    let b = Arc::new(RateLimiter::direct(quota(limit)));
                    buckets.insert(webhook_id.to_owned(), (limit, b.clone()));
                    b
                }
            }
        };
        match bucket.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                metrics::counter!("switchyard_rate_limited_total").increment(1);
                Err(Error::new(
                    ErrorKind::TooManyRequests,
                    "rate_limited",
                    format!(
                        "this webhook accepts {} requests per second (burst {}); retry later",
                        limit.per_second,
                        limit.effective_burst()
                    ),
                )
                .with_retry_after(wait))
            }
        }
    }

    /// Whether a refusal from `remote` may be written to the audit log now; past
    /// the per-minute cap it is only counted.
    pub fn may_record_refusal(&self, remote: Option<IpAddr>) -> bool {
        let (Some(limiter), Some(ip)) = (&self.refusals, remote) else {
            return self.refusals.is_some();
        };
        if limiter.len() > REMEMBERED_REMOTES {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).is_ok()
    }

    /// Forgets the buckets of webhooks that no longer exist.
    pub fn retain_buckets(&self, exists: impl Fn(&str) -> bool) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|id, _| exists(id));
    }
}

/// One `X-Forwarded-For` hop: an address, optionally with a port (`1.2.3.4:5`,
/// `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

/// The quota for a validated limit: one token every `1 / per_second`, `burst`
/// at most.
fn quota(limit: RateLimit) -> Quota {
    let period = Duration::from_secs_f64(1.0 / limit.per_second.max(access::MIN_PER_SECOND));
    let burst = NonZeroU32::new(limit.effective_burst()).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| access::parse_network(s).unwrap())
            .collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let p = Protections::new(nets(&["10.0.0.0/8"]), None, 0);
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let outsider: IpAddr = "198.51.100.1".parse().unwrap();
        // From an untrusted peer the header is ignored.
        assert_eq!(p.client_ip(outsider, &xff("203.0.113.9")), outsider);
        // From a trusted proxy: the right-most hop that is not a proxy.
        assert_eq!(
            p.client_ip(peer, &xff("1.1.1.1, 203.0.113.9, 10.0.0.7")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            p.client_ip(peer, &xff("[2001:db8::1]:443")),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(p.client_ip(peer, &HeaderMap::new()), peer);
        assert_eq!(p.client_ip(peer, &xff("bogus")), peer);
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_says_when_to_retry() {
        let p = Protections::new(Vec::new(), None, 0);
        let limit = RateLimit {
            per_second: 0.01,
            burst: Some(2),
        };
        assert!(p.check_rate("w", Some(limit)).is_ok());
        assert!(p.check_rate("w", Some(limit)).is_ok());
        let e = p.check_rate("w", Some(limit)).unwrap_err();
        assert_eq!(e.code, "rate_limited");
        let wait = e.retry_after.unwrap();
        assert!((90..=100).contains(&wait), "{wait}");
        // Another webhook has its own bucket; none when there is no limit at all.
        assert!(p.check_rate("other", Some(limit)).is_ok());
        assert!(p.check_rate("w", None).is_ok());
    }

    #[test]
    fn the_default_rate_applies_to_webhooks_without_their_own() {
        let p = Protections::new(
            Vec::new(),
            Some(RateLimit {
                per_second: 0.01,
                burst: Some(1),
            }),
            0,
        );
        assert!(p.check_rate("w", None).is_ok());
        assert!(p.check_rate("w", None).is_err());
    }

    #[test]
    fn refusals_are_capped_per_address() {
        let p = Protections::new(Vec::new(), None, 3);
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        let recorded = (0..10).filter(|_| p.may_record_refusal(Some(a))).count();
        assert_eq!(recorded, 3);
        assert!(p.may_record_refusal(Some(b)));
        assert!(!Protections::new(Vec::new(), None, 0).may_record_refusal(Some(a)));
    }

    #[test]
    fn allow_lists_refuse_outsiders_with_403() {
        let p = Protections::new(Vec::new(), None, 0);
        let allowed = nets(&["203.0.113.0/24"]);
        assert!(p
            .check_allowed(&allowed, "203.0.113.4".parse().unwrap())
            .is_ok());
        let e = p
            .check_allowed(&allowed, "198.51.100.4".parse().unwrap())
            .unwrap_err();
        assert_eq!((e.kind, e.code), (ErrorKind::Forbidden, "ip_not_allowed"));
        assert!(p
            .check_allowed(&[], "198.51.100.4".parse().unwrap())
            .is_ok());
    }
}
