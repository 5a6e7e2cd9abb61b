//! Test support: stores on both databases, a `TestApp` serving on 127.0.0.1:0, and
//! request signing written independently of the code under test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
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
    fresh_store_at(kind, dir).await.0
}

/// Where a test's database is, so a second process (a replica) can open it again.
#[derive(Debug, Clone)]
pub enum StoreAt {
    /// `sqlite://` URL of the file.
    Sqlite(String),
    /// Server URL and the schema holding the tables.
    Postgres { url: String, schema: String },
}

impl StoreAt {
    /// Opens the database anew: another store with its own connections, as a
    /// second process would have.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            StoreAt::Sqlite(url) => Arc::new(SqliteStore::open(url).await.expect("open sqlite")),
            StoreAt::Postgres { url, schema } => Arc::new(
                PgStore::open_in_schema(url, Some(schema))
                    .await
                    .expect("open postgres"),
            ),
        }
    }
}

/// [`fresh_store`], and where it is.
pub async fn fresh_store_at(kind: Kind, dir: &std::path::Path) -> (Arc<dyn Store>, StoreAt) {
    let at = match kind {
        Kind::Sqlite => StoreAt::Sqlite(format!("sqlite://{}", dir.join("test.db").display())),
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
            StoreAt::Postgres { url, schema }
        }
    };
    let store = at.open().await;
    store.migrate().await.expect("migrate");
    (store, at)
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

/// The real binary, `switchyard serve --port 0`, as a process of its own (with its
/// own metrics recorder); killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Every line the process wrote to stderr so far, and a signal per new line.
    log: Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>,
}

impl Server {
    /// Starts `switchyard serve --port 0` and waits for its listening line.
    pub fn start(db_url: &str, data_dir: &std::path::Path) -> Self {
        Self::start_with(db_url, data_dir, &[])
    }

    pub fn start_with(db_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_on(0, db_url, data_dir, env)
    }

