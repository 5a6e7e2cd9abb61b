//! The `/api` guard: who is calling (`Authorization: Bearer <key>`, see
//! `switchyard_engine::access`; on `GET /api/stream` also the dashboard's session
//! cookie) and whether the route allows them.
//!
//! Each route declares who besides an admin key may call it, in [`RULES`]; a route
//! not listed there is for admin keys only, so a new route is closed until it says
//! otherwise. An unknown key is 401 (`missing_api_key`, `invalid_api_key`); a
//! valid key outside the route's scope is 403 `insufficient_scope`. The caller is
//! handed to the handler as [`Caller`] (its key id goes into the audit log).

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::RequestPartsExt;
use switchyard_engine::access::Principal;
use switchyard_engine::{Error, ErrorKind};

use crate::http::error::ApiError;
use crate::state::AppState;

/// Who besides an admin key may call a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// `read` keys (declared on GETs that show no secret).
    pub read: bool,
    /// `feedback` keys (and `WEBHOOK_API_KEY`).
    pub feedback: bool,
    /// `agent:NAME` keys, for the agent the route concerns.
    pub agent: Option<AgentOf>,
    /// The task token of the task in `{id}` (a task push's `api_key`).
    pub task_token: bool,
}

/// Which agent a route concerns, for `agent:NAME` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentOf {
    /// The agent named by `{name}` in the path.
    Path,
    /// The agent of the task `{id}`.
    Task,
    /// The agent that opened the question `{id}`.
    Question,
    /// The agent that opened the checkpoint `{id}`.
    Checkpoint,
    /// Any agent (opening a question or a checkpoint).
    Any,
}

/// Admin keys only.
pub const ADMIN: Allow = Allow {
    read: false,
    feedback: false,
    agent: None,
    task_token: false,
};
/// Also `read` keys.
pub const READ: Allow = Allow {
    read: true,
    ..ADMIN
};
/// Also `feedback` keys (deciding checkpoints, answering questions).
pub const FEEDBACK: Allow = Allow {
    feedback: true,
    ..ADMIN
};
/// `read` and `feedback` keys (lists a person deciding needs).
pub const READ_FEEDBACK: Allow = Allow {
    read: true,
    feedback: true,
    ..ADMIN
};
/// The agent of `{name}`.
pub const AGENT_IN_PATH: Allow = Allow {
    agent: Some(AgentOf::Path),
    ..ADMIN
};
/// The agent of task `{id}`, and that task's token.
pub const TASK_HOLDER: Allow = Allow {
    agent: Some(AgentOf::Task),
    task_token: true,
    ..ADMIN
};
/// Any agent.
pub const ANY_AGENT: Allow = Allow {
    agent: Some(AgentOf::Any),
    ..ADMIN
};
/// Read and feedback keys, and the agent that opened question `{id}`.
pub const QUESTION: Allow = Allow {
    read: true,
    feedback: true,
    agent: Some(AgentOf::Question),
    task_token: false,
};

/// Read and feedback keys, and the agent that opened checkpoint `{id}`.
pub const CHECKPOINT: Allow = Allow {
    read: true,
    feedback: true,
    agent: Some(AgentOf::Checkpoint),
    task_token: false,
};
/// The agent that opened checkpoint `{id}` (cancelling it).
pub const CHECKPOINT_OPENER: Allow = Allow {
    agent: Some(AgentOf::Checkpoint),
    ..ADMIN
};

