//! The live stream on PostgreSQL. Sequence values are taken when a row is
//! inserted, not when its transaction commits, so a reader going by `seq` alone
//! could pass a row that commits later with a smaller one. Readers therefore go by
//! `(tx, seq)` — the inserting transaction's id, then the sequence — and list only
//! rows whose transaction is older than the oldest one still running
//! (`pg_snapshot_xmin`): every transaction below that has ended, and every one that
//! starts later gets a larger id, so nothing can appear behind a cursor. The cursor
//! is `{tx}.{seq}`.

use super::{query, query_as, PgStore};
use crate::error::DbResultExt;
use crate::model::StreamNotice;
use crate::sql::Stmt;
use crate::{Result, StoreError, StreamStore};

/// `(tx, seq)` of a cursor, both as they were made.
fn parse(cursor: &str) -> Result<(u64, i64)> {
    cursor
        .split_once('.')
        .and_then(|(tx, seq)| Some((tx.parse::<u64>().ok()?, seq.parse::<i64>().ok()?)))
        .ok_or_else(|| StoreError::InvalidCursor(cursor.to_owned()))
}

/// Rows no running transaction can still precede.
const SETTLED: &str = "tx < pg_snapshot_xmin(pg_current_snapshot())";

#[async_trait::async_trait]
impl StreamStore for PgStore {
    async fn stream_after(&self, cursor: Option<&str>, limit: i64) -> Result<Vec<StreamNotice>> {
        let after = cursor.map(parse).transpose()?;
        let tx_text = after.map(|(tx, _)| tx.to_string());
        let mut s = Stmt::new(format!(
            "SELECT tx::text, seq, event_type, payload, at FROM stream WHERE {SETTLED}"
        ));
        if let (Some(tx), Some((_, seq))) = (tx_text.as_deref(), after) {
            s.push(" AND (tx, seq) > (")
                .push_bind(tx)
                .push("::xid8, ")
                .push_bind(seq)
                .push(")");
        }
        s.push(" ORDER BY tx, seq LIMIT ").push_bind(limit);
        let rows: Vec<(String, i64, String, String, i64)> =
            query_as(&s).fetch_all(&self.reader).await.db()?;
        Ok(rows
            .into_iter()
            .map(|(tx, seq, event_type, payload, at)| StreamNotice {
                cursor: format!("{tx}.{seq}"),
                event_type,
                payload,
                at,
            })
            .collect())
    }

    async fn stream_head(&self) -> Result<Option<String>> {
        let s = Stmt::new(format!(
            "SELECT tx::text, seq FROM stream WHERE {SETTLED} ORDER BY tx DESC, seq DESC LIMIT 1"
        ));
        let row: Option<(String, i64)> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        Ok(row.map(|(tx, seq)| format!("{tx}.{seq}")))
    }

    async fn prune_stream(&self, before: i64) -> Result<u64> {
        let mut s = Stmt::new("DELETE FROM stream WHERE at < ");
        s.push_bind(before);
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected())
    }
}
