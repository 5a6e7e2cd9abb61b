//! Checkpoints and their history: the statements both databases share. A
//! transition is a conditional update on the version it read.

use super::Stmt;
use crate::clock::Moment;
use crate::model::{
    AttemptOutcome, CheckpointChange, CheckpointQuery, FinishedAttempt, NewCheckpoint, NewHistory,
    NewTimer,
};
use crate::new_id;
use crate::state::{CheckpointStatus, DbText};

pub(crate) const CHECKPOINT_COLUMNS: &str =
    "checkpoint_id, row_id, name, kickoff_id, status, spec, action_digest, approvals, \
     decision, comment, edited_context, response, decided_by, feedback_action, created_by, \
     agent, expires_at, created_at, decided_at, updated_at, version, edited_action";

/// Inserts a checkpoint unless its id exists (then nothing, no error).
pub(crate) fn insert(c: &NewCheckpoint, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "INSERT INTO checkpoints ({CHECKPOINT_COLUMNS}) VALUES ("
    ));
    s.push_list::<crate::sql::Arg<'_>>([
        c.checkpoint_id.as_str().into(),
        c.row_id.as_str().into(),
        c.name.as_str().into(),
        c.kickoff_id.as_deref().into(),
        CheckpointStatus::Pending.to_db().into(),
        c.spec.as_str().into(),
        c.action_digest.as_deref().into(),
        "[]".into(),
        None::<&str>.into(),
        None::<&str>.into(),
        None::<&str>.into(),
        None::<&str>.into(),
        None::<&str>.into(),
        None::<&str>.into(),
        c.created_by.as_str().into(),
        c.agent.as_deref().into(),
    ]);
    s.push(", ");
    match c.timeout_micros {
        Some(t) => s.push_bind(now.plus(t)),
        None => s.push("NULL"),
    };
    s.push(", ")
        .push_bind(now)
        .push(", NULL, ")
        .push_bind(now)
        .push(", 1, NULL) ON CONFLICT (checkpoint_id) DO NOTHING");
    s
}

pub(crate) fn get(checkpoint_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE checkpoint_id = "
    ));
    s.push_bind(checkpoint_id);
    s
}

pub(crate) fn list(q: &CheckpointQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE 1 = 1"
    ));
    if let Some(st) = q.status {
        s.push(" AND status = ").push_bind(st.to_db());
    }
    if let Some(k) = &q.kickoff_id {
        s.push(" AND kickoff_id = ").push_bind(k.as_str());
    }
    if let Some(n) = &q.name {
        s.push(" AND name = ").push_bind(n.as_str());
    }
    if let Some(b) = &q.before {
        s.push(" AND row_id < ").push_bind(b.as_str());
    }
    s.push(" ORDER BY row_id DESC LIMIT ").push_bind(q.limit);
    s
}

/// The transition, only if the version is still the one read; returns the row.
pub(crate) fn update(c: &CheckpointChange, now: Moment) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE checkpoints SET status = ");
    s.push_bind(c.status.to_db())
        .push(", approvals = ")
        .push_bind(c.approvals.as_str())
        .push(", decision = ")
        .push_bind(c.decision.as_deref())
        .push(", comment = ")
        .push_bind(c.comment.as_deref())
        .push(", edited_context = ")
        .push_bind(c.edited_context.as_deref())
        .push(", response = ")
        .push_bind(c.response.as_deref())
        .push(", decided_by = ")
        .push_bind(c.decided_by.as_deref())
        .push(", feedback_action = ")
        .push_bind(c.feedback_action.as_deref())
        .push(", edited_action = ")
        .push_bind(c.edited_action.as_deref())
        .push(", decided_at = ");
    if c.status == CheckpointStatus::Pending {
        s.push("NULL");
    } else {
        s.push_bind(now);
    }
    s.push(", updated_at = ")
        .push_bind(now)
        .push(", version = version + 1 WHERE checkpoint_id = ")
        .push_bind(c.checkpoint_id.as_str())
        .push(" AND version = ")
        .push_bind(c.version)
        .push(&format!(" RETURNING {CHECKPOINT_COLUMNS}"));
    s
}

/// The history steps finished messages carry (a notification sent or failed, a
/// callback delivered or failed): those of messages delivered or dead-lettered now.
pub(crate) fn finished_steps(
    done: &[FinishedAttempt],
) -> impl Iterator<Item = (&str, &NewHistory)> {
    done.iter()
        .filter(|d| matches!(d.outcome, AttemptOutcome::Delivered | AttemptOutcome::Dead))
        .filter_map(|d| d.history.as_ref())
        .map(|(id, h)| (id.as_str(), h))
}

