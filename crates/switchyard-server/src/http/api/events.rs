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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/events?provider=&event_type=&webhook_id=&delivery_id=&since=&until=&q=`.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    params(ListParams),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventPage)
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/api/events/{id}",
    tag = "events",
    params(("id" = String, Path, description = "The event id (`evt_…`)")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let e = st.engine.event(&id).await?;
    Ok(Json(EventView::from(&e)))
}

/// `GET /api/events/{id}/caused`: the tasks, deliveries, questions, checkpoints
/// and runs the event caused.
#[utoipa::path(
    get,
    path = "/api/events/{id}/caused",
    tag = "events",
    params(("id" = String, Path, description = "The event id (`evt_…`)")),
    responses(
        (status = 200, description = "What the event caused", body = CausedList),
        (status = 404, description = "No such event")
    ),
    security(("bearer" = [])),
)]
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
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayParams {
    /// Only say what a replay would create; nothing is written.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/events/{id}/replay` (`?dry_run=true` or `{"dry_run": true}`): routes
/// the stored event again with its webhook's current commands; answers what was
/// (or would be) created.
#[utoipa::path(
    post,
    path = "/api/events/{id}/replay",
    tag = "events",
    params(("id" = String, Path, description = "The event id (`evt_…`)"), ReplayParams),
    request_body(content = Option<ReplayParams>, description = "Optional: an empty body is `{\"dry_run\": false}`"),
    responses(
        (status = 200, description = "What the replay created (on a dry run, what it would)", body = ReplayView),
        (status = 404, description = "No such event"),
        (status = 409, description = "The event's webhook is disabled or gone, so it cannot route it")
    ),
    security(("bearer" = [])),
)]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RejectionParams {
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/rejections`: newest first.
#[utoipa::path(
    get,
    path = "/api/rejections",
    tag = "events",
    params(RejectionParams),
    responses(
        (status = 200, description = "Refused requests, newest first", body = RejectionList)
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/api/activity",
    tag = "events",
    responses(
        (status = 200, description = "The last hour a minute at a time, oldest first; the last minute is the one under way", body = ActivityView)
    ),
    security(("bearer" = [])),
)]
pub async fn activity(State(st): State<AppState>) -> Result<Json<ActivityView>, ApiError> {
    let minutes = st.engine.activity().await?;
    Ok(Json(ActivityView {
        minutes: minutes.iter().map(ActivityMinuteView::from).collect(),
    }))
}
