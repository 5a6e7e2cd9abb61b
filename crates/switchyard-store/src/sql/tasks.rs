//! Tasks: reads, heartbeats and finishing under a lease. The lease itself is a
//! queue statement and lives with each backend.

use super::Stmt;
use crate::clock::Moment;
use crate::model::{TaskFinish, TaskQuery};
use crate::state::{DbText, TaskStatus};

pub(crate) const TASK_COLUMNS: &str =
    "task_id, agent, status, message, event_id, command_id, webhook_id, attempts, \
     lease_id, lease_expires_at, result, error, created_at, updated_at";

/// Task rows as read: a lease past its expiry reads as `queued`, because the task
/// is back in its queue.
fn push_select(s: &mut Stmt<'_>, now: Moment) {
    s.push("SELECT task_id, agent, CASE WHEN status = 'leased' AND lease_expires_at < ")
        .push_bind(now)
        .push(
            " THEN 'queued' ELSE status END AS status, message, event_id, command_id, \
             webhook_id, attempts, lease_id, lease_expires_at, result, error, created_at, \
             updated_at FROM tasks",
        );
}

pub(crate) fn get(task_id: &str, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("");
    push_select(&mut s, now);
    s.push(" WHERE task_id = ").push_bind(task_id);
    s
}

/// Fails a task that is not finished, whoever holds it (its workflow run was
/// cancelled); a later completion under its lease is then refused.
pub(crate) fn cancel<'a>(task_id: &'a str, error: &'a str, at: i64) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE tasks SET status = 'failed', error = ");
    s.push_bind(error)
        .push(", lease_id = NULL, updated_at = ")
        .push_bind(at)
        .push(" WHERE task_id = ")
        .push_bind(task_id)
        .push(" AND status IN ('queued', 'leased')");
    s
}

/// An event's tasks, oldest first (`tasks_origin` leads with `event_id`).
pub(crate) fn of_event(event_id: &str, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("");
    push_select(&mut s, now);
    s.push(" WHERE event_id = ")
        .push_bind(event_id)
        .push(" ORDER BY task_id");
    s
}

pub(crate) fn list(q: &TaskQuery, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("SELECT * FROM (");
    push_select(&mut s, now);
    s.push(") t WHERE 1 = 1");
    if let Some(a) = &q.agent {
        s.push(" AND agent = ").push_bind(a.as_str());
    }
    if let Some(st) = q.status {
        s.push(" AND status = ").push_bind(st.to_db());
    }
    if let Some(b) = &q.before {
        s.push(" AND task_id < ").push_bind(b.as_str());
    }
    s.push(" ORDER BY task_id DESC LIMIT ").push_bind(q.limit);
    s
}

/// Extends a live lease (a pushed task's lease has no expiry and is always live).
pub(crate) fn heartbeat<'a>(
    task_id: &'a str,
    lease_id: &'a str,
    now: Moment,
    lease_micros: i64,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE tasks SET lease_expires_at = ");
    s.push_bind(now.plus(lease_micros))
        .push(", updated_at = ")
        .push_bind(now);
    live_lease(&mut s, task_id, lease_id, now);
    s
}

/// Completes or fails a task held under a live lease, returning the row.
pub(crate) fn finish<'a>(
    task_id: &'a str,
    lease_id: &'a str,
    finish: &'a TaskFinish,
    now: Moment,
) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE tasks SET status = ");
    match finish {
        TaskFinish::Complete { result } => {
            s.push_bind(TaskStatus::Completed.to_db())
                .push(", result = ")
                .push_bind(result.as_deref());
        }
        TaskFinish::Fail { error, retry } => {
            let status = if *retry {
                TaskStatus::Queued
            } else {
                TaskStatus::Failed
            };
            s.push_bind(status.to_db())
                .push(", error = ")
                .push_bind(error.as_str())
                .push(", lease_expires_at = NULL");
        }
    }
    s.push(", updated_at = ").push_bind(now);
    live_lease(&mut s, task_id, lease_id, now);
    s
}

/// `WHERE` the task is held under `lease_id` and the lease has not run out, then
/// `RETURNING` the row.
fn live_lease<'a>(s: &mut Stmt<'a>, task_id: &'a str, lease_id: &'a str, now: Moment) {
    s.push(" WHERE task_id = ")
        .push_bind(task_id)
        .push(" AND lease_id = ")
        .push_bind(lease_id)
        // A pushed task's lease has no expiry.
        .push(" AND status = 'leased' AND (lease_expires_at IS NULL OR lease_expires_at >= ")
        .push_bind(now)
        .push(&format!(") RETURNING {TASK_COLUMNS}"));
}
