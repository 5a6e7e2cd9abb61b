//! `/api/deliveries` and `/api/destinations`: what the delivery engine did with each
//! outbox message (every attempt, with status, latency and the start of the answer),
//! manual retry and bulk recovery, and each destination's settings, signing secret
//! and on/off switch.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::{now_micros, Delivery, DeliveryAttempt, DeliveryQuery, Destination};
use switchyard_store::{DeliveryStatus, DestinationKind, OutboxKind};

use crate::api::{check_limit, rfc3339};
use crate::delivery::{self, engine};
use crate::error::{ApiError, ApiJson, FieldsError};
use crate::AppState;

fn opt_time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// A delivery as the API shows it.
pub fn delivery_json(d: &Delivery) -> Value {
    let payload = serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null);
    json!({
        "id": d.outbox_id,
        "delivery_id": d.outbox_id,
        "kind": d.kind,
        "status": d.status,
        "destination_id": d.destination_id,
        "destination": payload.get("destination"),
        "ordering_key": d.ordering_key,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "command_id": d.command_id,
        "attempts": d.attempts,
        // A parked message waits for its destination to be enabled, not for a time.
        "next_attempt_at": if d.status == DeliveryStatus::Pending && d.next_attempt_at < switchyard_store::PARKED {
            json!(rfc3339(d.next_attempt_at))
        } else {
            Value::Null
        },
        "waiting_for_destination": d.status == DeliveryStatus::Pending && d.next_attempt_at >= switchyard_store::PARKED,
        "last_attempt_at": opt_time(d.last_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": opt_time(d.delivered_at),
        "created_at": rfc3339(d.created_at),
        "payload": payload,
    })
}

fn attempt_json(a: &DeliveryAttempt) -> Value {
    json!({
        "attempt": a.attempt,
        "started_at": rfc3339(a.started_at),
        "status_code": a.status_code,
        "latency_ms": a.latency_micros as f64 / 1000.0,
        "response": a.response_excerpt,
        "error": a.error,
    })
}

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
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = check_limit(p.limit)?;
    let status = match &p.status {
        Some(s) => Some(s.parse::<DeliveryStatus>().map_err(|_| {
            ApiError::bad_request(
                "invalid_status",
                "status must be pending, delivered or failed",
            )
        })?),
        None => None,
    };
    // An unknown kind matches no message.
    let kind = match &p.kind {
        Some(k) => match k.parse::<OutboxKind>() {
            Ok(k) => Some(k),
            Err(_) => return Ok(Json(json!({"deliveries": [], "next_cursor": null}))),
        },
        None => None,
    };
    let q = DeliveryQuery {
        status,
        destination_id: p.destination.as_deref().map(resolve_destination),
        kind,
        before: p.cursor,
        limit,
    };
    let rows = st.store.list_deliveries(&q).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|d| d.outbox_id.clone()))
        .flatten();
    let rows: Vec<Value> = rows.iter().map(delivery_json).collect();
    Ok(Json(json!({"deliveries": rows, "next_cursor": next})))
}

/// A destination id, or the id of the URL / key given instead.
fn resolve_destination(s: &str) -> String {
    if s.starts_with("dst_") {
        s.to_owned()
    } else if s.starts_with("http://") || s.starts_with("https://") {
        delivery::destination_id(&delivery::url_key(s))
    } else {
        delivery::destination_id(s)
    }
}

fn no_delivery(id: &str) -> ApiError {
    ApiError::not_found("unknown_delivery", format!("no delivery {id:?}"))
}

/// `GET /api/deliveries/{id}`: the delivery and every attempt.
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = st
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| no_delivery(&id))?;
    let attempts: Vec<Value> = st
        .store
        .list_attempts(&id)
        .await?
        .iter()
        .map(attempt_json)
        .collect();
    let mut v = delivery_json(&d);
    v["attempt_log"] = json!(attempts);
    Ok(Json(v))
}

/// `POST /api/deliveries/{id}/retry`: sends the message again now — a dead letter
/// gets one more attempt, a delivered message is sent once more (same `webhook-id`).
pub async fn retry(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = st
        .store
        .retry_delivery(&id, now_micros())
        .await?
        .ok_or_else(|| no_delivery(&id))?;
    st.engine.wake();
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&d))).into_response())
}