/// Who may call each route besides an admin key: method, the route as the router
/// spells it, and what is allowed. Routes not listed are for admin keys only (GET
/// `/api/destinations/{id}/secret`, every change to the configuration, the
/// interactive `comment` and `respond`).
pub const RULES: &[(Method, &str, Allow)] = &[
    (Method::GET, "/api/stream", READ_FEEDBACK),
    (Method::GET, "/ws", READ_FEEDBACK),
    (Method::GET, "/api/events", READ),
    (Method::GET, "/api/events/{id}", READ),
    (Method::GET, "/api/events/{id}/caused", READ),
    // POST /api/events/{id}/replay: admin keys only (not listed).
    (Method::GET, "/api/rejections", READ),
    (Method::GET, "/api/activity", READ),
    (Method::GET, "/api/webhooks", READ),
    (Method::GET, "/api/webhooks/{id}", READ),
    (Method::GET, "/api/webhooks/{id}/commands", READ),
    (Method::POST, "/api/webhooks/{id}/ask", ANY_AGENT),
    (Method::GET, "/api/workflows", READ),
    (Method::GET, "/api/workflows/{name}", READ),
    (Method::GET, "/api/outbox", READ),
    (Method::GET, "/api/deliveries", READ),
    (Method::GET, "/api/deliveries/{id}", READ),
    (Method::GET, "/api/destinations", READ),
    (Method::GET, "/api/destinations/{id}", READ),
    (Method::GET, "/api/agents", READ),
    (Method::GET, "/api/agents/{name}", READ),
    (
        Method::POST,
        "/api/agents/{name}/tasks/lease",
        AGENT_IN_PATH,
    ),
    (Method::GET, "/api/runs", READ),
    (Method::GET, "/api/runs/{id}", READ),
    (Method::GET, "/api/runs/{id}/wait", READ),
    (Method::GET, "/api/tasks", READ),
    (Method::GET, "/api/tasks/{id}", READ),
    (Method::POST, "/api/tasks/{id}/heartbeat", TASK_HOLDER),
    (Method::POST, "/api/tasks/{id}/complete", TASK_HOLDER),
    (Method::POST, "/api/tasks/{id}/fail", TASK_HOLDER),
    (Method::GET, "/api/questions", READ_FEEDBACK),
    (Method::GET, "/api/questions/{id}", QUESTION),
    (Method::GET, "/api/questions/{id}/wait", QUESTION),
    (Method::POST, "/api/checkpoints", ANY_AGENT),
    (Method::GET, "/api/checkpoints", READ_FEEDBACK),
    (Method::GET, "/api/checkpoints/{id}", CHECKPOINT),
    (Method::GET, "/api/checkpoints/{id}/history", CHECKPOINT),
    (Method::GET, "/api/checkpoints/{id}/wait", CHECKPOINT),
    (Method::POST, "/api/checkpoints/{id}/decision", FEEDBACK),
    (
        Method::POST,
        "/api/checkpoints/{id}/cancel",
        CHECKPOINT_OPENER,
    ),
    // Seed 000's endpoints (outside /api, behind the same guard).
    (Method::POST, "/webhook/feedback", FEEDBACK),
    (Method::GET, "/webhook/checkpoint/{id}", READ_FEEDBACK),
    (Method::GET, "/webhook/status/{kickoff_id}", READ_FEEDBACK),
    (Method::GET, "/api/keys", READ),
    (Method::GET, "/api/audit", READ),
];

/// What route `path` (as the router spells it) allows for `method`.
pub fn allowed(method: &Method, path: &str) -> Allow {
    RULES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map_or(ADMIN, |(_, _, a)| *a)
}

/// The caller of an `/api` handler, as the guard found it.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// Who, in the audit log.
    pub fn who(&self) -> String {
        self.0.key_id()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::internal("an /api handler ran without the guard"))
    }
}

fn insufficient_scope() -> ApiError {
    ApiError::from(Error::new(
        ErrorKind::Forbidden,
        "insufficient_scope",
        "this API key's scopes do not allow this call",
    ))
}

