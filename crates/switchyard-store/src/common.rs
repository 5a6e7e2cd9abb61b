//! The store logic both databases share. The SQL is the same text on SQLite and
//! PostgreSQL (upserts with `ON CONFLICT`, `RETURNING`); only placeholders differ, and
//! `QueryBuilder` writes those. A macro stamps the one implementation onto both store
//! types, because sqlx's generic executor bounds would obscure it more than help.

/// Chunk sizes for multi-row inserts. Few distinct sizes keep the prepared-statement
/// cache small while a batch of any size needs few round trips.
pub(crate) const CHUNKS: [usize; 4] = [128, 32, 8, 1];

/// Splits `n` rows into chunk lengths drawn from [`CHUNKS`], largest first.
pub(crate) fn chunk_lengths(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for c in CHUNKS {
        while n >= c {
            out.push(c);
            n -= c;
        }
    }
    out
}

pub(crate) const EVENT_COLUMNS: &str =
    "event_id, webhook_id, provider, event_type, delivery_id, received_at, \
     headers, payload, source, subject, actor, thread_key, matched_command, task_id, response_sent";
pub(crate) const SUMMARY_COLUMNS: &str =
    "event_id, webhook_id, provider, event_type, delivery_id, received_at, source, subject, actor, thread_key";
pub(crate) const WEBHOOK_COLUMNS: &str =
    "webhook_id, name, provider, enabled, secrets, config_json, created_at, created_by, updated_at";

