//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! commit is on disk before it returns. One writer connection (SQLite has a single
//! writer anyway) and a small pool of readers that WAL lets run beside it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Result, StoreError};

pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    pub(crate) writer_concurrency: usize,
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
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        Ok(Self {
            writer,
            reader,
            writer_concurrency: 1,
        })
    }
}

// SQLite has one writer, so the lease's select-then-update is already atomic.
crate::common::impl_store!(SqliteStore, sqlx::Sqlite, kind: "sqlite", migrations: "./migrations/sqlite", skip_locked: "");
