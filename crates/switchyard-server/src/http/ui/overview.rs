//! `/ui/`: the last hour at a glance (events per minute, error rate, delivery
//! latency, queue depth: [`super::charts`]), what needs attention — pending
//! checkpoints, failing destinations — and where each page is.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::context;

use super::viewer::Viewer;
use super::{base, page, UiError};
use crate::state::AppState;

/// `GET /ui/`.
pub async fn overview(State(st): State<AppState>, v: Viewer) -> Result<Response, UiError> {
    let pending = if v.may(&Method::GET, "/api/checkpoints") {
        let q = switchyard_store::CheckpointQuery {
            status: Some(switchyard_store::CheckpointStatus::Pending),
            kickoff_id: None,
            name: None,
            before: None,
            limit: 100,
        };
        Some(st.engine.list_checkpoints(&q).await?.len())
    } else {
        None
    };
    let webhooks = v
        .may(&Method::GET, "/api/webhooks")
        .then(|| st.engine.registry.all().len());
    let failing = if v.may(&Method::GET, "/api/destinations") {
        let rows = st.engine.list_destinations().await?;
        let health = super::destinations::health(&st, &rows).await?;
        Some(health.iter().filter(|h| h.health == "failing").count())
    } else {
        None
    };
    let charts = if v.may(&Method::GET, "/api/activity") {
        Some(super::charts::charts(&st.engine.activity().await?))
    } else {
        None
    };
    page(
        "overview.html",
        context! {
            charts => charts,
            pending => pending,
            webhooks => webhooks,
            failing => failing,
            ..base(&v, "overview")
        },
    )
}
