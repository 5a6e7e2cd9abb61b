//! `/api/tasks`: every task, and the calls a lease holder makes — heartbeat,
//! complete (with follow-up actions) and fail. Each names the lease that holds the
//! task; a lost lease is 409.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchyard_engine::tasks::{CompleteInput, FailInput, HeartbeatInput};
use switchyard_store::{TaskQuery, TaskStatus};

use super::{check_cursor, check_limit, check_status, next_cursor};
use crate::http::error::{ApiError, Json as Body, Path, Query};
use crate::http::views::{TaskPage, TaskView};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    agent: Option<String>,
    #[param(value_type = Option<switchyard_store::TaskStatus>)]
    status: Option<String>,
    cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/tasks?agent=&status=`: newest first.
#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tasks, newest first", body = TaskPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<TaskPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let status = check_status(p.status.as_deref(), TaskStatus::ALL)?;
    let q = TaskQuery {
        agent: p.agent,
        status,
        before: check_cursor("task", p.cursor)?,
        limit,
    };
    let tasks = st.engine.list_tasks(&q).await?;
    Ok(Json(TaskPage {
        next_cursor: next_cursor(&tasks, limit, |t| &t.task_id),
        tasks: tasks.iter().map(TaskView::from).collect(),
    }))
}

/// `GET /api/tasks/{id}`.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id (`task_…`)")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(&st.engine.task(&id).await?)))
}

/// `POST /api/tasks/{id}/heartbeat {"lease_id", "lease_seconds"?}`.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/heartbeat",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id (`task_…`)")),
    request_body(content = HeartbeatInput),
    responses(
        (status = 200, description = "Lease extended", body = TaskView),
        (status = 404, description = "No such task"),
        (status = 409, description = "The lease is lost (expired, or another holds the task)")
    ),
    security(("bearer" = [])),
)]
pub async fn heartbeat(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<HeartbeatInput>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(
        &st.engine.heartbeat_task(&id, &b).await?,
    )))
}

/// `POST /api/tasks/{id}/complete {"lease_id", "result"?, "actions"?}`.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/complete",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id (`task_…`)")),
    request_body(content = CompleteInput),
    responses(
        (status = 200, description = "Completed", body = TaskView),
        (status = 404, description = "No such task"),
        (status = 409, description = "The lease is lost (expired, or another holds the task)")
    ),
    security(("bearer" = [])),
)]
pub async fn complete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<CompleteInput>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(
        &st.engine.complete_task(&id, b).await?,
    )))
}

/// `POST /api/tasks/{id}/fail {"lease_id", "error"?, "retry"?}`.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/fail",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id (`task_…`)")),
    request_body(content = FailInput),
    responses(
        (status = 200, description = "Failed, or queued again", body = TaskView),
        (status = 404, description = "No such task"),
        (status = 409, description = "The lease is lost (expired, or another holds the task)")
    ),
    security(("bearer" = [])),
)]
pub async fn fail(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<FailInput>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(&st.engine.fail_task(&id, b).await?)))
}
