//! Switchyard's HTTP server: ingest endpoints, the group-commit writer, the read API,
//! health and metrics. [`App::build`] opens and migrates the store and bootstraps keys;
//! [`App::run`] serves on a listener until a shutdown future resolves, then drains
//! in-flight requests and the writer before returning — so tests can pass a port-0
//! listener and a oneshot, and the binary passes SIGINT/SIGTERM.

pub mod agents;
pub mod api;
pub mod auth;
pub mod config;
pub mod config_dir;
pub mod deliveries_api;
pub mod delivery;
pub mod error;
pub mod ingest;
pub mod ops;
pub mod questions;
pub mod registry;
pub mod route;
pub mod webhooks_api;
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
    /// Woken when tasks are created or returned to a queue (lease long-polls).
    pub tasks_ready: Arc<tokio::sync::Notify>,
    /// Woken after events commit (question long-polls).
    pub events_committed: Arc<tokio::sync::Notify>,
    /// Registered webhooks, compiled.
    pub registry: registry::Registry,
    /// The delivery engine, to wake after committing outbound messages.
    pub engine: delivery::Engine,
}

/// A server ready to run.
pub struct App {
    state: AppState,
    writer_tasks: JoinSet<()>,
    stop_writer: CancellationToken,
    engine_tasks: JoinSet<()>,
    stop_engine: CancellationToken,
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
        let registry = registry::Registry::default();
        let stop_engine = CancellationToken::new();
        let (engine, engine_tasks) = delivery::Engine::spawn(
            store.clone(),
            registry.clone(),
            sealer.clone(),
            config.delivery.clone(),
            Arc::new(tokio::sync::Notify::new()),
            stop_engine.clone(),
        )?;
        let state = AppState {
            store,
            writer,
            config: Arc::new(config),
            sealer,
            admin,
            metrics: ops::metrics_handle(),
            tasks_ready: Arc::new(tokio::sync::Notify::new()),
            events_committed: Arc::new(tokio::sync::Notify::new()),
            registry,
            engine,
        };
        state
            .registry
            .refresh_stored(state.store.as_ref(), &state.sealer)
            .await?;
        if let Some(dir) = &state.config.config_dir {
            std::fs::create_dir_all(dir)?;
            config_dir::load(dir, &state.registry);
        }
        Ok(Self {
            state,
            writer_tasks,
            stop_writer,
            engine_tasks,
            stop_engine,
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
            mut engine_tasks,
            stop_engine,
        } = self;
        let background = CancellationToken::new();
        let mut loops = JoinSet::new();
        if let Some(dir) = state.config.config_dir.clone() {
            loops.spawn(config_dir::watch(
                dir,
                state.registry.clone(),
                background.clone(),
                std::time::Duration::from_secs(1),
            ));
        }
        {
            // Other replicas (and the CLI) change stored webhooks: pick that up.
            let (st, stop) = (state.clone(), background.clone());
            loops.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    }
                    if let Err(e) = st
                        .registry
                        .refresh_stored(st.store.as_ref(), &st.sealer)
                        .await
                    {
                        tracing::warn!(error = %e, "could not refresh webhooks from the store");
                    }
                }
            });
        }
        let app = router(state);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // Every request has been answered; the writer commits anything still queued
        // (nothing should be) and stops, even if a handle to it lives on elsewhere.
        background.cancel();
        while loops.join_next().await.is_some() {}
        // Attempts under way finish and are recorded; queued messages go back.
        stop_engine.cancel();
        while engine_tasks.join_next().await.is_some() {}
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
        .route(
            "/webhooks",
            get(webhooks_api::list).post(webhooks_api::create),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks_api::get)
                .put(webhooks_api::put)
                .delete(webhooks_api::delete),
        )
        .route("/webhooks/{id}/enable", post(webhooks_api::enable))
        .route("/webhooks/{id}/disable", post(webhooks_api::disable))
        .route(
            "/webhooks/{id}/commands",
            get(webhooks_api::list_commands).post(webhooks_api::add_command),
        )
        .route(
            "/webhooks/{id}/commands/{cmd_id}",
            axum::routing::put(webhooks_api::put_command).delete(webhooks_api::delete_command),
        )
        .route("/webhooks/{id}/comment", post(webhooks_api::comment))
        .route("/webhooks/{id}/ask", post(webhooks_api::ask))
        .route("/webhooks/{id}/respond", post(webhooks_api::respond))
        .route("/outbox", get(api::list_outbox))
        .route("/deliveries", get(deliveries_api::list))
        .route("/deliveries/{id}", get(deliveries_api::get))
        .route("/deliveries/{id}/retry", post(deliveries_api::retry))
        .route(
            "/destinations",
            get(deliveries_api::list_destinations).post(deliveries_api::create_destination),
        )
        .route(
            "/destinations/{id}",
            get(deliveries_api::get_destination).put(deliveries_api::put_destination),
        )
        .route("/destinations/{id}/enable", post(deliveries_api::enable))
        .route("/destinations/{id}/disable", post(deliveries_api::disable))
        .route("/destinations/{id}/recover", post(deliveries_api::recover))
        .route("/destinations/{id}/secret", get(deliveries_api::get_secret))
        .route(
            "/destinations/{id}/secret/rotate",
            post(deliveries_api::rotate_secret),
        )
        .route("/agents", get(agents::list).post(agents::create))
        .route(
            "/agents/{name}",
            get(agents::get).put(agents::put).delete(agents::delete),
        )
        .route("/agents/{name}/tasks/lease", post(agents::lease))
        .route("/tasks", get(agents::list_tasks))
        .route("/tasks/{id}", get(agents::get_task))
        .route("/tasks/{id}/heartbeat", post(agents::heartbeat))
        .route("/tasks/{id}/complete", post(agents::complete))
        .route("/tasks/{id}/fail", post(agents::fail))
        .route("/questions/{id}", get(questions::get))
        .route("/questions/{id}/wait", get(questions::wait))
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
