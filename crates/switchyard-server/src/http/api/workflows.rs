//! `/api/workflows`: the workflow registry (issue 11) — list (with the folder's
//! broken files), register (seed 003's `{"name", "config_path"}` or `{"name",
//! "yaml"}`), get, replace, delete. Runs are elsewhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchyard_engine::workflows::WorkflowInput;

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Json as Body, Path};
use crate::http::views::{WorkflowList, WorkflowView};
use crate::state::AppState;

/// `GET /api/workflows`: every workflow served, and the files that did not load.
#[utoipa::path(
    get,
    path = "/api/workflows",
    tag = "workflows",
    responses(
        (status = 200, description = "Every workflow served, and files that did not load", body = WorkflowList)
    ),
    security(("bearer" = [])),
)]
pub async fn list(State(st): State<AppState>) -> Json<WorkflowList> {
    Json(WorkflowList {
        workflows: st
            .engine
            .list_workflows()
            .iter()
            .map(|l| WorkflowView::new(l, false))
            .collect(),
        file_errors: st
            .engine
            .workflows
            .file_errors()
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

/// `POST /api/workflows`: 201 with the workflow as served.
#[utoipa::path(
    post,
    path = "/api/workflows",
    tag = "workflows",
    request_body(content = WorkflowInput),
    responses(
        (status = 201, description = "Registered", body = WorkflowView),
        (status = 409, description = "A workflow with this name exists")
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<WorkflowInput>,
) -> Result<(StatusCode, Json<WorkflowView>), ApiError> {
    let l = st.engine.register_workflow(&caller.who(), input).await?;
    Ok((StatusCode::CREATED, Json(WorkflowView::new(&l, false))))
}

/// `GET /api/workflows/{name}`, with its YAML.
#[utoipa::path(
    get,
    path = "/api/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow name")),
    responses(
        (status = 200, description = "The workflow with its YAML", body = WorkflowView),
        (status = 404, description = "No such workflow")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let l = st.engine.workflow(&name)?;
    Ok(Json(WorkflowView::new(&l, true)))
}

/// `PUT /api/workflows/{name}`: registers or replaces it.
#[utoipa::path(
    put,
    path = "/api/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow name")),
    request_body(content = WorkflowInput),
    responses(
        (status = 200, description = "Registered or replaced", body = WorkflowView),
        (status = 409, description = "The workflow comes from the workflows folder")
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(input): Body<WorkflowInput>,
) -> Result<Json<WorkflowView>, ApiError> {
    let l = st
        .engine
        .replace_workflow(&caller.who(), &name, input)
        .await?;
    Ok(Json(WorkflowView::new(&l, false)))
}

/// `DELETE /api/workflows/{name}`.
#[utoipa::path(
    delete,
    path = "/api/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such workflow"),
        (status = 409, description = "The workflow comes from the workflows folder")
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_workflow(&caller.who(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
