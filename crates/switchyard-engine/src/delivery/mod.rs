//! The delivery engine: the only reader of the outbox (see [`crate::outbox`], where
//! every message is built) and the only code that makes outbound HTTP requests.
//!
//! The [`engine`] claims due rows, sends them with per-destination limits
//! ([`limits`]), one sender per kind ([`send`]), through the SSRF guard ([`ssrf`]),
//! and records every attempt; nothing here is held only in memory, so a crash loses
//! at most the knowledge that an attempt happened (the message is sent again, with
//! the same `webhook-id`).

pub mod engine;
pub mod limits;
pub mod notice;
pub mod send;
pub mod ssrf;

/// The provider write-back requests live in the core (pure, fuzzed).
pub use switchyard_core::writeback;

use std::sync::Arc;
use std::time::Duration;

pub use engine::Handle;

/// How the delivery engine behaves. Defaults follow Svix's schedule and limits.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The delay before each attempt: the first is normally zero ("immediately");
    /// its length is the number of attempts before a message is dead-lettered.
    pub retry_schedule: Vec<Duration>,
    /// Each delay is varied by up to this fraction either way.
    pub jitter: f64,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// How long a claim holds a message before another process may take it.
    pub claim_timeout: Duration,
    /// `Retry-After` is honoured up to this long.
    pub retry_after_max: Duration,
    /// Which private addresses may be delivered to.
    pub guard: Arc<ssrf::Guard>,
    /// Provider API bases for write-backs.
    pub api_bases: writeback::ApiBases,
    /// Write-back tokens for webhooks that have none of their own (the default
    /// endpoints), by provider: `{PROVIDER}_API_TOKEN`, and `JIRA_API_USER`.
    pub provider_tokens: std::collections::HashMap<String, writeback::Credentials>,
    /// Messages claimed and not yet finished, across destinations.
    pub max_in_flight: usize,
    /// A destination's concurrent requests when it sets none.
    pub default_concurrency: usize,
    pub breaker: limits::BreakerConfig,
    /// How often to look for work another process made due (this process's own
    /// commits wake the engine at once).
    pub poll_interval: Duration,
    /// Where agents reach this server (task push bodies carry URLs to complete).
    pub public_url: String,
    /// How long a rotated-out signing secret keeps signing.
    pub secret_grace: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        Self {
            retry_schedule: vec![
                Duration::ZERO,
                Duration::from_secs(5),
                m(5),
                m(30),
                m(120),
                m(300),
                m(600),
                m(600),
            ],
            jitter: 0.2,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            claim_timeout: Duration::from_secs(90),
            retry_after_max: Duration::from_secs(3600),
            guard: Arc::new(ssrf::Guard::default()),
            api_bases: writeback::ApiBases::default(),
            provider_tokens: Default::default(),
            max_in_flight: 512,
            default_concurrency: 32,
            breaker: limits::BreakerConfig::default(),
            poll_interval: Duration::from_millis(500),
            public_url: "http://127.0.0.1:8000".to_owned(),
            secret_grace: Duration::from_secs(24 * 3600),
        }
    }
}

impl DeliveryConfig {
    /// Reads write-back tokens for the default endpoints from the environment.
    pub fn tokens_from_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        for p in ["github", "gitlab", "jira", "slack", "linear"] {
            let var = format!("{}_API_TOKEN", p.to_ascii_uppercase());
            if let Some(token) = get(&var).filter(|t| !t.is_empty()) {
                let user = if p == "jira" {
                    get("JIRA_API_USER").filter(|u| !u.is_empty())
                } else {
                    None
                };
                self.provider_tokens
                    .insert(p.to_owned(), writeback::Credentials { token, user });
            }
        }
    }
}

/// The documented ranges of the delivery settings.
pub mod ranges {
    use std::time::Duration;

    /// Attempts in a retry schedule.
    pub const SCHEDULE_ENTRIES: (usize, usize) = (1, 50);
    /// The longest delay before one attempt.
    pub const SCHEDULE_DELAY_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Connect and total timeouts of one request.
    pub const TIMEOUT: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));
    /// How long a claim holds a message; at least the timeout plus a second (the
    /// binary raises shorter ones), so up to twice the longest timeout and more.
    pub const CLAIM_TIMEOUT: (Duration, Duration) =
        (Duration::from_millis(1), Duration::from_secs(3 * 3600));
    /// Concurrent requests per destination.
    pub const CONCURRENCY: (usize, usize) = (1, 10_000);
    /// Messages in hand at once.
    pub const MAX_IN_FLIGHT: (usize, usize) = (1, 100_000);
}

/// Parses a retry schedule: comma-separated durations (`0, 5s, 5m, 30m, 2h`).
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    let out: Result<Vec<_>, String> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p == "0" {
                Ok(Duration::ZERO)
            } else {
                humantime::parse_duration(p).map_err(|e| format!("{p:?}: {e}"))
            }
        })
        .collect();
    let out = out?;
    if out.is_empty() {
        return Err("the schedule needs at least one attempt".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("0, 5s, 5m").unwrap(),
            vec![
                Duration::ZERO,
                Duration::from_secs(5),
                Duration::from_secs(300)
            ]
        );
        assert!(parse_schedule("").is_err());
        assert!(parse_schedule("5 parsecs").is_err());
    }
}
