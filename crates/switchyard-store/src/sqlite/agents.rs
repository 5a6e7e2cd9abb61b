//! Agents on SQLite.

use super::{audited, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{Agent, NewAudit};
use crate::rows::{self, AgentRow};
use crate::sql::agents as sql;
use crate::{AgentStore, Result};

#[async_trait::async_trait]
impl AgentStore for SqliteStore {
    async fn insert_agent(&self, a: &Agent, audit: &NewAudit) -> Result<bool> {
        audited(&self.writer, &sql::insert(a), audit).await
    }

    async fn put_agent(&self, a: &Agent, audit: &NewAudit) -> Result<()> {
        audited(&self.writer, &sql::put(a), audit).await?;
        Ok(())
    }

    async fn get_agent(&self, name: &str) -> Result<Option<Agent>> {
        let s = sql::get(name);
        let row: Option<AgentRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_agents(&self) -> Result<Vec<Agent>> {
        let s = sql::list();
        let rows: Vec<AgentRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn delete_agent(&self, name: &str, audit: &NewAudit) -> Result<bool> {
        audited(&self.writer, &sql::delete(name), audit).await
    }
}
