//! The dashboard (issue 12): server-rendered pages under `/ui/`, signed in with an
//! API key (a session cookie, [`session`]), every form carrying a CSRF token.
//!
//! Pages read and write through the same engine services as `/api`, and offer
//! only what the API would allow the signed-in key ([`session::Viewer::may`],
//! from `http::auth::RULES`): a `read` key sees no write control at all. Templates
//! (minijinja) and the stylesheet and script are embedded in the binary
//! ([`templates`]); there is nothing to build. The one script only adds live
//! updates (the stream, `/api/stream`, which the session cookie opens too) and
//! in-place form posts; every action is a plain form that works without it.
//! docs/dashboard.md.

mod audit;
mod charts;
mod deliveries;
mod destinations;
mod events;
mod inbox;
mod login;
mod overview;
mod runs;
pub mod session;
mod tasks;
mod templates;
mod viewer;
mod webhook_form;
mod webhooks;

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};

use crate::http::error::ApiError;
use crate::state::AppState;
use viewer::Viewer;

/// Every dashboard route, with the headers every page carries.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::overview))
        .route("/ui/login", get(login::form_page).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/static/style.css", get(templates::style))
        .route("/ui/static/live.js", get(templates::script))
        .route("/ui/static/webhooks.js", get(templates::webhooks_script))
        .route("/ui/webhooks", get(webhooks::list))
        .route(
            "/ui/webhooks/new",
            get(webhooks::new_form).post(webhooks::create),
        )
        .route(
            "/ui/webhooks/{id}/edit",
            get(webhooks::edit_form).post(webhooks::update),
        )
        .route(
            "/ui/webhooks/{id}/rotate",
            get(webhooks::confirm_rotate).post(webhooks::rotate),
        )
        .route("/ui/webhooks/{id}", get(webhooks::detail))
        .route("/ui/webhooks/{id}/enable", post(webhooks::enable))
        .route("/ui/webhooks/{id}/disable", post(webhooks::disable))
        .route("/ui/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/ui/webhooks/{id}/delete",
            get(webhooks::confirm_delete).post(webhooks::delete),
        )
        .route("/ui/events", get(events::list))
        .route("/ui/events/{id}", get(events::detail))
        .route("/ui/events/{id}/replay", post(events::replay))
        .route("/ui/inbox", get(inbox::list))
        .route("/ui/inbox/{id}", get(inbox::detail))
        .route("/ui/inbox/{id}/decision", post(inbox::decide))
        .route("/ui/workflows", get(runs::workflows))
        .route("/ui/runs/{id}", get(runs::run))
        .route("/ui/runs/{id}/cancel", post(runs::cancel))
        .route("/ui/runs/{id}/restart", post(runs::restart))
        .route("/ui/deliveries", get(deliveries::list))
        .route(
            "/ui/deliveries/retry",
            get(deliveries::confirm_bulk).post(deliveries::bulk),
        )
        .route("/ui/deliveries/{id}", get(deliveries::detail))
        .route("/ui/deliveries/{id}/retry", post(deliveries::retry))
        .route("/ui/destinations", get(destinations::list))
        .route("/ui/destinations/{id}/secret", post(destinations::reveal))
        .route("/ui/destinations/{id}/enable", post(destinations::enable))
        .route("/ui/destinations/{id}/disable", post(destinations::disable))
        .route("/ui/tasks", get(tasks::list))
        .route("/ui/audit", get(audit::list))
        .layer(axum::middleware::map_response(security_headers))
}

/// `GET /`: a browser (`Accept: text/html`) goes to the dashboard; API clients
/// still get the health JSON (seed 004).
pub async fn root(st: State<AppState>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        Redirect::to("/ui/").into_response()
    } else {
        crate::http::ops::health(st).await
    }
}

/// No script but our own file, no framing, forms post only here, and pages holding
/// data are not cached (a shared computer's back button must not show them).
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let defaults = [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ];
    for (k, v) in defaults {
        if !h.contains_key(k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    }
    r
}

/// A page that could not be shown, as HTML with its status.
#[derive(Debug)]
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<switchyard_engine::Error> for UiError {
    fn from(e: switchyard_engine::Error) -> Self {
        Self(e.into())
    }
}

impl From<switchyard_store::StoreError> for UiError {
    fn from(e: switchyard_store::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let ctx = context! { status => status.as_u16(), message => self.0.error.to_string() };
        let html = templates::render("error.html", ctx).unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.".into()
        });
        (status, axum::response::Html(html)).into_response()
    }
}

/// A 403 page: the key may not do this, or the form's CSRF token is wrong.
fn forbidden(message: &str) -> UiError {
    UiError(ApiError::from(switchyard_engine::Error::new(
        switchyard_engine::ErrorKind::Forbidden,
        "forbidden",
        message,
    )))
}

/// What every page's layout needs: who is signed in, the CSRF token for its forms.
fn base(v: &Viewer, nav: &str) -> Value {
    context! {
        who => v.who(),
        csrf_token => v.csrf.clone(),
        nav => nav,
    }
}

/// Renders `name` with `ctx` as a 200 page.
fn page(name: &str, ctx: Value) -> Result<Response, UiError> {
    let html = templates::render(name, ctx).map_err(ApiError::internal)?;
    Ok(axum::response::Html(html).into_response())
}

/// A POSTed form's fields (the last of a repeated name wins), after checking its
/// `csrf_token` against the session's: 403 otherwise.
fn form(v: &Viewer, body: &[u8]) -> Result<HashMap<String, String>, UiError> {
    let fields: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    match fields.get("csrf_token") {
        Some(t) if v.check_csrf(t) => Ok(fields),
        _ => Err(forbidden(
            "the form's CSRF token is missing or wrong: reload the page and try again",
        )),
    }
}

/// Where to go after a form: its `next` field when it is a dashboard page (never
/// another site), else `fallback`.
fn back(fields: &HashMap<String, String>, fallback: &str) -> Redirect {
    match fields.get("next") {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') => {
            Redirect::to(n)
        }
        _ => Redirect::to(fallback),
    }
}
