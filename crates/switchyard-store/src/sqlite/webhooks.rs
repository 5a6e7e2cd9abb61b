//! Registered webhooks on SQLite.

use super::{audited, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{NewAudit, WebhookRecord};
use crate::rows::{self, WebhookRecordRow};
use crate::sql::webhooks as sql;
use crate::{Result, WebhookStore};

#[async_trait::async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &NewAudit) -> Result<bool> {
        audited(&self.writer, &sql::insert(w), audit).await
    }

    async fn put_webhook(&self, w: &WebhookRecord, audit: &NewAudit) -> Result<()> {
        audited(&self.writer, &sql::put(w), audit).await?;
        Ok(())
    }

    async fn get_webhook(&self, webhook_id: &str) -> Result<Option<WebhookRecord>> {
        let s = sql::get(webhook_id);
        let row: Option<WebhookRecordRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>> {
        let s = sql::list();
        let rows: Vec<WebhookRecordRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn delete_webhook(&self, webhook_id: &str, audit: &NewAudit) -> Result<bool> {
        audited(&self.writer, &sql::delete(webhook_id), audit).await
    }

    async fn registry_version(&self) -> Result<i64> {
        let s = sql::registry_version();
        let (v,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(v)
    }
}