fn destination_json(st: &AppState, d: &Destination) -> Value {
    let live = st.engine.live(&d.destination_id).unwrap_or_default();
    json!({
        "id": d.destination_id,
        "destination_id": d.destination_id,
        "url": d.url,
        "kind": d.kind,
        "enabled": d.disabled_at.is_none(),
        "disabled_at": opt_time(d.disabled_at),
        "disabled_reason": d.disabled_reason,
        "max_concurrency": d.max_concurrency,
        "rate_per_second": d.rate_per_second,
        "burst": d.burst,
        "fifo": d.fifo,
        "signing": d.secret.is_some(),
        "previous_secret_expires_at": opt_time(d.previous_expires_at.filter(|t| *t > now_micros())),
        "circuit": if live.circuit.is_empty() { "closed" } else { live.circuit },
        "in_flight": live.in_flight,
        "queued": live.queued,
        "concurrency_limit": live.concurrency_limit,
        "created_at": rfc3339(d.created_at),
        "updated_at": rfc3339(d.updated_at),
    })
}

fn no_destination(id: &str) -> ApiError {
    ApiError::not_found("unknown_destination", format!("no destination {id:?}"))
}

async fn destination(st: &AppState, id: &str) -> Result<Destination, ApiError> {
    st.store
        .get_destination(&resolve_destination(id))
        .await?
        .ok_or_else(|| no_destination(id))
}

/// `GET /api/destinations`.
pub async fn list_destinations(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = st
        .store
        .list_destinations()
        .await?
        .iter()
        .map(|d| destination_json(&st, d))
        .collect();
    Ok(Json(json!({"destinations": rows})))
}

/// `GET /api/destinations/{id}`.
pub async fn get_destination(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = destination(&st, &id).await?;
    Ok(Json(destination_json(&st, &d)))
}

/// A destination's settings; absent fields keep their value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// Only for `POST /api/destinations`: the URL the destination stands for.
    url: Option<String>,
    max_concurrency: Option<i64>,
    rate_per_second: Option<f64>,
    burst: Option<i64>,
    fifo: Option<bool>,
}

