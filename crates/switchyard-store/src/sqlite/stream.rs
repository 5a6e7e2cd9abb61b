//! The live stream on SQLite: one writer commits at a time, so `seq` is commit
//! order and is the cursor.

use super::{query, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::StreamNotice;
use crate::sql::Stmt;
use crate::{Result, StoreError, StreamStore};

fn seq_of(cursor: Option<&str>) -> Result<i64> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| StoreError::InvalidCursor(c.to_owned())),
    }
}

#[async_trait::async_trait]
impl StreamStore for SqliteStore {
    async fn stream_after(&self, cursor: Option<&str>, limit: i64) -> Result<Vec<StreamNotice>> {
        let mut s = Stmt::new("SELECT seq, event_type, payload, at FROM stream WHERE seq > ");
        s.push_bind(seq_of(cursor)?)
            .push(" ORDER BY seq LIMIT ")
            .push_bind(limit);
        let rows: Vec<(i64, String, String, i64)> =
            query_as(&s).fetch_all(&self.reader).await.db()?;
        Ok(rows
            .into_iter()
            .map(|(seq, event_type, payload, at)| StreamNotice {
                cursor: seq.to_string(),
                event_type,
                payload,
                at,
            })
            .collect())
    }

    async fn stream_head(&self) -> Result<Option<String>> {
        let s = Stmt::new("SELECT MAX(seq) FROM stream");
        let (seq,): (Option<i64>,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(seq.map(|n| n.to_string()))
    }

    async fn prune_stream(&self, before: i64) -> Result<u64> {
        let mut s = Stmt::new("DELETE FROM stream WHERE at < ");
        s.push_bind(before);
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected())
    }
}
