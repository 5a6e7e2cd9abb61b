//! The work an event or an API call creates — tasks, questions, outbox messages —
//! as the inserts that commit it in the caller's transaction.

use super::{chunks, questions, runs, Stmt};
use crate::clock::Moment;
use crate::model::{Effect, NewNotice, NewOutbox, NewTask};
use crate::state::{DbText, DeliveryStatus, TaskStatus};

/// Inserts for `effects`, in order: tasks and outbox messages in multi-row chunks,
/// then questions one by one. Duplicates of an idempotency key (a task's event and
/// command, a message's key) are skipped, not errors. Messages are due `now`.
pub(crate) fn insert<'a>(effects: &[&'a Effect], now: Moment) -> Vec<Stmt<'a>> {
    let mut out = Vec::new();
    // Each kind of row goes in by its unique key, so concurrent batches lock rows in
    // one order and cannot deadlock each other (PostgreSQL).
    let mut tasks: Vec<&NewTask> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Task(t) => Some(t),
            _ => None,
        })
        .collect();
    tasks.sort_by(|a, b| (&a.event_id, &a.command_id).cmp(&(&b.event_id, &b.command_id)));
    for chunk in chunks(&tasks) {
        let mut s = Stmt::new(
            "INSERT INTO tasks (task_id, agent, status, message, event_id, command_id, \
             webhook_id, created_at, updated_at, lease_id, attempts) ",
        );
        s.push_values(chunk.iter().copied(), |t| {
            // A pushed task is created leased, with no expiry, under its push's lease.
            let status = if t.pushed_lease.is_some() {
                TaskStatus::Leased
            } else {
                TaskStatus::Queued
            };
            vec![
                t.task_id.as_str().into(),
                t.agent.as_str().into(),
                status.to_db().into(),
                t.message.as_str().into(),
                t.event_id.as_deref().into(),
                t.command_id.as_deref().into(),
                t.webhook_id.as_deref().into(),
                t.created_at.into(),
                t.created_at.into(),
                t.pushed_lease.as_deref().into(),
                i64::from(t.pushed_lease.is_some()).into(),
            ]
        });
        s.push(" ON CONFLICT (event_id, command_id) DO NOTHING");
        out.push(s);
    }
    let mut outbox: Vec<&NewOutbox> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Outbox(o) => Some(o),
            _ => None,
        })
        .collect();
    outbox.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
    for chunk in chunks(&outbox) {
        let mut s = Stmt::new(
            "INSERT INTO outbox (outbox_id, kind, webhook_id, event_id, command_id, payload, \
             status, idempotency_key, created_at, destination_id, ordering_key, \
             next_attempt_at, updated_at) ",
        );
        s.push_values(chunk.iter().copied(), |o| {
            vec![
                o.outbox_id.as_str().into(),
                o.kind.to_db().into(),
                o.webhook_id.as_deref().into(),
                o.event_id.as_deref().into(),
                o.command_id.as_deref().into(),
                o.payload.as_str().into(),
                DeliveryStatus::Pending.to_db().into(),
                o.idempotency_key.as_str().into(),
                o.created_at.into(),
                o.destination_id.as_str().into(),
                o.ordering_key.as_deref().into(),
                now.into(),
                o.created_at.into(),
            ]
        });
        s.push(" ON CONFLICT (idempotency_key) DO NOTHING");
        out.push(s);
    }
    // After the messages: a question is opened only with the message posting it.
    for e in effects {
        if let Effect::Question(q) = e {
            out.push(questions::insert(q));
        }
    }
    // Runs (created by the event, or a run's child), then wake-ups of waiting runs
    // (by a task's completion, a checkpoint's decision, a child run's end).
    for e in effects {
        match e {
            Effect::Run(r) => out.push(runs::insert_run(r, now)),
            Effect::WakeRuns(wait_ref) => out.push(runs::wake(wait_ref, now)),
            _ => {}
        }
    }
    for e in effects {
        if let Effect::Audit(a) = e {
            out.push(super::audit::insert(a));
        }
    }
    // Stream notices last, in the order given (their `seq` is their order).
    let notices: Vec<&NewNotice> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notice(n) => Some(n),
            _ => None,
        })
        .collect();
    out.extend(insert_notices(&notices, now));
    out
}

/// The stream rows of `notices`, in order, in multi-row chunks.
pub(crate) fn insert_notices<'a>(notices: &[&'a NewNotice], now: Moment) -> Vec<Stmt<'a>> {
    chunks(notices)
        .into_iter()
        .map(|chunk| {
            let mut s = Stmt::new("INSERT INTO stream (event_type, payload, at) ");
            s.push_values(chunk.iter().copied(), |n| {
                [
                    n.event_type.as_str().into(),
                    n.payload.as_str().into(),
                    now.into(),
                ]
            });
            s
        })
        .collect()
}
