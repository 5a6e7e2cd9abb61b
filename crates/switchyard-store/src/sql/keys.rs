//! API keys: kept as the SHA-256 of the key, found by it, revoked in place.

use super::Stmt;
use crate::model::ApiKey;

const KEY_COLUMNS: &str = "key_id, name, key_hash, scopes, created_at, created_by, revoked_at";

/// Creates a key.
pub(crate) fn insert<'a>(k: &'a ApiKey, scopes_json: &'a str) -> Stmt<'a> {
    let mut s = Stmt::new(format!("INSERT INTO api_keys ({KEY_COLUMNS}) "));
    s.push_values([k], |k| {
        vec![
            k.key_id.as_str().into(),
            k.name.as_str().into(),
            k.key_hash.as_str().into(),
            scopes_json.into(),
            k.created_at.into(),
            k.created_by.as_str().into(),
            k.revoked_at.into(),
        ]
    });
    s
}

pub(crate) fn by_hash(key_hash: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = "
    ));
    s.push_bind(key_hash);
    s
}

pub(crate) fn get(key_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = "
    ));
    s.push_bind(key_id);
    s
}

pub(crate) fn list() -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY key_id"
    ))
}

/// Revokes a key that is not revoked yet.
pub(crate) fn revoke(key_id: &str, at: i64) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE api_keys SET revoked_at = ");
    s.push_bind(at)
        .push(" WHERE revoked_at IS NULL AND key_id = ")
        .push_bind(key_id);
    s
}

/// `KeyStore` for a backend: the statements above and the glue are the same on
/// both databases, written once and expanded in each backend's module (where
/// `query`, `query_as`, `audited` and `write_audit` are that backend's).
macro_rules! key_store {
    ($store:ty) => {
        use crate::error::DbResultExt;
        use crate::model::{ApiKey, NewAudit};
        use crate::rows::{self, ApiKeyRow};
        use crate::sql::keys as sql;
        use crate::{KeyStore, Result, StoreError};

        #[async_trait::async_trait]
        impl KeyStore for $store {
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
                let row: Option<ApiKeyRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
                rows::one(row)
            }

            async fn get_key(&self, key_id: &str) -> Result<Option<ApiKey>> {
                let s = sql::get(key_id);
                let row: Option<ApiKeyRow> =
                    query_as(&s).fetch_optional(&self.reader).await.db()?;
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
    };
}
pub(crate) use key_store;
