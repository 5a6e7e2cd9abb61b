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
use crate::error::Result;

/// Rows deleted per statement.
pub const BATCH: i64 = 500;
/// The pause between two batches of one kind, leaving the writer to others.
const PAUSE: Duration = Duration::from_millis(20);
/// How often the worker looks for expired rows.
const EVERY: Duration = Duration::from_secs(600);

pub use crate::config::{RetentionConfig, RETENTION_RANGE};

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
impl Engine {
    /// The "retention" worker (see the module doc).
    pub(crate) async fn run_retention(self, stop: CancellationToken) {
        run_worker(self, stop).await
    }
}

async fn run_worker(e: Engine, stop: CancellationToken) {
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
    use crate::config::Key;

    const DAY: u64 = 24 * 3600;

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
