//! Checkpoints on SQLite: each change one transaction on the single writer.

use super::{now, query, query_as, write_effects, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{
    Checkpoint, CheckpointChange, CheckpointQuery, Effect, HistoryEntry, NewCheckpoint, NewHistory,
};
use crate::rows::{self, CheckpointRow, HistoryRow, TimerRow};
use crate::sql::checkpoints as sql;
use crate::sql::Stmt;
use crate::Timer;
use crate::{CheckpointStore, Result};

#[async_trait::async_trait]
impl CheckpointStore for SqliteStore {
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
        let row: Option<CheckpointRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
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
        let row: Option<CheckpointRow> = query_as(&s).fetch_optional(&mut *tx).await.db()?;
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
            .push("")
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
            let row: Option<CheckpointRow> = query_as(&s).fetch_optional(&mut *tx).await.db()?;
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
