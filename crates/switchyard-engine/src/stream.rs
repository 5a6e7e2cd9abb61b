//! The live stream (`GET /api/stream` as Server-Sent Events, `/ws` as a WebSocket):
//! checkpoint notices (`checkpoint.created`, `.decided`, `.expired`, `.reminded`,
//! `.escalated`, `.cancelled`), task notices and `event.received`, read from the
//! store's `stream` table, where each is written in the same transaction as the
//! change it announces — so a notice is never sent for a change that did not
//! commit, every replica's changes reach every replica's readers, and a reader
//! that reconnects with the last id it saw (`Last-Event-ID`) gets exactly what it
//! missed, as long as it is younger than [`RETENTION`]. Readers are woken by the
//! hub when a checkpoint, a task or an event changes here or (through
//! [`crate::replicas`]) on another replica, and look again at least every
//! `wait_fallback`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::StreamNotice;

use crate::app::Engine;
use crate::error::Result;
use crate::time::rfc3339;

/// How long notices are kept for readers resuming with `Last-Event-ID`.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// How many notices one read takes.
const PAGE: i64 = 200;

/// A notice as the stream sends it: `{"event_type", "payload", "timestamp"}`,
/// with its id beside it (the SSE `id:` field; `id` in a WebSocket message). A
/// reader (the client crate) deserializes the data and sets `id` from the field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    #[serde(skip)]
    pub id: String,
    pub event_type: String,
    pub payload: Value,
    pub timestamp: String,
}

impl From<StreamNotice> for Notice {
    fn from(n: StreamNotice) -> Self {
        Self {
            payload: serde_json::from_str(&n.payload).unwrap_or(Value::Null),
            id: n.cursor,
            event_type: n.event_type,
            timestamp: rfc3339(n.at),
        }
    }
}

impl Engine {
    /// Where a reader starts: after `last_event_id` when it gives one (400
    /// `invalid_cursor` when this server did not make it), else after the newest
    /// notice (only what happens from now on).
    pub async fn stream_start(&self, last_event_id: Option<&str>) -> Result<Option<String>> {
        match last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => {
                // Checks the cursor's form.
                self.store.stream_after(Some(id), 0).await?;
                Ok(Some(id.to_owned()))
            }
            None => Ok(self.store.stream_head().await?),
        }
    }

    /// The next notices after `cursor`, waiting until there are some; `None` when
    /// the server is stopping (the stream ends so the stop is not held up).
    pub async fn stream_next(&self, cursor: Option<&str>) -> Result<Option<Vec<Notice>>> {
        loop {
            let checkpoints = self.hub.checkpoints_changed();
            let tasks = self.hub.tasks_changed();
            let events = self.hub.events_changed();
            let rows = self.store.stream_after(cursor, PAGE).await?;
            if !rows.is_empty() {
                return Ok(Some(rows.into_iter().map(Notice::from).collect()));
            }
            tokio::select! {
                _ = checkpoints => {},
                _ = tasks => {},
                _ = events => {},
                _ = tokio::time::sleep(self.config.wait_fallback) => {},
                _ = self.hub.closing() => return Ok(None),
            }
        }
    }

    /// Deletes notices older than [`RETENTION`].
    pub async fn prune_stream(&self) -> Result<u64> {
        let before = switchyard_store::now_micros()
            - i64::try_from(RETENTION.as_micros()).unwrap_or(i64::MAX);
        Ok(self.store.prune_stream(before).await?)
    }
}
