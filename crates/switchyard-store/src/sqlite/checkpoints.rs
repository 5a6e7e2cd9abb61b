//! Checkpoints on SQLite: each change one transaction on the single writer.

use super::{now, query, query_as, write_effects, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{
    Checkpoint, CheckpointChange, CheckpointQuery, Effect, HistoryEntry, NewCheckpoint, NewHistory,
};
use crate::rows::{self, CheckpointRow, HistoryRow};
use crate::sql::checkpoints as sql;
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
}
