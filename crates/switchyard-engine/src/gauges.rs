//! The metrics the engine reads or seeds itself (names in [`crate::telemetry`]):
//! the zero series made at start and the "metrics" worker reading the gauges
//! from the store.

use std::collections::HashSet;

use switchyard_core::providers;
use switchyard_store::{CheckpointStatus, DeliveryStatus, OutboxKind, PruneKind};
use tokio_util::sync::CancellationToken;

use crate::app::Engine;
use crate::telemetry::{
    describe, finished_statuses, ATTEMPT_OUTCOMES, CHECKPOINTS_PENDING, DELIVERY_ATTEMPTS,
    DELIVERY_LATENCY, INGEST_DURATION, NOTIFICATIONS, NOTIFICATION_CHANNELS, OUTBOX_DEPTH,
    REJECTION_REASONS, RETENTION_DELETED, SAMPLE_EVERY, WEBHOOKS_RECEIVED, WEBHOOKS_REJECTED,
    WORKFLOW_RUNS,
};

impl Engine {
    /// The providers whose webhooks this server accepts: a configured secret, a
    /// provider that needs none, or a registered webhook.
    pub fn enabled_providers(&self) -> Vec<&'static str> {
        let registered: HashSet<String> = self
            .registry
            .all()
            .iter()
            .filter(|e| e.config.enabled)
            .map(|e| e.config.provider.clone())
            .collect();
        providers::ALL
            .iter()
            .filter(|p| {
                !p.requires_secret()
                    || !self.config.secrets_for(p.name()).is_empty()
                    || registered.contains(p.name())
            })
            .map(|p| p.name())
            .collect()
    }

    /// Makes every family's series known now at zero (see the module's list).
    pub(crate) fn zero_series(&self) {
        describe();
        let mut providers = self.enabled_providers();
        providers.push("unknown");
        for p in providers {
            metrics::counter!(WEBHOOKS_RECEIVED, "provider" => p).increment(0);
            // Registering a histogram shows it (count 0) without a sample.
            let _ = metrics::histogram!(INGEST_DURATION, "provider" => p);
        }
        for reason in REJECTION_REASONS {
            metrics::counter!(WEBHOOKS_REJECTED, "reason" => *reason).increment(0);
        }
        for kind in OutboxKind::ALL {
            if *kind == OutboxKind::RunWorkflow {
                continue; // started by the runner, not delivered
            }
            for outcome in ATTEMPT_OUTCOMES {
                metrics::counter!(DELIVERY_ATTEMPTS, "kind" => kind.as_str(), "outcome" => outcome)
                    .increment(0);
            }
        }
        let _ = metrics::histogram!(DELIVERY_LATENCY);
        for channel in NOTIFICATION_CHANNELS {
            for outcome in ["sent", "failed"] {
                metrics::counter!(NOTIFICATIONS, "channel" => channel, "outcome" => outcome)
                    .increment(0);
            }
        }
        for kind in PruneKind::ALL {
            metrics::counter!(RETENTION_DELETED, "kind" => kind.as_str()).increment(0);
        }
        let workflows = self.workflows.names();
        if workflows.is_empty() {
            for status in finished_statuses() {
                metrics::counter!(WORKFLOW_RUNS, "workflow" => "", "status" => status.as_str())
                    .increment(0);
            }
        }
        self.zero_workflow_series(&workflows);
    }

    /// Zero run series for `workflows` (a counter incremented by zero keeps its
    /// value).
    fn zero_workflow_series(&self, workflows: &[String]) {
        for w in workflows {
            for status in finished_statuses() {
                metrics::counter!(WORKFLOW_RUNS, "workflow" => w.clone(), "status" => status.as_str())
                    .increment(0);
            }
        }
    }

    /// Reads the gauges from the store: the outbox's depth and the pending
    /// checkpoints.
    pub async fn sample_gauges(&self) -> crate::error::Result<()> {
        let depth = self
            .store
            .count_with_status(DeliveryStatus::Pending)
            .await?;
        metrics::gauge!(OUTBOX_DEPTH).set(depth as f64);
        self.queue_samples
            .record(switchyard_store::now_micros(), depth);
        let pending = self
            .store
            .count_checkpoints(CheckpointStatus::Pending)
            .await?;
        metrics::gauge!(CHECKPOINTS_PENDING).set(pending as f64);
        Ok(())
    }
}

/// The "metrics" worker: reads the gauges every [`SAMPLE_EVERY`] and gives
/// workflows that appeared their zero series.
impl Engine {
    /// The "metrics" worker (see the module doc).
    pub(crate) async fn run_metrics(self, stop: CancellationToken) {
        run_metrics_worker(self, stop).await
    }
}

async fn run_metrics_worker(e: Engine, stop: CancellationToken) {
    let mut known: HashSet<String> = HashSet::new();
    loop {
        if let Err(err) = e.sample_gauges().await {
            tracing::debug!(error = %err.message, "cannot read the metrics gauges");
        }
        let new: Vec<String> = e
            .workflows
            .names()
            .into_iter()
            .filter(|w| !known.contains(w))
            .collect();
        e.zero_workflow_series(&new);
        known.extend(new);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}
