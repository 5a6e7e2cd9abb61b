//! The ingest endpoints. Each request goes through the same steps, in this order:
//! resolve the webhook (404), read the body within the limit (413), then the
//! engine verifies the signature on the raw bytes (401), parses and normalizes (415,
//! 400), plans and commits; the answer comes only once the event is durable (202,
//! or 200 for a redelivery). A refused request stores no event; it is written to the
//! audit log without its body. (`/webhook/crewai` is seed 000's: `seed000.rs`.)

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use switchyard_engine::telemetry;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchyard_engine::ingest::{Accepted, Endpoint, Refusal, Request};
use switchyard_engine::Error;

use crate::http::error::{is_body_timeout, status_of, ApiError, Path};
use crate::http::views::{ErrorBody, IngestAnswer, WorkflowResult};
use crate::state::AppState;

/// The refusals every ingest route can answer, for their OpenAPI `responses`
/// (each with the one error body).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only its derived documentation is used
pub enum Refused {
    #[response(status = 401, description = "The signature (or token) does not verify")]
    Unverified(ErrorBody),
    #[response(status = 403, description = "The client address is not allowed")]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "No such provider or webhook, or it is disabled"
    )]
    Unknown(ErrorBody),
    #[response(status = 413, description = "The body is over the limit")]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "The content type is not one the provider sends"
    )]
    WrongType(ErrorBody),
    #[response(status = 429, description = "Over the webhook's rate limit")]
    Limited(ErrorBody),
}

/// `POST /webhooks/{provider}`: the provider's default webhook, configured from env.
#[utoipa::path(
    post,
    path = "/webhooks/{provider}",
    tag = "ingest",
    params(("provider" = String, Path, description = "A provider: `github`, `gitlab`, `jira`, `notion`, `slack`, `stripe`, `shopify`, `sentry`, `linear`, `standard`, `generic`, `crewai`"), ("wait" = Option<u64>, Query, maximum = 60, description = "Seed 003: wait up to this many seconds for the run the event starts")),
    request_body(content = Object, description = "The provider's event, as it sends it"),
    responses(
        (status = 202, description = "Stored", body = IngestAnswer),
        (status = 200, description = "A redelivery (`duplicate`), a `respond` command's answer, or with `?wait` the finished run", body = IngestAnswer),
        Refused
    ),
)]
pub async fn default_endpoint(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(
        &st,
        Endpoint::Default {
            provider: &provider,
        },
        peer,
        &uri,
        &headers,
        body,
    )
    .await
}

/// `POST /webhooks/{provider}/{webhook_id}`: a registered webhook.
#[utoipa::path(
    post,
    path = "/webhooks/{provider}/{webhook_id}",
    tag = "ingest",
    params(("provider" = String, Path, description = "A provider: `github`, `gitlab`, `jira`, `notion`, `slack`, `stripe`, `shopify`, `sentry`, `linear`, `standard`, `generic`, `crewai`"), ("webhook_id" = String, Path, description = "A registered webhook's id"), ("wait" = Option<u64>, Query, maximum = 60, description = "Seed 003: wait up to this many seconds for the run the event starts")),
    request_body(content = Object, description = "The provider's event, as it sends it"),
    responses(
        (status = 202, description = "Stored", body = IngestAnswer),
        (status = 200, description = "A redelivery (`duplicate`), a `respond` command's answer, or with `?wait` the finished run", body = IngestAnswer),
        Refused
    ),
)]
pub async fn stored_endpoint(
    State(st): State<AppState>,
    Path((provider, webhook_id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = Endpoint::Stored {
        provider: &provider,
        webhook_id: &webhook_id,
    };
    handle(&st, endpoint, peer, &uri, &headers, body).await
}

async fn handle(
    st: &AppState,
    endpoint: Endpoint<'_>,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    // Seed 003's `?wait=SECONDS`: checked before anything is stored.
    let wait = match wait_param(uri.query()) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    match receive(st, endpoint, peer, uri, headers, body).await {
        Ok((accepted, _)) => match (wait, started_run(&accepted)) {
            (Some(secs), Some(run_id)) => waited(st, accepted, &run_id, secs).await,
            _ => answer(accepted),
        },
        Err(refused) => refused,
    }
}

/// The most `?wait` waits.
const MAX_WAIT_SECS: u64 = 60;

/// `?wait=SECONDS` (0 to 60; more is 60); 400 `invalid_wait` when it is no number.
fn wait_param(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(q) = query else { return Ok(None) };
    let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "wait") else {
        return Ok(None);
    };
    v.parse::<u64>()
        .map(|s| Some(s.min(MAX_WAIT_SECS)))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_wait",
                "wait must be a number of seconds (at most 60)",
            )
        })
}

