//! The `/api` guard: `Authorization: Bearer <admin key>`, checked against the
//! key's hash in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Middleware guarding `/api`: `Authorization: Bearer <admin key>`.
pub async fn require_admin(
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
        });
    match token {
        Some(t) if state.engine.admin.check(t.trim()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::unauthorized(
            "invalid_api_key",
            "the API key is not valid",
        )),
        None => Err(ApiError::unauthorized(
            "missing_api_key",
            "send the admin API key as Authorization: Bearer <key>",
        )),
    }
}
