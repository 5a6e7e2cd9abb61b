//! Switchyard's HTTP server: ingest endpoints, the group-commit writer, the read API,
//! health and metrics. [`App::build`] opens and migrates the store and bootstraps keys;
//! [`App::run`] serves on a listener until a shutdown future resolves, then drains
//! in-flight requests and the writer before returning — so tests can pass a port-0
//! listener and a oneshot, and the binary passes SIGINT/SIGTERM.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod ingest;
pub mod ops;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use switchyard_store::{Sealer, Store};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use writer::Writer;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub config: Arc<Config>,
    pub sealer: Sealer,
    pub admin: auth::AdminAuth,
    pub metrics: PrometheusHandle,
}

/// A server ready to run.
pub struct App {
    state: AppState,
    writer_tasks: JoinSet<()>,
    stop_writer: CancellationToken,
}

impl App {
    /// Opens the store named by the config, migrates it, and bootstraps the keys.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = switchyard_store::open(&config.database_url).await?;
        store.migrate().await?;
        Self::with_store(config, store).await
    }

    /// Builds on a store that is already open and migrated.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let admin = auth::AdminAuth::bootstrap(
            store.as_ref(),
            config.admin_key.as_deref(),
            &config.data_dir,
        )
        .await?;
        let sealer = auth::load_sealer(config.secret_key.as_deref(), &config.data_dir)?;
        let stop_writer = CancellationToken::new();
        let (writer, writer_tasks) = Writer::spawn(store.clone(), stop_writer.clone());
        let state = AppState {
            store,
            writer,
            config: Arc::new(config),
            sealer,
            admin,
            metrics: ops::metrics_handle(),
        };
        Ok(Self {
            state,
            writer_tasks,
            stop_writer,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
    /// finish (their events are committed before they are answered), and waits for
    /// the writer to drain.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            state,
            mut writer_tasks,
            stop_writer,
        } = self;
        let app = router(state);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // Every request has been answered; the writer commits anything still queued
        // (nothing should be) and stops, even if a handle to it lives on elsewhere.
        stop_writer.cancel();
        while writer_tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// Every route the server answers.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/events", get(api::list_events))
        .route("/events/{id}", get(api::get_event))
        .route("/rejections", get(api::list_rejections))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/", get(ops::health))
        .route("/healthz", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/webhooks/{provider}", post(ingest::default_endpoint))
        .route(
            "/webhooks/{provider}/{webhook_id}",
            post(ingest::stored_endpoint),
        )
        .route("/webhook/crewai", post(ingest::crewai_endpoint))
        .nest("/api", api)
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(state)
}