fn check_settings(b: &SettingsBody) -> Result<(), FieldsError> {
    let mut errors = Vec::new();
    if b.max_concurrency
        .is_some_and(|n| !(1..=10_000).contains(&n))
    {
        errors.push(("max_concurrency".into(), "must be 1 to 10000".into()));
    }
    if b.rate_per_second
        .is_some_and(|r| !(r.is_finite() && r > 0.0 && r <= 1_000_000.0))
    {
        errors.push((
            "rate_per_second".into(),
            "must be above 0 (per second)".into(),
        ));
    }
    if b.burst.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
        errors.push(("burst".into(), "must be 1 or more".into()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(FieldsError(errors))
    }
}

fn apply(d: &mut Destination, b: &SettingsBody) {
    if b.max_concurrency.is_some() {
        d.max_concurrency = b.max_concurrency;
    }
    if b.rate_per_second.is_some() {
        d.rate_per_second = b.rate_per_second;
    }
    if b.burst.is_some() {
        d.burst = b.burst;
    }
    if let Some(f) = b.fifo {
        d.fifo = f;
    }
    d.updated_at = now_micros();
}

/// `POST /api/destinations {"url", ...settings}`: sets a URL's destination up before
/// (or after) its first message; answers the destination, created or updated.
pub async fn create_destination(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<SettingsBody>,
) -> Result<Response, ApiError> {
    if let Err(e) = check_settings(&b) {
        return Ok(e.into_response());
    }
    let Some(url) = b
        .url
        .as_deref()
        .filter(|u| reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    else {
        return Ok(FieldsError(vec![(
            "url".into(),
            "is required (an http or https URL)".into(),
        )])
        .into_response());
    };
    let key = delivery::url_key(url);
    let id = delivery::destination_id(&key);
    let (mut d, status) = match st.store.get_destination(&id).await? {
        Some(d) => (d, StatusCode::OK),
        None => {
            let now = now_micros();
            let d = Destination {
                destination_id: id.clone(),
                url: key,
                kind: DestinationKind::Http,
                max_concurrency: None,
                rate_per_second: None,
                burst: None,
                fifo: false,
                secret: Some(st.sealer.seal(engine::new_secret().as_bytes())),
                previous_secret: None,
                previous_expires_at: None,
                disabled_at: None,
                disabled_reason: None,
                created_at: now,
                updated_at: now,
            };
            (d, StatusCode::CREATED)
        }
    };
    apply(&mut d, &b);
    st.store.put_destination(&d).await?;
    st.engine.forget(&id);
    Ok((status, Json(destination_json(&st, &d))).into_response())
}

/// `PUT /api/destinations/{id}`: changes limits and ordering.
pub async fn put_destination(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SettingsBody>,
) -> Result<Response, ApiError> {
    if let Err(e) = check_settings(&b) {
        return Ok(e.into_response());
    }
    if b.url.is_some() {
        return Ok(FieldsError(vec![(
            "url".into(),
            "cannot change; a destination is its URL".into(),
        )])
        .into_response());
    }
    let mut d = destination(&st, &id).await?;
    apply(&mut d, &b);
    st.store.put_destination(&d).await?;
    st.engine.forget(&d.destination_id);
    Ok(Json(destination_json(&st, &d)).into_response())
}

async fn set_enabled(st: &AppState, id: &str, enabled: bool) -> Result<Json<Value>, ApiError> {
    let d = destination(st, id).await?;
    let reason = (!enabled).then_some("disabled through the API");
    st.store
        .set_destination_disabled(&d.destination_id, reason, now_micros())
        .await?;
    st.engine.forget(&d.destination_id);
    let d = destination(st, id).await?;
    Ok(Json(destination_json(st, &d)))
}

/// `POST /api/destinations/{id}/enable`: deliveries resume, oldest first.
pub async fn enable(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&st, &id, true).await
}

/// `POST /api/destinations/{id}/disable`: pending deliveries wait.
pub async fn disable(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(&st, &id, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// RFC 3339; dead letters created at or after it are sent again.
    since: String,
}

/// `POST /api/destinations/{id}/recover {"since"}`: every dead-lettered delivery of
/// the destination created since then is queued again.
pub async fn recover(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RecoverBody>,
) -> Result<Response, ApiError> {
    let Ok(since) =
        time::OffsetDateTime::parse(&b.since, &time::format_description::well_known::Rfc3339)
    else {
        return Ok(
            FieldsError(vec![("since".into(), "must be an RFC 3339 time".into())]).into_response(),
        );
    };
    let d = destination(&st, &id).await?;
    let since = (since.unix_timestamp_nanos() / 1_000) as i64;
    let n = st
        .store
        .recover_destination(&d.destination_id, since, now_micros())
        .await?;
    st.engine.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"destination_id": d.destination_id, "requeued": n})),
    )
        .into_response())
}

/// `GET /api/destinations/{id}/secret`: the signing secret receivers verify with.
pub async fn get_secret(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = destination(&st, &id).await?;
    let secret = match &d.secret {
        Some(s) => Some(
            String::from_utf8(st.sealer.open(s).map_err(ApiError::internal)?)
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    Ok(Json(
        json!({"destination_id": d.destination_id, "secret": secret}),
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The new secret (`whsec_...`); generated when absent.
    secret: Option<String>,
}

/// `POST /api/destinations/{id}/secret/rotate`: a new secret signs from now on; the
/// old one signs too (a second `v1,` entry) until the grace period ends.
pub async fn rotate_secret(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let secret = b.secret.unwrap_or_else(engine::new_secret);
    if switchyard_core::sig::standard_secret_key(&secret).is_none_or(|k| k.len() < 16) {
        return Ok(FieldsError(vec![(
            "secret".into(),
            "must be whsec_ and base64 of at least 16 bytes".into(),
        )])
        .into_response());
    }
    let mut d = destination(&st, &id).await?;
    let now = now_micros();
    d.previous_secret = d.secret.take();
    d.previous_expires_at = Some(now + st.config.delivery.secret_grace.as_micros() as i64);
    d.secret = Some(st.sealer.seal(secret.as_bytes()));
    d.updated_at = now;
    st.store.put_destination(&d).await?;
    st.engine.forget(&d.destination_id);
    Ok(Json(json!({
        "destination_id": d.destination_id,
        "secret": secret,
        "previous_secret_expires_at": opt_time(d.previous_expires_at),
    }))
    .into_response())
}
