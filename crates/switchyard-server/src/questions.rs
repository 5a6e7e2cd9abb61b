//! Questions opened by `ask`: `GET /api/questions/{id}` and the long-poll
//! `GET /api/questions/{id}/wait?timeout=SECS`, which answers as soon as the next
//! reply on the question's thread (from someone other than the asker) arrives.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::Question;
use switchyard_store::QuestionStatus;

use crate::api::rfc3339;
use crate::error::ApiError;
use crate::AppState;

pub fn question_json(q: &Question) -> Value {
    json!({
        "question_id": q.question_id,
        "status": q.status,
        "question": q.question,
        "event_id": q.event_id,
        "webhook_id": q.webhook_id,
        "command_id": q.command_id,
        "thread_key": q.thread_key,
        "answer": q.answer,
        "answer_event_id": q.answer_event_id,
        "answered_by": q.answered_by,
        "created_at": rfc3339(q.created_at),
        "answered_at": q.answered_at.map(rfc3339),
    })
}

async fn load(st: &AppState, id: &str) -> Result<Question, ApiError> {
    st.store
        .get_question(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_question", format!("no question {id:?}")))
}

pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(question_json(&load(&st, &id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    timeout: Option<u64>,
}

/// Waits up to `timeout` seconds (default 30, at most 60) for an answer; answers
/// with the question either way — `status` tells which.
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<WaitParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let timeout = p.timeout.unwrap_or(30);
    if timeout > 60 {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            "timeout must be at most 60 seconds",
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = st.events_committed.notified();
        let q = load(&st, &id).await?;
        let now = tokio::time::Instant::now();
        if q.status != QuestionStatus::Open || now >= deadline {
            return Ok(Json(question_json(&q)));
        }
        let nap = (deadline - now).min(Duration::from_millis(250));
        tokio::select! {
            _ = notified => {},
            _ = tokio::time::sleep(nap) => {},
        }
    }
}
