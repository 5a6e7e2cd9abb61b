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
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<WorkflowInput>,
) -> Result<(StatusCode, Json<WorkflowView>), ApiError> {
    let l = st.engine.register_workflow(&caller.who(), input).await?;
    Ok((StatusCode::CREATED, Json(WorkflowView::new(&l, false))))
}

/// `GET /api/workflows/{name}`, with its YAML.
pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let l = st.engine.workflow(&name)?;
    Ok(Json(WorkflowView::new(&l, true)))
}

/// `PUT /api/workflows/{name}`: registers or replaces it.
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
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_workflow(&caller.who(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
