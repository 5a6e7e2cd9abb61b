//! Events and rejections on PostgreSQL.

use super::{query_as, PgStore};
use crate::error::DbResultExt;
use crate::model::{Event, EventQuery, EventSummary, Rejection};
use crate::rows::{self, EventRow, EventSummaryRow, RejectionRow};
use crate::sql::events as sql;
use crate::{EventStore, Result};

#[async_trait::async_trait]
impl EventStore for PgStore {
    async fn get_event(&self, event_id: &str) -> Result<Option<Event>> {
        let s = sql::get(event_id);
        let row: Option<EventRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_events(&self, q: &EventQuery) -> Result<Vec<EventSummary>> {
        let s = sql::list(q);
        let rows: Vec<EventSummaryRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn count_events(&self) -> Result<i64> {
        let s = sql::count();
        let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(n)
    }

    async fn list_rejections(&self, limit: i64) -> Result<Vec<Rejection>> {
        let s = sql::list_rejections(limit);
        let rows: Vec<RejectionRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }
}
