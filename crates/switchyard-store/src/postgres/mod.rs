//! The production store: PostgreSQL, where a commit returns after the WAL is flushed
//! (`synchronous_commit` on, PostgreSQL's default). Several batches are written at
//! once so round trips and fsyncs overlap; the unique index on
//! (webhook_id, delivery_id) keeps concurrent redeliveries to one row.
//!
//! Several processes (replicas) may share one database, so the queue statements
//! (`tasks.rs`'s lease, `deliveries.rs`'s claim) choose rows `FOR UPDATE SKIP
//! LOCKED`: each skips rows another transaction is taking.

mod activity;
mod agents;
mod audit;
mod checkpoints;
mod deliveries;
mod destinations;
mod events;
mod executions;
mod keys;
mod questions;
mod retention;
mod runs;
mod settings;
mod stream;
mod tasks;
mod webhooks;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{Database, FromRow, Postgres};

use crate::clock::Moment;
use crate::error::{from_migrate, DbResultExt};
use crate::model::{Effect, NewAudit, NewEvent, WriteOp, WriteOutcome};
use crate::sql::{self, Stmt};
use crate::{Result, Store, StoreError, Subscription};

/// Batches written at once: enough to overlap round trips and fsyncs.
const WRITER_CONCURRENCY: usize = 4;

/// The channel the processes sharing this schema talk on: `switchyard_` and the
/// schema's name (so tests in schemas of one database stay apart), at most 63
/// bytes. Migration 0008's triggers name it the same way.
const CHANNEL: &str = "left('switchyard_' || current_schema(), 63)";

pub struct PgStore {
    writer: PgPool,
    reader: PgPool,
}

impl PgStore {
    /// Opens the database at `postgres://...`.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_in_schema(url, None).await
    }

    /// Opens the database at `url` with `schema` as every connection's
    /// `search_path`, so tables are made and found there (tests pin a fresh schema
    /// per test this way).
    pub async fn open_in_schema(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut opts =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        if let Some(schema) = schema {
            opts = opts.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .db()?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }
}

type Args<'a> = <Postgres as Database>::Arguments<'a>;

/// "Now" in this store's statements: the database server's clock, which every
/// replica shares (see `clock.rs`).
fn now() -> Moment {
    Moment::Db(0)
}

/// A shared statement, to run on PostgreSQL.
fn query<'a>(s: &'a Stmt<'a>) -> Query<'a, Postgres, Args<'a>> {
    s.query()
}

/// A shared statement returning rows of `O`, to run on PostgreSQL.
fn query_as<'a, O>(s: &'a Stmt<'a>) -> QueryAs<'a, Postgres, O, Args<'a>>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    s.query_as()
}

