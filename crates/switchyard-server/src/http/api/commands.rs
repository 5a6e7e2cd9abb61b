//! `/api/webhooks/{id}/commands`: a webhook's commands, added, replaced and removed
//! one at a time (seed 002).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchyard_core::routing::CommandConfig;

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Body, Path};
use crate::http::views::CommandList;
use crate::state::AppState;

/// `GET /api/webhooks/{id}/commands`.
#[utoipa::path(
    get,
    path = "/api/webhooks/{id}/commands",
    tag = "commands",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "The webhook's commands", body = CommandList),
        (status = 404, description = "No such webhook")
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CommandList>, ApiError> {
    Ok(Json(CommandList {
        commands: st.engine.commands(&id)?,
    }))
}

/// `POST /api/webhooks/{id}/commands`.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/commands",
    tag = "commands",
    params(("id" = String, Path, description = "The webhook id")),
    request_body(content = CommandConfig),
    responses(
        (status = 201, description = "Added", body = CommandConfig),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "A command with this id exists, or the webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn add(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<(StatusCode, Json<CommandConfig>), ApiError> {
    let cmd = st.engine.add_command(&caller.who(), &id, &body).await?;
    Ok((StatusCode::CREATED, Json(cmd)))
}

/// `PUT /api/webhooks/{id}/commands/{cmd_id}`.
#[utoipa::path(
    put,
    path = "/api/webhooks/{id}/commands/{cmd_id}",
    tag = "commands",
    params(("id" = String, Path, description = "The webhook id"), ("cmd_id" = String, Path, description = "The command id")),
    request_body(content = CommandConfig),
    responses(
        (status = 200, description = "Replaced", body = CommandConfig),
        (status = 404, description = "No such webhook or command"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path((id, cmd_id)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Json<CommandConfig>, ApiError> {
    Ok(Json(
        st.engine
            .replace_command(&caller.who(), &id, &cmd_id, &body)
            .await?,
    ))
}

/// `DELETE /api/webhooks/{id}/commands/{cmd_id}`.
#[utoipa::path(
    delete,
    path = "/api/webhooks/{id}/commands/{cmd_id}",
    tag = "commands",
    params(("id" = String, Path, description = "The webhook id"), ("cmd_id" = String, Path, description = "The command id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook or command"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path((id, cmd_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    st.engine
        .delete_command(&caller.who(), &id, &cmd_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
