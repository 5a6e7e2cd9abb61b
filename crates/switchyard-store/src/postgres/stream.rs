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

/// How often, and how long apart, [`StreamStore::stream_head`] looks for the newest
/// row's transaction to be settled (a second at most).
const HEAD_TRIES: u32 = 50;
const HEAD_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

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
        // The newest committed row. Once its transaction is settled, every row at or
        // before it is too, and every later one comes after it: that row is "now".
        // While an older transaction still runs it is not settled yet, and starting
        // from the newest settled row instead would replay rows committed before
        // the reader came; transactions are short, so wait a little for it.
        let s = Stmt::new(format!(
            "SELECT tx::text, seq, {SETTLED} FROM stream ORDER BY tx DESC, seq DESC LIMIT 1"
        ));
        for _ in 0..HEAD_TRIES {
            let row: Option<(String, i64, bool)> =
                query_as(&s).fetch_optional(&self.reader).await.db()?;
            match row {
                None => return Ok(None),
                Some((tx, seq, true)) => return Ok(Some(format!("{tx}.{seq}"))),
                Some(_) => tokio::time::sleep(HEAD_WAIT).await,
            }
        }
        // Still running: start from the newest settled row (a reader may then get
        // a few notices from just before it came, never miss one after).
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
