//! Retention: the "retention" worker deletes events, delivery attempts, refused
//! requests and finished workflow runs older than their configured age
//! ([`RetentionConfig`]; zero keeps a kind forever), and stream notices past the
//! stream's own window.
//!
//! It deletes a small batch per statement ([`BATCH`] rows, oldest first) and
//! pauses between batches, so the store's writer — on SQLite the single write
//! connection ingest commits through — is never held for long. Rows that pending
//! work still needs are never deleted: see the store's `sql/retention.rs` (an event
//! whose task is queued or leased, whose outbox message is pending, whose run is
//! under way or whose question is open; an attempt of a pending message; a run not
//! finished or with a child under way). Each deletion is counted in
//! `switchyard_retention_deleted_total{kind}`.

use std::time::Duration;

use switchyard_store::{now_micros, PruneKind};
use tokio_util::sync::CancellationToken;

use crate::app::Engine;
use crate::config::{duration_in_range, ConfigError, Key};
use crate::error::Result;

/// Rows deleted per statement.
pub const BATCH: i64 = 500;
/// The pause between two batches of one kind, leaving the writer to others.
const PAUSE: Duration = Duration::from_millis(20);
/// How often the worker looks for expired rows.
const EVERY: Duration = Duration::from_secs(600);

/// The range of a non-zero retention age (zero keeps forever): a minute to ten
/// years (of 365.25 days, as humantime counts them, so the bound reads `10years`).
pub const RETENTION_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(315_576_000));

const DAY: u64 = 24 * 3600;

/// How long each kind of row is kept; [`Duration::ZERO`] keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Received events (`SWITCHYARD_RETENTION_EVENTS`, default 30 days).
    pub events: Duration,
    /// Delivery attempts (`SWITCHYARD_RETENTION_ATTEMPTS`, default 30 days).
    pub attempts: Duration,
    /// Refused requests (`SWITCHYARD_RETENTION_REJECTIONS`, default 7 days).
    pub rejections: Duration,
    /// Finished workflow runs and their steps (`SWITCHYARD_RETENTION_RUNS`,
    /// default 30 days).
    pub runs: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(30 * DAY),
            attempts: Duration::from_secs(30 * DAY),
            rejections: Duration::from_secs(7 * DAY),
            runs: Duration::from_secs(30 * DAY),
        }
    }
}

impl RetentionConfig {
    /// How long rows of `kind` are kept (zero: forever).
    pub fn age(&self, kind: PruneKind) -> Duration {
        match kind {
            PruneKind::Events => self.events,
            PruneKind::Attempts => self.attempts,
            PruneKind::Rejections => self.rejections,
            PruneKind::Runs => self.runs,
        }
    }

    /// Sets how long rows of `kind` are kept.
    pub fn set(&mut self, kind: PruneKind, age: Duration) {
        match kind {
            PruneKind::Events => self.events = age,
            PruneKind::Attempts => self.attempts = age,
            PruneKind::Rejections => self.rejections = age,
            PruneKind::Runs => self.runs = age,
        }
    }

    /// Each age is zero or within [`RETENTION_RANGE`].
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        let (lo, hi) = RETENTION_RANGE;
        for kind in PruneKind::ALL {
            let age = self.age(kind);
            if !age.is_zero() {
                duration_in_range(Key::Retention(kind), age, lo, hi)?;
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Deletes every row of `kind` that was past its retention at `now` (Unix
    /// micros), a [`BATCH`] at a time with a pause between batches, and counts
    /// them; how many went. Nothing for a kind kept forever.
    pub async fn prune_expired(&self, kind: PruneKind, now: i64) -> Result<u64> {
        let age = self.config.retention.age(kind);
        if age.is_zero() {
            return Ok(0);
        }
        let before = now.saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX));
        let mut total = 0;
        loop {
            let n = self.store.prune(kind, before, BATCH).await?;
            total += n;
            metrics::counter!(crate::telemetry::RETENTION_DELETED, "kind" => kind.as_str())
                .increment(n);
            if n < BATCH as u64 {
                return Ok(total);
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}

/// The "retention" worker: at start and then every [`EVERY`], prunes each kind,
/// the stream's old notices, and forgets the rate-limit buckets of webhooks that
/// are gone.
pub(crate) async fn run(e: Engine, stop: CancellationToken) {
    loop {
        let now = now_micros();
        for kind in PruneKind::ALL {
            let pruned = tokio::select! {
                _ = stop.cancelled() => return,
                r = e.prune_expired(kind, now) => r,
            };
            match pruned {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, kind = kind.as_str(), "retention: old rows deleted"),
                Err(err) => {
                    tracing::warn!(error = %err, kind = kind.as_str(), "retention: could not delete old rows")
                }
            }
        }
        match e.prune_stream().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "old stream notices pruned"),
            Err(err) => tracing::warn!(error = %err, "could not prune stream notices"),
        }
        e.protections.retain_buckets(|id| {
            e.registry.get(id).is_some() || switchyard_core::providers::by_name(id).is_some()
        });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_zero_or_in_range() {
        let mut r = RetentionConfig::default();
        assert_eq!(r.age(PruneKind::Rejections), Duration::from_secs(7 * DAY));
        r.set(PruneKind::Events, Duration::ZERO);
        assert!(r.validate().is_ok(), "zero keeps forever");
        r.set(PruneKind::Runs, Duration::from_secs(59));
        let e = r.validate().unwrap_err();
        assert_eq!(e.key, Key::Retention(PruneKind::Runs));
        assert_eq!(
            e.to_string(),
            "SWITCHYARD_RETENTION_RUNS must be between 1m and 10years (got 59s)"
        );
        r.set(PruneKind::Runs, Duration::from_secs(11 * 365 * DAY));
        assert!(r.validate().is_err());
    }
}
