//! Rows the store reads and writes. Plain data; times are Unix microseconds.

use serde::Serialize;

/// One write in a group-committed batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Event(NewEvent),
    Rejection(NewRejection),
}

/// The result of one [`WriteOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The event is stored under `event_id`; `duplicate` when it was stored before.
    Event {
        event_id: String,
        duplicate: bool,
    },
    Rejection,
}

/// An accepted request, normalized, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    /// JSON object of selected request headers, secrets redacted.
    pub headers: String,
    /// JSON text of the payload.
    pub payload: String,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    pub headers: String,
    pub payload: String,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
    pub matched_command: Option<String>,
    pub task_id: Option<String>,
    pub response_sent: bool,
}

/// A stored event without its payload and headers, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EventSummary {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
}

/// Filters for [`crate::Store::list_events`]. `before` is a cursor: only events with
/// a smaller id (older) are returned.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub webhook_id: Option<String>,
    pub delivery_id: Option<String>,
    pub before: Option<String>,
    pub limit: i64,
}

/// A refused request, for the audit log. Never holds the body.
#[derive(Debug, Clone)]
pub struct NewRejection {
    pub at: i64,
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    pub remote_addr: Option<String>,
    pub status: i64,
    pub reason: String,
    pub detail: String,
}

/// A stored rejection.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Rejection {
    pub id: i64,
    pub at: i64,
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    pub remote_addr: Option<String>,
    pub status: i64,
    pub reason: String,
    pub detail: String,
}

/// A registered webhook. `secrets` holds sealed secrets (see [`crate::Sealer`]).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WebhookRecord {
    pub webhook_id: String,
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    /// JSON array of sealed secrets.
    pub secrets: String,
    pub config_json: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
}

impl WebhookRecord {
    /// The sealed secrets as a list.
    pub fn sealed_secrets(&self) -> Vec<String> {
        serde_json::from_str(&self.secrets).unwrap_or_default()
    }
}
