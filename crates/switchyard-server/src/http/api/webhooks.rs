//! `/api/webhooks`: seed 002's registry — list, create, get, replace, delete,
//! enable and disable. Commands are in [`super::commands`], the interactive calls in
//! [`super::interactive`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::destinations::RotateBody;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Body, OptionalJson, Path};
use crate::http::views::{WebhookList, WebhookView};
use crate::state::AppState;

/// `GET /api/webhooks`: every webhook, and config files that could not be loaded.
#[utoipa::path(
    get,
    path = "/api/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every webhook, and config files that did not load", body = WebhookList)
    ),
    security(("bearer" = [])),
)]
pub async fn list(State(st): State<AppState>) -> Json<WebhookList> {
    let r = &st.engine.registry;
    Json(WebhookList {
        webhooks: r
            .all()
            .iter()
            .map(|e| WebhookView::new(e, None, st.engine.webhook_warnings(e)))
            .collect(),
        file_errors: r.file_errors().into_iter().map(Into::into).collect(),
    })
}

/// `GET /api/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/api/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let e = st.engine.webhook(&id)?;
    Ok(Json(WebhookView::new(
        &e,
        None,
        st.engine.webhook_warnings(&e),
    )))
}

/// `POST /api/webhooks` with seed 002's `WebhookConfig`; the secret is shown once.
#[utoipa::path(
    post,
    path = "/api/webhooks",
    tag = "webhooks",
    request_body(content = switchyard_core::routing::WebhookConfig, description = "Seed 002's `WebhookConfig`"),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = WebhookView),
        (status = 409, description = "A webhook with this id exists")
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let saved = st.engine.create_webhook(&caller.who(), &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookView::new(
            &saved.entry,
            saved.secret_once.as_deref(),
            st.engine.webhook_warnings(&saved.entry),
        )),
    ))
}

/// `PUT /api/webhooks/{id}`: replaces the definition; without a secret in the body
/// the stored secrets are kept.
#[utoipa::path(
    put,
    path = "/api/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    request_body(content = switchyard_core::routing::WebhookConfig),
    responses(
        (status = 200, description = "Replaced", body = WebhookView),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Json<WebhookView>, ApiError> {
    let saved = st.engine.replace_webhook(&caller.who(), &id, &body).await?;
    Ok(Json(WebhookView::new(
        &saved.entry,
        saved.secret_once.as_deref(),
        st.engine.webhook_warnings(&saved.entry),
    )))
}

/// `DELETE /api/webhooks/{id}`.
#[utoipa::path(
    delete,
    path = "/api/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_webhook(&caller.who(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/webhooks/{id}/enable`.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/enable",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "Enabled", body = WebhookView),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn enable(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let e = st
        .engine
        .set_webhook_enabled(&caller.who(), &id, true)
        .await?;
    Ok(Json(WebhookView::new(
        &e,
        None,
        st.engine.webhook_warnings(&e),
    )))
}

/// `POST /api/webhooks/{id}/disable`.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/disable",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "Disabled", body = WebhookView),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn disable(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let e = st
        .engine
        .set_webhook_enabled(&caller.who(), &id, false)
        .await?;
    Ok(Json(WebhookView::new(
        &e,
        None,
        st.engine.webhook_warnings(&e),
    )))
}

/// `POST /api/webhooks/{id}/secret/rotate {"secret"?}`: one new secret (given, or
/// generated) replaces the webhook's secrets and is shown once; the old ones stop
/// verifying at once.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/secret/rotate",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    request_body(content = Option<RotateBody>, description = "Optional: an empty body generates the secret"),
    responses(
        (status = 200, description = "Rotated; the new secret is shown this once", body = WebhookView),
        (status = 404, description = "No such webhook"),
        (status = 409, description = "The webhook is defined by a config file")
    ),
    security(("bearer" = [])),
)]
pub async fn rotate_secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<RotateBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let saved = st
        .engine
        .rotate_webhook_secret(&caller.who(), &id, b.secret)
        .await?;
    Ok(Json(WebhookView::new(
        &saved.entry,
        saved.secret_once.as_deref(),
        st.engine.webhook_warnings(&saved.entry),
    )))
}
