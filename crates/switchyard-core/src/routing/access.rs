//! Who may post to a webhook and how often: its IP allow-list (`allowed_ips`) and
//! its rate limit (`rate_limit`), parsed and checked with the rest of its config.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::config::FieldError;

/// The fewest requests per second a rate limit may allow.
pub const MIN_PER_SECOND: f64 = 0.001;
/// The most requests per second a rate limit may allow.
pub const MAX_PER_SECOND: f64 = 1_000_000.0;
/// The largest burst a rate limit may allow.
pub const MAX_BURST: u32 = 1_000_000;
/// The most entries an allow-list may have.
pub const MAX_ALLOWED_IPS: usize = 1_000;

/// A token bucket: `per_second` requests a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests a second, on average (0.001 to 1,000,000; `0.5` is one every 2 s).
    pub per_second: f64,
    /// Requests accepted at once after a quiet spell; `per_second` rounded up (at
    /// least 1) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl RateLimit {
    /// The burst in effect.
    pub fn effective_burst(&self) -> u32 {
        self.burst
            .unwrap_or_else(|| self.per_second.ceil().clamp(1.0, f64::from(MAX_BURST)) as u32)
    }

    /// The problems with this limit, each at `path`'s fields.
    pub fn check(&self, path: &str, errors: &mut Vec<FieldError>) {
        let r = self.per_second;
        if !r.is_finite() || !(MIN_PER_SECOND..=MAX_PER_SECOND).contains(&r) {
            errors.push(FieldError::new(
                format!("{path}.per_second"),
                format!("must be a number from {MIN_PER_SECOND} to {MAX_PER_SECOND}"),
            ));
        }
        if let Some(b) = self.burst {
            if !(1..=MAX_BURST).contains(&b) {
                errors.push(FieldError::new(
                    format!("{path}.burst"),
                    format!("must be from 1 to {MAX_BURST}"),
                ));
            }
        }
    }
}

/// Parses an allow-list entry: a CIDR (`203.0.113.0/24`, `2001:db8::/32`) or a
/// single address (`203.0.113.7`, a /32 or /128).
pub fn parse_network(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

/// Parses an allow-list, reporting each bad entry at `path[i]`.
pub fn parse_networks(list: &[String], path: &str, errors: &mut Vec<FieldError>) -> Vec<IpNet> {
    if list.len() > MAX_ALLOWED_IPS {
        errors.push(FieldError::new(
            path,
            format!("at most {MAX_ALLOWED_IPS} entries"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        match parse_network(s) {
            Some(n) => out.push(n),
            None => errors.push(FieldError::new(
                format!("{path}[{i}]"),
                "must be an IP address or a CIDR such as 203.0.113.0/24",
            )),
        }
    }
    out
}

/// Whether `ip` is inside one of `networks` (an IPv4-mapped IPv6 address counts as
/// its IPv4 address).
pub fn contains(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    networks.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_addresses_and_cidrs() {
        let mut errors = Vec::new();
        let nets = parse_networks(
            &[
                "203.0.113.7".into(),
                "10.1.2.3/8".into(),
                "2001:db8::/32".into(),
                "nope".into(),
                "10.0.0.0/33".into(),
            ],
            "allowed_ips",
            &mut errors,
        );
        assert_eq!(nets.len(), 3);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["allowed_ips[3]", "allowed_ips[4]"]);
        assert!(contains(&nets, "203.0.113.7".parse().unwrap()));
        assert!(!contains(&nets, "203.0.113.8".parse().unwrap()));
        assert!(contains(&nets, "10.200.0.1".parse().unwrap()));
        assert!(contains(&nets, "::ffff:10.9.9.9".parse().unwrap()));
        assert!(contains(&nets, "2001:db8:1::5".parse().unwrap()));
        assert!(!contains(&nets, "2001:db9::5".parse().unwrap()));
    }

    #[test]
    fn rate_limits_are_bounded() {
        let check = |per_second: f64, burst: Option<u32>| {
            let mut errors = Vec::new();
            RateLimit { per_second, burst }.check("rate_limit", &mut errors);
            errors.into_iter().map(|e| e.path).collect::<Vec<_>>()
        };
        assert!(check(5.0, None).is_empty());
        assert!(check(0.5, Some(3)).is_empty());
        for bad in [0.0, -1.0, 1e-300, f64::NAN, f64::INFINITY, 2e6] {
            assert_eq!(check(bad, None), ["rate_limit.per_second"], "{bad}");
        }
        assert_eq!(check(1.0, Some(0)), ["rate_limit.burst"]);
        assert_eq!(
            RateLimit {
                per_second: 0.5,
                burst: None
            }
            .effective_burst(),
            1
        );
        assert_eq!(
            RateLimit {
                per_second: 7.2,
                burst: None
            }
            .effective_burst(),
            8
        );
    }
}
