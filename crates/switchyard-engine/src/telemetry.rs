//! The Prometheus families of issue 13 and seed 000: their names (each recorded
//! through these constants only), their descriptions, the zero series made at
//! start so every family has a sample line before the first request, and the
//! gauges read from the store.
//!
//! - The gauges `switchyard_outbox_depth` (messages pending delivery) and
//!   `switchyard_checkpoints_pending` count rows in the store — every replica's
//!   work, and what was there before a restart — so on several replicas sharing one
//!   PostgreSQL database each reports the same number (aggregate with `max`, not
//!   `sum`). The "metrics" worker reads them at start and every [`SAMPLE_EVERY`].
//! - Zero series, made at start: received and ingest time for each provider
//!   whose endpoint is served (a configured secret, no secret needed, or a
//!   registered webhook) and `unknown`; rejections for each [`REJECTION_REASONS`];
//!   attempts for each outbox kind × [`ATTEMPT_OUTCOMES`]; notifications for each
//!   [`NOTIFICATION_CHANNELS`] × `sent`/`failed`; retention for each kind; and runs
//!   for each served workflow × finished status (a workflow that appears later gets
//!   its zeros from the worker). With no workflow at all, the runs family shows one
//!   series per status with `workflow=""` — Prometheus reads an empty label as
//!   absent: no run of any workflow has finished.

use std::collections::HashSet;
use std::time::Duration;

use switchyard_core::providers;
use switchyard_store::{CheckpointStatus, DeliveryStatus, OutboxKind, PruneKind, RunStatus};
use tokio_util::sync::CancellationToken;

use crate::app::Engine;

/// Counter: webhook requests received, by provider (`unknown` when the path
/// names none); rate() of it is seed 000's "webhooks received per minute".
pub const WEBHOOKS_RECEIVED: &str = "switchyard_webhooks_received_total";
/// Counter: requests refused, by reason (the error code).
pub const WEBHOOKS_REJECTED: &str = "switchyard_webhooks_rejected_total";
/// Histogram: from a request's arrival to its answer, by provider.
pub const INGEST_DURATION: &str = "switchyard_ingest_duration_seconds";
/// Gauge: messages pending delivery in the store.
pub const OUTBOX_DEPTH: &str = "switchyard_outbox_depth";
/// Counter: delivery attempts, by kind and outcome.
pub const DELIVERY_ATTEMPTS: &str = "switchyard_delivery_attempts_total";
/// Histogram: how long each delivery attempt took.
pub const DELIVERY_LATENCY: &str = "switchyard_delivery_latency_seconds";
/// Gauge: checkpoints pending a decision in the store.
pub const CHECKPOINTS_PENDING: &str = "switchyard_checkpoints_pending";
/// Counter: checkpoint notifications, by channel and outcome (`sent`, `failed`).
pub const NOTIFICATIONS: &str = "switchyard_notifications_total";
/// Counter: workflow runs that finished, by workflow and status.
pub const WORKFLOW_RUNS: &str = "switchyard_workflow_runs_total";
/// Counter: rows deleted by retention, by kind.
pub const RETENTION_DELETED: &str = "switchyard_retention_deleted_total";

/// Why a webhook request is refused: every code the ingest path answers with.
pub const REJECTION_REASONS: &[&str] = &[
    "unknown_provider",
    "unknown_webhook",
    "webhook_disabled",
    "webhook_not_configured",
    "ip_not_allowed",
    "rate_limited",
    "body_too_large",
    "body_timeout",
    "signature_missing",
    "signature_malformed",
    "signature_mismatch",
    "timestamp_stale",
    "unsupported_media_type",
    "malformed_body",
    "store_unavailable",
    "internal",
];

/// How a delivery attempt ends: sent, to be retried, out of attempts
/// (dead-lettered), or handed back unattempted.
pub const ATTEMPT_OUTCOMES: [&str; 4] = ["delivered", "retry", "dead", "released"];

/// The channels a checkpoint's notifications, callback and resume call go through.
pub const NOTIFICATION_CHANNELS: [&str; 6] = [
    "slack",
    "email",
    "webhook",
    "callback",
    "crewai",
    "langgraph",
];

/// How often the gauges are read from the store.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// The run statuses a finished run has.
fn finished_statuses() -> impl Iterator<Item = RunStatus> {
    RunStatus::ALL.iter().copied().filter(|s| s.is_terminal())
}

/// Describes every family (`# HELP` lines).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(WEBHOOKS_RECEIVED, "Webhook requests received, by provider.");
    describe_counter!(WEBHOOKS_REJECTED, "Webhook requests refused, by reason.");
    describe_histogram!(
        INGEST_DURATION,
        Unit::Seconds,
        "From a webhook request's arrival to its answer (after the commit), by provider."
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        "Messages pending delivery in the store (every replica's)."
    );
    describe_counter!(DELIVERY_ATTEMPTS, "Delivery attempts, by kind and outcome.");
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "How long each delivery attempt took."
    );
    describe_gauge!(
        CHECKPOINTS_PENDING,
        "Checkpoints waiting for a decision in the store (every replica's)."
    );
    describe_counter!(
        NOTIFICATIONS,
        "Checkpoint notifications, by channel and outcome."
    );
    describe_counter!(
        WORKFLOW_RUNS,
        "Workflow runs finished, by workflow and status."
    );
    describe_counter!(RETENTION_DELETED, "Rows deleted by retention, by kind.");
}

/// Counts a finished run.
pub(crate) fn run_finished(workflow: &str, status: RunStatus) {
    metrics::counter!(WORKFLOW_RUNS, "workflow" => workflow.to_owned(), "status" => status.as_str())
        .increment(1);
}

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
        let depth = self.store.count_deliveries(DeliveryStatus::Pending).await?;
        metrics::gauge!(OUTBOX_DEPTH).set(depth as f64);
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
pub(crate) async fn run(e: Engine, stop: CancellationToken) {
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
