//! Questions opened by `ask`: `GET /api/questions/{id}` and the long-poll
//! `GET /api/questions/{id}/wait?timeout=SECS`, which answers as soon as the next
//! reply on the question's thread (from someone other than the asker) arrives.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::http::error::{ApiError, Path, Query};
use crate::http::views::QuestionView;
use crate::state::AppState;

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
