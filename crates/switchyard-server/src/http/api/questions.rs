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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    webhook_id: Option<String>,
    event_id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/questions?status=open|answered&webhook_id=&event_id=`: newest first.
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
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QuestionView>, ApiError> {
    Ok(Json(QuestionView::from(&st.engine.question(&id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    timeout: Option<u64>,
}

/// `GET /api/questions/{id}/wait?timeout=SECS` (default 30, at most 60): answers
/// with the question either way — `status` tells which.
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<WaitParams>,
) -> Result<Json<QuestionView>, ApiError> {
    let timeout = Duration::from_secs(p.timeout.unwrap_or(30));
    let q = st.engine.wait_question(&id, timeout).await?;
    Ok(Json(QuestionView::from(&q)))
}
