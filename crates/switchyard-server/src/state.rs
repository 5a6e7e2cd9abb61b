//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use switchyard_engine::Engine;

/// The engine and the metrics registry, cheap to clone into each request: axum
/// clones the state several times per request, so the engine (whose handle holds
/// a dozen fields) sits behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub metrics: PrometheusHandle,
}
