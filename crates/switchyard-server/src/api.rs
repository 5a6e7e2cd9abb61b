//! The read API under `/api`, behind the admin key: the event log and the audit log
//! of refused requests.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::{Event, EventQuery, EventSummary};

use crate::error::ApiError;
use crate::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    provider: Option<String>,
    event_type: Option<String>,
    webhook_id: Option<String>,
    delivery_id: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<i64>,
}

pub fn check_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// `GET /api/events`: newest first, filtered, a page at a time.
pub async fn list_events(
    State(st): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = check_limit(p.limit)?;
    let q = EventQuery {
        provider: p.provider,
        event_type: p.event_type,
        webhook_id: p.webhook_id,
        delivery_id: p.delivery_id,
        before: p.cursor,
        limit,
    };
    let events = st.store.list_events(&q).await?;
    let next_cursor = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.event_id.clone()))
        .flatten();
    let events: Vec<Value> = events.iter().map(summary_json).collect();
    Ok(Json(json!({"events": events, "next_cursor": next_cursor})))
}

/// `GET /api/events/{id}`: one event with its headers and payload.
pub async fn get_event(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = st
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_event", format!("no event {id:?}")))?;
    Ok(Json(event_json(&e)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionParams {
    limit: Option<i64>,
}

/// `GET /api/rejections`: the audit log of refused requests, newest first.
pub async fn list_rejections(
    State(st): State<AppState>,
    params: Result<Query<RejectionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let rows = st.store.list_rejections(check_limit(p.limit)?).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "at": rfc3339(r.at), "webhook_id": r.webhook_id, "provider": r.provider,
                   "remote_addr": r.remote_addr, "status": r.status, "reason": r.reason, "detail": r.detail})
        })
        .collect();
    Ok(Json(json!({"rejections": rows})))
}

/// Microseconds since the epoch as RFC 3339.
pub fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn summary_json(e: &EventSummary) -> Value {
    json!({
        "id": e.event_id,
        "event_id": e.event_id,
        "webhook_id": e.webhook_id,
        "provider": e.provider,
        "event_type": e.event_type,
        "delivery_id": e.delivery_id,
        "received_at": rfc3339(e.received_at),
        "source": e.source,
        "subject": e.subject,
        "actor": e.actor,
        "thread_key": e.thread_key,
    })
}

fn event_json(e: &Event) -> Value {
    let parse =
        |s: &str| serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned()));
    json!({
        "id": e.event_id,
        "event_id": e.event_id,
        "webhook_id": e.webhook_id,
        "provider": e.provider,
        "event_type": e.event_type,
        "delivery_id": e.delivery_id,
        "received_at": rfc3339(e.received_at),
        "source": e.source,
        "subject": e.subject,
        "actor": e.actor,
        "thread_key": e.thread_key,
        "headers": parse(&e.headers),
        "payload": parse(&e.payload),
        "matched_command": e.matched_command,
        "task_id": e.task_id,
        "response_sent": e.response_sent,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    limit: Option<i64>,
}

/// `GET /api/outbox`: outbound work recorded by routing and the interactive API,
/// newest first (the same rows as `/api/deliveries`, kept for session-one clients).
pub async fn list_outbox(
    State(st): State<AppState>,
    params: Result<Query<OutboxParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let q = switchyard_store::DeliveryQuery {
        limit: check_limit(p.limit)?,
        ..Default::default()
    };
    let rows = st.store.list_deliveries(&q).await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(crate::deliveries_api::delivery_json)
        .collect();
    Ok(Json(json!({"outbox": rows})))
}
