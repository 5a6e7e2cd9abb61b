//! `/api/runs`: workflow runs — the list, one run with its node steps, waiting
//! for one, cancel and restart — and `POST /api/workflows/{name}/runs`, which
//! starts one. Reads are open to `read` keys.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use switchyard_store::{RunQuery, RunStatus};

use super::{check_cursor, check_limit, check_status, next_cursor};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, OptionalJson, Path, Query};
use crate::http::views::{RunPage, RunStarted, RunView};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    workflow: Option<String>,
    #[param(value_type = Option<switchyard_store::RunStatus>)]
    status: Option<String>,
    event_id: Option<String>,
    cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/runs?workflow=&status=&event_id=`: newest first, paged.
#[utoipa::path(
    get,
    path = "/api/runs",
    tag = "runs",
    params(ListParams),
    responses(
        (status = 200, description = "A page of runs, newest first, without steps", body = RunPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let q = RunQuery {
        workflow: p.workflow,
        status: check_status(p.status.as_deref(), RunStatus::ALL)?,
        event_id: p.event_id,
        parent_run_id: None,
        before: check_cursor("run", p.cursor)?,
        limit,
    };
    let rows = st.engine.list_runs(&q).await?;
    Ok(Json(RunPage {
        next_cursor: next_cursor(&rows, limit, |r| &r.run_id),
        runs: rows.iter().map(RunView::summary).collect(),
    }))
}

/// `GET /api/runs/{id}`: the run, each node step, its child runs.
#[utoipa::path(
    get,
    path = "/api/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (`run_…`)")),
    responses(
        (status = 200, description = "The run with its steps and children", body = RunView),
        (status = 404, description = "No such run")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(st.engine.run_view(&id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Seconds to wait, at most 60 (30 when absent).
    #[param(maximum = 60)]
    timeout: Option<u64>,
}

/// `GET /api/runs/{id}/wait?timeout=SECS` (default 30, at most 60): the run once
/// finished, or as it is when the time is up.
#[utoipa::path(
    get,
    path = "/api/runs/{id}/wait",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (`run_…`)"), WaitParams),
    responses(
        (status = 200, description = "The run, finished or as it is when the time is up", body = RunView),
        (status = 404, description = "No such run")
    ),
    security(("bearer" = [])),
)]
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WaitParams>,
) -> Result<Json<RunView>, ApiError> {
    let timeout = Duration::from_secs(p.timeout.unwrap_or(30).min(60));
    st.engine.wait_run(&id, timeout).await?;
    Ok(Json(st.engine.run_view(&id).await?))
}

/// `POST /api/runs/{id}/cancel`: the run, cancelled (with what it waited for);
/// 409 when it had finished.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (`run_…`)")),
    responses(
        (status = 200, description = "Cancelled", body = RunView),
        (status = 404, description = "No such run"),
        (status = 409, description = "The run had finished")
    ),
    security(("bearer" = [])),
)]
pub async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    st.engine.cancel_run(&id, &caller.who()).await?;
    Ok(Json(st.engine.run_view(&id).await?))
}

/// `POST /api/runs/{id}/restart`: 202 with a new run of the same inputs, linked to
/// the old one (`restarted_from`).
#[utoipa::path(
    post,
    path = "/api/runs/{id}/restart",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (`run_…`)")),
    responses(
        (status = 202, description = "A new run of the same inputs started", body = RunStarted),
        (status = 404, description = "No such run or its workflow")
    ),
    security(("bearer" = [])),
)]
pub async fn restart(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let run = st.engine.restart_run(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted::of(&run))))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    inputs: Option<Value>,
}

/// `POST /api/workflows/{name}/runs {"inputs"}`: 202 `{"run_id", "status"}`; 404
/// for an unknown workflow, 400 naming each input that does not fit. No body (or
/// no `inputs`) is no inputs: a workflow whose fields all have defaults runs.
#[utoipa::path(
    post,
    path = "/api/workflows/{name}/runs",
    tag = "runs",
    params(("name" = String, Path, description = "The workflow name")),
    request_body(content = Option<StartBody>, description = "Optional: no body is no inputs"),
    responses(
        (status = 202, description = "Started", body = RunStarted),
        (status = 404, description = "No such workflow")
    ),
    security(("bearer" = [])),
)]
pub async fn start(
    State(st): State<AppState>,
    Path(name): Path<String>,
    OptionalJson(body): OptionalJson<StartBody>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let inputs = body
        .inputs
        .unwrap_or_else(|| Value::Object(Default::default()));
    let run = st.engine.start_run(&name, Some(&inputs)).await?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted::of(&run))))
}
