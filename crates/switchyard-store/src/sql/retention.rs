//! Retention: the statements that delete old rows, a batch at a time, and the
//! glue both backends share ([`retention_store`]).
//!
//! Each statement deletes at most `limit` rows older than `before`, oldest first,
//! and never a row that pending work still needs:
//!
//! - an **event** stays while a task it made is queued or leased, a message it made
//!   is pending in the outbox, a run it started has not finished, or a question
//!   asked about it is open (nothing references an event by foreign key; its
//!   finished tasks, messages and runs stay, each with its own retention where it
//!   has one);
//! - a **delivery attempt** stays while its message is pending;
//! - a **run** goes only when finished (succeeded, failed, cancelled) and no child
//!   run of it is still under way, with its steps, in one transaction;
//! - **rejections** go by age alone.

use crate::model::PruneKind;
use crate::sql::Stmt;

/// Which runs may go: finished ones.
const FINISHED_RUN: &str = "status IN ('succeeded', 'failed', 'cancelled')";

/// Deletes one batch of `kind` (every kind but runs, which need two statements:
/// see [`old_runs`]).
pub(crate) fn prune(kind: PruneKind, before: i64, limit: i64) -> Stmt<'static> {
    let mut s = match kind {
        PruneKind::Events => Stmt::new(
            "DELETE FROM events WHERE event_id IN (SELECT e.event_id FROM events e \
             WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.event_id = e.event_id \
             AND t.status IN ('queued', 'leased')) \
             AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.event_id \
             AND r.status IN ('pending', 'running', 'waiting')) \
             AND e.event_id NOT IN (SELECT o.event_id FROM outbox o \
             WHERE o.status = 'pending' AND o.event_id IS NOT NULL) \
             AND e.event_id NOT IN (SELECT q.event_id FROM questions q \
             WHERE q.status = 'open' AND q.event_id IS NOT NULL) \
             AND e.received_at < ",
        ),
        PruneKind::Attempts => Stmt::new(
            "DELETE FROM delivery_attempts WHERE (outbox_id, attempt) IN \
             (SELECT a.outbox_id, a.attempt FROM delivery_attempts a \
             WHERE a.outbox_id NOT IN (SELECT o.outbox_id FROM outbox o \
             WHERE o.status = 'pending') AND a.started_at < ",
        ),
        PruneKind::Rejections => Stmt::new(
            "DELETE FROM rejections WHERE id IN (SELECT r.id FROM rejections r WHERE r.at < ",
        ),
        PruneKind::Runs => return old_runs(before, limit),
    };
    let order = match kind {
        PruneKind::Events => " ORDER BY e.received_at LIMIT ",
        PruneKind::Attempts => " ORDER BY a.started_at LIMIT ",
        _ => " ORDER BY r.at LIMIT ",
    };
    s.push_bind(before).push(order).push_bind(limit).push(")");
    s
}

/// The ids of at most `limit` finished runs that ended before `before` and have no
/// child still under way, oldest first.
pub(crate) fn old_runs(before: i64, limit: i64) -> Stmt<'static> {
    let mut s = Stmt::new(format!(
        "SELECT r.run_id FROM runs r WHERE r.{FINISHED_RUN} \
         AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.run_id \
         AND c.status IN ('pending', 'running', 'waiting')) \
         AND r.finished_at IS NOT NULL AND r.finished_at < "
    ));
    s.push_bind(before)
        .push(" ORDER BY r.finished_at LIMIT ")
        .push_bind(limit);
    s
}

/// Deletes the steps of `runs`.
pub(crate) fn delete_steps<'a>(runs: &'a [String]) -> Stmt<'a> {
    let mut s = Stmt::new("DELETE FROM run_steps WHERE run_id IN (");
    s.push_list(runs.iter().map(String::as_str)).push(")");
    s
}

/// Deletes `runs` (finished ones: a finished run never changes again).
pub(crate) fn delete_runs<'a>(runs: &'a [String]) -> Stmt<'a> {
    let mut s = Stmt::new("DELETE FROM runs WHERE run_id IN (");
    s.push_list(runs.iter().map(String::as_str)).push(")");
    s
}

/// `RetentionStore` for a backend: the statements above, the same on both
/// databases, expanded in each backend's module where `query` and `query_as` are
/// that backend's.
macro_rules! retention_store {
    ($store:ty) => {
        use crate::error::DbResultExt;
        use crate::model::PruneKind;
        use crate::sql::retention as sql;
        use crate::{Result, RetentionStore};

        #[async_trait::async_trait]
        impl RetentionStore for $store {
            async fn prune(&self, kind: PruneKind, before: i64, limit: i64) -> Result<u64> {
                if kind != PruneKind::Runs {
                    let s = sql::prune(kind, before, limit);
                    return Ok(query(&s).execute(&self.writer).await.db()?.rows_affected());
                }
                let mut tx = self.writer.begin().await.db()?;
                let s = sql::old_runs(before, limit);
                let ids: Vec<(String,)> = query_as(&s).fetch_all(&mut *tx).await.db()?;
                let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
                if ids.is_empty() {
                    return Ok(0);
                }
                query(&sql::delete_steps(&ids))
                    .execute(&mut *tx)
                    .await
                    .db()?;
                let n = query(&sql::delete_runs(&ids))
                    .execute(&mut *tx)
                    .await
                    .db()?
                    .rows_affected();
                tx.commit().await.db()?;
                Ok(n)
            }
        }
    };
}
pub(crate) use retention_store;
