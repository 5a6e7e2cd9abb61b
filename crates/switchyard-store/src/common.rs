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
     headers, payload, source, subject, actor, thread_key, matched_command, task_id, response_sent, matched";
pub(crate) const TASK_COLUMNS: &str =
    "task_id, agent, status, message, event_id, command_id, webhook_id, attempts, \
     lease_id, lease_expires_at, result, error, created_at, updated_at";
pub(crate) const QUESTION_COLUMNS: &str =
    "question_id, event_id, webhook_id, command_id, thread_key, asker, question, \
     status, answer, answer_event_id, answered_by, created_at, answered_at";
pub(crate) const AGENT_COLUMNS: &str =
    "name, description, mode, url, secret, created_at, updated_at";
pub(crate) const SUMMARY_COLUMNS: &str =
    "event_id, webhook_id, provider, event_type, delivery_id, received_at, source, subject, actor, thread_key";
pub(crate) const WEBHOOK_COLUMNS: &str =
    "webhook_id, name, provider, enabled, secrets, config_json, created_at, created_by, updated_at, api_token";
pub(crate) const DELIVERY_COLUMNS: &str =
    "outbox_id, kind, webhook_id, event_id, command_id, payload, status, idempotency_key, created_at, \
     destination_id, ordering_key, attempts, next_attempt_at, claim_id, claimed_until, last_attempt_at, \
     last_status, last_error, delivered_at, updated_at";
pub(crate) const DESTINATION_COLUMNS: &str =
    "destination_id, url, kind, max_concurrency, rate_per_second, burst, fifo, secret, previous_secret, \
     previous_expires_at, disabled_at, disabled_reason, created_at, updated_at";

/// Task columns as read: a lease past its expiry reads as `queued`, because the task
/// is back in its queue. Bind the current time once, where `{now}` stands.
pub(crate) fn task_select_head() -> String {
    "SELECT task_id, agent, CASE WHEN status = 'leased' AND lease_expires_at < ".to_owned()
}
pub(crate) const TASK_SELECT_TAIL: &str = " THEN 'queued' ELSE status END AS status, message, event_id, command_id, \
     webhook_id, attempts, lease_id, lease_expires_at, result, error, created_at, updated_at FROM tasks";

