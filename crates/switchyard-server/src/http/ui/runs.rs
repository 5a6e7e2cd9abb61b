//! `/ui/workflows` (the workflow definitions, the files that did not load, and
//! recent runs) and `/ui/runs/{id}` (a run's node timeline: inputs, outputs,
//! duration, error). Read-only in this slice.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::{context, Value};
use switchyard_engine::runs::RunView;
use switchyard_store::RunQuery;

use super::viewer::Viewer;
use super::{base, forbidden, page, UiError};
use crate::http::error::Path;
use crate::http::views::{FileErrorView, WorkflowView};
use crate::state::AppState;

/// Recent runs on the workflows page.
const RUNS: i64 = 50;

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/runs") && v.may(&Method::GET, "/api/workflows") {
        Ok(())
    } else {
        Err(forbidden("this key may not read workflows and runs"))
    }
}

/// `GET /ui/workflows`.
pub async fn workflows(State(st): State<AppState>, v: Viewer) -> Result<Response, UiError> {
    may_read(&v)?;
    let defs: Vec<WorkflowView> = st
        .engine
        .list_workflows()
        .iter()
        .map(|l| WorkflowView::new(l, false))
        .collect();
    let file_errors: Vec<FileErrorView> = st
        .engine
        .workflows
        .file_errors()
        .into_iter()
        .map(Into::into)
        .collect();
    let q = RunQuery {
        workflow: None,
        status: None,
        event_id: None,
        parent_run_id: None,
        before: None,
        limit: RUNS,
    };
    let runs: Vec<RunView> = st
        .engine
        .list_runs(&q)
        .await?
        .iter()
        .map(RunView::summary)
        .collect();
    page(
        "workflows.html",
        context! {
            workflows => Value::from_serialize(&defs),
            file_errors => Value::from_serialize(&file_errors),
            runs => Value::from_serialize(&runs),
            ..base(&v, "workflows")
        },
    )
}

/// `GET /ui/runs/{id}`.
pub async fn run(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let r = st.engine.run_view(&id).await?;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let nodes: Vec<serde_json::Value> = r
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "node_id": n.node_id, "kind": n.kind, "status": n.status,
                "iteration": n.iteration, "attempt": n.attempt,
                "started_at": n.started_at, "duration_ms": n.duration_ms, "error": n.error,
                "inputs": pretty(&n.inputs), "outputs": pretty(&n.outputs),
            })
        })
        .collect();
    page(
        "run.html",
        context! {
            r => Value::from_serialize(&r),
            nodes => Value::from_serialize(&nodes),
            inputs => pretty(&r.inputs),
            state => pretty(&r.state),
            ..base(&v, "workflows")
        },
    )
}
