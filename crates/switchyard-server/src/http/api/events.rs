//! `/api/events` (the event log, newest first, filtered, a page at a time),
//! `/api/events/{id}` and `/api/rejections` (the audit log of refused requests).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchyard_store::EventQuery;

use super::{check_cursor, check_limit, next_cursor};
use crate::http::error::{ApiError, Path, Query};
use crate::http::views::{EventPage, EventSummaryView, EventView, RejectionList};
use crate::state::AppState;

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

/// `GET /api/events`.
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let q = EventQuery {
        provider: p.provider,
        event_type: p.event_type,
        webhook_id: p.webhook_id,
        delivery_id: p.delivery_id,
        before: check_cursor("evt", p.cursor)?,
        limit,
    };
    let events = st.engine.store.list_events(&q).await?;
    Ok(Json(EventPage {
        next_cursor: next_cursor(&events, limit, |e| &e.event_id),
        events: events.iter().map(EventSummaryView::from).collect(),
    }))
}

/// `GET /api/events/{id}`: one event with its headers and payload.
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let e = st
        .engine
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_event", format!("no event {id:?}")))?;
    Ok(Json(EventView::from(&e)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionParams {
    limit: Option<i64>,
}

/// `GET /api/rejections`: newest first.
pub async fn rejections(
    State(st): State<AppState>,
    Query(p): Query<RejectionParams>,
) -> Result<Json<RejectionList>, ApiError> {
    let rows = st
        .engine
        .store
        .list_rejections(check_limit(p.limit)?)
        .await?;
    Ok(Json(RejectionList {
        rejections: rows.into_iter().map(Into::into).collect(),
    }))
}
