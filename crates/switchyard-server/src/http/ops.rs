//! Operational endpoints: health (`/healthz`, and `/` as seed 004 shows) and
//! Prometheus metrics (`/metrics`).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::views::{Health, StoreHealth};
use crate::state::AppState;

/// The Prometheus recorder for this process, installed once.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = recorder().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's);
            // then this handle renders nothing, which is better than failing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The recorder's settings: latency buckets for `_seconds` histograms and batch
/// sizes for the writer's.
pub fn recorder() -> PrometheusBuilder {
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("switchyard_write_batch_size".into()),
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            )
        });
    builder.unwrap_or_else(|_| PrometheusBuilder::new())
}

/// `GET /healthz` and `GET /`: 200 when the store answers and every background
/// worker runs, else 503 naming what is down.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses(
        (status = 200, description = "The store answers and every worker runs", body = Health),
        (status = 503, description = "Something is down", body = Health)
    ),
)]
pub async fn health(State(st): State<AppState>) -> Response {
    let store = &st.engine.store;
    let store_ok = store.ping().await.is_ok();
    let workers = st.engine.workers.snapshot();
    let workers_down: Vec<String> = workers
        .iter()
        .filter(|(_, h)| !h.up)
        .map(|(n, _)| n.clone())
        .collect();
    let ok = store_ok && workers_down.is_empty();
    let body = Health {
        status: if ok { "ok" } else { "degraded" },
        service: "switchyard",
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            kind: store.kind(),
            ok: store_ok,
        },
        workers: workers.into_iter().map(|(n, h)| (n, h.into())).collect(),
        workers_down,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics` in Prometheus text format.
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}
