//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! commit is on disk before it returns. One writer connection (SQLite has a single
//! writer anyway) and a small pool of readers that WAL lets run beside it.
//!
//! The single writer is what makes the queue statements (`tasks.rs`'s lease,
//! `deliveries.rs`'s claim) safe: a select-then-update runs with no other writer in
//! between, so two callers never take the same row.

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

use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Database, FromRow, Sqlite};

use crate::clock::{now_micros, Moment};
use crate::error::{from_migrate, DbResultExt};
use crate::model::{Effect, NewAudit, NewEvent, WriteOp, WriteOutcome};
use crate::sql::{self, Stmt};
use crate::{Result, Store, StoreError, Subscription};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed, folder included) the database at `sqlite://PATH`.
    pub async fn open(url: &str) -> Result<Self> {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        if path.is_empty() {
            return Err(StoreError::Url("sqlite URL names no file".into()));
        }
        if path != ":memory:" {
            if let Some(parent) = std::path::Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
        }
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Url(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: the WAL is fsync'd at every commit, so an acknowledged event
            // survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // Multi-row inserts need a statement journal; on disk it costs an open,
            // writes and an unlink per batch (BENCHMARKS.md). Memory is enough.
            .pragma("temp_store", "memory")
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(opts.clone())
            .await
            .db()?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .db()?;
        Ok(Self { writer, reader })
    }
}

type Args<'a> = <Sqlite as Database>::Arguments<'a>;

/// "Now" in this store's statements: this process's clock, read once per
/// operation (SQLite serves one host; see `clock.rs`).
fn now() -> Moment {
    Moment::Local(now_micros())
}

/// A shared statement, to run on SQLite.
fn query<'a>(s: &'a Stmt<'a>) -> Query<'a, Sqlite, Args<'a>> {
    s.query()
}

/// A shared statement returning rows of `O`, to run on SQLite.
fn query_as<'a, O>(s: &'a Stmt<'a>) -> QueryAs<'a, Sqlite, O, Args<'a>>
where
    O: for<'r> FromRow<'r, SqliteRow>,
{
    s.query_as()
}

/// Runs `effects`' inserts on `conn` (the caller's transaction).
async fn write_effects(conn: &mut sqlx::SqliteConnection, effects: &[&Effect]) -> Result<()> {
    for s in sql::effects::insert(effects, now()) {
        query(&s).execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// Runs `change` and, when it touched a row, writes `audit` in the same
/// transaction; true when the change touched a row.
async fn audited(pool: &SqlitePool, change: &Stmt<'_>, audit: &NewAudit) -> Result<bool> {
    let mut tx = pool.begin().await.db()?;
    let changed = query(change).execute(&mut *tx).await.db()?.rows_affected() > 0;
    if changed {
        write_audit(&mut tx, audit).await?;
    }
    tx.commit().await.db()?;
    Ok(changed)
}

/// Writes an audit row on `conn` (the caller's transaction).
async fn write_audit(conn: &mut sqlx::SqliteConnection, audit: &NewAudit) -> Result<()> {
    let s = sql::audit::insert(audit);
    query(&s).execute(&mut *conn).await.db()?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn writer_concurrency(&self) -> usize {
        1
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(from_migrate)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.db()?;
        Ok(())
    }

    /// SQLite replicas (processes on one file) poll instead.
    async fn publish(&self, _message: &str) -> Result<()> {
        Ok(())
    }

    async fn subscribe(&self) -> Result<Option<Box<dyn Subscription>>> {
        Ok(None)
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
