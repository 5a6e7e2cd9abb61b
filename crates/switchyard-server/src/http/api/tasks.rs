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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    agent: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/tasks?agent=&status=`: newest first.
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
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(&st.engine.task(&id).await?)))
}

/// `POST /api/tasks/{id}/heartbeat {"lease_id", "lease_seconds"?}`.
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
pub async fn fail(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<FailInput>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(TaskView::from(&st.engine.fail_task(&id, b).await?)))
}
