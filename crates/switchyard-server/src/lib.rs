//! Switchyard's HTTP server: axum only, and thin. Every handler parses its request,
//! calls one service of the [`switchyard_engine::Engine`] and answers a typed view
//! (see [`http`]).
//!
//! [`App::build`] opens and migrates the store and starts the engine; [`App::run`]
//! serves on a listener until a shutdown future resolves, then drains in-flight
//! requests and the engine's background work before returning — so tests pass a
//! port-0 listener and a oneshot, and the binary passes SIGINT/SIGTERM. The accept
//! loop ([`serve`]) bounds how long a client may take to send its headers and how
//! many connections are open; the layers every answer goes through (request id,
//! tracing span, panics as JSON, body read timeout) are in [`http::layers`].

pub mod http;
pub mod router;
pub mod serve;
pub mod state;

use std::future::Future;
use std::sync::Arc;

use switchyard_engine::{Background, Engine, StartError};
use switchyard_store::Store;
use tokio::net::TcpListener;

pub use state::AppState;
pub use switchyard_engine::Config;

use crate::http::ops;
use crate::router::router;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("store: {0}")]
    Store(#[from] switchyard_store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A server ready to run.
pub struct App {
    state: AppState,
    background: Background,
}

impl App {
    /// Opens the store named by the config, migrates it, and starts the engine.
    pub async fn build(config: Config) -> Result<Self, ServeError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = switchyard_store::open(&config.database_url).await?;
        store.migrate().await?;
        Self::with_store(config, store).await
    }

    /// Builds on a store that is already open and migrated.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, ServeError> {
        // The recorder first: the engine makes its zero series as it starts.
        let metrics = ops::metrics_handle();
        let (engine, background) = Engine::start(config, store).await?;
        Ok(Self {
            state: AppState {
                engine: Arc::new(engine),
                metrics,
            },
            background,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// Serves until `shutdown` resolves (see [`serve::serve`]), then stops accepting,
    /// lets in-flight requests finish (their events are committed before they are
    /// answered), and stops the engine's background work.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self { state, background } = self;
        let limits = serve::Limits::from_config(&state.engine.config);
        let hub = state.engine.hub.clone();
        let shutdown = async move {
            shutdown.await;
            // Long-polls answer now, so the drain below does not wait them out.
            hub.close();
        };
        serve::serve(listener, router(state), limits, shutdown).await?;
        // Every request has been answered; now the background work stops in order.
        background.stop().await;
        Ok(())
    }
}
