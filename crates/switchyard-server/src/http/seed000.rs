//! Seed 000's endpoints, as its users try them (docs/hitl.md, "Seed 000
//! endpoints"): CrewAI's events and seed 000's checkpoint webhook
//! (`POST /webhook/crewai`), the feedback that decides a checkpoint
//! (`POST /webhook/feedback`), a checkpoint and a kickoff's execution
//! (`GET /webhook/checkpoint/{checkpoint_id}`, `GET /webhook/status/{kickoff_id}`),
//! and `GET /health` with the pending count.
//!
//! The feedback and read routes sit behind the `/api` guard (`auth::RULES` says
//! who may call them); `/webhook/crewai` is an ingest endpoint, verified like any.

use std::net::SocketAddr;

use axum::body::Body as RawBody;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchyard_engine::executions::parse_feedback;
use switchyard_engine::ingest::Endpoint;

use crate::http::api::checkpoints::{refused, view};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Body, Path};
use crate::http::ingest::{answer, receive, Refused};
use crate::http::views::{
    CrewaiAnswer, ExecutionView, FeedbackAnswer, IngestAnswer, SeedCheckpointView, SeedHealth,
    StoreHealth,
};
use crate::state::AppState;

/// `POST /webhook/crewai?event=task|step|crew`: CrewAI's task, step and crew
/// events, and seed 000's `checkpoint.required`. The event is stored; then its
/// checkpoint is opened and its execution updated, and only then answered (202,
/// or 200 for a redelivery, which still does whatever the first one could not).
#[utoipa::path(
    post,
    path = "/webhook/crewai",
    tag = "ingest",
    params(("event" = Option<String>, Query, description = "`task`, `step` or `crew`")),
    request_body(content = Object, description = "CrewAI's event JSON"),
    responses(
        (status = 202, description = "Stored", body = CrewaiAnswer),
        (status = 200, description = "A redelivery (or a command's answer)", body = CrewaiAnswer),
        Refused
    ),
)]
pub async fn crewai(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let endpoint = Endpoint::Default { provider: "crewai" };
    let (accepted, bytes) = match receive(&st, endpoint, peer, &uri, &headers, body).await {
        Ok(received) => received,
        Err(refused) => return refused,
    };
    let checkpoint = match st
        .engine
        .apply_crewai_event(&accepted.event_id, uri.query(), &bytes)
        .await
    {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if accepted.reply.is_some() || accepted.respond.is_some() {
        // A command chose the answer.
        return answer(accepted);
    }
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = CrewaiAnswer {
        status: "received",
        ingest: IngestAnswer {
            event_id: accepted.event_id,
            duplicate: accepted.duplicate,
            matched: accepted.matched,
        },
        checkpoint_id: checkpoint.map(|c| c.checkpoint_id),
    };
    (status, Json(body)).into_response()
}

/// `POST /webhook/crewai/human-input`: CrewAI's human-input webhook (bearer
/// `WEBHOOK_SECRET`, verified like `/webhook/crewai`). Stored as a task event,
/// then opens a checkpoint with a CrewAI resume spec: 201 (200 when the same
/// request was seen before) with its `checkpoint_id`.
#[utoipa::path(
    post,
    path = "/webhook/crewai/human-input",
    tag = "ingest",
    request_body(content = Object, description = "CrewAI's human-input request"),
    responses(
        (status = 201, description = "Stored; a checkpoint is open", body = CrewaiAnswer),
        (status = 200, description = "Seen before", body = CrewaiAnswer),
        Refused
    ),
)]
pub async fn human_input(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let endpoint = Endpoint::Default { provider: "crewai" };
    // The provider reads the event kind from the query: a human-input request is
    // about a task.
    let uri = Uri::from_static("/webhook/crewai/human-input?event=task");
    let (accepted, bytes) = match receive(&st, endpoint, peer, &uri, &headers, body).await {
        Ok(received) => received,
        Err(refused) => return refused,
    };
    let (c, created) = match st.engine.open_human_input(&accepted.event_id, &bytes).await {
        Ok(opened) => opened,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = CrewaiAnswer {
        status: "received",
        ingest: IngestAnswer {
            event_id: accepted.event_id,
            duplicate: accepted.duplicate,
            matched: accepted.matched,
        },
        checkpoint_id: Some(c.checkpoint_id),
    };
    (status, Json(body)).into_response()
}

/// `POST /webhook/feedback` (seed 000); fields it does not know are ignored.
#[derive(Debug, utoipa::ToSchema)]
pub struct FeedbackBody {
    pub checkpoint_id: String,
    /// `continue` (approve), `stop` (reject), `revise` (edit; needs `feedback`) or
    /// `skip` (approve).
    #[schema(pattern = "^(continue|stop|revise|skip)$")]
    pub action: String,
    pub feedback: Option<String>,
    /// Who decided; seed 000's `user_id` also works. The key's id when absent.
    pub by: Option<String>,
}

/// `POST /webhook/feedback {"checkpoint_id", "action", "feedback"?}`: 200
/// `{"status": "feedback_received", "checkpoint_id", …}`; 400 for a missing or
/// wrong field, 404 for an unknown checkpoint, 409 (with the checkpoint) when it
/// is decided already.
#[utoipa::path(
    post,
    path = "/webhook/feedback",
    tag = "seed 000",
    request_body(content = FeedbackBody),
    responses(
        (status = 200, description = "The checkpoint is decided", body = FeedbackAnswer),
        (status = 404, description = "No such checkpoint"),
        (status = 409, description = "Decided already; the body carries the checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn feedback(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> Result<Json<FeedbackAnswer>, ApiError> {
    let f = parse_feedback(&body)?;
    match st.engine.feedback(&f, &caller.who()).await {
        Ok(c) => Ok(Json(FeedbackAnswer {
            status: "feedback_received",
            checkpoint_id: c.checkpoint_id.clone(),
            action: f.action.as_str(),
            checkpoint: view(&st, &c),
        })),
        Err(r) => Err(refused(&st, r)),
    }
}

/// `GET /webhook/checkpoint/{checkpoint_id}`.
#[utoipa::path(
    get,
    path = "/webhook/checkpoint/{id}",
    tag = "seed 000",
    params(("id" = String, Path, description = "The checkpoint id")),
    responses(
        (status = 200, description = "The checkpoint with seed 000's names", body = SeedCheckpointView),
        (status = 404, description = "No such checkpoint")
    ),
    security(("bearer" = [])),
)]
pub async fn checkpoint(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SeedCheckpointView>, ApiError> {
    let c = st.engine.checkpoint(&id).await?;
    Ok(Json(SeedCheckpointView::new(
        &c,
        &st.engine.config.delivery.public_url,
    )))
}

/// `GET /webhook/status/{kickoff_id}`: the kickoff's execution.
#[utoipa::path(
    get,
    path = "/webhook/status/{kickoff_id}",
    tag = "seed 000",
    params(("kickoff_id" = String, Path, description = "The CrewAI kickoff id")),
    responses(
        (status = 200, description = "The kickoff's execution", body = ExecutionView),
        (status = 404, description = "Nothing is known of this kickoff")
    ),
    security(("bearer" = [])),
)]
pub async fn status(
    State(st): State<AppState>,
    Path(kickoff_id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let x = st.engine.execution(&kickoff_id).await?;
    Ok(Json(ExecutionView::from(&x)))
}

/// `GET /health`: 200 `healthy` with the count of pending checkpoints, or 503
/// `unhealthy` when the store does not answer. (`/healthz` has the workers.)
#[utoipa::path(
    get,
    path = "/health",
    tag = "seed 000",
    responses(
        (status = 200, description = "Healthy, with the pending count", body = SeedHealth),
        (status = 503, description = "The store does not answer", body = SeedHealth)
    ),
)]
pub async fn health(State(st): State<AppState>) -> Response {
    let pending = st.engine.pending_checkpoints().await.ok();
    let ok = pending.is_some();
    let body = SeedHealth {
        status: if ok { "healthy" } else { "unhealthy" },
        pending_checkpoints: pending,
        service: "switchyard",
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            kind: st.engine.store.kind(),
            ok,
        },
        timestamp: switchyard_engine::time::rfc3339(switchyard_store::now_micros()),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
