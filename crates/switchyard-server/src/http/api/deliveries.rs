//! `/api/deliveries`: what the delivery engine did with each outbox message (every
//! attempt, with status, latency and the start of the answer) and manual retry.
//! `/api/outbox` is session one's name for the same list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchyard_engine::deliveries::resolve_destination;
use switchyard_store::{DeliveryQuery, DeliveryStatus, OutboxKind};

use super::{check_cursor, check_limit, check_status, next_cursor};
use crate::http::error::{ApiError, Path, Query};
use crate::http::views::{AttemptView, DeliveryPage, DeliveryView, OutboxList};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    destination: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/deliveries?status=&destination=&kind=`: newest first. `destination`
/// takes an id (`dst_...`) or the URL / key it stands for.
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let status = check_status(p.status.as_deref(), DeliveryStatus::ALL)?;
    // An unknown kind matches no message.
    let kind = match &p.kind {
        Some(k) => match k.parse::<OutboxKind>() {
            Ok(k) => Some(k),
            Err(_) => {
                return Ok(Json(DeliveryPage {
                    deliveries: Vec::new(),
                    next_cursor: None,
                }))
            }
        },
        None => None,
    };
    let q = DeliveryQuery {
        status,
        destination_id: p.destination.as_deref().map(resolve_destination),
        kind,
        before: check_cursor("msg", p.cursor)?,
        limit,
    };
    let rows = st.engine.list_deliveries(&q).await?;
    Ok(Json(DeliveryPage {
        next_cursor: next_cursor(&rows, limit, |d| &d.outbox_id),
        deliveries: rows.iter().map(DeliveryView::from).collect(),
    }))
}

/// `GET /api/deliveries/{id}`: the delivery and every attempt.
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let (d, attempts) = st.engine.delivery(&id).await?;
    let mut v = DeliveryView::from(&d);
    v.attempt_log = Some(attempts.iter().map(AttemptView::from).collect());
    Ok(Json(v))
}

/// `POST /api/deliveries/{id}/retry`: sends the message again now — a dead letter
/// gets one more attempt, a delivered message is sent once more (same `webhook-id`).
pub async fn retry(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let d = st.engine.retry_delivery(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    limit: Option<i64>,
}

/// `GET /api/outbox`: newest first.
pub async fn outbox(
    State(st): State<AppState>,
    Query(p): Query<OutboxParams>,
) -> Result<Json<OutboxList>, ApiError> {
    let q = DeliveryQuery {
        limit: check_limit(p.limit)?,
        ..Default::default()
    };
    let rows = st.engine.list_deliveries(&q).await?;
    Ok(Json(OutboxList {
        outbox: rows.iter().map(DeliveryView::from).collect(),
    }))
}
