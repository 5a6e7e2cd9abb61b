//! `/ui/events` (the event log, newest first, filtered, a page at a time; new
//! events appear at the top of the first page as the stream announces them) and
//! `/ui/events/{id}` (headers, the payload pretty-printed, what matched, what it
//! caused, each linked to its page) with a Replay button for keys the API lets
//! replay (`POST /ui/events/{id}/replay`, showing what is new).

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use switchyard_engine::events::{CausedItem, CausedKind, Replay};
use switchyard_store::EventQuery;

use super::viewer::Viewer;
use super::{base, forbidden, form, page, UiError};
use crate::http::api::{check_cursor, next_cursor};
use crate::http::error::{ApiError, Body, Path, Query};
use crate::http::views::{CausedView, EventSummaryView, EventView};
use crate::state::AppState;

/// Events on one page.
const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct Filters {
    provider: Option<String>,
    event_type: Option<String>,
    webhook_id: Option<String>,
    /// `datetime-local` (UTC) or RFC 3339: received at or after it.
    from: Option<String>,
    /// `datetime-local` (UTC) or RFC 3339: received at or before it (a time
    /// without seconds counts its whole minute).
    to: Option<String>,
    /// Text the payload contains.
    q: Option<String>,
    cursor: Option<String>,
}

/// An empty filter field means no filter.
fn given(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A time field of the filter form as Unix micros: its start (`from`) or the end
/// of the minute or second it names (`to`); 400 when it is not a time.
fn form_time(field: &str, v: Option<&str>, end: bool) -> Result<Option<i64>, UiError> {
    let Some(text) = v else { return Ok(None) };
    let (at, unit) = switchyard_engine::time::parse_form_time(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("{field} must be a date and time (YYYY-MM-DDTHH:MM, UTC)"),
        )
    })?;
    Ok(Some(if end { at + unit - 1 } else { at }))
}

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/events") {
        Ok(())
    } else {
        Err(forbidden("this key may not read events"))
    }
}

/// `GET /ui/events?provider=&event_type=&webhook_id=&from=&to=&q=&cursor=`.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let filters = FilterValues {
        provider: given(f.provider),
        event_type: given(f.event_type),
        webhook_id: given(f.webhook_id),
        from: given(f.from),
        to: given(f.to),
        q: given(f.q),
    };
    let cursor = check_cursor("evt", given(f.cursor))?;
    let first_page = cursor.is_none();
    // Where the page's live updates start: what commits after this read reaches
    // the page even if its script connects later.
    let stream_after = st.engine.stream_start(None).await?;
    let q = EventQuery {
        provider: filters.provider.clone(),
        event_type: filters.event_type.clone(),
        webhook_id: filters.webhook_id.clone(),
        delivery_id: None,
        since: form_time("from", filters.from.as_deref(), false)?,
        until: form_time("to", filters.to.as_deref(), true)?,
        text: filters.q.clone(),
        before: cursor,
        limit: PAGE,
    };
    let rows = st.engine.store.list_events(&q).await?;
    let events: Vec<EventSummaryView> = rows.iter().map(EventSummaryView::from).collect();
    // The webhook filter offers every webhook the registry knows (and the one the
    // filter names, should it be gone).
    let mut webhooks: Vec<String> = st
        .engine
        .registry
        .all()
        .iter()
        .map(|e| e.webhook_id.clone())
        .collect();
    if let Some(w) = &filters.webhook_id {
        if !webhooks.contains(w) {
            webhooks.push(w.clone());
        }
    }
    let next = next_cursor(&rows, PAGE, |e| &e.event_id);
    page(
        "events.html",
        context! {
            events => Value::from_serialize(&events),
            next_href => next.map(|c| filters.href(&c)),
            f => Value::from_serialize(&filters),
            filtered => filters.any(),
            webhooks => webhooks,
            // Only the first page follows the stream (re-fetched with the same
            // filters, so an event they exclude never shows): a later page stays
            // put, so paging is stable while events arrive.
            live => first_page,
            stream_after => stream_after,
            ..base(&v, "events")
        },
    )
}

/// The filters as given, kept to fill the form again and to carry to the next page.
#[derive(Debug, Serialize)]
struct FilterValues {
    provider: Option<String>,
    event_type: Option<String>,
    webhook_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
}

impl FilterValues {
    fn pairs(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("provider", &self.provider),
            ("event_type", &self.event_type),
            ("webhook_id", &self.webhook_id),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ]
    }

    fn any(&self) -> bool {
        self.pairs().iter().any(|(_, v)| v.is_some())
    }

    /// The address of the page after `cursor` with the same filters.
    fn href(&self, cursor: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("cursor", cursor);
        for (k, v) in self.pairs() {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        format!("/ui/events?{}", q.finish())
    }
}

/// `GET /ui/events/{id}`.
pub async fn detail(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    show(&st, &v, &id, None).await
}

/// `POST /ui/events/{id}/replay` (`csrf_token`, `dry_run` when checked): routes
/// the event again, then shows it with what is new.
pub async fn replay(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    if !v.may(&Method::POST, REPLAY_ROUTE) {
        return Err(forbidden("this key may not replay events"));
    }
    let dry_run = fields.get("dry_run").is_some_and(|d| d == "true");
    let r = st.engine.replay(&v.who(), &id, dry_run).await?;
    show(&st, &v, &id, Some(&r)).await
}

/// The API route a Replay button stands for.
const REPLAY_ROUTE: &str = "/api/events/{id}/replay";

/// The event's page, with what a replay just did when there was one.
async fn show(
    st: &AppState,
    v: &Viewer,
    id: &str,
    replayed: Option<&Replay>,
) -> Result<Response, UiError> {
    let e = st.engine.event(id).await?;
    let caused = st.engine.caused(id).await?;
    let view = EventView::from(&e);
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let matched: serde_json::Value = serde_json::from_str(&e.matched).unwrap_or_default();
    let matched: Vec<serde_json::Value> = match matched {
        serde_json::Value::Array(list) => list,
        _ => Vec::new(),
    };
    let linked = |items: &[CausedItem]| -> Vec<serde_json::Value> {
        items
            .iter()
            .map(|c| {
                let mut j = serde_json::to_value(CausedView::from(c)).unwrap_or_default();
                j["href"] = serde_json::json!(href(c));
                j
            })
            .collect()
    };
    page(
        "event.html",
        context! {
            e => Value::from_serialize(&view),
            headers => pretty(&view.headers),
            payload => pretty(&view.payload),
            matched => Value::from_serialize(&matched),
            caused => Value::from_serialize(linked(&caused)),
            can_replay => v.may(&Method::POST, REPLAY_ROUTE),
            replayed => replayed.map(|r| context! {
                dry_run => r.dry_run,
                created => Value::from_serialize(linked(&r.created)),
            }),
            ..base(v, "events")
        },
    )
}

/// The dashboard page of something an event caused (none for a question, or
/// for what a dry run would make).
fn href(c: &CausedItem) -> Option<String> {
    let id = c.id.as_deref()?;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let owner = c.owner.as_deref().unwrap_or_default();
    Some(match c.kind {
        CausedKind::Task => format!("/ui/tasks?agent={}#{id}", enc(owner)),
        CausedKind::Delivery => format!("/ui/deliveries?destination={}#{id}", enc(owner)),
        CausedKind::Checkpoint => format!("/ui/inbox/{}", enc(id)),
        CausedKind::Run => format!("/ui/runs/{}", enc(id)),
        CausedKind::Question => return None,
    })
}
