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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use switchyard_store::RunStatus;

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
pub(crate) fn finished_statuses() -> impl Iterator<Item = RunStatus> {
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

/// One minute.
pub const MINUTE_MICROS: i64 = 60_000_000;
/// How many minutes [`QueueSamples`] (and the overview's charts) hold.
pub const WINDOW_MINUTES: usize = 60;

/// The queue depths sampled in the last [`WINDOW_MINUTES`], per minute (cheap to
/// clone: one shared list).
#[derive(Clone, Default)]
pub struct QueueSamples(Arc<Mutex<VecDeque<(i64, i64)>>>);

impl QueueSamples {
    /// Remembers `depth` seen at `at` (Unix micros).
    pub fn record(&self, at: i64, depth: i64) {
        let minute = at.div_euclid(MINUTE_MICROS);
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match list.back_mut() {
            Some((m, d)) if *m == minute => *d = (*d).max(depth),
            _ => list.push_back((minute, depth)),
        }
        while list
            .front()
            .is_some_and(|(m, _)| minute - m >= WINDOW_MINUTES as i64)
        {
            list.pop_front();
        }
    }

    /// The deepest sample of the minute starting at `at`, if any.
    pub fn at(&self, at: i64) -> Option<i64> {
        let minute = at.div_euclid(MINUTE_MICROS);
        let list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.iter().find(|(m, _)| *m == minute).map(|(_, d)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_each_minutes_deepest_and_forget_after_the_window() {
        let s = QueueSamples::default();
        let t0 = 1_000 * MINUTE_MICROS;
        s.record(t0 + 1, 3);
        s.record(t0 + 2, 7);
        s.record(t0 + 3, 5);
        s.record(t0 + MINUTE_MICROS, 1);
        assert_eq!(s.at(t0), Some(7));
        assert_eq!(s.at(t0 + MINUTE_MICROS + 9), Some(1));
        assert_eq!(s.at(t0 + 2 * MINUTE_MICROS), None);
        s.record(t0 + WINDOW_MINUTES as i64 * MINUTE_MICROS, 2);
        assert_eq!(s.at(t0), None, "the minute an hour ago is gone");
        assert_eq!(s.at(t0 + MINUTE_MICROS), Some(1));
    }
}
