//! Outbox messages and their attempts: reads, manual retry and recovery, and the
//! attempt log. Claiming and finishing are queue statements and live with each
//! backend.

use super::{chunks, Stmt};
use crate::clock::Moment;
use crate::model::{DeliveryQuery, FinishedAttempt};
use crate::state::DbText;
use crate::state::DeliveryStatus;

pub(crate) const DELIVERY_COLUMNS: &str =
    "outbox_id, kind, webhook_id, event_id, command_id, payload, status, idempotency_key, \
     created_at, destination_id, ordering_key, attempts, next_attempt_at, claim_id, \
     claimed_until, last_attempt_at, last_status, last_error, delivered_at, updated_at";

/// [`DELIVERY_COLUMNS`] qualified with the table, for `UPDATE … FROM … RETURNING`.
pub(crate) fn qualified_columns() -> String {
    DELIVERY_COLUMNS
        .split(',')
        .map(|c| format!("outbox.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn get(outbox_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE outbox_id = "
    ));
    s.push_bind(outbox_id);
    s
}

pub(crate) fn get_by_key(idempotency_key: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE idempotency_key = "
    ));
    s.push_bind(idempotency_key);
    s
}

/// An event's outbox messages, oldest first (index `outbox_of_event`).
pub(crate) fn of_event(event_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE event_id = "
    ));
    s.push_bind(event_id).push(" ORDER BY outbox_id");
    s
}

pub(crate) fn list(q: &DeliveryQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {DELIVERY_COLUMNS} FROM outbox"));
    filter(&mut s, q);
    if let Some(before) = &q.before {
        s.push(" AND outbox_id < ").push_bind(before.as_str());
    }
    s.push(" ORDER BY outbox_id DESC LIMIT ").push_bind(q.limit);
    s
}

/// How many messages `q`'s filters select (its cursor and limit aside).
pub(crate) fn count(q: &DeliveryQuery) -> Stmt<'_> {
    let mut s = Stmt::new("SELECT COUNT(*) FROM outbox");
    filter(&mut s, q);
    s
}

/// ` WHERE …` for `q`'s filters (every caller may go on with ` AND …`).
fn filter<'a>(s: &mut Stmt<'a>, q: &'a DeliveryQuery) {
    s.push(" WHERE 1 = 1");
    for (col, val) in [
        ("status", q.status.map(DbText::to_db)),
        ("destination_id", q.destination_id.as_deref()),
        ("kind", q.kind.map(DbText::to_db)),
    ] {
        if let Some(v) = val {
            s.push(&format!(" AND {col} = ")).push_bind(v);
        }
    }
    if let Some(t) = q.since {
        s.push(" AND created_at >= ").push_bind(t);
    }
    if let Some(t) = q.until {
        s.push(" AND created_at <= ").push_bind(t);
    }
    if q.retryable {
        s.push(RETRYABLE);
    }
}

/// What a bulk retry touches ([`retry_many`], [`DeliveryQuery::retryable`]): what
/// [`retry`] would (pending or dead-lettered), less workflow runs' records, which
/// the delivery engine never sends.
const RETRYABLE: &str = " AND status IN ('pending', 'failed') AND kind <> 'run_workflow'";

/// How long from `now` until the earliest pending message the engine delivers is
/// due.
pub(crate) fn next_due(now: Moment) -> Stmt<'static> {
    let mut s = Stmt::new("SELECT MIN(next_attempt_at) - ");
    s.push_bind(now)
        .push(" FROM outbox WHERE status = 'pending' AND kind <> 'run_workflow'");
    s
}

/// How many messages the engine delivers have `status` (a workflow start waiting in
/// the outbox is the runner's, not a delivery).
pub(crate) fn count_status(status: DeliveryStatus) -> Stmt<'static> {
    let mut s = Stmt::new("SELECT COUNT(*) FROM outbox WHERE kind <> 'run_workflow' AND status = ");
    s.push_bind(status.as_str());
    s
}

pub(crate) fn list_attempts(outbox_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(
        "SELECT outbox_id, attempt, started_at, status_code, latency_micros, \
         response_excerpt, error FROM delivery_attempts WHERE outbox_id = ",
    );
    s.push_bind(outbox_id).push(" ORDER BY attempt");
    s
}

/// Puts a pending or dead-lettered message back in the queue, due `now`.
pub(crate) fn retry(outbox_id: &str, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE outbox SET status = 'pending', next_attempt_at = ");
    s.push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE outbox_id = ")
        .push_bind(outbox_id)
        .push(" AND status IN ('pending', 'failed')");
    s
}

/// [`retry`] for several messages at once (a bulk retry's batch).
pub(crate) fn retry_many(outbox_ids: &[String], now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE outbox SET status = 'pending', next_attempt_at = ");
    s.push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE outbox_id IN (")
        .push_list(outbox_ids.iter().map(String::as_str))
        .push(")")
        .push(RETRYABLE);
    s
}

/// Requeues a destination's dead-lettered messages created at or after `since`.
pub(crate) fn recover(destination_id: &str, since: i64, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE outbox SET status = 'pending', next_attempt_at = ");
    s.push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE destination_id = ")
        .push_bind(destination_id)
        .push(" AND status = 'failed' AND created_at >= ")
        .push_bind(since);
    s
}

/// The attempt records of finished attempts, in multi-row chunks; a record already
/// written (a retried finish) is kept.
pub(crate) fn insert_attempts<'a>(recorded: &[&'a FinishedAttempt]) -> Vec<Stmt<'a>> {
    chunks(recorded)
        .into_iter()
        .map(|chunk| {
            let mut s = Stmt::new(
                "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, status_code, \
                 latency_micros, response_excerpt, error) ",
            );
            s.push_values(chunk.iter().copied(), |d| {
                let a = &d.attempt;
                vec![
                    a.outbox_id.as_str().into(),
                    a.attempt.into(),
                    a.started_at.into(),
                    a.status_code.into(),
                    a.latency_micros.into(),
                    a.response_excerpt.as_deref().into(),
                    a.error.as_deref().into(),
                ]
            });
            s.push(" ON CONFLICT (outbox_id, attempt) DO NOTHING");
            s
        })
        .collect()
}
