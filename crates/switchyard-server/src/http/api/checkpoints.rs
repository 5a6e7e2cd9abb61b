//! `/api/checkpoints`: an agent opens a checkpoint and waits
//! (`GET /api/checkpoints/{id}/wait?timeout=SECS`); a person decides
//! (`POST /api/checkpoints/{id}/decision`); the agent that opened it (or an admin)
//! may cancel it. The list, one checkpoint and its history are for read and
//! feedback keys too. The 409s carry the checkpoint as it is under `"checkpoint"`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchyard_core::checkpoint::DecisionInput;
use switchyard_engine::checkpoints::Refusal;
use switchyard_store::{CheckpointQuery, CheckpointStatus};

use super::{check_cursor, check_limit, check_status, next_cursor};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Body, Json as JsonBody, Path, Query};
use crate::http::views::{CheckpointPage, CheckpointView, HistoryPage, HistoryView};
use crate::state::AppState;

pub(crate) fn view(st: &AppState, c: &switchyard_store::Checkpoint) -> CheckpointView {
    CheckpointView::new(c, &st.engine.config.delivery.public_url)
}

/// A refusal as an answer: the error, and the checkpoint when it explains it.
pub(crate) fn refused(st: &AppState, r: Refusal) -> ApiError {
    let e = ApiError::from(r.error);
    match r.checkpoint {
        Some(c) => e.with_checkpoint(view(st, &c)),
        None => e,
    }
}

/// `POST /api/checkpoints`: 201 with the new checkpoint; 200 with the stored one
/// when its `checkpoint_id` exists.
#[utoipa::path(
    post,
    path = "/api/checkpoints",
    tag = "checkpoints",
    request_body(content = switchyard_core::checkpoint::Spec),
    responses(
        (status = 201, description = "Opened", body = CheckpointView),
        (status = 200, description = "A checkpoint with this `checkpoint_id` exists: as stored", body = CheckpointView),
        (status = 409, description = "The `checkpoint_id` exists with another spec")
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> Result<(StatusCode, Json<CheckpointView>), ApiError> {
    let (c, created) = st
        .engine
        .create_checkpoint(&body, &caller.who(), caller.0.agent())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&st, &c))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Option<switchyard_store::CheckpointStatus>)]
    status: Option<String>,
    kickoff_id: Option<String>,
    name: Option<String>,
    cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/checkpoints?status=&kickoff_id=&name=`: newest first.
#[utoipa::path(
    get,
    path = "/api/checkpoints",
    tag = "checkpoints",
    params(ListParams),
    responses(
        (status = 200, description = "A page of checkpoints, newest first", body = CheckpointPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<CheckpointPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let status = check_status(p.status.as_deref(), CheckpointStatus::ALL)?;
    let q = CheckpointQuery {
        status,
        kickoff_id: p.kickoff_id,
        name: p.name,
        before: check_cursor("cpr", p.cursor)?,
        limit,
    };
    let rows = st.engine.list_checkpoints(&q).await?;
    Ok(Json(CheckpointPage {
        next_cursor: next_cursor(&rows, limit, |c| &c.row_id),
        checkpoints: rows.iter().map(|c| view(&st, c)).collect(),
    }))
}

/// `GET /api/checkpoints/{id}`.
#[utoipa::path(
    get,
    path = "/api/checkpoints/{id}",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The checkpoint id")),
    responses(
        (status = 200, description = "The checkpoint", body = CheckpointView),
        (status = 404, description = "No such checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CheckpointView>, ApiError> {
    Ok(Json(view(&st, &st.engine.checkpoint(&id).await?)))
}

/// `GET /api/checkpoints/{id}/history`: every step, oldest first.
#[utoipa::path(
    get,
    path = "/api/checkpoints/{id}/history",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The checkpoint id")),
    responses(
        (status = 200, description = "Every step, oldest first", body = HistoryPage),
        (status = 404, description = "No such checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn history(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HistoryPage>, ApiError> {
    let history = st.engine.checkpoint_history(&id).await?;
    Ok(Json(HistoryPage {
        checkpoint_id: id,
        history: history.iter().map(HistoryView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Seconds to wait, at most 60 (30 when absent).
    #[param(maximum = 60)]
    timeout: Option<u64>,
}

/// `GET /api/checkpoints/{id}/wait?timeout=SECS` (default 30; above 60 is 60):
/// the checkpoint once terminal, or as it is when the time is up.
#[utoipa::path(
    get,
    path = "/api/checkpoints/{id}/wait",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The checkpoint id"), WaitParams),
    responses(
        (status = 200, description = "The checkpoint, decided or as it is when the time is up", body = CheckpointView),
        (status = 404, description = "No such checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WaitParams>,
) -> Result<Json<CheckpointView>, ApiError> {
    let timeout = Duration::from_secs(p.timeout.unwrap_or(30));
    let c = st.engine.wait_checkpoint(&id, timeout).await?;
    Ok(Json(view(&st, &c)))
}

/// `POST /api/checkpoints/{id}/decision {"decision", "comment"?, "edited_context"?,
/// "response"?, "by"?, "action_digest"?}`.
#[utoipa::path(
    post,
    path = "/api/checkpoints/{id}/decision",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The checkpoint id")),
    request_body(content = DecisionInput),
    responses(
        (status = 200, description = "Decided (or an approval counted toward the quorum)", body = CheckpointView),
        (status = 404, description = "No such checkpoint"),
        (status = 409, description = "Decided already, expired or cancelled; the body carries the checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn decide(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<DecisionInput>,
) -> Result<Json<CheckpointView>, ApiError> {
    match st
        .engine
        .decide_checkpoint(&id, &input, &caller.who())
        .await
    {
        Ok(c) => Ok(Json(view(&st, &c))),
        Err(r) => Err(refused(&st, r)),
    }
}

/// `POST /api/checkpoints/{id}/cancel`: 200 cancelled; 409 when already terminal.
#[utoipa::path(
    post,
    path = "/api/checkpoints/{id}/cancel",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The checkpoint id")),
    responses(
        (status = 200, description = "Cancelled", body = CheckpointView),
        (status = 404, description = "No such checkpoint"),
        (status = 409, description = "Already terminal; the body carries the checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CheckpointView>, ApiError> {
    match st.engine.cancel_checkpoint(&id, &caller.who()).await {
        Ok(c) => Ok(Json(view(&st, &c))),
        Err(r) => Err(refused(&st, r)),
    }
}
