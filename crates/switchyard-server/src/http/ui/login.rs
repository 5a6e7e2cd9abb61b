//! `/ui/login` and `/ui/logout`: signing in with an API key.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;

use super::session;
use super::viewer::Viewer;
use super::{form, templates, UiError};
use crate::http::error::Body;
use crate::state::AppState;

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    match templates::render("login.html", context! { error => error }) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => UiError(crate::http::error::ApiError::internal(e)).into_response(),
    }
}

/// `GET /ui/login`: the form (someone signed in goes on to the dashboard).
pub async fn form_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if session::principal(&st, &headers).await.is_some() {
        return Redirect::to("/ui/").into_response();
    }
    login_page(StatusCode::OK, None)
}

/// `POST /ui/login` (a form with `api_key`): a key that may read or decide signs
/// in; anything else shows the form again with why (401 or 403).
pub async fn submit(State(st): State<AppState>, headers: HeaderMap, Body(body): Body) -> Response {
    let key = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    if key.is_empty() {
        return login_page(StatusCode::UNAUTHORIZED, Some("Enter an API key."));
    }
    let principal = match st.engine.authenticate(&key).await {
        Ok(p) => p,
        Err(_) => return login_page(StatusCode::UNAUTHORIZED, Some("That API key is not valid.")),
    };
    if !(principal.can_read() || principal.is_feedback()) {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("This key may neither read nor decide: the dashboard needs an admin, read or feedback key."),
        );
    }
    let Some(cookie) = session::start(&st, &principal, session::secure(&st, &headers)) else {
        return login_page(StatusCode::FORBIDDEN, Some("A task token cannot sign in."));
    };
    tracing::info!(key_id = %principal.key_id(), "dashboard: signed in");
    let mut r = Redirect::to("/ui/").into_response();
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /ui/logout` (with the CSRF token): clears the cookie.
pub async fn logout(
    State(st): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, UiError> {
    form(&v, &body)?;
    let mut r = Redirect::to("/ui/login").into_response();
    if let Ok(c) = session::set_cookie("", 0, session::secure(&st, &headers)).parse() {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}
