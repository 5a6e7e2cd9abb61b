//! Agents on SQLite.

use super::{query, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::Agent;
use crate::rows::{self, AgentRow};
use crate::sql::agents as sql;
use crate::{AgentStore, Result};

#[async_trait::async_trait]
impl AgentStore for SqliteStore {
    async fn insert_agent(&self, a: &Agent) -> Result<bool> {
        let s = sql::insert(a);
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected() > 0)
    }

    async fn put_agent(&self, a: &Agent) -> Result<()> {
        let s = sql::put(a);
        query(&s).execute(&self.writer).await.db()?;
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

    async fn delete_agent(&self, name: &str) -> Result<bool> {
        let s = sql::delete(name);
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected() > 0)
    }
}
