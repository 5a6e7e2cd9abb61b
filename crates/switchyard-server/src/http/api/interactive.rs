//! `/api/webhooks/{id}/comment|ask|respond` (seed 002): what an agent sends back
//! about an event. `Idempotency-Key` makes a retried call create nothing new.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;
use switchyard_core::routing::FieldError;
use switchyard_engine::interactive::Interaction;
use switchyard_engine::Error;

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Body, Path};
use crate::http::views::InteractionView;
use crate::state::AppState;

/// `POST /api/webhooks/{id}/comment`: what the handler reads.
#[derive(Debug, utoipa::ToSchema)]
pub struct CommentBody {
    /// The event whose thread is commented on.
    pub event_id: String,
    /// The comment's text.
    pub message: String,
}

/// `POST /api/webhooks/{id}/ask`: what the handler reads.
#[derive(Debug, utoipa::ToSchema)]
pub struct AskBody {
    /// The event whose thread is asked on.
    pub event_id: String,
    /// The question's text.
    pub question: String,
}

/// `POST /api/webhooks/{id}/respond`: what the handler reads.
#[derive(Debug, utoipa::ToSchema)]
pub struct RespondBody {
    /// The event whose sender is answered.
    pub event_id: String,
    /// The answer's text.
    pub response: String,
}

async fn interact(
    st: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    body: bytes::Bytes,
    kind: Interaction,
) -> Result<(StatusCode, Json<InteractionView>), ApiError> {
    let field = kind.field();
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed_body", e.to_string()))?;
    let event_id = v.get("event_id").and_then(Value::as_str);
    let text = v.get(field).and_then(Value::as_str);
    let (Some(event_id), Some(text)) = (event_id, text) else {
        let missing = if event_id.is_none() {
            "event_id"
        } else {
            field
        };
        return Err(
            Error::invalid(vec![FieldError::new(missing, "is required (a string)")]).into(),
        );
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let agent = caller.0.agent();
    let done = st
        .engine
        .interact(&id, kind, event_id, text, key, agent)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(done.into())))
}

/// `POST /api/webhooks/{id}/comment {"event_id", "message"}`.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/comment",
    tag = "interactive",
    params(("id" = String, Path, description = "The webhook id"), ("Idempotency-Key" = Option<String>, Header, description = "A retried call with the same key creates nothing new")),
    request_body(content = CommentBody),
    responses(
        (status = 202, description = "Queued for delivery", body = InteractionView),
        (status = 404, description = "No such webhook or event"),
        (status = 409, description = "The idempotency key was used for another call")
    ),
    security(("bearer" = [])),
)]
pub async fn comment(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<InteractionView>), ApiError> {
    interact(st, caller, id, headers, body, Interaction::Comment).await
}

/// `POST /api/webhooks/{id}/ask {"event_id", "question"}`: opens a question.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/ask",
    tag = "interactive",
    params(("id" = String, Path, description = "The webhook id"), ("Idempotency-Key" = Option<String>, Header, description = "A retried call with the same key creates nothing new")),
    request_body(content = AskBody),
    responses(
        (status = 202, description = "Queued for delivery", body = InteractionView),
        (status = 404, description = "No such webhook or event"),
        (status = 409, description = "The idempotency key was used for another call")
    ),
    security(("bearer" = [])),
)]
pub async fn ask(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<InteractionView>), ApiError> {
    interact(st, caller, id, headers, body, Interaction::Ask).await
}

/// `POST /api/webhooks/{id}/respond {"event_id", "response"}`.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/respond",
    tag = "interactive",
    params(("id" = String, Path, description = "The webhook id"), ("Idempotency-Key" = Option<String>, Header, description = "A retried call with the same key creates nothing new")),
    request_body(content = RespondBody),
    responses(
        (status = 202, description = "Queued for delivery", body = InteractionView),
        (status = 404, description = "No such webhook or event"),
        (status = 409, description = "The idempotency key was used for another call")
    ),
    security(("bearer" = [])),
)]
pub async fn respond(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<InteractionView>), ApiError> {
    interact(st, caller, id, headers, body, Interaction::Respond).await
}
