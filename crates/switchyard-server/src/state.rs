//! What every handler shares.

use metrics_exporter_prometheus::PrometheusHandle;
use switchyard_engine::Engine;

/// The engine and the metrics registry, cheap to clone into each request.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub metrics: PrometheusHandle,
}
