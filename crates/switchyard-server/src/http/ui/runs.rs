//! `/ui/workflows` (the workflow definitions, the files that did not load, and
//! recent runs) and `/ui/runs/{id}` (a run's node timeline: inputs, outputs,
//! duration, error), with Cancel for a live run and Restart for a finished one —
//! shown only to keys the API lets do them.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use switchyard_engine::runs::RunView;
use switchyard_store::RunQuery;

use super::viewer::Viewer;
use super::{base, forbidden, form, page, UiError};
use crate::http::error::{Body, Path};
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
    // Where the stream stands before the run is read: a live run's page follows it.
    let stream_after = st.engine.stream_start(None).await?;
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
            can_cancel => !r.status.is_terminal() && v.may(&Method::POST, "/api/runs/{id}/cancel"),
            can_restart => r.status.is_terminal() && v.may(&Method::POST, "/api/runs/{id}/restart"),
            live => !r.status.is_terminal(),
            stream_after => stream_after,
            r => Value::from_serialize(&r),
            nodes => Value::from_serialize(&nodes),
            inputs => pretty(&r.inputs),
            state => pretty(&r.state),
            ..base(&v, "workflows")
        },
    )
}

/// `POST /ui/runs/{id}/cancel` (`csrf_token`): cancels the run (and what it waits
/// for), then shows it again.
pub async fn cancel(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    if !v.may(&Method::POST, "/api/runs/{id}/cancel") {
        return Err(forbidden("this key may not cancel runs"));
    }
    st.engine.cancel_run(&id, &v.who()).await?;
    Ok(Redirect::to(&format!("/ui/runs/{id}")).into_response())
}

/// `POST /ui/runs/{id}/restart` (`csrf_token`): starts the run again with the same
/// inputs and shows the new run.
pub async fn restart(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    if !v.may(&Method::POST, "/api/runs/{id}/restart") {
        return Err(forbidden("this key may not restart runs"));
    }
    let run = st.engine.restart_run(&id).await?;
    Ok(Redirect::to(&format!("/ui/runs/{}", run.run_id)).into_response())
}
