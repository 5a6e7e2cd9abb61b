//! `/api/events` (the event log, newest first, filtered, a page at a time),
//! `/api/events/{id}`, what it caused (`/api/events/{id}/caused`), replaying it
//! (`POST /api/events/{id}/replay`, admin keys only) and `/api/rejections` (the
//! audit log of refused requests), and `/api/activity` (the last hour a minute at a
//! time).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchyard_store::EventQuery;

use super::{check_cursor, check_limit, check_time, next_cursor};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, OptionalJson, Path, Query};
use crate::http::views::{
    ActivityMinuteView, ActivityView, CausedList, CausedView, EventPage, EventSummaryView,
    EventView, RejectionList, ReplayView,
};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    provider: Option<String>,
    event_type: Option<String>,
    webhook_id: Option<String>,
    delivery_id: Option<String>,
    /// RFC 3339; events received at or after it.
    since: Option<String>,
    /// RFC 3339; events received at or before it.
    until: Option<String>,
    /// Text the payload contains, ignoring case.
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/events?provider=&event_type=&webhook_id=&delivery_id=&since=&until=&q=`.
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
        since: check_time("since", p.since.as_deref())?,
        until: check_time("until", p.until.as_deref())?,
        text: p.q.filter(|q| !q.is_empty()),
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
    let e = st.engine.event(&id).await?;
    Ok(Json(EventView::from(&e)))
}

/// `GET /api/events/{id}/caused`: the tasks, deliveries, questions, checkpoints
/// and runs the event caused.
pub async fn caused(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CausedList>, ApiError> {
    let items = st.engine.caused(&id).await?;
    Ok(Json(CausedList {
        event_id: id,
        caused: items.iter().map(CausedView::from).collect(),
    }))
}

/// `dry_run`, in the query or the JSON body (either one saying true makes it dry).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayParams {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/events/{id}/replay` (`?dry_run=true` or `{"dry_run": true}`): routes
/// the stored event again with its webhook's current commands; answers what was
/// (or would be) created.
pub async fn replay(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ReplayParams>,
    OptionalJson(body): OptionalJson<ReplayParams>,
) -> Result<Json<ReplayView>, ApiError> {
    let r = st
        .engine
        .replay(&caller.who(), &id, q.dry_run || body.dry_run)
        .await?;
    Ok(Json(ReplayView::from(&r)))
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

/// `GET /api/activity`: events, refusals, delivery attempts and queue depth per
/// minute over the last hour.
pub async fn activity(State(st): State<AppState>) -> Result<Json<ActivityView>, ApiError> {
    let minutes = st.engine.activity().await?;
    Ok(Json(ActivityView {
        minutes: minutes.iter().map(ActivityMinuteView::from).collect(),
    }))
}
