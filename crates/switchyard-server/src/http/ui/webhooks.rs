//! `/ui/webhooks` (seed 002's Webhooks tab) and `/ui/webhooks/{id}` (its detail
//! view): the list with enable toggles, the detail with commands as
//! `trigger → action (agent)` and recent events, delete behind a confirmation, the
//! create and edit form ([`super::webhook_form`]) and secret rotation. Every change
//! is the engine call the API makes for it, so validation and audit are the API's.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Serialize;
use switchyard_core::routing::Action;
use switchyard_engine::registry::Entry;
use switchyard_engine::{Error, ErrorKind};
use switchyard_store::EventQuery;

use super::viewer::Viewer;
use super::webhook_form::{Form, Intent, Row as FormRow};
use super::{back, base, forbidden, form, page, UiError};
use crate::http::error::{ApiError, Body, Path};
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
        create => v.may(&Method::POST, "/api/webhooks"),
        edit => v.may(&Method::PUT, "/api/webhooks/{id}"),
        rotate => v.may(&Method::POST, "/api/webhooks/{id}/secret/rotate"),
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
    detail_page(&st, &v, &e, None, StatusCode::OK).await
}

/// The detail view of `e`; `secret_once` is a secret just set, shown this once
/// (only ever in the answer to the POST that set it).
async fn detail_page(
    st: &AppState,
    v: &Viewer,
    e: &Entry,
    secret_once: Option<&str>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let events = recent(st, &e.webhook_id, 10).await?;
    let mut r = page(
        "webhook.html",
        context! {
            w => Value::from_serialize(&row(st, e).await?),
            events => Value::from_serialize(&events),
            can => controls(v),
            secret_once => secret_once,
            ..base(v, "webhooks")
        },
    )?;
    *r.status_mut() = status;
    Ok(r)
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
    Ok(Redirect::to("/ui/webhooks").into_response())
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
        return Err(UiError(ApiError::bad_request(
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
    .map_err(|e| ApiError::bad_request("cannot_sign", e.to_string()))?;
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
    Ok(Redirect::to(&format!("/ui/events/{}", accepted.event_id)).into_response())
}

fn may(v: &Viewer, method: &Method, route: &str, what: &str) -> Result<(), UiError> {
    if v.may(method, route) {
        Ok(())
    } else {
        Err(forbidden(&format!("this key may not {what}")))
    }
}

/// The form page: `f` as typed (with its errors), for a new webhook or for `editing`.
fn form_page(
    v: &Viewer,
    editing: Option<&Entry>,
    f: &Form,
    status: StatusCode,
) -> Result<Response, UiError> {
    let providers: Vec<&str> = switchyard_core::providers::ALL
        .iter()
        .map(|p| p.name())
        .collect();
    let actions: Vec<&str> = Action::ALL.iter().map(Action::as_str).collect();
    let summary: Vec<Value> = f
        .summary()
        .into_iter()
        .map(|(id, label, message)| context! { id, label, message })
        .collect();
    let has_secret = editing.is_some_and(|e| !e.secrets.is_empty());
    let mut r = page(
        "webhook_form.html",
        context! {
            f => Value::from_serialize(f),
            editing => editing.is_some(),
            has_secret => has_secret,
            summary => summary,
            providers => providers,
            actions => actions,
            blank_row => Value::from_serialize(FormRow::blank()),
            ..base(v, "webhooks")
        },
    )?;
    *r.status_mut() = status;
    Ok(r)
}

/// A form the engine refused: invalid fields (422, as the API answers) or an id
/// taken (409) go beside their fields; anything else is an error page.
fn refused(
    v: &Viewer,
    editing: Option<&Entry>,
    mut f: Form,
    e: Error,
) -> Result<Response, UiError> {
    let status = crate::http::error::status_of(e.kind);
    match (e.kind, e.code) {
        (ErrorKind::Invalid, _) => {
            if e.fields.is_empty() {
                f.other.push(e.message);
            } else {
                f.place(&e.fields);
            }
        }
        (ErrorKind::Conflict, "webhook_exists") => {
            let field = if f.webhook_id.is_empty() {
                "name"
            } else {
                "webhook_id"
            };
            f.place(&[switchyard_core::routing::FieldError::new(field, e.message)]);
        }
        _ => return Err(e.into()),
    }
    form_page(v, editing, &f, status)
}

fn malformed(m: super::webhook_form::Malformed) -> UiError {
    UiError(ApiError::bad_request("malformed_form", m.0))
}

/// Builds the body for `f` and, when it cannot reach the engine as typed
/// (conditions that are not JSON), the form again with every problem: those and
/// what the engine's validation (which stores nothing) says of the rest.
fn body_or_problems(
    f: &mut Form,
    base: Option<&Entry>,
    secret: Option<&str>,
) -> Result<Vec<u8>, StatusCode> {
    let (body, mut problems) = f.body(base.map(|e| &e.config), secret);
    if problems.is_empty() {
        return Ok(body);
    }
    if let Err(e) = switchyard_engine::webhooks::parse_config(&body) {
        problems.extend(e.fields);
    }
    f.place(&problems);
    Err(StatusCode::UNPROCESSABLE_ENTITY)
}

/// `GET /ui/webhooks/new` (admin): the empty form.
pub async fn new_form(v: Viewer) -> Result<Response, UiError> {
    may(&v, &Method::POST, "/api/webhooks", "create webhooks")?;
    form_page(&v, None, &Form::blank(), StatusCode::OK)
}

/// `POST /ui/webhooks/new`: "Add command" and "Remove command" show the form
/// again as typed; saving creates the webhook as `POST /api/webhooks` does, then
/// shows it with its secret, once (201). Nothing is stored unless all is valid.
pub async fn create(
    State(st): State<AppState>,
    v: Viewer,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    may(&v, &Method::POST, "/api/webhooks", "create webhooks")?;
    let (mut f, intent) = Form::parse(&fields, false).map_err(malformed)?;
    if intent != Intent::Save {
        return form_page(&v, None, &f, StatusCode::OK);
    }
    let secret = match f.secret_mode.as_str() {
        "generate" => Some(switchyard_engine::webhooks::new_secret()),
        "set" => Some(f.secret.clone()),
        _ => None,
    };
    let body = match body_or_problems(&mut f, None, secret.as_deref()) {
        Ok(b) => b,
        Err(status) => return form_page(&v, None, &f, status),
    };
    match st.engine.create_webhook(&v.who(), &body).await {
        Ok(saved) => match saved.secret_once {
            Some(s) => detail_page(&st, &v, &saved.entry, Some(&s), StatusCode::CREATED).await,
            None => Ok(
                Redirect::to(&format!("/ui/webhooks/{}", saved.entry.webhook_id)).into_response(),
            ),
        },
        Err(e) => refused(&v, None, f, e),
    }
}

/// Loads a webhook for a change: 409 `defined_by_file` (the engine's refusal) for
/// one a config file defines.
fn editable(st: &AppState, id: &str) -> Result<std::sync::Arc<Entry>, UiError> {
    let e = st.engine.webhook(id)?;
    st.engine.editable_in_registry(id)?;
    Ok(e)
}

/// `GET /ui/webhooks/{id}/edit` (admin): the form, prefilled.
pub async fn edit_form(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may(&v, &Method::PUT, "/api/webhooks/{id}", "change webhooks")?;
    let e = editable(&st, &id)?;
    form_page(&v, Some(&e), &Form::of(&id, &e.config), StatusCode::OK)
}

/// `POST /ui/webhooks/{id}/edit`: as [`create`], replacing the definition as
/// `PUT /api/webhooks/{id}` does (what the form does not show is kept), then back
/// to the webhook's page.
pub async fn update(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    let fields = form(&v, &body)?;
    may(&v, &Method::PUT, "/api/webhooks/{id}", "change webhooks")?;
    let e = editable(&st, &id)?;
    let (mut f, intent) = Form::parse(&fields, true).map_err(malformed)?;
    f.webhook_id = id.clone();
    if intent != Intent::Save {
        return form_page(&v, Some(&e), &f, StatusCode::OK);
    }
    let secret = (f.secret_mode == "set").then(|| f.secret.clone());
    let body = match body_or_problems(&mut f, Some(&e), secret.as_deref()) {
        Ok(b) => b,
        Err(status) => return form_page(&v, Some(&e), &f, status),
    };
    match st.engine.replace_webhook(&v.who(), &id, &body).await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/webhooks/{id}")).into_response()),
        Err(err) => refused(&v, Some(&e), f, err),
    }
}

/// `GET /ui/webhooks/{id}/rotate` (admin): asks to confirm, saying what it breaks.
pub async fn confirm_rotate(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    may(
        &v,
        &Method::POST,
        "/api/webhooks/{id}/secret/rotate",
        "rotate secrets",
    )?;
    let e = editable(&st, &id)?;
    page(
        "webhook_rotate.html",
        context! { w => Value::from_serialize(row(&st, &e).await?), ..base(&v, "webhooks") },
    )
}

/// `POST /ui/webhooks/{id}/rotate`: a generated secret replaces the webhook's
/// (as `POST /api/webhooks/{id}/secret/rotate` does), shown once.
pub async fn rotate(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    may(
        &v,
        &Method::POST,
        "/api/webhooks/{id}/secret/rotate",
        "rotate secrets",
    )?;
    let saved = st.engine.rotate_webhook_secret(&v.who(), &id, None).await?;
    detail_page(
        &st,
        &v,
        &saved.entry,
        saved.secret_once.as_deref(),
        StatusCode::OK,
    )
    .await
}
