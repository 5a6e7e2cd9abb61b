//! `/ui/webhooks` (seed 002's Webhooks tab) and `/ui/webhooks/{id}` (its detail
//! view): the list with enable toggles, the detail with commands as
//! `trigger → action (agent)` and recent events, and delete behind a confirmation.

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use serde::Serialize;
use switchyard_engine::registry::Entry;
use switchyard_store::EventQuery;

use super::viewer::Viewer;
use super::{back, base, forbidden, form, page, UiError};
use crate::http::error::{Body, Path};
use crate::http::views::{EventSummaryView, WebhookView};
use crate::state::AppState;

/// A webhook as the pages show it.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    view: WebhookView,
    /// When its newest event arrived.
    last_event_at: Option<String>,
    /// The config file that defines it, when one does: read-only here.
    file: Option<String>,
}

/// What the signed-in key may change (the API's rules for these routes).
fn controls(v: &Viewer) -> Value {
    context! {
        toggle => v.may(&Method::POST, "/api/webhooks/{id}/enable"),
        delete => v.may(&Method::DELETE, "/api/webhooks/{id}"),
        test => v.principal.is_admin(),
    }
}

async fn recent(st: &AppState, id: &str, limit: i64) -> Result<Vec<EventSummaryView>, UiError> {
    let q = EventQuery {
        webhook_id: Some(id.to_owned()),
        limit,
        ..EventQuery::default()
    };
    let rows = st.engine.store.list_events(&q).await?;
    Ok(rows.iter().map(EventSummaryView::from).collect())
}

async fn row(st: &AppState, e: &Entry) -> Result<Row, UiError> {
    let view = WebhookView::new(e, None, st.engine.webhook_warnings(e));
    let file = view.source.strip_prefix("file:").map(str::to_owned);
    let last_event_at = recent(st, &e.webhook_id, 1)
        .await?
        .into_iter()
        .next()
        .map(|ev| ev.received_at);
    Ok(Row {
        view,
        last_event_at,
        file,
    })
}

fn may_read(v: &Viewer) -> Result<(), UiError> {
    if v.may(&Method::GET, "/api/webhooks") {
        Ok(())
    } else {
        Err(forbidden("this key may not read webhooks"))
    }
}

/// `GET /ui/webhooks`.
pub async fn list(State(st): State<AppState>, v: Viewer) -> Result<Response, UiError> {
    may_read(&v)?;
    let r = &st.engine.registry;
    let mut rows = Vec::new();
    // One small query per webhook for its last event: the list is a page of
    // configuration, tens of rows, not the event log.
    for e in r.all().iter() {
        rows.push(row(&st, e).await?);
    }
    let file_errors: Vec<crate::http::views::FileErrorView> =
        r.file_errors().into_iter().map(Into::into).collect();
    page(
        "webhooks.html",
        context! {
            webhooks => Value::from_serialize(&rows),
            file_errors => Value::from_serialize(&file_errors),
            can => controls(&v),
            ..base(&v, "webhooks")
        },
    )
}

/// `GET /ui/webhooks/{id}`: seed 002's detail view.
pub async fn detail(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may_read(&v)?;
    let e = st.engine.webhook(&id)?;
    let events = recent(&st, &id, 10).await?;
    page(
        "webhook.html",
        context! {
            w => Value::from_serialize(&row(&st, &e).await?),
            events => Value::from_serialize(&events),
            can => controls(&v),
            ..base(&v, "webhooks")
        },
    )
}

async fn set_enabled(
    st: AppState,
    v: Viewer,
    id: String,
    body: &[u8],
    enabled: bool,
) -> Result<Response, UiError> {
    let fields = form(&v, body)?;
    let route = if enabled {
        "/api/webhooks/{id}/enable"
    } else {
        "/api/webhooks/{id}/disable"
    };
    if !v.may(&Method::POST, route) {
        return Err(forbidden("this key may not change webhooks"));
    }
    st.engine
        .set_webhook_enabled(&v.who(), &id, enabled)
        .await?;
    Ok(back(&fields, "/ui/webhooks").into_response())
}

/// `POST /ui/webhooks/{id}/enable`.
pub async fn enable(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    set_enabled(st, v, id, &body, true).await
}

/// `POST /ui/webhooks/{id}/disable`.
pub async fn disable(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    set_enabled(st, v, id, &body, false).await
}

/// `GET /ui/webhooks/{id}/delete`: asks to confirm (works without script).
pub async fn confirm_delete(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    if !v.may(&Method::DELETE, "/api/webhooks/{id}") {
        return Err(forbidden("this key may not delete webhooks"));
    }
    let e = st.engine.webhook(&id)?;
    page(
        "webhook_delete.html",
        context! { w => Value::from_serialize(row(&st, &e).await?), ..base(&v, "webhooks") },
    )
}

/// `POST /ui/webhooks/{id}/delete`: deletes (a file-defined webhook is refused by
/// the engine, as through the API).
pub async fn delete(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    if !v.may(&Method::DELETE, "/api/webhooks/{id}") {
        return Err(forbidden("this key may not delete webhooks"));
    }
    st.engine.delete_webhook(&v.who(), &id).await?;
    Ok(axum::response::Redirect::to("/ui/webhooks").into_response())
}

/// `POST /ui/webhooks/{id}/test` (admin): sends a signed sample event for the
/// webhook's provider (`switchyard_core::sign`, as `switchyard send` does) through
/// the ingest path — resolve, verify, normalize, route, commit — and shows the
/// stored event with what matched. The sender's protections (allow-list, rate
/// limit) are not applied: the request comes from the operator, not a sender.
pub async fn test(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    if !v.principal.is_admin() {
        return Err(forbidden("only an admin key may send test events"));
    }
    let e = st.engine.webhook(&id)?;
    let provider = e.config.provider.as_str().to_owned();
    let Some(secret) = e.secrets.first() else {
        return Err(UiError(crate::http::error::ApiError::bad_request(
            "no_secret",
            "this webhook has no secret of its own to sign a test event with",
        )));
    };
    let secret = String::from_utf8_lossy(secret.expose()).into_owned();
    let now = switchyard_store::now_micros() / 1_000_000;
    let delivery_id = format!("test-{}", switchyard_store::new_id("t"));
    let event = switchyard_core::sign::default_event(&provider);
    let sample = switchyard_core::sign::sample(&provider, event, &delivery_id, now)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "{}".into());
    let signed = switchyard_core::sign::sign(
        &provider,
        &secret,
        event,
        sample.as_bytes(),
        now,
        &delivery_id,
    )
    .map_err(|e| crate::http::error::ApiError::bad_request("cannot_sign", e.to_string()))?;
    let mut headers = axum::http::HeaderMap::new();
    for (k, val) in &signed.headers {
        if let (Ok(k), Ok(val)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            axum::http::HeaderValue::try_from(val.as_str()),
        ) {
            headers.append(k, val);
        }
    }
    let endpoint = switchyard_engine::ingest::Endpoint::Stored {
        provider: &provider,
        webhook_id: &id,
    };
    let target = st
        .engine
        .resolve(endpoint)
        .map_err(|r| UiError(r.error.into()))?;
    let req = switchyard_engine::ingest::Request {
        headers: &headers,
        query: None,
        body: &signed.body,
    };
    let accepted = st
        .engine
        .accept(&target, req)
        .await
        .map_err(|r| UiError(r.error.into()))?;
    Ok(axum::response::Redirect::to(&format!("/ui/events/{}", accepted.event_id)).into_response())
}