macro_rules! impl_store {
    ($ty:ty, $db:ty, kind: $kind:literal, migrations: $mig:literal) => {
        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }

            fn writer_concurrency(&self) -> usize {
                self.writer_concurrency
            }

            async fn migrate(&self) -> $crate::Result<()> {
                sqlx::migrate!($mig).run(&self.writer).await?;
                Ok(())
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.reader).await?;
                Ok(())
            }

            async fn write_batch(&self, ops: &[$crate::WriteOp]) -> $crate::Result<Vec<$crate::WriteOutcome>> {
                use $crate::{WriteOp, WriteOutcome};
                let mut tx = self.writer.begin().await?;

                let events: Vec<&$crate::NewEvent> = ops
                    .iter()
                    .filter_map(|op| match op {
                        WriteOp::Event(e) => Some(e),
                        WriteOp::Rejection(_) => None,
                    })
                    .collect();
                let mut inserted = std::collections::HashSet::new();
                let mut rest = &events[..];
                for len in $crate::common::chunk_lengths(events.len()) {
                    let (chunk, tail) = rest.split_at(len);
                    rest = tail;
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO events (event_id, webhook_id, provider, event_type, delivery_id, \
                         received_at, headers, payload, source, subject, actor, thread_key) ",
                    );
                    qb.push_values(chunk, |mut b, e| {
                        b.push_bind(e.event_id.as_str())
                            .push_bind(e.webhook_id.as_str())
                            .push_bind(e.provider.as_str())
                            .push_bind(e.event_type.as_str())
                            .push_bind(e.delivery_id.as_deref())
                            .push_bind(e.received_at)
                            .push_bind(e.headers.as_str())
                            .push_bind(e.payload.as_str())
                            .push_bind(e.source.as_deref())
                            .push_bind(e.subject.as_deref())
                            .push_bind(e.actor.as_deref())
                            .push_bind(e.thread_key.as_deref());
                    });
                    qb.push(" ON CONFLICT (webhook_id, delivery_id) DO NOTHING RETURNING event_id");
                    let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    inserted.extend(rows.into_iter().map(|(id,)| id));
                }

                let mut out = Vec::with_capacity(ops.len());
                for op in ops {
                    match op {
                        WriteOp::Event(e) if inserted.contains(&e.event_id) => out.push(WriteOutcome::Event {
                            event_id: e.event_id.clone(),
                            duplicate: false,
                        }),
                        WriteOp::Event(e) => {
                            // Not inserted: a delivery already stored, perhaps earlier
                            // in this very batch.
                            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT event_id FROM events WHERE webhook_id = ");
                            qb.push_bind(e.webhook_id.as_str());
                            qb.push(" AND delivery_id = ");
                            qb.push_bind(e.delivery_id.as_deref());
                            let (event_id,): (String,) = qb.build_query_as().fetch_one(&mut *tx).await?;
                            out.push(WriteOutcome::Event { event_id, duplicate: true });
                        }
                        WriteOp::Rejection(r) => {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(
                                "INSERT INTO rejections (at, webhook_id, provider, remote_addr, status, reason, detail) ",
                            );
                            qb.push_values(std::iter::once(r), |mut b, r| {
                                b.push_bind(r.at)
                                    .push_bind(r.webhook_id.as_deref())
                                    .push_bind(r.provider.as_deref())
                                    .push_bind(r.remote_addr.as_deref())
                                    .push_bind(r.status)
                                    .push_bind(r.reason.as_str())
                                    .push_bind(r.detail.as_str());
                            });
                            qb.build().execute(&mut *tx).await?;
                            out.push(WriteOutcome::Rejection);
                        }
                    }
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn get_event(&self, event_id: &str) -> $crate::Result<Option<$crate::Event>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM events WHERE event_id = ",
                    $crate::common::EVENT_COLUMNS
                ));
                qb.push_bind(event_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_events(&self, q: &$crate::EventQuery) -> $crate::Result<Vec<$crate::EventSummary>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM events WHERE 1 = 1",
                    $crate::common::SUMMARY_COLUMNS
                ));
                for (col, val) in [
                    ("provider", &q.provider),
                    ("event_type", &q.event_type),
                    ("webhook_id", &q.webhook_id),
                    ("delivery_id", &q.delivery_id),
                ] {
                    if let Some(v) = val {
                        qb.push(format!(" AND {col} = "));
                        qb.push_bind(v.as_str());
                    }
                }
                if let Some(before) = &q.before {
                    qb.push(" AND event_id < ");
                    qb.push_bind(before.as_str());
                }
                qb.push(" ORDER BY event_id DESC LIMIT ");
                qb.push_bind(q.limit);
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn count_events(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(&self.reader).await?;
                Ok(n)
            }

            async fn list_rejections(&self, limit: i64) -> $crate::Result<Vec<$crate::Rejection>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, at, webhook_id, provider, remote_addr, status, reason, detail \
                     FROM rejections ORDER BY id DESC LIMIT ",
                );
                qb.push_bind(limit);
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn put_webhook(&self, w: &$crate::WebhookRecord) -> $crate::Result<()> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO webhooks ({}) ",
                    $crate::common::WEBHOOK_COLUMNS
                ));
                qb.push_values(std::iter::once(w), |mut b, w| {
                    b.push_bind(w.webhook_id.as_str())
                        .push_bind(w.name.as_str())
                        .push_bind(w.provider.as_str())
                        .push_bind(w.enabled)
                        .push_bind(w.secrets.as_str())
                        .push_bind(w.config_json.as_str())
                        .push_bind(w.created_at)
                        .push_bind(w.created_by.as_str())
                        .push_bind(w.updated_at);
                });
                qb.push(
                    " ON CONFLICT (webhook_id) DO UPDATE SET name = excluded.name, provider = excluded.provider, \
                     enabled = excluded.enabled, secrets = excluded.secrets, config_json = excluded.config_json, \
                     updated_at = excluded.updated_at",
                );
                qb.build().execute(&self.writer).await?;
                Ok(())
            }

            async fn get_webhook(&self, webhook_id: &str) -> $crate::Result<Option<$crate::WebhookRecord>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM webhooks WHERE webhook_id = ",
                    $crate::common::WEBHOOK_COLUMNS
                ));
                qb.push_bind(webhook_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_webhooks(&self) -> $crate::Result<Vec<$crate::WebhookRecord>> {
                let sql = format!("SELECT {} FROM webhooks ORDER BY webhook_id", $crate::common::WEBHOOK_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.reader).await?)
            }

            async fn delete_webhook(&self, webhook_id: &str) -> $crate::Result<bool> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM webhooks WHERE webhook_id = ");
                qb.push_bind(webhook_id);
                Ok(qb.build().execute(&self.writer).await?.rows_affected() > 0)
            }

            async fn get_setting(&self, key: &str) -> $crate::Result<Option<String>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT value FROM settings WHERE key = ");
                qb.push_bind(key);
                let row: Option<(String,)> = qb.build_query_as().fetch_optional(&self.writer).await?;
                Ok(row.map(|(v,)| v))
            }

            async fn put_setting_if_absent(&self, key: &str, value: &str) -> $crate::Result<String> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO settings (key, value) ");
                qb.push_values(std::iter::once((key, value)), |mut b, (k, v)| {
                    b.push_bind(k).push_bind(v);
                });
                qb.push(" ON CONFLICT (key) DO NOTHING");
                qb.build().execute(&self.writer).await?;
                self.get_setting(key)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("setting {key} vanished")))
            }

            async fn put_setting(&self, key: &str, value: &str) -> $crate::Result<()> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO settings (key, value) ");
                qb.push_values(std::iter::once((key, value)), |mut b, (k, v)| {
                    b.push_bind(k).push_bind(v);
                });
                qb.push(" ON CONFLICT (key) DO UPDATE SET value = excluded.value");
                qb.build().execute(&self.writer).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_exactly() {
        for n in 0..600 {
            let c = chunk_lengths(n);
            assert_eq!(c.iter().sum::<usize>(), n);
            assert!(c.iter().all(|l| CHUNKS.contains(l)));
        }
    }
}