/// Inserts the [`finished_steps`] of `done` under `ids` ([`history_ids`] of their
/// count).
pub(crate) fn insert_finished_steps<'a>(
    done: &'a [FinishedAttempt],
    ids: &'a [String],
    now: Moment,
) -> Vec<Stmt<'a>> {
    finished_steps(done)
        .zip(ids)
        .flat_map(|((checkpoint_id, h), id)| {
            insert_history(
                checkpoint_id,
                std::slice::from_ref(h),
                std::slice::from_ref(id),
                now,
            )
        })
        .collect()
}

/// New ids for `n` history rows, in order (time-ordered, so they sort as written).
pub(crate) fn history_ids(n: usize) -> Vec<String> {
    (0..n).map(|_| new_id("cph")).collect()
}

/// Inserts `history` for a checkpoint under `ids` ([`history_ids`]), stamped
/// `now`, in order.
pub(crate) fn insert_history<'a>(
    checkpoint_id: &'a str,
    history: &'a [NewHistory],
    ids: &'a [String],
    now: Moment,
) -> Vec<Stmt<'a>> {
    history
        .iter()
        .zip(ids)
        .map(|(h, id)| {
            let mut s = Stmt::new(
                "INSERT INTO checkpoint_history (history_id, checkpoint_id, at, kind, by_who, \
                 detail) VALUES (",
            );
            s.push_bind(id.as_str())
                .push(", ")
                .push_bind(checkpoint_id)
                .push(", ")
                .push_bind(now)
                .push(", ")
                .push_bind(h.kind.to_db())
                .push(", ")
                .push_bind(h.by.as_deref())
                .push(", ")
                .push_bind(h.detail.as_deref())
                .push(")");
            s
        })
        .collect()
}

pub(crate) fn history(checkpoint_id: &str) -> Stmt<'_> {
    let mut s =
        Stmt::new("SELECT at, kind, by_who, detail FROM checkpoint_history WHERE checkpoint_id = ");
    s.push_bind(checkpoint_id).push(" ORDER BY at, history_id");
    s
}

/// New ids for `n` timers.
pub(crate) fn timer_ids(n: usize) -> Vec<String> {
    (0..n).map(|_| new_id("tmr")).collect()
}

/// Inserts a checkpoint's timers under `ids`, each due its delay after `now`.
pub(crate) fn insert_timers<'a>(
    checkpoint_id: &'a str,
    timers: &'a [NewTimer],
    ids: &'a [String],
    now: Moment,
) -> Vec<Stmt<'a>> {
    timers
        .iter()
        .zip(ids)
        .map(|(t, id)| {
            let mut s = Stmt::new(
                "INSERT INTO timers (timer_id, checkpoint_id, kind, step, due_at, claimed_until) \
                 VALUES (",
            );
            s.push_bind(id.as_str())
                .push(", ")
                .push_bind(checkpoint_id)
                .push(", ")
                .push_bind(t.kind.to_db())
                .push(", ")
                .push_bind(t.step)
                .push(", ")
                .push_bind(now.plus(t.due_in_micros))
                .push(", NULL)");
            s
        })
        .collect()
}

pub(crate) const TIMER_COLUMNS: &str = "timer_id, checkpoint_id, kind, step, due_at";

/// How long until the next timer is due (or its claim runs out).
pub(crate) fn next_timer_in(now: Moment) -> Stmt<'static> {
    // A claimed timer (always claimed after it fell due) needs attention when its
    // claim runs out; an unclaimed one when it falls due. Each side is one ordered
    // index look-up (timers_due, timers_claimed), where a MIN over a CASE read every
    // row. The unary `+` keeps SQLite's planner off timers_claimed for the first
    // side (it would read every unclaimed row and sort them); PostgreSQL reads it
    // the same.
    let mut s = Stmt::new("SELECT MIN(t) - ");
    s.push_bind(now).push(
        " FROM (SELECT (SELECT due_at FROM timers WHERE +claimed_until IS NULL \
         ORDER BY due_at LIMIT 1) AS t UNION ALL SELECT (SELECT claimed_until FROM timers \
         WHERE claimed_until IS NOT NULL ORDER BY claimed_until LIMIT 1) AS t) AS next",
    );
    s
}

pub(crate) fn delete_timer(timer_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new("DELETE FROM timers WHERE timer_id = ");
    s.push_bind(timer_id);
    s
}

