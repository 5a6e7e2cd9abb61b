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

/// The sign-in form, with a fresh form cookie and the CSRF token that goes with it.
fn login_page(
    st: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (cookie, csrf_token) = session::login_form(st, session::secure(st, headers));
    match templates::render(
        "login.html",
        context! { error => error, csrf_token => csrf_token },
    ) {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            if let Ok(v) = cookie.parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => UiError(crate::http::error::ApiError::internal(e)).into_response(),
    }
}

/// `GET /ui/login`: the form (someone signed in goes on to the dashboard).
pub async fn form_page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if session::principal(&st, &headers).await.is_some() {
        return Redirect::to("/ui/").into_response();
    }
    login_page(&st, &headers, StatusCode::OK, None)
}

/// `POST /ui/login` (a form with `api_key` and the form's `csrf_token`): a key
/// that may read or decide signs in; anything else shows the form again with why
/// (401 or 403; 403 for a form this browser was not given).
pub async fn submit(State(st): State<AppState>, headers: HeaderMap, Body(body): Body) -> Response {
    let field = |name: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let login_page = |status, error| login_page(&st, &headers, status, error);
    if !session::check_login_form(&st, &headers, &field("csrf_token")) {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("This sign-in form has expired or did not come from this server: try again."),
        );
    }
    let key = field("api_key");
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
