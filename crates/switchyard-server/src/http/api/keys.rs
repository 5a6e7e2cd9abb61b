//! `/api/keys`: API keys with scopes. A key is shown once, in the answer that
//! creates it; listings never carry the key or its hash; a revoked key is refused
//! from the next request on.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchyard_engine::access::KeyInput;

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Json as Body, Path};
use crate::http::views::{CreatedKeyView, KeyList, KeyView};
use crate::state::AppState;

/// `GET /api/keys`.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every key (never the key itself)", body = KeyList)
    ),
    security(("bearer" = [])),
)]
pub async fn list(State(st): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = st.engine.list_keys().await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// `POST /api/keys {"name", "scopes": [...]}`: 201 with the key, shown this once.
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    request_body(content = KeyInput),
    responses(
        (status = 201, description = "Created; the key is shown this once", body = CreatedKeyView)
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<KeyInput>,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    let created = st.engine.create_key(&caller.who(), &b).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyView {
            view: KeyView::from(&created.key),
            key: created.secret,
        }),
    ))
}

/// `DELETE /api/keys/{key_id}`: revoked at once.
#[utoipa::path(
    delete,
    path = "/api/keys/{key_id}",
    tag = "keys",
    params(("key_id" = String, Path, description = "The key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live key")
    ),
    security(("bearer" = [])),
)]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.engine.revoke_key(&caller.who(), &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
