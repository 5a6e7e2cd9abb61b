//! The last hour at a glance (the dashboard's overview, `GET /api/activity`):
//! events per minute, the share of requests refused, delivery latency and the
//! delivery queue's depth.
//!
//! The first three are counted in the store from the rows themselves (every
//! replica's, and still there after a restart). The queue's depth has no history in
//! the store — a message's past states are not kept — so it is the gauge the
//! "metrics" worker reads every [`crate::telemetry::SAMPLE_EVERY`] (it counts every
//! replica's pending messages), remembered per minute in this process: the deepest
//! sample of each minute, none before the process started ([`crate::telemetry::QueueSamples`]).

use switchyard_store::{now_micros, DeliveryStatus};

use crate::app::Engine;
use crate::error::Result;
use crate::telemetry::{MINUTE_MICROS, WINDOW_MINUTES};

/// One minute of [`Engine::activity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minute {
    /// Where the minute starts (Unix micros).
    pub at: i64,
    pub events: i64,
    pub rejected: i64,
    /// `rejected / (events + rejected)`; `None` when nothing arrived.
    pub error_rate: Option<f64>,
    pub attempts: i64,
    pub failed_attempts: i64,
    /// The attempts' mean latency in milliseconds; `None` without attempts.
    pub latency_ms: Option<f64>,
    /// The deepest the delivery queue was seen that minute; `None` when not sampled.
    pub queue_depth: Option<i64>,
}

impl Engine {
    /// The last [`WINDOW_MINUTES`] minutes, oldest first; the last is the minute
    /// under way. Reads the queue's depth now too, so the current minute has it.
    pub async fn activity(&self) -> Result<Vec<Minute>> {
        let now = now_micros();
        let depth = self
            .store
            .count_with_status(DeliveryStatus::Pending)
            .await?;
        self.queue_samples.record(now, depth);
        let current = now.div_euclid(MINUTE_MICROS) * MINUTE_MICROS;
        let since = current - MINUTE_MICROS * (WINDOW_MINUTES as i64 - 1);
        let counts = self
            .store
            .activity(since, MINUTE_MICROS, WINDOW_MINUTES)
            .await?;
        Ok(counts
            .into_iter()
            .map(|c| {
                let arrived = c.events + c.rejected;
                Minute {
                    at: c.at,
                    events: c.events,
                    rejected: c.rejected,
                    error_rate: (arrived > 0).then(|| c.rejected as f64 / arrived as f64),
                    attempts: c.attempts,
                    failed_attempts: c.failed_attempts,
                    latency_ms: (c.attempts > 0)
                        .then(|| c.latency_micros as f64 / c.attempts as f64 / 1000.0),
                    queue_depth: self.queue_samples.at(c.at),
                }
            })
            .collect())
    }
}
