//! Executions (seed 000) and their timelines: the statements both databases share.
//! Recording an event is three statements in one transaction: the execution if
//! new, the timeline entry if new (keyed by the event's id), and the status.

use super::Stmt;
use crate::model::{ExecutionEnd, ExecutionEvent};
use crate::state::{CheckpointStatus, DbText, ExecutionStatus};

pub(crate) const EXECUTION_COLUMNS: &str =
    "kickoff_id, status, result, error, created_at, updated_at";
pub(crate) const EVENT_COLUMNS: &str = "event_id, kickoff_id, at, kind, event_type, detail";

/// The execution, `running`, unless it exists.
pub(crate) fn insert(kickoff_id: &str, at: i64) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES ("
    ));
    s.push_list::<super::Arg<'_>>([
        kickoff_id.into(),
        ExecutionStatus::Running.to_db().into(),
        None::<&str>.into(),
        None::<&str>.into(),
        at.into(),
        at.into(),
    ])
    .push(") ON CONFLICT (kickoff_id) DO NOTHING");
    s
}

/// The timeline entry, unless its event is there already.
pub(crate) fn insert_event(e: &ExecutionEvent) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "INSERT INTO execution_events ({EVENT_COLUMNS}) VALUES ("
    ));
    s.push_list::<super::Arg<'_>>([
        e.event_id.as_str().into(),
        e.kickoff_id.as_str().into(),
        e.at.into(),
        e.kind.as_str().into(),
        e.event_type.as_str().into(),
        e.detail.as_str().into(),
    ])
    .push(") ON CONFLICT (event_id) DO NOTHING");
    s
}

/// Marks the execution updated, and ended when `end` says so.
pub(crate) fn update<'a>(kickoff_id: &'a str, at: i64, end: Option<&'a ExecutionEnd>) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE executions SET updated_at = ");
    s.push_bind(at);
    if let Some(end) = end {
        s.push(", status = ")
            .push_bind(end.status.to_db())
            .push(", result = ")
            .push_bind(end.result.as_deref())
            .push(", error = ")
            .push_bind(end.error.as_deref());
    }
    s.push(" WHERE kickoff_id = ").push_bind(kickoff_id);
    s
}

pub(crate) fn get(kickoff_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EXECUTION_COLUMNS} FROM executions WHERE kickoff_id = "
    ));
    s.push_bind(kickoff_id);
    s
}

/// The first `limit` timeline entries, oldest first (event ids are time-ordered).
pub(crate) fn events(kickoff_id: &str, limit: i64) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EVENT_COLUMNS} FROM execution_events WHERE kickoff_id = "
    ));
    s.push_bind(kickoff_id)
        .push(" ORDER BY event_id LIMIT ")
        .push_bind(limit);
    s
}

/// The timeline entry a stored event made, if any.
pub(crate) fn event(event_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EVENT_COLUMNS} FROM execution_events WHERE event_id = "
    ));
    s.push_bind(event_id);
    s
}

pub(crate) fn count_checkpoints(status: CheckpointStatus) -> Stmt<'static> {
    let mut s = Stmt::new("SELECT COUNT(*) FROM checkpoints WHERE status = ");
    s.push_bind(status.to_db());
    s
}

/// `ExecutionStore` for a backend: the statements above are the same on both
/// databases, and so is the glue (one transaction per event), written once here
/// and expanded in each backend's module, where `query` and `query_as` are that
/// backend's.
macro_rules! execution_store {
    ($store:ty) => {
        use crate::error::DbResultExt;
        use crate::model::{Execution, ExecutionEvent, NewExecutionEvent};
        use crate::rows::{self, ExecutionEventRow, ExecutionRow};
        use crate::sql::executions as sql;
        use crate::state::CheckpointStatus;
        use crate::{ExecutionStore, Result};

        #[async_trait::async_trait]
        impl ExecutionStore for $store {
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
                let row: Option<ExecutionRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn execution_events(
                &self,
                kickoff_id: &str,
                limit: i64,
            ) -> Result<Vec<ExecutionEvent>> {
                let s = sql::events(kickoff_id, limit);
                let rows: Vec<ExecutionEventRow> =
                    query_as(&s).fetch_all(&self.reader).await.db()?;
                rows::all(rows)
            }
            async fn execution_event(&self, event_id: &str) -> Result<Option<ExecutionEvent>> {
                let s = sql::event(event_id);
                let row: Option<ExecutionEventRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn count_checkpoints(&self, status: CheckpointStatus) -> Result<i64> {
                let s = sql::count_checkpoints(status);
                let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
                Ok(n)
            }
        }
    };
}
pub(crate) use execution_store;
