//! `/api/destinations`: each destination's settings (limits, FIFO), on/off switch,
//! bulk recovery of dead letters and Standard-Webhooks signing secret.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchyard_engine::deliveries::DestinationSettings;
use switchyard_store::Destination;

use crate::http::auth::Caller;
use crate::http::error::{ApiError, Json as Body, OptionalJson, Path};
use crate::http::views::{DestinationList, DestinationView, Recovered, RotatedSecret, SecretView};
use crate::state::AppState;

fn view(st: &AppState, d: &Destination) -> DestinationView {
    DestinationView::new(d, st.engine.destination_live(&d.destination_id))
}

/// `GET /api/destinations`.
#[utoipa::path(
    get,
    path = "/api/destinations",
    tag = "destinations",
    responses(
        (status = 200, description = "Every destination", body = DestinationList)
    ),
    security(("bearer" = [])),
)]
pub async fn list(State(st): State<AppState>) -> Result<Json<DestinationList>, ApiError> {
    let rows = st.engine.list_destinations().await?;
    Ok(Json(DestinationList {
        destinations: rows.iter().map(|d| view(&st, d)).collect(),
    }))
}

/// `GET /api/destinations/{id}` (an id, or the URL it stands for).
#[utoipa::path(
    get,
    path = "/api/destinations/{id}",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    responses(
        (status = 200, description = "The destination", body = DestinationView),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DestinationView>, ApiError> {
    let d = st.engine.destination(&id).await?;
    Ok(Json(view(&st, &d)))
}

/// `POST /api/destinations {"url", ...settings}`: sets a URL's destination up before
/// (or after) its first message; 201 when new, 200 when it existed.
#[utoipa::path(
    post,
    path = "/api/destinations",
    tag = "destinations",
    request_body(content = DestinationSettings),
    responses(
        (status = 201, description = "Created", body = DestinationView),
        (status = 200, description = "It existed; its settings are updated", body = DestinationView)
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<DestinationSettings>,
) -> Result<(StatusCode, Json<DestinationView>), ApiError> {
    let (d, created) = st.engine.create_destination(&caller.who(), &b).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&st, &d))))
}

/// `PUT /api/destinations/{id}`: changes limits and ordering.
#[utoipa::path(
    put,
    path = "/api/destinations/{id}",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    request_body(content = DestinationSettings),
    responses(
        (status = 200, description = "Updated", body = DestinationView),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<DestinationSettings>,
) -> Result<Json<DestinationView>, ApiError> {
    let d = st.engine.update_destination(&caller.who(), &id, &b).await?;
    Ok(Json(view(&st, &d)))
}

/// `POST /api/destinations/{id}/enable`: deliveries resume, oldest first.
#[utoipa::path(
    post,
    path = "/api/destinations/{id}/enable",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    responses(
        (status = 200, description = "Enabled", body = DestinationView),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn enable(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DestinationView>, ApiError> {
    let d = st
        .engine
        .set_destination_enabled(&caller.who(), &id, true)
        .await?;
    Ok(Json(view(&st, &d)))
}

/// `POST /api/destinations/{id}/disable`: pending deliveries wait.
#[utoipa::path(
    post,
    path = "/api/destinations/{id}/disable",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    responses(
        (status = 200, description = "Disabled", body = DestinationView),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn disable(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DestinationView>, ApiError> {
    let d = st
        .engine
        .set_destination_enabled(&caller.who(), &id, false)
        .await?;
    Ok(Json(view(&st, &d)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// RFC 3339; dead letters created at or after it are sent again.
    since: String,
}

/// `POST /api/destinations/{id}/recover {"since"}`.
#[utoipa::path(
    post,
    path = "/api/destinations/{id}/recover",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    request_body(content = RecoverBody),
    responses(
        (status = 202, description = "Dead letters queued again", body = Recovered),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn recover(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<RecoverBody>,
) -> Result<(StatusCode, Json<Recovered>), ApiError> {
    let (destination_id, requeued) = st.engine.recover_destination(&id, &b.since).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Recovered {
            destination_id,
            requeued,
        }),
    ))
}

/// `GET /api/destinations/{id}/secret`: the signing secret receivers verify with
/// (each reveal is in the audit log).
#[utoipa::path(
    get,
    path = "/api/destinations/{id}/secret",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    responses(
        (status = 200, description = "The signing secret; the reveal is written to the audit log", body = SecretView),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SecretView>, ApiError> {
    let (destination_id, secret) = st.engine.destination_secret(&caller.who(), &id).await?;
    Ok(Json(SecretView {
        destination_id,
        secret,
    }))
}

/// `{"secret"?}`: the body of a secret rotation (destinations and webhooks).
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The new secret; generated (`whsec_...`) when absent.
    pub secret: Option<String>,
}

/// `POST /api/destinations/{id}/secret/rotate {"secret"?}`: a new secret signs from
/// now on; the old one signs too until the grace period ends.
#[utoipa::path(
    post,
    path = "/api/destinations/{id}/secret/rotate",
    tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`), or the URL it stands for")),
    request_body(content = Option<RotateBody>, description = "Optional: an empty body generates the secret"),
    responses(
        (status = 200, description = "Rotated; the new secret is shown", body = RotatedSecret),
        (status = 404, description = "No such destination")
    ),
    security(("bearer" = [])),
)]
pub async fn rotate_secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<RotateBody>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let r = st
        .engine
        .rotate_destination_secret(&caller.who(), &id, b.secret)
        .await?;
    Ok(Json(RotatedSecret {
        destination_id: r.destination.destination_id,
        secret: r.secret,
        previous_secret_expires_at: r
            .destination
            .previous_expires_at
            .map(switchyard_engine::time::rfc3339),
    }))
}
