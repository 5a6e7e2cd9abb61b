//! Agents and their tasks: `/api/agents`, the pull queue (`tasks/lease` with
//! long-poll and a visibility timeout) and `/api/tasks`. A task is held by one lease
//! at a time; heartbeat, complete and fail name that lease, so a consumer whose
//! lease expired (and whose task went to someone else) gets 409, not a second
//! completion.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::{
    new_id, now_micros, Agent, Effect, NewOutbox, Task, TaskFinish, TaskQuery, TaskUpdate,
};
use switchyard_store::{AgentMode, OutboxKind, TaskStatus};

use crate::api::rfc3339;
use crate::error::{ApiError, ApiJson, FieldsError};
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "pull")]
    pub mode: String,
    pub url: Option<String>,
    pub secret: Option<String>,
}

fn pull() -> String {
    "pull".into()
}

fn agent_json(a: &Agent) -> Value {
    json!({
        "name": a.name,
        "description": a.description,
        "mode": a.mode,
        "url": a.url,
        "secret": a.secret.as_ref().map(|_| "********"),
        "created_at": rfc3339(a.created_at),
        "updated_at": rfc3339(a.updated_at),
    })
}

/// Checks an agent body; `name` is the path's name for PUT.
fn validate_agent(name: &str, b: &AgentBody) -> Result<(), FieldsError> {
    let mut errs = Vec::new();
    if let Err(e) = switchyard_core::WebhookId::parse(name) {
        errs.push(("name".to_owned(), e.to_string()));
    }
    if !matches!(b.mode.as_str(), "pull" | "push") {
        errs.push(("mode".to_owned(), "must be \"pull\" or \"push\"".to_owned()));
    }
    match (&b.url, b.mode.as_str()) {
        (None, "push") => errs.push(("url".to_owned(), "a push agent needs a url".to_owned())),
        (Some(u), _) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            errs.push(("url".to_owned(), "must be an http or https URL".to_owned()))
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(FieldsError(errs))
    }
}

fn record(st: &AppState, name: &str, b: AgentBody, created_at: i64) -> Agent {
    Agent {
        name: name.to_owned(),
        description: b.description,
        mode: if b.mode == "push" {
            AgentMode::Push
        } else {
            AgentMode::Pull
        },
        url: b.url,
        secret: b.secret.map(|s| st.sealer.seal(s.as_bytes())),
        created_at,
        updated_at: now_micros(),
    }
}

pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let agents: Vec<Value> = st
        .store
        .list_agents()
        .await?
        .iter()
        .map(agent_json)
        .collect();
    Ok(Json(json!({"agents": agents})))
}

pub async fn create(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<AgentBody>,
) -> Result<Response, ApiError> {
    let name = b.name.clone().unwrap_or_default();
    if let Err(e) = validate_agent(&name, &b) {
        return Ok(e.into_response());
    }
    if st.store.get_agent(&name).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_exists",
            format!("agent {name:?} exists; PUT to replace it"),
        ));
    }
    let a = record(&st, &name, b, now_micros());
    st.store.put_agent(&a).await?;
    agents_changed(&st, &name).await?;
    Ok((StatusCode::CREATED, Json(agent_json(&a))).into_response())
}

pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = st
        .store
        .get_agent(&name)
        .await?
        .ok_or_else(|| no_agent(&name))?;
    Ok(Json(agent_json(&a)))
}

pub async fn put(
    State(st): State<AppState>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<AgentBody>,
) -> Result<Response, ApiError> {
    if b.name.as_deref().is_some_and(|n| n != name) {
        return Ok(FieldsError(vec![(
            "name".into(),
            "must match the name in the path".into(),
        )])
        .into_response());
    }
    if let Err(e) = validate_agent(&name, &b) {
        return Ok(e.into_response());
    }
    let existing = st.store.get_agent(&name).await?;
    let created_at = existing.as_ref().map_or_else(now_micros, |a| a.created_at);
    let keep_secret = existing.and_then(|a| a.secret);
    let mut a = record(&st, &name, b, created_at);
    // A PUT without a secret keeps the old one: secrets are write-only.
    if a.secret.is_none() {
        a.secret = keep_secret;
    }
    st.store.put_agent(&a).await?;
    agents_changed(&st, &name).await?;
    Ok(Json(agent_json(&a)).into_response())
}

pub async fn delete(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.store.delete_agent(&name).await? {
        agents_changed(&st, &name).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_agent(&name))
    }
}

/// Routing learns which agents are pushed to; the engine re-reads the agent's URL
/// and secret.
async fn agents_changed(st: &AppState, name: &str) -> Result<(), ApiError> {
    st.registry.set_agents(&st.store.list_agents().await?);
    let key = crate::delivery::agent_key(name);
    st.engine.forget(&crate::delivery::destination_id(&key));
    Ok(())
}

fn no_agent(name: &str) -> ApiError {
    ApiError::not_found("unknown_agent", format!("no agent {name:?}"))
}

