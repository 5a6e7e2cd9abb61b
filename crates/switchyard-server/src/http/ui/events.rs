//! `/ui/events` (the event log, newest first, filtered, a page at a time; new
//! events appear at the top of the first page as the stream announces them) and
//! `/ui/events/{id}` (headers, the payload pretty-printed, what matched).

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;
use switchyard_store::EventQuery;

use super::viewer::Viewer;
use super::{base, forbidden, page, UiError};
use crate::http::api::{check_cursor, next_cursor};
use crate::http::error::{Path, Query};
use crate::http::views::{EventSummaryView, EventView};
use crate::state::AppState;

/// Events on one page.
const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct Filters {
    provider: Option<String>,
    event_type: Option<String>,
    cursor: Option<String>,
}

/// An empty filter field means no filter.
fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/events") {
        Ok(())
    } else {
        Err(forbidden("this key may not read events"))
    }
}

/// `GET /ui/events?provider=&event_type=&cursor=`.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let (provider, event_type) = (given(f.provider), given(f.event_type));
    let cursor = check_cursor("evt", given(f.cursor))?;
    let first_page = cursor.is_none();
    // Where the page's live updates start: what commits after this read reaches
    // the page even if its script connects later.
    let stream_after = st.engine.stream_start(None).await?;
    let q = EventQuery {
        provider: provider.clone(),
        event_type: event_type.clone(),
        webhook_id: None,
        delivery_id: None,
        before: cursor,
        limit: PAGE,
    };
    let rows = st.engine.store.list_events(&q).await?;
    let events: Vec<EventSummaryView> = rows.iter().map(EventSummaryView::from).collect();
    page(
        "events.html",
        context! {
            events => Value::from_serialize(&events),
            next_cursor => next_cursor(&rows, PAGE, |e| &e.event_id),
            provider => provider,
            event_type => event_type,
            // Only the first page follows the stream: a later page stays put, so
            // paging is stable while events arrive.
            live => first_page,
            stream_after => stream_after,
            ..base(&v, "events")
        },
    )
}

/// `GET /ui/events/{id}`.
pub async fn detail(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let e = st.engine.store.get_event(&id).await?.ok_or_else(|| {
        crate::http::error::ApiError::not_found("unknown_event", format!("no event {id:?}"))
    })?;
    let view = EventView::from(&e);
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let matched: serde_json::Value = serde_json::from_str(&e.matched).unwrap_or_default();
    let matched: Vec<serde_json::Value> = match matched {
        serde_json::Value::Array(list) => list,
        _ => Vec::new(),
    };
    page(
        "event.html",
        context! {
            e => Value::from_serialize(&view),
            headers => pretty(&view.headers),
            payload => pretty(&view.payload),
            matched => Value::from_serialize(&matched),
            ..base(&v, "events")
        },
    )
}
