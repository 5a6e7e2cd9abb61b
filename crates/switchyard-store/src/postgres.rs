//! The production store: PostgreSQL, where a commit returns after the WAL is flushed
//! (`synchronous_commit` on, PostgreSQL's default). Several batches are written at
//! once so round trips and fsyncs overlap; the unique index on
//! (webhook_id, delivery_id) keeps concurrent redeliveries to one row.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{Result, StoreError};

pub struct PgStore {
    pub(crate) writer: PgPool,
    pub(crate) reader: PgPool,
    pub(crate) writer_concurrency: usize,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        Self::open_with(opts).await
    }

    /// Opens with explicit options (tests use this to pin a schema per test).
    pub async fn open_with(opts: PgConnectOptions) -> Result<Self> {
        let writer_concurrency = 4;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            writer_concurrency,
        })
    }
}

// Replicas lease concurrently: each skips rows another transaction has locked.
crate::common::impl_store!(
    PgStore,
    sqlx::Postgres,
    kind: "postgres",
    migrations: "./migrations/postgres",
    skip_locked: " FOR UPDATE SKIP LOCKED"
);
