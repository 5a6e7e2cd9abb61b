//! `/ui/deliveries` (what the delivery engine did with each outbox message, filtered
//! by status, destination, kind and creation time; rows follow the stream's
//! `delivery.*` notices), `/ui/deliveries/{id}` (every attempt with its status,
//! latency and the start of the answer), Retry on one, and the bulk retry of
//! everything a filter selects: a dry-run count first, then a confirm button.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use switchyard_store::{DeliveryStatus, OutboxKind};

use super::viewer::Viewer;
use super::{base, forbidden, form, page, UiError};
use crate::http::api::deliveries::{bulk_retry, BulkRetryBody, DeliveryFilter, ListParams};
use crate::http::api::next_cursor;
use crate::http::error::{Body, Path, Query};
use crate::http::views::{AttemptView, DeliveryView};
use crate::state::AppState;

/// The stream notices a delivery page follows.
const LIVE: &str = "delivery.delivered delivery.retrying delivery.failed";

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/deliveries") {
        Ok(())
    } else {
        Err(forbidden("this key may not read deliveries"))
    }
}

fn may_retry(v: &Viewer) -> bool {
    v.may(&Method::POST, "/api/deliveries/{id}/retry")
}

fn may_bulk_retry(v: &Viewer) -> bool {
    v.may(&Method::POST, "/api/deliveries/retry")
}

/// Whether Retry applies to `d` (what the store's retry touches).
fn retryable(d: &DeliveryView) -> bool {
    matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Failed)
        && d.kind != OutboxKind::RunWorkflow
}

/// A filter as the page's fields and links carry it.
fn filter_ctx(f: &DeliveryFilter) -> Value {
    let pairs = [
        ("status", &f.status),
        ("destination", &f.destination),
        ("kind", &f.kind),
        ("since", &f.since),
        ("until", &f.until),
    ];
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().filter(|s| !s.is_empty()).map(|v| (*k, v))),
        )
        .finish();
    context! {
        status => f.status, destination => f.destination, kind => f.kind,
        since => f.since, until => f.until, query => query,
        // A bulk retry needs a status or a destination (as the API does).
        bulk => f.status.as_deref().is_some_and(|s| !s.is_empty())
            || f.destination.as_deref().is_some_and(|s| !s.is_empty()),
    }
}

/// `GET /ui/deliveries?status=&destination=&kind=&since=&until=&cursor=`.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let stream_after = st.engine.stream_start(None).await?;
    let filter = p.filter();
    let (rows, next) = match p.query()? {
        Some(q) => {
            let rows = st.engine.list_deliveries(&q).await?;
            let next = next_cursor(&rows, q.limit, |d| &d.outbox_id);
            (rows, next)
        }
        None => (Vec::new(), None),
    };
    let deliveries: Vec<Value> = rows
        .iter()
        .map(DeliveryView::from)
        .map(|d| {
            let r = retryable(&d);
            context! { retryable => r, ..Value::from_serialize(&d) }
        })
        .collect();
    page(
        "deliveries.html",
        context! {
            deliveries => deliveries,
            next_cursor => next,
            f => filter_ctx(&filter),
            statuses => ["pending", "delivered", "failed"],
            can_retry => may_retry(&v),
            can_bulk_retry => may_bulk_retry(&v),
            live => LIVE,
            stream_after => stream_after,
            ..base(&v, "deliveries")
        },
    )
}

/// `GET /ui/deliveries/{id}`: the delivery, its payload and every attempt.
pub async fn detail(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let stream_after = st.engine.stream_start(None).await?;
    let (d, attempts) = st.engine.delivery(&id).await?;
    let view = DeliveryView::from(&d);
    let attempts: Vec<AttemptView> = attempts.iter().map(AttemptView::from).collect();
    let payload = serde_json::to_string_pretty(&view.payload).unwrap_or_default();
    page(
        "delivery.html",
        context! {
            d => Value::from_serialize(&view),
            attempts => Value::from_serialize(&attempts),
            payload => payload,
            retryable => retryable(&view),
            can_retry => may_retry(&v),
            live => LIVE,
            stream_after => stream_after,
            ..base(&v, "deliveries")
        },
    )
}

/// `POST /ui/deliveries/{id}/retry` (`csrf_token`, optional `next`): sends it
/// again now, then goes back.
pub async fn retry(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    if !may_retry(&v) {
        return Err(forbidden("this key may not retry deliveries"));
    }
    st.engine.retry_delivery(&id).await?;
    Ok(super::back(&fields, &format!("/ui/deliveries/{id}")).into_response())
}

/// `GET /ui/deliveries/retry?<filter>`: how many deliveries a bulk retry of this
/// filter would touch (a dry run), with the button that does it.
pub async fn confirm_bulk(
    State(st): State<AppState>,
    v: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, UiError> {
    if !may_bulk_retry(&v) {
        return Err(forbidden("this key may not retry deliveries"));
    }
    let filter = p.filter();
    let counted = bulk_retry(&st, &v.who(), BulkRetryBody::new(filter.clone(), true)).await?;
    page(
        "deliveries_retry.html",
        context! {
            f => filter_ctx(&filter),
            matched => counted.matched,
            done => false,
            ..base(&v, "deliveries")
        },
    )
}

/// `POST /ui/deliveries/retry` (the filter's fields, `csrf_token`): the bulk
/// retry itself, through the same call as the API; shows what it did.
pub async fn bulk(
    State(st): State<AppState>,
    v: Viewer,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    if !may_bulk_retry(&v) {
        return Err(forbidden("this key may not retry deliveries"));
    }
    let field = |k: &str| fields.get(k).cloned().filter(|s| !s.is_empty());
    let filter = DeliveryFilter {
        status: field("status"),
        destination: field("destination"),
        kind: field("kind"),
        since: field("since"),
        until: field("until"),
    };
    let done = bulk_retry(&st, &v.who(), BulkRetryBody::new(filter.clone(), false)).await?;
    page(
        "deliveries_retry.html",
        context! {
            f => filter_ctx(&filter),
            matched => done.matched,
            retried => done.retried,
            done => true,
            ..base(&v, "deliveries")
        },
    )
}
