//! The delivery queue on SQLite. Claims are one `UPDATE … FROM (chosen ids)`; the
//! single writer connection means no other writer runs between choosing and
//! updating, so two claimers never hold one message.

use std::collections::BTreeMap;

use super::destinations::park_disabled;
use super::{now, query, query_as, SqliteStore};
use crate::error::DbResultExt;
use crate::model::{
    AttemptOutcome, ClaimQuery, Delivery, DeliveryAttempt, DeliveryQuery, FinishedAttempt,
    NewNotice,
};
use crate::rows::{self, DeliveryAttemptRow, DeliveryRow};
use crate::sql::deliveries::{self as sql, qualified_columns};
use crate::sql::effects::insert_notices;
use crate::sql::{checkpoints as csql, destinations as dest_sql, Stmt};
use crate::{DeliveryStore, Result};

#[async_trait::async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim_deliveries(&self, q: &ClaimQuery) -> Result<Vec<Delivery>> {
        // The chosen ids come from a CTE joined by primary key, so the update touches
        // only them (as on PostgreSQL, where an `IN (subquery)` walked the table).
        let now = now();
        let mut s = Stmt::new(
            "WITH c AS (SELECT o.outbox_id FROM outbox o \
             WHERE o.status = 'pending' AND o.kind <> 'run_workflow' AND o.next_attempt_at <= ",
        );
        s.push_bind(now)
            .push(" AND (o.claimed_until IS NULL OR o.claimed_until < ")
            .push_bind(now)
            .push(")");
        if let Some(only) = &q.only {
            s.push(" AND o.destination_id = ").push_bind(only.as_str());
        }
        if !q.exclude.is_empty() {
            s.push(" AND o.destination_id NOT IN (")
                .push_list(q.exclude.iter().map(String::as_str))
                .push(")");
        }
        // A disabled destination's messages wait for it to be enabled again
        // (disabling parks them; this catches ones that arrived since). The
        // uncorrelated subqueries are computed once, so the due index is walked in
        // order and the scan stops at the limit.
        s.push(
            " AND o.destination_id NOT IN (SELECT d.destination_id FROM destinations d \
             WHERE d.disabled_at IS NOT NULL)",
        );
        // Ordered messages wait behind any older pending one with the same key (a
        // FIFO destination orders messages without a key as one queue). The cheap
        // test comes first: most messages are unordered.
        s.push(
            " AND ((o.ordering_key IS NULL AND o.destination_id NOT IN (SELECT f.destination_id \
             FROM destinations f WHERE f.fifo)) \
             OR NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination_id = o.destination_id \
             AND p.status = 'pending' AND p.outbox_id < o.outbox_id \
             AND COALESCE(p.ordering_key, '') = COALESCE(o.ordering_key, '')))",
        );
        s.push(" ORDER BY o.next_attempt_at, o.outbox_id LIMIT ")
            .push_bind(q.limit)
            .push(") UPDATE outbox SET claim_id = ")
            .push_bind(q.claim_id.as_str())
            .push(", claimed_until = ")
            .push_bind(now.plus(q.claim_micros))
            .push(", attempts = attempts + 1, updated_at = ")
            .push_bind(now)
            .push(&format!(
                " FROM c WHERE outbox.outbox_id = c.outbox_id RETURNING {}",
                qualified_columns()
            ));
        let rows: Vec<DeliveryRow> = query_as(&s).fetch_all(&self.writer).await.db()?;
        // RETURNING gives no order.
        let mut rows = rows::all(rows)?;
        rows.sort_by(|a, b| {
            (a.next_attempt_at, &a.outbox_id).cmp(&(b.next_attempt_at, &b.outbox_id))
        });
        Ok(rows)
    }

    async fn finish_deliveries(&self, done: &[FinishedAttempt]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let now = now();
        let mut tx = self.writer.begin().await.db()?;
        let recorded: Vec<&FinishedAttempt> = done
            .iter()
            .filter(|d| !matches!(d.outcome, AttemptOutcome::Released { .. }))
            .collect();
        for s in sql::insert_attempts(&recorded) {
            query(&s).execute(&mut *tx).await.db()?;
        }
        // Successes with the same status share one statement: at full speed nearly
        // every finished attempt is one of those.
        let mut delivered: BTreeMap<(Option<i64>, &str), Vec<&str>> = BTreeMap::new();
        for d in done {
            match &d.outcome {
                AttemptOutcome::Delivered => delivered
                    .entry((d.attempt.status_code, d.claim_id.as_str()))
                    .or_default()
                    .push(d.outbox_id.as_str()),
                AttemptOutcome::Retry { in_micros } | AttemptOutcome::Released { in_micros } => {
                    let mut s = Stmt::new("UPDATE outbox SET next_attempt_at = ");
                    s.push_bind(now.plus(*in_micros));
                    if matches!(d.outcome, AttemptOutcome::Released { .. }) {
                        s.push(", attempts = attempts - 1");
                    } else {
                        s.push(", last_attempt_at = ")
                            .push_bind(d.attempt.started_at)
                            .push(", last_status = ")
                            .push_bind(d.attempt.status_code)
                            .push(", last_error = ")
                            .push_bind(d.attempt.error.as_deref());
                    }
                    s.push(", claim_id = NULL, claimed_until = NULL, updated_at = ")
                        .push_bind(now)
                        .push(" WHERE outbox_id = ")
                        .push_bind(d.outbox_id.as_str())
                        .push(" AND claim_id = ")
                        .push_bind(d.claim_id.as_str());
                    query(&s).execute(&mut *tx).await.db()?;
                }
                AttemptOutcome::Dead => {
                    let mut s = Stmt::new(
                        "UPDATE outbox SET status = 'failed', claim_id = NULL, \
                         claimed_until = NULL, last_attempt_at = ",
                    );
                    s.push_bind(d.attempt.started_at)
                        .push(", last_status = ")
                        .push_bind(d.attempt.status_code)
                        .push(", last_error = ")
                        .push_bind(d.attempt.error.as_deref())
                        .push(", updated_at = ")
                        .push_bind(now)
                        .push(" WHERE outbox_id = ")
                        .push_bind(d.outbox_id.as_str())
                        .push(" AND claim_id = ")
                        .push_bind(d.claim_id.as_str());
                    let moved = query(&s).execute(&mut *tx).await.db()?.rows_affected() > 0;
                    if let (true, Some(task_id)) = (moved, d.requeue_task.as_deref()) {
                        // The pushed task goes back to its pull queue.
                        let mut s = Stmt::new(
                            "UPDATE tasks SET status = 'queued', lease_id = NULL, \
                             lease_expires_at = NULL, updated_at = ",
                        );
                        s.push_bind(now)
                            .push(" WHERE task_id = ")
                            .push_bind(task_id)
                            .push(" AND status = 'leased' AND lease_expires_at IS NULL");
                        query(&s).execute(&mut *tx).await.db()?;
                    }
                }
            }
            if let Some((dest, reason)) = &d.disable_destination {
                let s = dest_sql::disable_if_enabled(dest, reason, now);
                query(&s).execute(&mut *tx).await.db()?;
                park_disabled(&mut tx, dest, true, now).await?;
            }
        }
        for ((status, claim), ids) in &delivered {
            for chunk in ids.chunks(256) {
                let mut s = Stmt::new(
                    "UPDATE outbox SET status = 'delivered', claim_id = NULL, \
                     claimed_until = NULL, last_error = NULL, last_status = ",
                );
                s.push_bind(*status)
                    .push(", last_attempt_at = ")
                    .push_bind(now)
                    .push(", delivered_at = ")
                    .push_bind(now)
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(" WHERE claim_id = ")
                    .push_bind(*claim)
                    .push(" AND outbox_id IN (")
                    .push_list(chunk.iter().copied())
                    .push(")");
                query(&s).execute(&mut *tx).await.db()?;
            }
        }
        // A checkpoint's notification or callback leaves its step in the history.
        let ids = csql::history_ids(csql::finished_steps(done).count());
        for s in csql::insert_finished_steps(done, &ids, now) {
            query(&s).execute(&mut *tx).await.db()?;
        }
        // The live stream's notices of the outcomes, last (their order is theirs).
        let notices: Vec<&NewNotice> = done.iter().filter_map(|d| d.notice.as_ref()).collect();
        for s in insert_notices(&notices, now) {
            query(&s).execute(&mut *tx).await.db()?;
        }
        tx.commit().await.db()?;
        Ok(())
    }

    async fn next_delivery_in(&self) -> Result<Option<i64>> {
        let s = sql::next_due(now());
        let (due,): (Option<i64>,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(due)
    }

    async fn count_with_status(&self, status: crate::state::DeliveryStatus) -> Result<i64> {
        let s = sql::count_status(status);
        let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(n)
    }

    async fn get_delivery(&self, outbox_id: &str) -> Result<Option<Delivery>> {
        let s = sql::get(outbox_id);
        let row: Option<DeliveryRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn get_delivery_by_key(&self, idempotency_key: &str) -> Result<Option<Delivery>> {
        let s = sql::get_by_key(idempotency_key);
        let row: Option<DeliveryRow> = query_as(&s).fetch_optional(&self.reader).await.db()?;
        rows::one(row)
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let s = sql::list(q);
        let rows: Vec<DeliveryRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn deliveries_of_event(&self, event_id: &str) -> Result<Vec<Delivery>> {
        let s = sql::of_event(event_id);
        let rows: Vec<DeliveryRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn count_deliveries(&self, q: &DeliveryQuery) -> Result<u64> {
        let s = sql::count(q);
        let (n,): (i64,) = query_as(&s).fetch_one(&self.reader).await.db()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn list_attempts(&self, outbox_id: &str) -> Result<Vec<DeliveryAttempt>> {
        let s = sql::list_attempts(outbox_id);
        let rows: Vec<DeliveryAttemptRow> = query_as(&s).fetch_all(&self.reader).await.db()?;
        rows::all(rows)
    }

    async fn retry_delivery(&self, outbox_id: &str) -> Result<Option<Delivery>> {
        let s = sql::retry(outbox_id, now());
        query(&s).execute(&self.writer).await.db()?;
        self.get_delivery(outbox_id).await
    }

    async fn retry_deliveries(&self, outbox_ids: &[String]) -> Result<u64> {
        if outbox_ids.is_empty() {
            return Ok(0);
        }
        let s = sql::retry_many(outbox_ids, now());
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected())
    }

    async fn recover_destination(&self, destination_id: &str, since: i64) -> Result<u64> {
        let s = sql::recover(destination_id, since, now());
        Ok(query(&s).execute(&self.writer).await.db()?.rows_affected())
    }
}