macro_rules! impl_store {
    ($ty:ty, $db:ty, kind: $kind:literal, migrations: $mig:literal, skip_locked: $lock:literal) => {
        impl $ty {
            async fn insert_destination(&self, d: &$crate::Destination, replace: bool) -> $crate::Result<()> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO destinations ({}) ",
                    $crate::common::DESTINATION_COLUMNS
                ));
                qb.push_values(std::iter::once(d), |mut b, d| {
                    b.push_bind(d.destination_id.as_str())
                        .push_bind(d.url.as_str())
                        .push_bind(d.kind.as_str())
                        .push_bind(d.max_concurrency)
                        .push_bind(d.rate_per_second)
                        .push_bind(d.burst)
                        .push_bind(d.fifo)
                        .push_bind(d.secret.as_deref())
                        .push_bind(d.previous_secret.as_deref())
                        .push_bind(d.previous_expires_at)
                        .push_bind(d.disabled_at)
                        .push_bind(d.disabled_reason.as_deref())
                        .push_bind(d.created_at)
                        .push_bind(d.updated_at);
                });
                if replace {
                    qb.push(
                        " ON CONFLICT (destination_id) DO UPDATE SET url = excluded.url, kind = excluded.kind, \
                         max_concurrency = excluded.max_concurrency, rate_per_second = excluded.rate_per_second, \
                         burst = excluded.burst, fifo = excluded.fifo, secret = excluded.secret, \
                         previous_secret = excluded.previous_secret, previous_expires_at = excluded.previous_expires_at, \
                         disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason, \
                         updated_at = excluded.updated_at",
                    );
                } else {
                    qb.push(" ON CONFLICT (destination_id) DO NOTHING");
                }
                qb.build().execute(&self.writer).await?;
                Ok(())
            }

            /// Turns the row an update returned (or its absence) into an answer.
            async fn task_update(&self, task_id: &str, row: Option<$crate::Task>) -> $crate::Result<$crate::TaskUpdate> {
                use $crate::Store;
                Ok(match row {
                    Some(t) => $crate::TaskUpdate::Done(t),
                    None => match self.get_task(task_id).await? {
                        Some(t) => $crate::TaskUpdate::Conflict(t),
                        None => $crate::TaskUpdate::NotFound,
                    },
                })
            }
        }

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
                        _ => None,
                    })
                    .collect();
                let mut inserted = std::collections::HashSet::new();
                let mut rest = &events[..];
                for len in $crate::common::chunk_lengths(events.len()) {
                    let (chunk, tail) = rest.split_at(len);
                    rest = tail;
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO events (event_id, webhook_id, provider, event_type, delivery_id, \
                         received_at, headers, payload, source, subject, actor, thread_key, \
                         matched, matched_command, task_id, response_sent) ",
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
                            .push_bind(e.thread_key.as_deref())
                            .push_bind(e.matched.as_str())
                            .push_bind(e.matched_command.as_deref())
                            .push_bind(e.task_id.as_deref())
                            .push_bind(e.response_sent);
                    });
                    qb.push(" ON CONFLICT (webhook_id, delivery_id) DO NOTHING RETURNING event_id");
                    let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                    inserted.extend(rows.into_iter().map(|(id,)| id));
                }

                // Replies on threads with open questions answer them, before this
                // batch opens new ones. One query finds the candidates for the batch.
                let threads: Vec<&str> = events
                    .iter()
                    .filter(|e| e.answers.is_some() && inserted.contains(&e.event_id))
                    .filter_map(|e| e.thread_key.as_deref())
                    .collect();
                if !threads.is_empty() {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT question_id, thread_key, asker, question FROM questions WHERE status = 'open' AND thread_key IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for t in &threads {
                        sep.push_bind(*t);
                    }
                    qb.push(")");
                    let open: Vec<(String, Option<String>, Option<String>, String)> =
                        qb.build_query_as().fetch_all(&mut *tx).await?;
                    let mut answered = std::collections::HashSet::new();
                    for e in &events {
                        let (Some(thread), Some(cand)) = (e.thread_key.as_deref(), e.answers.as_ref()) else { continue };
                        if !inserted.contains(&e.event_id) {
                            continue;
                        }
                        for (qid, qthread, asker, question) in &open {
                            let by_asker = asker.is_some() && asker.as_deref() == cand.actor.as_deref();
                            if qthread.as_deref() != Some(thread)
                                || by_asker
                                || cand.text.trim() == question.trim()
                                || answered.contains(qid)
                            {
                                continue;
                            }
                            answered.insert(qid.clone());
                            let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE questions SET status = 'answered', answer = ");
                            qb.push_bind(cand.text.as_str());
                            qb.push(", answer_event_id = ");
                            qb.push_bind(e.event_id.as_str());
                            qb.push(", answered_by = ");
                            qb.push_bind(cand.actor.as_deref());
                            qb.push(", answered_at = ");
                            qb.push_bind(e.received_at);
                            qb.push(" WHERE question_id = ");
                            qb.push_bind(qid.as_str());
                            qb.push(" AND status = 'open'");
                            qb.build().execute(&mut *tx).await?;
                        }
                    }
                }

                // The work new events created, and the interactive API's.
                let mut effects: Vec<&$crate::Effect> = Vec::new();
                for op in ops {
                    match op {
                        WriteOp::Event(e) if inserted.contains(&e.event_id) => effects.extend(e.effects.iter()),
                        WriteOp::Effects(list) => effects.extend(list.iter()),
                        _ => {}
                    }
                }
                $crate::common::write_effects!($db, &mut *tx, effects);

                let mut out = Vec::with_capacity(ops.len());
                for op in ops {
                    match op {
                        WriteOp::Event(e) if inserted.contains(&e.event_id) => out.push(WriteOutcome::Event {
                            event_id: e.event_id.clone(),
                            duplicate: false,
                            matched: e.matched.clone(),
                        }),
                        WriteOp::Event(e) => {
                            // Not inserted: a delivery already stored, perhaps earlier
                            // in this very batch.
                            let mut qb = sqlx::QueryBuilder::<$db>::new(
                                "SELECT event_id, matched FROM events WHERE webhook_id = ",
                            );
                            qb.push_bind(e.webhook_id.as_str());
                            qb.push(" AND delivery_id = ");
                            qb.push_bind(e.delivery_id.as_deref());
                            let (event_id, matched): (String, String) = qb.build_query_as().fetch_one(&mut *tx).await?;
                            out.push(WriteOutcome::Event { event_id, duplicate: true, matched });
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
                        WriteOp::Effects(_) => out.push(WriteOutcome::Effects),
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
                        .push_bind(w.updated_at)
                        .push_bind(w.api_token.as_deref());
                });
                qb.push(
                    " ON CONFLICT (webhook_id) DO UPDATE SET name = excluded.name, provider = excluded.provider, \
                     enabled = excluded.enabled, secrets = excluded.secrets, config_json = excluded.config_json, \
                     updated_at = excluded.updated_at, api_token = excluded.api_token",
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

            async fn put_agent(&self, a: &$crate::Agent) -> $crate::Result<()> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO agents ({}) ", $crate::common::AGENT_COLUMNS));
                qb.push_values(std::iter::once(a), |mut b, a| {
                    b.push_bind(a.name.as_str())
                        .push_bind(a.description.as_str())
                        .push_bind(a.mode.as_str())
                        .push_bind(a.url.as_deref())
                        .push_bind(a.secret.as_deref())
                        .push_bind(a.created_at)
                        .push_bind(a.updated_at);
                });
                qb.push(
                    " ON CONFLICT (name) DO UPDATE SET description = excluded.description, mode = excluded.mode, \
                     url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at",
                );
                qb.build().execute(&self.writer).await?;
                Ok(())
            }

            async fn get_agent(&self, name: &str) -> $crate::Result<Option<$crate::Agent>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!("SELECT {} FROM agents WHERE name = ", $crate::common::AGENT_COLUMNS));
                qb.push_bind(name);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_agents(&self) -> $crate::Result<Vec<$crate::Agent>> {
                let sql = format!("SELECT {} FROM agents ORDER BY name", $crate::common::AGENT_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.reader).await?)
            }

            async fn delete_agent(&self, name: &str) -> $crate::Result<bool> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM agents WHERE name = ");
                qb.push_bind(name);
                Ok(qb.build().execute(&self.writer).await?.rows_affected() > 0)
            }

            async fn lease_tasks(&self, agent: &str, max: i64, lease_micros: i64) -> $crate::Result<Vec<$crate::Task>> {
                let now = $crate::now_micros();
                let lease_id = $crate::new_id("lease");
                // Expired leases go back to the queue first, so the lease itself reads
                // only queued rows, in the order of the (agent, status, created_at)
                // index, whatever the size of the agent's history.
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE tasks SET status = 'queued', lease_id = NULL, lease_expires_at = NULL WHERE agent = ",
                );
                qb.push_bind(agent);
                qb.push(" AND status = 'leased' AND lease_expires_at < ");
                qb.push_bind(now);
                qb.build().execute(&self.writer).await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE tasks SET status = 'leased', lease_id = ");
                qb.push_bind(lease_id.as_str());
                qb.push(", lease_expires_at = ");
                qb.push_bind(now + lease_micros);
                qb.push(", attempts = attempts + 1, updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE task_id IN (SELECT task_id FROM tasks WHERE agent = ");
                qb.push_bind(agent);
                qb.push(" AND status = 'queued' ORDER BY created_at, task_id LIMIT ");
                qb.push_bind(max);
                qb.push($lock);
                qb.push(format!(") RETURNING {}", $crate::common::TASK_COLUMNS));
                let mut tasks: Vec<$crate::Task> = qb.build_query_as().fetch_all(&self.writer).await?;
                tasks.sort_by(|a, b| (a.created_at, &a.task_id).cmp(&(b.created_at, &b.task_id)));
                Ok(tasks)
            }

            async fn heartbeat_task(&self, task_id: &str, lease_id: &str, lease_micros: i64) -> $crate::Result<$crate::TaskUpdate> {
                let now = $crate::now_micros();
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE tasks SET lease_expires_at = ");
                qb.push_bind(now + lease_micros);
                qb.push(", updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE task_id = ");
                qb.push_bind(task_id);
                qb.push(" AND lease_id = ");
                qb.push_bind(lease_id);
                qb.push(" AND status = 'leased' AND (lease_expires_at IS NULL OR lease_expires_at >= ");
                qb.push_bind(now);
                qb.push(format!(") RETURNING {}", $crate::common::TASK_COLUMNS));
                let row: Option<$crate::Task> = qb.build_query_as().fetch_optional(&self.writer).await?;
                self.task_update(task_id, row).await
            }

            async fn finish_task(
                &self,
                task_id: &str,
                lease_id: &str,
                finish: &$crate::TaskFinish,
                effects: &[$crate::Effect],
            ) -> $crate::Result<$crate::TaskUpdate> {
                let now = $crate::now_micros();
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE tasks SET status = ");
                match finish {
                    $crate::TaskFinish::Complete { result } => {
                        qb.push_bind("completed");
                        qb.push(", result = ");
                        qb.push_bind(result.as_deref());
                    }
                    $crate::TaskFinish::Fail { error, retry } => {
                        qb.push_bind(if *retry { "queued" } else { "failed" });
                        qb.push(", error = ");
                        qb.push_bind(error.as_str());
                        qb.push(", lease_expires_at = NULL");
                    }
                }
                qb.push(", updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE task_id = ");
                qb.push_bind(task_id);
                qb.push(" AND lease_id = ");
                qb.push_bind(lease_id);
                // A pushed task's lease has no expiry.
                qb.push(" AND status = 'leased' AND (lease_expires_at IS NULL OR lease_expires_at >= ");
                qb.push_bind(now);
                qb.push(format!(") RETURNING {}", $crate::common::TASK_COLUMNS));
                // A transaction only when follow-ups must commit with the completion.
                let row: Option<$crate::Task> = if effects.is_empty() {
                    qb.build_query_as().fetch_optional(&self.writer).await?
                } else {
                    let mut tx = self.writer.begin().await?;
                    let row: Option<$crate::Task> = qb.build_query_as().fetch_optional(&mut *tx).await?;
                    if row.is_some() {
                        $crate::common::write_effects!($db, &mut *tx, effects.iter().collect());
                    }
                    tx.commit().await?;
                    row
                };
                self.task_update(task_id, row).await
            }

            async fn get_task(&self, task_id: &str) -> $crate::Result<Option<$crate::Task>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new($crate::common::task_select_head());
                qb.push_bind($crate::now_micros());
                qb.push($crate::common::TASK_SELECT_TAIL);
                qb.push(" WHERE task_id = ");
                qb.push_bind(task_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_tasks(&self, q: &$crate::TaskQuery) -> $crate::Result<Vec<$crate::Task>> {
                let now = $crate::now_micros();
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM (");
                qb.push($crate::common::task_select_head());
                qb.push_bind(now);
                qb.push($crate::common::TASK_SELECT_TAIL);
                qb.push(") t WHERE 1 = 1");
                if let Some(a) = &q.agent {
                    qb.push(" AND agent = ");
                    qb.push_bind(a.as_str());
                }
                if let Some(s) = &q.status {
                    qb.push(" AND status = ");
                    qb.push_bind(s.as_str());
                }
                if let Some(b) = &q.before {
                    qb.push(" AND task_id < ");
                    qb.push_bind(b.as_str());
                }
                qb.push(" ORDER BY task_id DESC LIMIT ");
                qb.push_bind(q.limit);
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn get_question(&self, question_id: &str) -> $crate::Result<Option<$crate::Question>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM questions WHERE question_id = ",
                    $crate::common::QUESTION_COLUMNS
                ));
                qb.push_bind(question_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_questions_for_event(&self, event_id: &str) -> $crate::Result<Vec<$crate::Question>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM questions WHERE event_id = ",
                    $crate::common::QUESTION_COLUMNS
                ));
                qb.push_bind(event_id);
                qb.push(" ORDER BY question_id");
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn claim_deliveries(&self, q: &$crate::ClaimQuery) -> $crate::Result<Vec<$crate::Delivery>> {
                // The chosen ids come from a CTE joined by primary key, so the update
                // touches only them (an `IN (subquery)` made PostgreSQL hash-join the
                // whole table).
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "WITH c AS (SELECT o.outbox_id FROM outbox o \
                     WHERE o.status = 'pending' AND o.kind <> 'run_workflow' AND o.next_attempt_at <= ",
                );
                qb.push_bind(q.now);
                qb.push(" AND (o.claimed_until IS NULL OR o.claimed_until < ");
                qb.push_bind(q.now);
                qb.push(")");
                if let Some(only) = &q.only {
                    qb.push(" AND o.destination_id = ");
                    qb.push_bind(only.as_str());
                }
                if !q.exclude.is_empty() {
                    qb.push(" AND o.destination_id NOT IN (");
                    let mut sep = qb.separated(", ");
                    for d in &q.exclude {
                        sep.push_bind(d.as_str());
                    }
                    qb.push(")");
                }
                // A disabled destination's messages wait for it to be enabled again
                // (disabling parks them; this catches ones that arrived since). The
                // uncorrelated subqueries are computed once, so the due index is walked
                // in order and the scan stops at the limit.
                qb.push(
                    " AND o.destination_id NOT IN (SELECT d.destination_id FROM destinations d \
                     WHERE d.disabled_at IS NOT NULL)",
                );
                // Ordered messages wait behind any older pending one with the same key
                // (a FIFO destination orders messages without a key as one queue). The
                // cheap test comes first: most messages are unordered.
                qb.push(
                    " AND ((o.ordering_key IS NULL AND o.destination_id NOT IN (SELECT f.destination_id \
                     FROM destinations f WHERE f.fifo)) \
                     OR NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination_id = o.destination_id \
                     AND p.status = 'pending' AND p.outbox_id < o.outbox_id \
                     AND COALESCE(p.ordering_key, '') = COALESCE(o.ordering_key, '')))",
                );
                qb.push(" ORDER BY o.next_attempt_at, o.outbox_id LIMIT ");
                qb.push_bind(q.limit);
                qb.push($lock);
                qb.push(") UPDATE outbox SET claim_id = ");
                qb.push_bind(q.claim_id.as_str());
                qb.push(", claimed_until = ");
                qb.push_bind(q.now + q.claim_micros);
                qb.push(", attempts = attempts + 1, updated_at = ");
                qb.push_bind(q.now);
                let returning: Vec<String> = $crate::common::DELIVERY_COLUMNS
                    .split(',')
                    .map(|c| format!("outbox.{}", c.trim()))
                    .collect();
                qb.push(format!(
                    " FROM c WHERE outbox.outbox_id = c.outbox_id RETURNING {}",
                    returning.join(", ")
                ));
                let mut rows: Vec<$crate::Delivery> = qb.build_query_as().fetch_all(&self.writer).await?;
                rows.sort_by(|a, b| (a.next_attempt_at, &a.outbox_id).cmp(&(b.next_attempt_at, &b.outbox_id)));
                Ok(rows)
            }

            async fn finish_deliveries(&self, done: &[$crate::FinishedAttempt]) -> $crate::Result<()> {
                use $crate::AttemptOutcome;
                if done.is_empty() {
                    return Ok(());
                }
                let now = $crate::now_micros();
                let mut tx = self.writer.begin().await?;
                let recorded: Vec<&$crate::FinishedAttempt> = done
                    .iter()
                    .filter(|d| !matches!(d.outcome, AttemptOutcome::Released { .. }))
                    .collect();
                let mut rest = &recorded[..];
                for len in $crate::common::chunk_lengths(recorded.len()) {
                    let (chunk, tail) = rest.split_at(len);
                    rest = tail;
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, status_code, latency_micros, response_excerpt, error) ",
                    );
                    qb.push_values(chunk, |mut b, d| {
                        let a = &d.attempt;
                        b.push_bind(a.outbox_id.as_str())
                            .push_bind(a.attempt)
                            .push_bind(a.started_at)
                            .push_bind(a.status_code)
                            .push_bind(a.latency_micros)
                            .push_bind(a.response_excerpt.as_deref())
                            .push_bind(a.error.as_deref());
                    });
                    qb.push(" ON CONFLICT (outbox_id, attempt) DO NOTHING");
                    qb.build().execute(&mut *tx).await?;
                }
                // Successes with the same status share one statement: at full speed
                // nearly every finished attempt is one of those.
                let mut delivered: std::collections::BTreeMap<(Option<i64>, &str), Vec<&str>> = Default::default();
                for d in done {
                    match &d.outcome {
                        AttemptOutcome::Delivered => delivered
                            .entry((d.attempt.status_code, d.claim_id.as_str()))
                            .or_default()
                            .push(d.outbox_id.as_str()),
                        AttemptOutcome::Retry { next_attempt_at } | AttemptOutcome::Released { next_attempt_at } => {
                            let released = matches!(d.outcome, AttemptOutcome::Released { .. });
                            let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET next_attempt_at = ");
                            qb.push_bind(*next_attempt_at);
                            if released {
                                qb.push(", attempts = attempts - 1");
                            } else {
                                qb.push(", last_attempt_at = ");
                                qb.push_bind(d.attempt.started_at);
                                qb.push(", last_status = ");
                                qb.push_bind(d.attempt.status_code);
                                qb.push(", last_error = ");
                                qb.push_bind(d.attempt.error.as_deref());
                            }
                            qb.push(", claim_id = NULL, claimed_until = NULL, updated_at = ");
                            qb.push_bind(now);
                            qb.push(" WHERE outbox_id = ");
                            qb.push_bind(d.outbox_id.as_str());
                            qb.push(" AND claim_id = ");
                            qb.push_bind(d.claim_id.as_str());
                            qb.build().execute(&mut *tx).await?;
                        }
                        AttemptOutcome::Dead => {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(
                                "UPDATE outbox SET status = 'failed', claim_id = NULL, claimed_until = NULL, last_attempt_at = ",
                            );
                            qb.push_bind(d.attempt.started_at);
                            qb.push(", last_status = ");
                            qb.push_bind(d.attempt.status_code);
                            qb.push(", last_error = ");
                            qb.push_bind(d.attempt.error.as_deref());
                            qb.push(", updated_at = ");
                            qb.push_bind(now);
                            qb.push(" WHERE outbox_id = ");
                            qb.push_bind(d.outbox_id.as_str());
                            qb.push(" AND claim_id = ");
                            qb.push_bind(d.claim_id.as_str());
                            let moved = qb.build().execute(&mut *tx).await?.rows_affected() > 0;
                            if let (true, Some(task_id)) = (moved, d.requeue_task.as_deref()) {
                                let mut qb = sqlx::QueryBuilder::<$db>::new(
                                    "UPDATE tasks SET status = 'queued', lease_id = NULL, lease_expires_at = NULL, updated_at = ",
                                );
                                qb.push_bind(now);
                                qb.push(" WHERE task_id = ");
                                qb.push_bind(task_id);
                                qb.push(" AND status = 'leased' AND lease_expires_at IS NULL");
                                qb.build().execute(&mut *tx).await?;
                            }
                        }
                    }
                    if let Some((dest, reason)) = &d.disable_destination {
                        let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE destinations SET disabled_at = ");
                        qb.push_bind(now);
                        qb.push(", disabled_reason = ");
                        qb.push_bind(reason.as_str());
                        qb.push(", updated_at = ");
                        qb.push_bind(now);
                        qb.push(" WHERE destination_id = ");
                        qb.push_bind(dest.as_str());
                        qb.push(" AND disabled_at IS NULL");
                        qb.build().execute(&mut *tx).await?;
                        let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET next_attempt_at = ");
                        qb.push_bind($crate::PARKED);
                        qb.push(" WHERE status = 'pending' AND destination_id = ");
                        qb.push_bind(dest.as_str());
                        qb.push(" AND next_attempt_at < ");
                        qb.push_bind($crate::PARKED);
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                for ((status, claim), ids) in &delivered {
                    for chunk in ids.chunks(256) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "UPDATE outbox SET status = 'delivered', claim_id = NULL, claimed_until = NULL, last_error = NULL, last_status = ",
                        );
                        qb.push_bind(*status);
                        qb.push(", last_attempt_at = ");
                        qb.push_bind(now);
                        qb.push(", delivered_at = ");
                        qb.push_bind(now);
                        qb.push(", updated_at = ");
                        qb.push_bind(now);
                        qb.push(" WHERE claim_id = ");
                        qb.push_bind(*claim);
                        qb.push(" AND outbox_id IN (");
                        let mut sep = qb.separated(", ");
                        for id in chunk {
                            sep.push_bind(*id);
                        }
                        qb.push(")");
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn next_delivery_due(&self) -> $crate::Result<Option<i64>> {
                let (due,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND kind <> 'run_workflow'",
                )
                .fetch_one(&self.reader)
                .await?;
                Ok(due)
            }

            async fn get_delivery(&self, outbox_id: &str) -> $crate::Result<Option<$crate::Delivery>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM outbox WHERE outbox_id = ",
                    $crate::common::DELIVERY_COLUMNS
                ));
                qb.push_bind(outbox_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn get_delivery_by_key(&self, idempotency_key: &str) -> $crate::Result<Option<$crate::Delivery>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM outbox WHERE idempotency_key = ",
                    $crate::common::DELIVERY_COLUMNS
                ));
                qb.push_bind(idempotency_key);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_deliveries(&self, q: &$crate::DeliveryQuery) -> $crate::Result<Vec<$crate::Delivery>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM outbox WHERE 1 = 1",
                    $crate::common::DELIVERY_COLUMNS
                ));
                for (col, val) in [("status", &q.status), ("destination_id", &q.destination_id), ("kind", &q.kind)] {
                    if let Some(v) = val {
                        qb.push(format!(" AND {col} = "));
                        qb.push_bind(v.as_str());
                    }
                }
                if let Some(before) = &q.before {
                    qb.push(" AND outbox_id < ");
                    qb.push_bind(before.as_str());
                }
                qb.push(" ORDER BY outbox_id DESC LIMIT ");
                qb.push_bind(q.limit);
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn list_attempts(&self, outbox_id: &str) -> $crate::Result<Vec<$crate::DeliveryAttempt>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT outbox_id, attempt, started_at, status_code, latency_micros, response_excerpt, error \
                     FROM delivery_attempts WHERE outbox_id = ",
                );
                qb.push_bind(outbox_id);
                qb.push(" ORDER BY attempt");
                Ok(qb.build_query_as().fetch_all(&self.reader).await?)
            }

            async fn retry_delivery(&self, outbox_id: &str, now: i64) -> $crate::Result<Option<$crate::Delivery>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET status = 'pending', next_attempt_at = ");
                qb.push_bind(now);
                qb.push(", updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE outbox_id = ");
                qb.push_bind(outbox_id);
                qb.push(" AND status IN ('pending', 'failed')");
                qb.build().execute(&self.writer).await?;
                self.get_delivery(outbox_id).await
            }

            async fn recover_destination(&self, destination_id: &str, since: i64, now: i64) -> $crate::Result<u64> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET status = 'pending', next_attempt_at = ");
                qb.push_bind(now);
                qb.push(", updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE destination_id = ");
                qb.push_bind(destination_id);
                qb.push(" AND status = 'failed' AND created_at >= ");
                qb.push_bind(since);
                Ok(qb.build().execute(&self.writer).await?.rows_affected())
            }

            async fn ensure_destination(&self, d: &$crate::Destination) -> $crate::Result<()> {
                self.insert_destination(d, false).await
            }

            async fn put_destination(&self, d: &$crate::Destination) -> $crate::Result<()> {
                self.insert_destination(d, true).await
            }

            async fn get_destination(&self, destination_id: &str) -> $crate::Result<Option<$crate::Destination>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM destinations WHERE destination_id = ",
                    $crate::common::DESTINATION_COLUMNS
                ));
                qb.push_bind(destination_id);
                Ok(qb.build_query_as().fetch_optional(&self.reader).await?)
            }

            async fn list_destinations(&self) -> $crate::Result<Vec<$crate::Destination>> {
                let sql = format!(
                    "SELECT {} FROM destinations ORDER BY destination_id",
                    $crate::common::DESTINATION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).fetch_all(&self.reader).await?)
            }

            async fn set_destination_disabled(
                &self,
                destination_id: &str,
                reason: Option<&str>,
                now: i64,
            ) -> $crate::Result<bool> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE destinations SET disabled_at = ");
                qb.push_bind(reason.map(|_| now));
                qb.push(", disabled_reason = ");
                qb.push_bind(reason);
                qb.push(", updated_at = ");
                qb.push_bind(now);
                qb.push(" WHERE destination_id = ");
                qb.push_bind(destination_id);
                let mut tx = self.writer.begin().await?;
                let found = qb.build().execute(&mut *tx).await?.rows_affected() > 0;
                // Parked while disabled, so claims never walk past them; due again
                // (all at once) when enabled.
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET next_attempt_at = ");
                match reason {
                    Some(_) => {
                        qb.push_bind($crate::PARKED);
                        qb.push(" WHERE next_attempt_at < ");
                        qb.push_bind($crate::PARKED);
                    }
                    None => {
                        qb.push_bind(now);
                        qb.push(" WHERE next_attempt_at >= ");
                        qb.push_bind($crate::PARKED);
                    }
                }
                qb.push(" AND status = 'pending' AND destination_id = ");
                qb.push_bind(destination_id);
                qb.build().execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(found)
            }

            async fn park_destination(&self, destination_id: &str, until: i64, now: i64) -> $crate::Result<u64> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE outbox SET next_attempt_at = ");
                qb.push_bind(until);
                qb.push(" WHERE destination_id = ");
                qb.push_bind(destination_id);
                qb.push(" AND status = 'pending' AND next_attempt_at < ");
                qb.push_bind(until);
                qb.push(" AND (claimed_until IS NULL OR claimed_until < ");
                qb.push_bind(now);
                qb.push(")");
                Ok(qb.build().execute(&self.writer).await?.rows_affected())
            }
        }
    };
}