pub fn task_json(t: &Task) -> Value {
    let result = t
        .result
        .as_deref()
        .map(|r| serde_json::from_str::<Value>(r).unwrap_or_else(|_| Value::String(r.to_owned())));
    json!({
        "task_id": t.task_id,
        "agent": t.agent,
        "status": t.status,
        "message": t.message,
        "event_id": t.event_id,
        "command_id": t.command_id,
        "webhook_id": t.webhook_id,
        "attempts": t.attempts,
        "lease_id": if t.status == TaskStatus::Leased { t.lease_id.as_deref() } else { None },
        "lease_expires_at": if t.status == TaskStatus::Leased { t.lease_expires_at.map(rfc3339) } else { None },
        "result": result,
        "error": t.error,
        "created_at": rfc3339(t.created_at),
        "updated_at": rfc3339(t.updated_at),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseBody {
    max: Option<i64>,
    wait_seconds: Option<u64>,
    lease_seconds: Option<i64>,
}

/// `POST /api/agents/{name}/tasks/lease`: up to `max` tasks, waiting up to
/// `wait_seconds` (≤ 60) for one to arrive; each is invisible to other consumers for
/// `lease_seconds`.
pub async fn lease(
    State(st): State<AppState>,
    Path(agent): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    // An empty body means the defaults: one task, no waiting.
    let b: LeaseBody = if body.iter().all(u8::is_ascii_whitespace) {
        LeaseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?
    };
    let max = b.max.unwrap_or(1);
    let wait = b.wait_seconds.unwrap_or(0);
    let lease_secs = b.lease_seconds.unwrap_or(300);
    let mut errs = Vec::new();
    if !(1..=100).contains(&max) {
        errs.push(("max", "must be between 1 and 100"));
    }
    if wait > 60 {
        errs.push(("wait_seconds", "must be at most 60"));
    }
    if !(1..=86_400).contains(&lease_secs) {
        errs.push(("lease_seconds", "must be between 1 and 86400"));
    }
    if let Some((field, msg)) = errs.first() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("{field} {msg}"),
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        // Register interest before looking, so a task created in between wakes us.
        let notified = st.tasks_ready.notified();
        let tasks = st
            .store
            .lease_tasks(&agent, max, lease_secs * 1_000_000)
            .await?;
        let now = tokio::time::Instant::now();
        if !tasks.is_empty() || now >= deadline {
            let tasks: Vec<Value> = tasks.iter().map(task_json).collect();
            return Ok(Json(json!({"tasks": tasks})));
        }
        // Other replicas create tasks too: look again at least every 250 ms.
        let nap = (deadline - now).min(Duration::from_millis(250));
        tokio::select! {
            _ = notified => {},
            _ = tokio::time::sleep(nap) => {},
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    lease_id: String,
    lease_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    lease_id: String,
    #[serde(default)]
    result: Option<Value>,
    /// Follow-up actions, carried out once the completion commits.
    #[serde(default)]
    actions: Vec<FollowUp>,
}

/// What a finished task asks for next: `comment` (or `ask`) on the thread of the
/// event the task came from, or `forward` to a URL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    action: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailBody {
    lease_id: String,
    #[serde(default)]
    error: String,
    /// Back to the queue (default) or to `failed`.
    #[serde(default = "yes")]
    retry: bool,
}

fn yes() -> bool {
    true
}

fn answer(update: TaskUpdate, task_id: &str) -> Result<Json<Value>, ApiError> {
    match update {
        TaskUpdate::Done(t) => Ok(Json(task_json(&t))),
        TaskUpdate::NotFound => Err(ApiError::not_found(
            "unknown_task",
            format!("no task {task_id:?}"),
        )),
        TaskUpdate::Conflict(t) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "lease_lost",
            format!(
                "task {task_id:?} is not held under this lease (it is {})",
                t.status
            ),
        )),
    }
}

pub async fn heartbeat(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HeartbeatBody>,
) -> Result<Json<Value>, ApiError> {
    let secs = b.lease_seconds.unwrap_or(300).clamp(1, 86_400);
    answer(
        st.store
            .heartbeat_task(&id, &b.lease_id, secs * 1_000_000)
            .await?,
        &id,
    )
}

pub async fn complete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CompleteBody>,
) -> Result<Response, ApiError> {
    let effects = match follow_ups(&st, &id, &b.actions).await? {
        Ok(e) => e,
        Err(fields) => return Ok(fields.into_response()),
    };
    let result = b.result.map(|v| v.to_string());
    let out = answer(
        st.store
            .finish_task(&id, &b.lease_id, &TaskFinish::Complete { result }, &effects)
            .await?,
        &id,
    )?;
    if !effects.is_empty() {
        st.engine.wake();
    }
    Ok(out.into_response())
}

