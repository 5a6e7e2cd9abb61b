//! Who is looking at a dashboard page ([`Viewer`], from the session cookie) and
//! what the page may offer them: exactly what the API allows the same key.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use switchyard_core::sig::ct_eq;
use switchyard_engine::access::Principal;

use super::session::{csrf_of, principal};
use crate::http::auth::{allowed, Allow};
use crate::state::AppState;

/// Who is looking at a dashboard page: extracted from the session cookie; without
/// a valid one the request is sent to `/ui/login` (303).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The hidden `csrf_token` every form of this session carries.
    pub csrf: String,
}

impl Viewer {
    /// Who, in the audit log and as a decision's `by`.
    pub fn who(&self) -> String {
        self.principal.key_id()
    }

    /// Whether the API would let this key call `method route` (as the router
    /// spells it; [`crate::http::auth::RULES`]): the dashboard offers exactly what
    /// the API allows, from the same table. Rules that depend on an agent or a task
    /// are not the dashboard's business and count as refused.
    pub fn may(&self, method: &Method, route: &str) -> bool {
        let p = &self.principal;
        let a: Allow = allowed(method, route);
        p.is_admin() || a.read && p.can_read() || a.feedback && p.is_feedback()
    }

    /// Whether `given` is this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> bool {
        ct_eq(given.as_bytes(), self.csrf.as_bytes())
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        match principal(st, &parts.headers).await {
            Some((principal, token)) => Ok(Viewer {
                csrf: csrf_of(st, &token),
                principal,
            }),
            None => Err(Redirect::to("/ui/login").into_response()),
        }
    }
}
