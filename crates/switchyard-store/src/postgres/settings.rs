//! Settings on PostgreSQL. Reads go to the writer so they see the latest write.

use super::{query, query_as, PgStore};
use crate::error::DbResultExt;
use crate::sql::settings as sql;
use crate::{Result, SettingStore, StoreError};

#[async_trait::async_trait]
impl SettingStore for PgStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let s = sql::get(key);
        let row: Option<(String,)> = query_as(&s).fetch_optional(&self.writer).await.db()?;
        Ok(row.map(|(v,)| v))
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<String> {
        let s = sql::put(key, value, false);
        query(&s).execute(&self.writer).await.db()?;
        self.get_setting(key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {key} vanished")))
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        let s = sql::put(key, value, true);
        query(&s).execute(&self.writer).await.db()?;
        Ok(())
    }
}