/// The outbox messages a completion's follow-up actions stand for; 422 for actions
/// that cannot be carried out.
async fn follow_ups(
    st: &AppState,
    task_id: &str,
    actions: &[FollowUp],
) -> Result<Result<Vec<Effect>, FieldsError>, ApiError> {
    if actions.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let task = st
        .store
        .get_task(task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_task", format!("no task {task_id:?}")))?;
    let event = match &task.event_id {
        Some(e) => st.store.get_event(e).await?,
        None => None,
    };
    let payload: Value = event
        .as_ref()
        .and_then(|e| serde_json::from_str(&e.payload).ok())
        .unwrap_or(Value::Null);
    let mut errors = Vec::new();
    let mut effects = Vec::new();
    let now = now_micros();
    for (i, a) in actions.iter().enumerate() {
        let at = |f: &str| format!("actions[{i}].{f}");
        let Some(message) = a.message.clone() else {
            errors.push((at("message"), "is required".to_owned()));
            continue;
        };
        let (kind, body, key, ordering) = match a.action.as_str() {
            "comment" | "ask" => {
                let Some(e) = &event else {
                    errors.push((at("action"), "the task has no event to answer".to_owned()));
                    continue;
                };
                let entry = st.registry.get(&e.webhook_id);
                let target = crate::route::target_json(
                    &e.provider,
                    e.source.as_deref(),
                    e.subject.as_deref(),
                    e.thread_key.as_deref(),
                    &payload,
                );
                let (key, _) = crate::route::writeback_destination(
                    st,
                    entry.as_deref(),
                    &e.provider,
                    e.subject.as_deref(),
                    e.thread_key.as_deref(),
                    &payload,
                );
                let field = if a.action == "ask" {
                    "question"
                } else {
                    "message"
                };
                let mut body = json!({"target": target});
                body[field] = json!(message);
                (
                    if a.action == "ask" {
                        OutboxKind::Ask
                    } else {
                        OutboxKind::Comment
                    },
                    body,
                    key,
                    e.thread_key.clone(),
                )
            }
            "forward" => {
                let Some(url) = a.url.as_deref().filter(|u| reqwest::Url::parse(u).is_ok()) else {
                    errors.push((at("url"), "is required (an absolute URL)".to_owned()));
                    continue;
                };
                let body = json!({
                    "url": url,
                    "message": message,
                    "body": {
                        "type": "task.completed",
                        "timestamp": rfc3339(now),
                        "data": {
                            "task_id": task.task_id,
                            "agent": task.agent,
                            "message": message,
                            "event_id": task.event_id,
                            "webhook_id": task.webhook_id,
                        }
                    }
                });
                (
                    OutboxKind::Forward,
                    body,
                    crate::delivery::url_key(url),
                    None,
                )
            }
            other => {
                errors.push((
                    at("action"),
                    format!("{other:?} is not comment, ask or forward"),
                ));
                continue;
            }
        };
        let mut body = body;
        body["destination"] = json!(key);
        effects.push(Effect::Outbox(NewOutbox {
            outbox_id: new_id("msg"),
            kind,
            webhook_id: task.webhook_id.clone(),
            event_id: task.event_id.clone(),
            command_id: task.command_id.clone(),
            payload: body.to_string(),
            idempotency_key: format!("{task_id}:followup:{i}"),
            created_at: now,
            destination_id: crate::delivery::destination_id(&key),
            ordering_key: ordering,
        }));
    }
    if errors.is_empty() {
        Ok(Ok(effects))
    } else {
        Ok(Err(FieldsError(errors)))
    }
}

pub async fn fail(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<FailBody>,
) -> Result<Json<Value>, ApiError> {
    let finish = TaskFinish::Fail {
        error: b.error,
        retry: b.retry,
    };
    let out = answer(
        st.store.finish_task(&id, &b.lease_id, &finish, &[]).await?,
        &id,
    );
    if b.retry {
        st.tasks_ready.notify_waiters();
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    agent: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list_tasks(
    State(st): State<AppState>,
    params: Result<Query<TaskParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = crate::api::check_limit(p.limit)?;
    let status = match &p.status {
        Some(s) => Some(s.parse::<TaskStatus>().map_err(|_| {
            ApiError::bad_request(
                "invalid_status",
                "status must be queued, leased, completed or failed",
            )
        })?),
        None => None,
    };
    let q = TaskQuery {
        agent: p.agent,
        status,
        before: p.cursor,
        limit,
    };
    let tasks = st.store.list_tasks(&q).await?;
    let next = (tasks.len() as i64 == limit)
        .then(|| tasks.last().map(|t| t.task_id.clone()))
        .flatten();
    let tasks: Vec<Value> = tasks.iter().map(task_json).collect();
    Ok(Json(json!({"tasks": tasks, "next_cursor": next})))
}

pub async fn get_task(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = st
        .store
        .get_task(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_task", format!("no task {id:?}")))?;
    Ok(Json(task_json(&t)))
}