    /// Starts `switchyard serve --port PORT` (a server coming back where another
    /// was) and waits for its listening line.
    pub fn start_on(
        port: u16,
        db_url: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let port = port.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--host", "127.0.0.1", "--port", &port])
            // What other tests of this process put in its environment for workflow
            // runs (`workflow_examples`): not this server's configuration.
            .env_remove("GITHUB_API_TOKEN")
            .env_remove("GITHUB_API_URL")
            .env_remove("DIGEST_WEBHOOK_URL")
            .envs(env.iter().copied())
            .env("DATABASE_URL", db_url)
            .env("SWITCHYARD_DATA_DIR", data_dir)
            .env("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
            .env("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
            .env("SWITCHYARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchyard");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new((std::sync::Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                {
                    let (lines, more) = &*sink;
                    lines.lock().expect("log lock").push(line.clone());
                    more.notify_all();
                }
                if !sent {
                    // `addr=…` in text logs, `"addr":"…"` in JSON ones.
                    let found = line
                        .find("addr=")
                        .map(|i| (i + 5, false))
                        .or_else(|| line.find("\"addr\":\"").map(|i| (i + 8, true)));
                    if let Some((i, json)) = found {
                        let addr: String = line[i..]
                            .chars()
                            .take_while(|c| !(c.is_whitespace() || json && *c == '"'))
                            .collect();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("switchyard did not report its address");
        Self {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    /// Every stderr line so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.0.lock().expect("log lock").clone()
    }

    /// The first stderr line containing every one of `needles`, waiting up to
    /// `timeout` for the process to write it.
    pub fn log_line(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        let (lines, more) = &*self.log;
        let mut lines = lines.lock().expect("log lock");
        loop {
            if let Some(l) = lines.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            lines = more.wait_timeout(lines, left).expect("log lock").0;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database for a [`Server`]: a file in `dir`, or a fresh PostgreSQL database
/// (drop it with [`PgDatabase::drop_now`]).
pub async fn db_url_for(kind: Kind, dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    match kind {
        Kind::Sqlite => (
            format!("sqlite://{}", dir.join("server.db").display()),
            None,
        ),
        Kind::Postgres => {
            let db = fresh_pg_database().await;
            (db.url.clone(), Some(db))
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
    /// Where `store` is; a replica opens it again.
    pub store_at: StoreAt,
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
        let (store, at) = fresh_store_at(kind, dir.path()).await;
        Self::spawn_on(store, at, dir, configure).await
    }

    /// A second replica: another server on `other`'s database (and master key),
    /// through a store of its own, as a second process would have.
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
        let store = other.store_at.open().await;
        Self::spawn_on(store, other.store_at.clone(), dir, configure).await
    }

    /// A server on the database `at` (already migrated), configured by `configure`.
    pub async fn spawn_at(at: StoreAt, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = at.open().await;
        Self::spawn_on(store, at, dir, configure).await
    }

    async fn spawn_on(
        store: Arc<dyn Store>,
        store_at: StoreAt,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        // The server's log, captured with each test's output and shown when it
        // fails (a stop that never ends says which step it was in).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_TEST_LOG").unwrap_or_else(
                    |_| {
                        tracing_subscriber::EnvFilter::new(
                            "warn,switchyard_engine::app=debug,switchyard_server::serve=debug",
                        )
                    },
                ),
            )
            .with_test_writer()
            .try_init();
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

            // Bounded, so a request that never gets an answer fails its test
            // instead of hanging the suite (the long-polls tested wait at most 60 s).
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("client"),
            store,
            store_at,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// The server's data folder (its master key), for a CLI run beside it.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
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

    /// POSTs a GitHub-signed delivery to `/webhooks/github`.
    pub async fn post_github(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        self.post_github_to("/webhooks/github", GITHUB_SECRET, event, delivery, body)
            .await
    }

    /// POSTs `body` to `path` as GitHub would: event and delivery headers, signed
    /// with `secret`. The status and the JSON answer.
    pub async fn post_github_to(
        &self,
        path: &str,
        secret: &str,
        event: &str,
        delivery: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Posts issue `n` (`issues.opened`) to GitHub webhook `id`, signed with
    /// `secret` (delivery `{prefix}-{id}-{n}`); its 202 answer.
    pub async fn post_issue_to(
        &self,
        id: &str,
        secret: &str,
        prefix: &str,
        n: u64,
    ) -> serde_json::Value {
        let body = issue_body(n, "opened", &[]);
        let (s, b) = self
            .post_github_to(
                &format!("/webhooks/github/{id}"),
                secret,
                "issues",
                &format!("{prefix}-{id}-{n}"),
                &body,
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b
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

    /// Runs the deliveries due now and returns once their attempts are recorded
    /// (the engine's `settle`); panics if that takes more than 20 seconds.
    pub async fn settle(&self) {
        assert!(
            self.state.engine.settle(Duration::from_secs(20)).await,
            "the delivery engine did not settle within 20 s"
        );
    }

    /// Stops the server gracefully and waits for it (and its writer) to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            // A drain that never ends fails the test, rather than hanging the suite.
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the server stops within 60 s of its shutdown signal")
                .expect("join")
                .expect("server run");
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

/// An audit row for changes a test makes on the store directly.
pub fn test_audit() -> switchyard_store::NewAudit {
    switchyard_engine::audit::record(
        "test",
        switchyard_store::AuditAction::Update,
        switchyard_store::ResourceKind::Webhook,
        "test",
        None,
        None,
    )
}

/// The value of the series `name{labels}` in a Prometheus text page: the one line
/// whose name is `name` and whose labels include every one of `labels` (`None`
/// when there is none; two matching lines are a test's mistake).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, l) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| l.split(',').any(|kv| kv == format!("{k}=\"{v}\"")))
        {
            assert!(
                found.is_none(),
                "two series match {name} {labels:?}:\n{text}"
            );
            found = Some(value.parse().expect("a number"));
        }
    }
    found
}

/// Runs one SQL statement on the database `at` (a test making rows look old, or
/// writing what no service writes directly).
pub async fn exec_sql(at: &StoreAt, sql: &str) {
    use sqlx::Connection as _;
    match at {
        StoreAt::Sqlite(url) => {
            let mut c = sqlx::sqlite::SqliteConnection::connect(url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut c).await.expect(sql);
            c.close().await.expect("close");
        }
        StoreAt::Postgres { url, schema } => {
            let mut c = sqlx::postgres::PgConnection::connect(url)
                .await
                .expect("connect");
            sqlx::query(&format!("SET search_path TO {schema}"))
                .execute(&mut c)
                .await
                .expect("search_path");
            sqlx::query(sql).execute(&mut c).await.expect(sql);
            c.close().await.expect("close");
        }
    }
}

/// `SELECT COUNT(*) …` on the database `at`.
pub async fn count_sql(at: &StoreAt, sql: &str) -> i64 {
    use sqlx::Connection as _;
    match at {
        StoreAt::Sqlite(url) => {
            let mut c = sqlx::sqlite::SqliteConnection::connect(url)
                .await
                .expect("connect");
            sqlx::query_scalar(sql).fetch_one(&mut c).await.expect(sql)
        }
        StoreAt::Postgres { url, schema } => {
            let mut c = sqlx::postgres::PgConnection::connect(url)
                .await
                .expect("connect");
            sqlx::query(&format!("SET search_path TO {schema}"))
                .execute(&mut c)
                .await
                .expect("search_path");
            sqlx::query_scalar(sql).fetch_one(&mut c).await.expect(sql)
        }
    }
}

/// A loopback port that refuses connections for as long as this lives: a socket
/// bound to it but not listening. (A listener bound and dropped leaves a port free
/// for another test's receiver, which would then get this test's requests.)
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind a closed port");
        let port = socket.local_addr().expect("its address").port();
        Self {
            _socket: socket,
            port,
        }
    }
}
