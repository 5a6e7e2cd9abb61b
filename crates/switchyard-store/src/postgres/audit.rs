//! The audit log on PostgreSQL (rows are written by the changes, see `audited`).

use super::{query, query_as, PgStore};
use crate::error::DbResultExt;
use crate::model::{AuditEntry, AuditQuery, NewAudit};
use crate::rows::{self, AuditRow};
use crate::sql::audit as sql;
use crate::{AuditStore, Result};

#[async_trait::async_trait]
impl AuditStore for PgStore {
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let s = sql::list(q);
        let rows: Vec<AuditRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn record_audit(&self, a: &NewAudit) -> Result<()> {
        let s = sql::insert(a);
        query(&s).execute(&self.writer).await.db()?;
        Ok(())
    }
}
