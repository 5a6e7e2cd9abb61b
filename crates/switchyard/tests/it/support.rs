//! Test support: stores on both databases, a `TestApp` serving on 127.0.0.1:0, and
//! request signing written independently of the code under test.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchyard_server::{App, Config};
use switchyard_store::{PgStore, SqliteStore, Store};
use tokio::sync::oneshot;

/// The environment variable naming the PostgreSQL server the tests use. The test
/// command (`scripts/test`) sets it; a PostgreSQL test without it fails, never skips.
pub const PG_ENV: &str = "SWITCHYARD_TEST_PG_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs a test body once per store: `both_stores!(name)` makes `name::sqlite` and
/// `name::postgres` from `async fn name(kind: Kind)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Kind::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Kind::Postgres).await
                }
            }
        )*
    };
}

pub fn pg_url() -> String {
    std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!("{PG_ENV} is not set: PostgreSQL tests need a server (run the tests with scripts/test, which sets it)")
    })
}

/// A fresh, migrated store. SQLite gets a file in `dir`; PostgreSQL a new schema.
pub async fn fresh_store(kind: Kind, dir: &std::path::Path) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = match kind {
        Kind::Sqlite => {
            let url = format!("sqlite://{}", dir.join("test.db").display());
            Arc::new(SqliteStore::open(&url).await.expect("open sqlite"))
        }
        Kind::Postgres => {
            let url = pg_url();
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            Arc::new(
                PgStore::open_in_schema(&url, Some(&schema))
                    .await
                    .expect("open postgres"),
            )
        }
    };
    store.migrate().await.expect("migrate");
    store
}

/// A fresh PostgreSQL database for tests that run the real binary; dropped when the
/// guard is (at the end of a passing test).
pub async fn fresh_pg_database() -> PgDatabase {
    let url = pg_url();
    let name = format!("sy_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    // Replace the database name (the last path segment) in the URL.
    let (base, query) = url
        .split_once('?')
        .map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    let db_url = match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    };
    PgDatabase {
        admin_url: url,
        name,
        url: db_url,
    }
}

/// A database made by [`fresh_pg_database`].
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// Drops the database, disconnecting whoever is still on it.
    pub async fn drop_now(self) {
        if let Ok(admin) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.admin_url)
            .await
        {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

pub const ADMIN_KEY: &str = "test-admin-key";
pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const GENERIC_SECRET: &str = "generic-secret";

/// A running server on 127.0.0.1:0 with its own store.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub state: switchyard_server::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), switchyard_server::ServeError>>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(kind: Kind) -> Self {
        Self::spawn_with(kind, |_| {}).await
    }

    pub async fn spawn_with(kind: Kind, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = fresh_store(kind, dir.path()).await;
        Self::spawn_on(store, dir, configure).await
    }

    /// A second replica: another server on `other`'s store (and master key).
    pub async fn replica_of(other: &TestApp) -> Self {
        Self::replica_with(other, |_| {}).await
    }

    /// A second replica, configured.
    pub async fn replica_with(other: &TestApp, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            other._dir.path().join("secret.key"),
            dir.path().join("secret.key"),
        )
        .expect("copy key");
        Self::spawn_on(other.store.clone(), dir, configure).await
    }

    async fn spawn_on(
        store: Arc<dyn Store>,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::new("unused://", dir.path());
        config.admin_key = Some(ADMIN_KEY.into());
        config.secrets_from_env(|k| match k {
            "GITHUB_WEBHOOK_SECRET" => Some(GITHUB_SECRET.into()),
            "WEBHOOK_SECRET" => Some(GENERIC_SECRET.into()),
            _ => None,
        });
        // Deliveries go to receivers on loopback, and retries come quickly.
        config.delivery.guard = std::sync::Arc::new(
            switchyard_engine::delivery::ssrf::Guard::from_allow_list("127.0.0.1/32, ::1/128")
                .expect("allow list"),
        );
        config.delivery.retry_schedule = vec![
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(300),
        ];
        config.delivery.jitter = 0.0;
        config.delivery.poll_interval = Duration::from_millis(100);
        config.delivery.timeout = Duration::from_secs(5);
        config.delivery.connect_timeout = Duration::from_secs(2);
        configure(&mut config);
        let app = App::with_store(config, store.clone())
            .await
            .expect("build app");
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(listener, async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),

            client: reqwest::Client::new(),
            store,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET an admin API path with the admin key; returns status and JSON.
    pub async fn api_get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POSTs a GitHub-signed delivery.
    pub async fn post_github(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                github_signature(GITHUB_SECRET, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Makes the registry read the store's webhooks now.
    pub async fn reload_registry(&self) {
        self.state
            .engine
            .registry
            .refresh_stored(self.store.as_ref(), &self.state.engine.sealer)
            .await
            .expect("refresh registry");
    }

    /// Stops the server gracefully and waits for it (and its writer) to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("server run");
        }
    }
}

/// `sha256=<hex HMAC-SHA256>` as GitHub sends it.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// A realistic GitHub `issues` payload.
pub fn issue_body(number: u64, action: &str, labels: &[&str]) -> String {
    let labels: Vec<_> = labels
        .iter()
        .map(|l| serde_json::json!({"name": l}))
        .collect();
    serde_json::json!({
        "action": action,
        "issue": {"number": number, "title": format!("Issue {number}"), "body": "It crashes.",
                  "html_url": format!("https://github.com/acme/app/issues/{number}"), "labels": labels},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "octocat"}
    })
    .to_string()
}
