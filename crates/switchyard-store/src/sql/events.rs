//! Events and rejections: the ingest path's inserts and the read side.

use super::{chunks, Stmt};
use crate::model::{EventQuery, NewEvent, NewRejection};

const EVENT_COLUMNS: &str = "event_id, webhook_id, provider, event_type, delivery_id, \
     received_at, headers, payload, source, subject, actor, thread_key, matched, \
     matched_command, task_id, response_sent";
const SUMMARY_COLUMNS: &str = "event_id, webhook_id, provider, event_type, delivery_id, \
     received_at, source, subject, actor, thread_key";
const REJECTION_COLUMNS: &str = "at, webhook_id, provider, remote_addr, status, reason, detail";

/// Multi-row inserts of new events, one statement per chunk. Each returns the ids
/// it inserted: a (webhook, delivery id) already stored is skipped, not an error.
pub(crate) fn insert<'a>(events: &[&'a NewEvent]) -> Vec<Stmt<'a>> {
    // Rows go in by their unique key, so two batches holding the same redeliveries
    // lock them in one order and cannot deadlock each other (PostgreSQL). The sort is
    // stable: of two copies in one batch, the one that arrived first is stored.
    let mut events = events.to_vec();
    events.sort_by(|a, b| (&a.webhook_id, &a.delivery_id).cmp(&(&b.webhook_id, &b.delivery_id)));
    chunks(&events)
        .into_iter()
        .map(|chunk| {
            let mut s = Stmt::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            s.push_values(chunk.iter().copied(), |e| {
                [
                    e.event_id.as_str().into(),
                    e.webhook_id.as_str().into(),
                    e.provider.as_str().into(),
                    e.event_type.as_str().into(),
                    e.delivery_id.as_deref().into(),
                    e.received_at.into(),
                    e.headers.as_str().into(),
                    e.payload.as_str().into(),
                    e.source.as_deref().into(),
                    e.subject.as_deref().into(),
                    e.actor.as_deref().into(),
                    e.thread_key.as_deref().into(),
                    e.matched.as_str().into(),
                    e.matched_command.as_deref().into(),
                    e.task_id.as_deref().into(),
                    e.response_sent.into(),
                ]
            });
            s.push(" ON CONFLICT (webhook_id, delivery_id) DO NOTHING RETURNING event_id");
            s
        })
        .collect()
}

/// The stored event an event not inserted duplicates: `(event_id, matched)`.
pub(crate) fn existing(e: &NewEvent) -> Stmt<'_> {
    let mut s = Stmt::new("SELECT event_id, matched FROM events WHERE webhook_id = ");
    s.push_bind(e.webhook_id.as_str())
        .push(" AND delivery_id = ")
        .push_bind(e.delivery_id.as_deref());
    s
}

pub(crate) fn insert_rejection(r: &NewRejection) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO rejections ({REJECTION_COLUMNS}) "));
    s.push_values([r], |r| {
        vec![
            r.at.into(),
            r.webhook_id.as_deref().into(),
            r.provider.as_deref().into(),
            r.remote_addr.as_deref().into(),
            r.status.into(),
            r.reason.as_str().into(),
            r.detail.as_str().into(),
        ]
    });
    s
}

pub(crate) fn get(event_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = "
    ));
    s.push_bind(event_id);
    s
}

pub(crate) fn list(q: &EventQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {SUMMARY_COLUMNS} FROM events WHERE 1 = 1"));
    for (col, val) in [
        ("provider", &q.provider),
        ("event_type", &q.event_type),
        ("webhook_id", &q.webhook_id),
        ("delivery_id", &q.delivery_id),
    ] {
        if let Some(v) = val {
            s.push(&format!(" AND {col} = ")).push_bind(v.as_str());
        }
    }
    if let Some(since) = q.since {
        s.push(" AND received_at >= ").push_bind(since);
    }
    if let Some(until) = q.until {
        s.push(" AND received_at <= ").push_bind(until);
    }
    if let Some(text) = &q.text {
        // Both sides lowered by the database, so they are lowered alike (SQLite's
        // `lower` folds ASCII only); the text's own `\`, `%` and `_` are escaped
        // there too, so they match only themselves.
        s.push(" AND lower(payload) LIKE ('%' || replace(replace(replace(lower(")
            .push_bind(text.as_str())
            .push(r"), '\', '\\'), '%', '\%'), '_', '\_') || '%') ESCAPE '\'");
    }
    if let Some(before) = &q.before {
        s.push(" AND event_id < ").push_bind(before.as_str());
    }
    s.push(" ORDER BY event_id DESC LIMIT ").push_bind(q.limit);
    s
}

pub(crate) fn count() -> Stmt<'static> {
    Stmt::new("SELECT COUNT(*) FROM events")
}

pub(crate) fn list_rejections(limit: i64) -> Stmt<'static> {
    let mut s = Stmt::new(format!(
        "SELECT id, {REJECTION_COLUMNS} FROM rejections ORDER BY id DESC LIMIT "
    ));
    s.push_bind(limit);
    s
}