/// `CheckpointStore` for a backend: the statements above and the glue are the
/// same on both databases, written once and expanded in each backend's module
/// (where `now`, `query`, `query_as` and `write_effects` are that backend's). The
/// one queue-shaped difference is given by each backend: how the timer claim
/// locks its rows (`""` on SQLite, whose one writer serialises claims;
/// `" FOR UPDATE SKIP LOCKED"` on PostgreSQL).
macro_rules! checkpoint_store {
    ($store:ty, $claim_lock:expr) => {
        use crate::error::DbResultExt;
        use crate::model::{
            Checkpoint, CheckpointChange, CheckpointQuery, Effect, HistoryEntry, NewCheckpoint,
            NewHistory, Timer,
        };
        use crate::rows::{self, CheckpointRow, HistoryRow, TimerRow};
        use crate::sql::checkpoints as sql;
        use crate::sql::Stmt;
        use crate::{CheckpointStore, Result};

        #[async_trait::async_trait]
        impl CheckpointStore for $store {
            async fn insert_checkpoint(
                &self,
                c: &NewCheckpoint,
                history: &[NewHistory],
                effects: &[Effect],
            ) -> Result<bool> {
                let now = now();
                let mut tx = self.writer.begin().await.db()?;
                let s = sql::insert(c, now);
                let created = query(&s).execute(&mut *tx).await.db()?.rows_affected() > 0;
                if created {
                    let ids = sql::history_ids(history.len());
                    for s in sql::insert_history(&c.checkpoint_id, history, &ids, now) {
                        query(&s).execute(&mut *tx).await.db()?;
                    }
                    let ids = sql::timer_ids(c.timers.len());
                    for s in sql::insert_timers(&c.checkpoint_id, &c.timers, &ids, now) {
                        query(&s).execute(&mut *tx).await.db()?;
                    }
                    write_effects(&mut tx, &effects.iter().collect::<Vec<_>>()).await?;
                }
                tx.commit().await.db()?;
                Ok(created)
            }

            async fn get_checkpoint(&self, checkpoint_id: &str) -> Result<Option<Checkpoint>> {
                let s = sql::get(checkpoint_id);
                let row: Option<CheckpointRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn list_checkpoints(&self, q: &CheckpointQuery) -> Result<Vec<Checkpoint>> {
                let s = sql::list(q);
                let rows: Vec<CheckpointRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }

            async fn checkpoint_history(&self, checkpoint_id: &str) -> Result<Vec<HistoryEntry>> {
                let s = sql::history(checkpoint_id);
                let rows: Vec<HistoryRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }

            async fn update_checkpoint(
                &self,
                change: &CheckpointChange,
                history: &[NewHistory],
                effects: &[Effect],
            ) -> Result<Option<Checkpoint>> {
                let now = now();
                let mut tx = self.writer.begin().await.db()?;
                let s = sql::update(change, now);
                let row: Option<CheckpointRow> =
                    query_as(&s).fetch_optional(&mut *tx).await.db()?;
                let Some(row) = row else {
                    tx.rollback().await.db()?;
                    return Ok(None);
                };
                let ids = sql::history_ids(history.len());
                for s in sql::insert_history(&change.checkpoint_id, history, &ids, now) {
                    query(&s).execute(&mut *tx).await.db()?;
                }
                write_effects(&mut tx, &effects.iter().collect::<Vec<_>>()).await?;
                tx.commit().await.db()?;
                rows::one(Some(row))
            }

            async fn claim_timers(&self, max: i64, claim_micros: i64) -> Result<Vec<Timer>> {
                let now = now();
                let mut s = Stmt::new("UPDATE timers SET claimed_until = ");
                s.push_bind(now.plus(claim_micros))
                    .push(" WHERE timer_id IN (SELECT timer_id FROM timers WHERE due_at <= ")
                    .push_bind(now)
                    .push(" AND (claimed_until IS NULL OR claimed_until < ")
                    .push_bind(now)
                    .push(") ORDER BY due_at LIMIT ")
                    .push_bind(max)
                    .push($claim_lock)
                    .push(&format!(") RETURNING {}", sql::TIMER_COLUMNS));
                let rows: Vec<TimerRow> = query_as(&s).fetch_all(&self.writer).await.db()?;
                let mut timers = rows::all(rows)?;
                // RETURNING gives no order.
                timers.sort_by_key(|t| t.due_at);
                Ok(timers)
            }

            async fn next_timer_in(&self) -> Result<Option<i64>> {
                let s = sql::next_timer_in(now());
                let (next,): (Option<i64>,) = query_as(&s).fetch_one(&self.writer).await.db()?;
                Ok(next)
            }

            async fn fire_timer(
                &self,
                timer: &Timer,
                change: Option<&CheckpointChange>,
                history: &[NewHistory],
                effects: &[Effect],
            ) -> Result<bool> {
                let now = now();
                let mut tx = self.writer.begin().await.db()?;
                if let Some(change) = change {
                    let s = sql::update(change, now);
                    let row: Option<CheckpointRow> =
                        query_as(&s).fetch_optional(&mut *tx).await.db()?;
                    if row.is_none() {
                        tx.rollback().await.db()?;
                        return Ok(false);
                    }
                }
                let ids = sql::history_ids(history.len());
                for s in sql::insert_history(&timer.checkpoint_id, history, &ids, now) {
                    query(&s).execute(&mut *tx).await.db()?;
                }
                write_effects(&mut tx, &effects.iter().collect::<Vec<_>>()).await?;
                let s = sql::delete_timer(&timer.timer_id);
                query(&s).execute(&mut *tx).await.db()?;
                tx.commit().await.db()?;
                Ok(true)
            }
        }
    };
}
pub(crate) use checkpoint_store;
