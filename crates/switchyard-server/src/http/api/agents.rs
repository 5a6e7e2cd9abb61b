//! `/api/agents`: agents that take tasks, by pull (lease) or push (a signed POST to
//! their URL). Their task queue is in [`super::tasks`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchyard_engine::tasks::{AgentInput, LeaseInput};

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Json as Body, OptionalJson, Path};
use crate::http::views::{AgentList, AgentView, LeasedTasks};
use crate::state::AppState;

/// `GET /api/agents`.
#[utoipa::path(
    get,
    path = "/api/agents",
    tag = "agents",
    responses(
        (status = 200, description = "Every agent", body = AgentList)
    ),
    security(("bearer" = [])),
)]
pub async fn list(State(st): State<AppState>) -> Result<Json<AgentList>, ApiError> {
    let agents = st.engine.list_agents().await?;
    Ok(Json(AgentList {
        agents: agents.iter().map(AgentView::from).collect(),
    }))
}

/// `POST /api/agents`.
#[utoipa::path(
    post,
    path = "/api/agents",
    tag = "agents",
    request_body(content = AgentInput),
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 409, description = "An agent with this name exists")
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<AgentInput>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let a = st.engine.create_agent(&caller.who(), b).await?;
    Ok((StatusCode::CREATED, Json(AgentView::from(&a))))
}

/// `GET /api/agents/{name}`.
#[utoipa::path(
    get,
    path = "/api/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent name")),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 404, description = "No such agent")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(AgentView::from(&st.engine.agent(&name).await?)))
}

/// `PUT /api/agents/{name}`: creates or replaces; without a secret the old one is kept.
#[utoipa::path(
    put,
    path = "/api/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent name")),
    request_body(content = AgentInput),
    responses(
        (status = 200, description = "Created or replaced", body = AgentView)
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(b): Body<AgentInput>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(AgentView::from(
        &st.engine.replace_agent(&caller.who(), &name, b).await?,
    )))
}

/// `DELETE /api/agents/{name}`.
#[utoipa::path(
    delete,
    path = "/api/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such agent")
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_agent(&caller.who(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/agents/{name}/tasks/lease {"max", "wait_seconds", "lease_seconds"}`:
/// an empty body means one task, no waiting, a 300 s lease.
#[utoipa::path(
    post,
    path = "/api/agents/{name}/tasks/lease",
    tag = "agents",
    params(("name" = String, Path, description = "The agent name")),
    request_body(content = Option<LeaseInput>, description = "Optional: an empty body leases one task without waiting, for 300 s"),
    responses(
        (status = 200, description = "The tasks leased (none when none was queued in time)", body = LeasedTasks),
        (status = 404, description = "No such agent")
    ),
    security(("bearer" = [])),
)]
pub async fn lease(
    State(st): State<AppState>,
    Path(agent): Path<String>,
    OptionalJson(b): OptionalJson<LeaseInput>,
) -> Result<Json<LeasedTasks>, ApiError> {
    let tasks = st.engine.lease_tasks(&agent, &b).await?;
    Ok(Json(LeasedTasks {
        tasks: tasks.iter().map(Into::into).collect(),
    }))
}