pub(crate) use impl_store;

/// Inserts tasks, questions and outbox rows, tasks and outbox in multi-row chunks.
/// Duplicates of an idempotency key are skipped, not errors.
macro_rules! write_effects {
    ($db:ty, $conn:expr, $effects:expr) => {{
        let effects: Vec<&$crate::Effect> = $effects;
        let tasks: Vec<&$crate::NewTask> = effects
            .iter()
            .filter_map(|e| match e {
                $crate::Effect::Task(t) => Some(t),
                _ => None,
            })
            .collect();
        let mut rest = &tasks[..];
        for len in $crate::common::chunk_lengths(tasks.len()) {
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO tasks (task_id, agent, status, message, event_id, command_id, webhook_id, created_at, updated_at, lease_id, attempts) ",
            );
            qb.push_values(chunk, |mut b, t| {
                b.push_bind(t.task_id.as_str())
                    .push_bind(t.agent.as_str())
                    .push_bind(if t.pushed_lease.is_some() { "leased" } else { "queued" })
                    .push_bind(t.message.as_str())
                    .push_bind(t.event_id.as_deref())
                    .push_bind(t.command_id.as_deref())
                    .push_bind(t.webhook_id.as_deref())
                    .push_bind(t.created_at)
                    .push_bind(t.created_at)
                    .push_bind(t.pushed_lease.as_deref())
                    .push_bind(i64::from(t.pushed_lease.is_some()));
            });
            qb.push(" ON CONFLICT (event_id, command_id) DO NOTHING");
            qb.build().execute($conn).await?;
        }
        let outbox: Vec<&$crate::NewOutbox> = effects
            .iter()
            .filter_map(|e| match e {
                $crate::Effect::Outbox(o) => Some(o),
                _ => None,
            })
            .collect();
        let mut new_keys = std::collections::HashSet::new();
        let mut rest = &outbox[..];
        for len in $crate::common::chunk_lengths(outbox.len()) {
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO outbox (outbox_id, kind, webhook_id, event_id, command_id, payload, status, idempotency_key, \
                 created_at, destination_id, ordering_key, next_attempt_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, o| {
                b.push_bind(o.outbox_id.as_str())
                    .push_bind(o.kind.as_str())
                    .push_bind(o.webhook_id.as_deref())
                    .push_bind(o.event_id.as_deref())
                    .push_bind(o.command_id.as_deref())
                    .push_bind(o.payload.as_str())
                    .push_bind("pending")
                    .push_bind(o.idempotency_key.as_str())
                    .push_bind(o.created_at)
                    .push_bind(o.destination_id.as_str())
                    .push_bind(o.ordering_key.as_deref())
                    .push_bind(o.created_at)
                    .push_bind(o.created_at);
            });
            qb.push(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key");
            let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *$conn).await?;
            new_keys.extend(rows.into_iter().map(|(k,)| k));
        }
        for e in &effects {
            match e {
                $crate::Effect::Task(_) => {}
                $crate::Effect::Question(q) => {
                    // A question posted by a message that already existed is not
                    // opened again.
                    if q.outbox_key.as_ref().is_some_and(|k| !new_keys.contains(k)) {
                        continue;
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO questions (question_id, event_id, webhook_id, command_id, thread_key, asker, question, status, created_at) ",
                    );
                    qb.push_values(std::iter::once(q), |mut b, q| {
                        b.push_bind(q.question_id.as_str())
                            .push_bind(q.event_id.as_deref())
                            .push_bind(q.webhook_id.as_str())
                            .push_bind(q.command_id.as_deref())
                            .push_bind(q.thread_key.as_deref())
                            .push_bind(q.asker.as_deref())
                            .push_bind(q.question.as_str())
                            .push_bind("open")
                            .push_bind(q.created_at);
                    });
                    qb.build().execute(&mut *$conn).await?;
                }
                $crate::Effect::Outbox(_) => {}
            }
        }
    }};
}

pub(crate) use write_effects;

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