/// Runs `effects`' inserts on `conn` (the caller's transaction).
async fn write_effects(conn: &mut sqlx::PgConnection, effects: &[&Effect]) -> Result<()> {
    for s in sql::effects::insert(effects, now()) {
        query(&s).execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// Runs `change` and, when it touched a row, writes `audit` in the same
/// transaction; true when the change touched a row.
async fn audited(pool: &PgPool, change: &Stmt<'_>, audit: &NewAudit) -> Result<bool> {
    let mut tx = pool.begin().await.db()?;
    let changed = query(change).execute(&mut *tx).await.db()?.rows_affected() > 0;
    if changed {
        write_audit(&mut tx, audit).await?;
    }
    tx.commit().await.db()?;
    Ok(changed)
}

/// Writes an audit row on `conn` (the caller's transaction).
async fn write_audit(conn: &mut sqlx::PgConnection, audit: &NewAudit) -> Result<()> {
    let s = sql::audit::insert(audit);
    query(&s).execute(&mut *conn).await.db()?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn writer_concurrency(&self) -> usize {
        WRITER_CONCURRENCY
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.writer)
            .await
            .map_err(from_migrate)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.db()?;
        Ok(())
    }

    async fn publish(&self, message: &str) -> Result<()> {
        // Nothing durable depends on a NOTIFY, so its commit does not wait for the
        // WAL to reach the disk.
        let mut tx = self.writer.begin().await.db()?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(&format!("SELECT pg_notify({CHANNEL}, $1)"))
            .bind(message)
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Option<Box<dyn Subscription>>> {
        let (channel,): (Option<String>,) = sqlx::query_as(&format!("SELECT {CHANNEL}"))
            .fetch_one(&self.reader)
            .await
            .db()?;
        let channel = channel.ok_or_else(|| {
            StoreError::Corrupt("no schema on the search path to listen in".into())
        })?;
        let mut listener = PgListener::connect_with(&self.reader).await.db()?;
        listener.listen(&channel).await.db()?;
        Ok(Some(Box::new(PgSubscription(listener))))
    }

    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
        let mut tx = self.writer.begin().await.db()?;

        let events: Vec<&NewEvent> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        let mut inserted = HashSet::new();
        for s in sql::events::insert(&events) {
            let rows: Vec<(String,)> = query_as(&s).fetch_all(&mut *tx).await.db()?;
            inserted.extend(rows.into_iter().map(|(id,)| id));
        }

        // Replies on threads with open questions answer them, before this batch
        // opens new ones. One query finds the candidates for the batch.
        let threads: Vec<&str> = events
            .iter()
            .filter(|e| e.answers.is_some() && inserted.contains(&e.event_id))
            .filter_map(|e| e.thread_key.as_deref())
            .collect();
        if !threads.is_empty() {
            let s = sql::questions::open_on_threads(&threads);
            let open: Vec<sql::questions::OpenQuestion> =
                query_as(&s).fetch_all(&mut *tx).await.db()?;
            for s in sql::questions::answers(&events, &inserted, &open) {
                query(&s).execute(&mut *tx).await.db()?;
            }
        }

        // The work new events created, and the interactive API's.
        let mut effects: Vec<&Effect> = Vec::new();
        for op in ops {
            match op {
                WriteOp::Event(e) if inserted.contains(&e.event_id) => {
                    effects.extend(e.effects.iter())
                }
                WriteOp::Effects(list) => effects.extend(list.iter()),
                _ => {}
            }
        }
        write_effects(&mut tx, &effects).await?;

        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Event(e) if inserted.contains(&e.event_id) => {
                    out.push(WriteOutcome::Event {
                        event_id: e.event_id.clone(),
                        duplicate: false,
                        matched: e.matched.clone(),
                    })
                }
                WriteOp::Event(e) => {
                    // Not inserted: a delivery already stored, perhaps earlier in
                    // this very batch.
                    let s = sql::events::existing(e);
                    let (event_id, matched): (String, String) =
                        query_as(&s).fetch_one(&mut *tx).await.db()?;
                    out.push(WriteOutcome::Event {
                        event_id,
                        duplicate: true,
                        matched,
                    });
                }
                WriteOp::Rejection(r) => {
                    let s = sql::events::insert_rejection(r);
                    query(&s).execute(&mut *tx).await.db()?;
                    out.push(WriteOutcome::Rejection);
                }
                WriteOp::Effects(_) => out.push(WriteOutcome::Effects),
                WriteOp::Run(w) => out.push(WriteOutcome::Run {
                    applied: runs::write_run(&mut tx, w).await?,
                }),
            }
        }
        tx.commit().await.db()?;
        Ok(out)
    }
}

/// A `LISTEN` on one connection of the pool. sqlx makes a lost connection again
/// (and listens again) before `try_recv` answers `None`.
struct PgSubscription(PgListener);

#[async_trait::async_trait]
impl Subscription for PgSubscription {
    async fn recv(&mut self) -> Result<Option<String>> {
        Ok(self
            .0
            .try_recv()
            .await
            .db()?
            .map(|n| n.payload().to_owned()))
    }
}