/// Middleware guarding `/api`: authenticates the bearer key, checks the route's
/// [`Allow`], and hands the caller on.
pub async fn guard(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let principal = match token {
        Some(token) => state.engine.authenticate(token).await?,
        None => match session_for_stream(
            &state,
            req.method(),
            req.extensions().get::<MatchedPath>(),
            req.headers(),
        )
        .await
        {
            Some(p) => p,
            None => {
                return Err(ApiError::unauthorized(
                    "missing_api_key",
                    "send an API key as Authorization: Bearer <key>",
                ))
            }
        },
    };
    let (mut parts, body) = req.into_parts();
    if !principal.is_admin() {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        // HEAD is answered by the GET route, so it is allowed as that GET.
        let method = if parts.method == Method::HEAD {
            Method::GET
        } else {
            parts.method.clone()
        };
        let allow = allowed(&method, &route);
        let param = |name: &str, params: &RawPathParams| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let params = parts
            .extract::<RawPathParams>()
            .await
            .map_err(|_| ApiError::bad_request("invalid_path", "path is not valid UTF-8"))?;
        if !permits(&state, &principal, allow, |n| param(n, &params)).await? {
            return Err(insufficient_scope());
        }
    }
    parts.extensions.insert(principal);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The dashboard's session (its cookie) on `GET /api/stream`, the one `/api`
/// route it opens: a page's script follows the live stream with it, and browsers'
/// `EventSource` cannot send an `Authorization` header. SameSite=Strict keeps the
/// cookie off other sites' requests, and a GET of the stream changes nothing.
async fn session_for_stream(
    state: &AppState,
    method: &Method,
    route: Option<&MatchedPath>,
    headers: &http::HeaderMap,
) -> Option<Principal> {
    if method != Method::GET || route.map(MatchedPath::as_str) != Some("/api/stream") {
        return None;
    }
    crate::http::ui::session::principal(state, headers)
        .await
        .map(|(p, _)| p)
}

/// Whether a non-admin `p` may call a route that allows `allow`; `param` reads the
/// route's path parameters. A task or question that does not exist lets the call
/// through, so the handler answers 404 as it would for anyone.
async fn permits(
    state: &AppState,
    p: &Principal,
    allow: Allow,
    param: impl Fn(&str) -> Option<String>,
) -> Result<bool, ApiError> {
    if allow.read && p.can_read() || allow.feedback && p.is_feedback() {
        return Ok(true);
    }
    if allow.task_token {
        if let (Some(token_task), Some(id)) = (p.task(), param("id")) {
            return Ok(token_task == id);
        }
    }
    let Some(of) = allow.agent else {
        return Ok(false);
    };
    if p.agent().is_none() {
        return Ok(false);
    }
    let concerned = match of {
        AgentOf::Any => return Ok(true),
        AgentOf::Path => param("name"),
        AgentOf::Task => {
            let Some(id) = param("id") else {
                return Ok(false);
            };
            match state.engine.store.get_task(&id).await? {
                Some(t) => Some(t.agent),
                None => return Ok(true),
            }
        }
        AgentOf::Question => {
            let Some(id) = param("id") else {
                return Ok(false);
            };
            match state.engine.store.get_question(&id).await? {
                Some(q) => q.agent,
                None => return Ok(true),
            }
        }
        AgentOf::Checkpoint => {
            let Some(id) = param("id") else {
                return Ok(false);
            };
            match state.engine.store.get_checkpoint(&id).await? {
                Some(c) => c.agent,
                None => return Ok(true),
            }
        }
    };
    Ok(concerned.is_some_and(|name| p.acts_for(&name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_routes_are_for_admins_only() {
        assert_eq!(
            allowed(&Method::GET, "/api/destinations/{id}/secret"),
            ADMIN
        );
        assert_eq!(allowed(&Method::POST, "/api/webhooks"), ADMIN);
        assert_eq!(allowed(&Method::DELETE, "/api/keys/{key_id}"), ADMIN);
        assert_eq!(allowed(&Method::GET, "/api/events"), READ);
        assert_eq!(allowed(&Method::POST, "/api/events"), ADMIN);
    }

    #[test]
    fn read_is_declared_on_gets_only() {
        for (m, p, a) in RULES {
            if a.read {
                assert_eq!(*m, Method::GET, "{p}");
            }
            assert!(!p.ends_with("/secret"), "{p} shows a secret");
        }
    }
}
