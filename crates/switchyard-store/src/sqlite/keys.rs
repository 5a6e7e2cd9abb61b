//! API keys on SQLite.

use super::{audited, query_as, write_audit, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{ApiKey, NewAudit};
use crate::rows::{self, ApiKeyRow};
use crate::sql::keys as sql;
use crate::{KeyStore, Result, StoreError};

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKey, audit: &NewAudit) -> Result<()> {
        let scopes = serde_json::to_string(&key.scopes)
            .map_err(|e| StoreError::Corrupt(format!("api_keys.scopes: {e}")))?;
        let s = sql::insert(key, &scopes);
        let mut tx = self.writer.begin().await.db()?;
        super::query(&s).execute(&mut *tx).await.db()?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let s = sql::by_hash(key_hash);
        let row: Option<ApiKeyRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn get_key(&self, key_id: &str) -> Result<Option<ApiKey>> {
        let s = sql::get(key_id);
        let row: Option<ApiKeyRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let s = sql::list();
        let rows: Vec<ApiKeyRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn revoke_key(&self, key_id: &str, at: i64, audit: &NewAudit) -> Result<bool> {
        audited(&self.writer, &sql::revoke(key_id, at), audit).await
    }
}
