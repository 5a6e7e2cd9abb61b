//! Executions (seed 000) on SQLite: an event and its effect on the execution in
//! one transaction.

use super::{query, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{Execution, ExecutionEvent, NewExecutionEvent};
use crate::rows::{self, ExecutionEventRow, ExecutionRow};
use crate::sql::executions as sql;
use crate::state::CheckpointStatus;
use crate::{ExecutionStore, Result};

#[async_trait::async_trait]
impl ExecutionStore for SqliteStore {
    async fn record_execution_event(&self, e: &NewExecutionEvent) -> Result<()> {
        let ev = &e.event;
        let mut tx = self.writer.begin().await.db()?;
        query(&sql::insert(&ev.kickoff_id, ev.at))
            .execute(&mut *tx)
            .await
            .db()?;
        query(&sql::insert_event(ev)).execute(&mut *tx).await.db()?;
        query(&sql::update(&ev.kickoff_id, ev.at, e.end.as_ref()))
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn get_execution(&self, kickoff_id: &str) -> Result<Option<Execution>> {
        let s = sql::get(kickoff_id);
        let row: Option<ExecutionRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn execution_events(&self, kickoff_id: &str, limit: i64) -> Result<Vec<ExecutionEvent>> {
        let s = sql::events(kickoff_id, limit);
        let rows: Vec<ExecutionEventRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn count_checkpoints(&self, status: CheckpointStatus) -> Result<i64> {
        let s = sql::count_checkpoints(status);
        let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(n)
    }
}