/// The first run the event started, if any.
fn started_run(a: &Accepted) -> Option<String> {
    a.matched
        .as_array()?
        .iter()
        .find_map(|m| m.get("run_id").and_then(|r| r.as_str()).map(str::to_owned))
}

/// Seed 003's synchronous answer: once the run finished within `secs`, 200 with its
/// final state (`"status": "failed"` and `"error"` for a failed run: the event
/// was accepted, the run failed); otherwise the 202 form.
async fn waited(st: &AppState, accepted: Accepted, run_id: &str, secs: u64) -> Response {
    match st
        .engine
        .wait_run(run_id, std::time::Duration::from_secs(secs))
        .await
    {
        Ok(run) if run.status.is_terminal() => (
            StatusCode::OK,
            Json(WorkflowResult::of(&run, accepted.event_id)),
        )
            .into_response(),
        _ => answer(accepted),
    }
}

/// Takes a request through the pipeline: the committed event and the body it
/// carried, or the refusal's answer (recorded in the audit log). For handlers
/// that do more with an event once it is stored (seed 000's `/webhook/crewai`).
pub(crate) async fn receive(
    st: &AppState,
    endpoint: Endpoint<'_>,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Accepted, bytes::Bytes), Response> {
    let started = Instant::now();
    let engine = &st.engine;
    let client = engine.client_ip(peer.ip(), headers);
    let target = engine
        .resolve(endpoint)
        .and_then(|t| engine.admit(&t, client).map(|()| t));
    let provider_label = match &target {
        Ok(t) => t.provider.name(),
        Err(_) => "unknown",
    };
    metrics::counter!(telemetry::WEBHOOKS_RECEIVED, "provider" => provider_label).increment(1);
    let result = match target {
        Ok(t) => match read_body(headers, body, engine.config.max_body_bytes).await {
            Ok(bytes) => {
                let req = Request {
                    headers,
                    query: uri.query(),
                    body: &bytes,
                };
                engine.accept(&t, req).await.map(|a| (a, bytes))
            }
            Err(e) => Err(engine.refusal(&t, e)),
        },
        Err(r) => Err(r),
    };
    let result = match result {
        Ok(received) => Ok(received),
        Err(refusal) => Err(refuse(st, refusal, client).await),
    };
    metrics::histogram!(telemetry::INGEST_DURATION, "provider" => provider_label)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Reads the body, refusing it (413) as soon as it is known to be over `limit`, or
/// (408) when it stalls past the body read timeout.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<bytes::Bytes, Error> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_body_timeout(&e) {
            Error::body_timeout()
        } else {
            Error::too_large(limit)
        }
    })
}

/// The answer to a stored event.
pub(crate) fn answer(a: Accepted) -> Response {
    if let Some(v) = a.reply {
        return (StatusCode::OK, Json(v)).into_response();
    }
    if let Some(text) = a.respond {
        // A respond command's rendered template is the answer: JSON when it parses.
        return match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.is_object() || v.is_array() => (StatusCode::OK, Json(v)).into_response(),
            _ => (
                StatusCode::OK,
                [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response(),
        };
    }
    let status = if a.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = IngestAnswer {
        event_id: a.event_id,
        duplicate: a.duplicate,
        matched: a.matched,
    };
    (status, Json(body)).into_response()
}

/// Answers a refusal after recording it in the audit log.
async fn refuse(st: &AppState, r: Refusal, client: IpAddr) -> Response {
    let status = status_of(r.error.kind);
    st.engine
        .record_refusal(&r, status.as_u16(), Some(client))
        .await;
    ApiError::from(r.error).into_response()
}
