//! Questions opened by `ask`: the list `GET /api/questions?status=&webhook_id=&event_id=`,
//! `GET /api/questions/{id}` and the long-poll
//! `GET /api/questions/{id}/wait?timeout=SECS`, which answers as soon as the next
//! reply on the question's thread (from someone other than the asker) arrives.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use switchyard_store::{QuestionQuery, QuestionStatus};

use super::{check_cursor, check_limit, check_status, next_cursor};
use crate::http::error::{ApiError, Path, Query};
use crate::http::views::{QuestionPage, QuestionView};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Option<switchyard_store::QuestionStatus>)]
    status: Option<String>,
    webhook_id: Option<String>,
    event_id: Option<String>,
    cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/questions?status=open|answered&webhook_id=&event_id=`: newest first.
#[utoipa::path(
    get,
    path = "/api/questions",
    tag = "questions",
    params(ListParams),
    responses(
        (status = 200, description = "A page of questions, newest first", body = QuestionPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<QuestionPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let status = check_status(p.status.as_deref(), QuestionStatus::ALL)?;
    let q = QuestionQuery {
        status,
        webhook_id: p.webhook_id,
        event_id: p.event_id,
        before: check_cursor("q", p.cursor)?,
        limit,
    };
    let questions = st.engine.list_questions(&q).await?;
    Ok(Json(QuestionPage {
        next_cursor: next_cursor(&questions, limit, |q| &q.question_id),
        questions: questions.iter().map(QuestionView::from).collect(),
    }))
}

/// `GET /api/questions/{id}`.
#[utoipa::path(
    get,
    path = "/api/questions/{id}",
    tag = "questions",
    params(("id" = String, Path, description = "The question id (`q_…`)")),
    responses(
        (status = 200, description = "The question", body = QuestionView),
        (status = 404, description = "No such question")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QuestionView>, ApiError> {
    Ok(Json(QuestionView::from(&st.engine.question(&id).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Seconds to wait, at most 60 (30 when absent).
    #[param(maximum = 60)]
    timeout: Option<u64>,
}

/// `GET /api/questions/{id}/wait?timeout=SECS` (default 30, at most 60): answers
/// with the question either way — `status` tells which.
#[utoipa::path(
    get,
    path = "/api/questions/{id}/wait",
    tag = "questions",
    params(("id" = String, Path, description = "The question id (`q_…`)"), WaitParams),
    responses(
        (status = 200, description = "The question, answered or as it is when the time is up", body = QuestionView),
        (status = 404, description = "No such question")
    ),
    security(("bearer" = [])),
)]
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WaitParams>,
) -> Result<Json<QuestionView>, ApiError> {
    let timeout = Duration::from_secs(p.timeout.unwrap_or(30));
    let q = st.engine.wait_question(&id, timeout).await?;
    Ok(Json(QuestionView::from(&q)))
}
