//! `/api/deliveries`: what the delivery engine did with each outbox message (every
//! attempt, with status, latency and the start of the answer), manual retry of one
//! and bulk retry of what a filter selects. `/api/outbox` is session one's name for
//! the same list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchyard_engine::deliveries::resolve_destination;
use switchyard_store::{DeliveryQuery, DeliveryStatus, OutboxKind};

use super::{check_cursor, check_limit, check_status, check_time, next_cursor};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Json as Body, Path, Query};
use crate::http::views::{AttemptView, BulkRetried, DeliveryPage, DeliveryView, OutboxList};
use crate::state::AppState;

/// What selects deliveries, as the list, the bulk retry and the dashboard take
/// it: the one place its names and meaning are read.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// `pending`, `delivered` or `failed` (`dead` is read as `failed`: a dead letter).
    pub status: Option<String>,
    /// An id (`dst_...`) or the URL / key it stands for.
    pub destination: Option<String>,
    pub kind: Option<String>,
    /// RFC 3339; created at or after it.
    pub since: Option<String>,
    /// RFC 3339; created at or before it.
    pub until: Option<String>,
}

/// The status filter's one word that is not a [`DeliveryStatus`]: a dead letter,
/// read as `failed`.
const DEAD: &str = "dead";

/// `status` as the list and the bulk retry take it, in the OpenAPI document: a
/// delivery status, or `dead`.
pub struct StatusFilter;

impl utoipa::PartialSchema for StatusFilter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let names: Vec<&str> = DeliveryStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .chain([DEAD])
            .collect();
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A delivery status, or `dead` (a dead letter, read as `failed`).",
            ))
            .enum_values(Some(names))
            .into()
    }
}

impl utoipa::ToSchema for StatusFilter {
    fn name() -> std::borrow::Cow<'static, str> {
        "DeliveryStatusFilter".into()
    }
}

/// A parameter as given: an empty value (a form's unset field) is none.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

impl DeliveryFilter {
    /// The store's query (cursor and limit unset), or `None` when the filter can
    /// match nothing (an unknown kind); 400 for a bad status or time.
    pub fn query(&self) -> Result<Option<DeliveryQuery>, ApiError> {
        // An empty value (a form's unset field) filters nothing.
        let status = match given(&self.status) {
            Some(DEAD) => Some(DeliveryStatus::Failed),
            s => check_status(s, DeliveryStatus::ALL)?,
        };
        let kind = match given(&self.kind) {
            Some(k) => match k.parse::<OutboxKind>() {
                Ok(k) => Some(k),
                Err(_) => return Ok(None),
            },
            None => None,
        };
        Ok(Some(DeliveryQuery {
            status,
            destination_id: given(&self.destination).map(resolve_destination),
            kind,
            since: check_time("since", given(&self.since))?,
            until: check_time("until", given(&self.until))?,
            ..DeliveryQuery::default()
        }))
    }
}

/// `GET /api/deliveries`' query, which the dashboard's list takes too.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `pending`, `delivered` or `failed` (`dead`, a dead letter, reads as `failed`).
    #[param(value_type = Option<StatusFilter>)]
    pub status: Option<String>,
    /// A destination id (`dst_...`) or the URL / key it stands for
    /// (`destination_id` is read too).
    #[serde(alias = "destination_id")]
    pub destination: Option<String>,
    /// An outbox kind; an unknown one matches no message.
    #[param(value_type = Option<OutboxKind>)]
    pub kind: Option<String>,
    /// RFC 3339; created at or after it.
    pub since: Option<String>,
    /// RFC 3339; created at or before it.
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl ListParams {
    pub fn filter(&self) -> DeliveryFilter {
        DeliveryFilter {
            status: self.status.clone(),
            destination: self.destination.clone(),
            kind: self.kind.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
        }
    }

    /// The store's query for this page, or `None` when it can match nothing.
    pub fn query(&self) -> Result<Option<DeliveryQuery>, ApiError> {
        let limit = check_limit(self.limit)?;
        let before = check_cursor("msg", self.cursor.clone().filter(|c| !c.is_empty()))?;
        Ok(self
            .filter()
            .query()?
            .map(|q| DeliveryQuery { before, limit, ..q }))
    }
}

/// `GET /api/deliveries?status=&destination=&kind=&since=&until=`: newest first.
/// `destination` takes an id (`dst_...`) or the URL / key it stands for.
#[utoipa::path(
    get,
    path = "/api/deliveries",
    tag = "deliveries",
    params(ListParams),
    responses(
        (status = 200, description = "A page of deliveries, newest first", body = DeliveryPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let Some(q) = p.query()? else {
        return Ok(Json(DeliveryPage {
            deliveries: Vec::new(),
            next_cursor: None,
        }));
    };
    let rows = st.engine.list_deliveries(&q).await?;
    Ok(Json(DeliveryPage {
        next_cursor: next_cursor(&rows, q.limit, |d| &d.outbox_id),
        deliveries: rows.iter().map(DeliveryView::from).collect(),
    }))
}

/// `GET /api/deliveries/{id}`: the delivery and every attempt.
#[utoipa::path(
    get,
    path = "/api/deliveries/{id}",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id (`msg_…`)")),
    responses(
        (status = 200, description = "The delivery and every attempt", body = DeliveryView),
        (status = 404, description = "No such delivery")
    ),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    post,
    path = "/api/deliveries/{id}/retry",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id (`msg_…`)")),
    responses(
        (status = 202, description = "Queued for another attempt", body = DeliveryView),
        (status = 404, description = "No such delivery"),
        (status = 409, description = "The message is being sent now")
    ),
    security(("bearer" = [])),
)]
pub async fn retry(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let d = st.engine.retry_delivery(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))))
}

/// `POST /api/deliveries/retry`'s body: the list's filters (at least a status or a
/// destination) and whether only to count.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRetryBody {
    /// `pending` or `failed` (`dead`, a dead letter, reads as `failed`); delivered
    /// messages are never retried in bulk.
    #[schema(value_type = Option<StatusFilter>)]
    status: Option<String>,
    /// A destination id (`dst_...`) or the URL / key it stands for
    /// (`destination` is read too).
    #[serde(alias = "destination")]
    destination_id: Option<String>,
    /// An outbox kind; an unknown one is refused (400 `invalid_kind`).
    #[schema(value_type = Option<OutboxKind>)]
    kind: Option<String>,
    /// RFC 3339; created at or after it.
    since: Option<String>,
    /// RFC 3339; created at or before it.
    until: Option<String>,
    /// Only count what would be retried.
    #[serde(default)]
    dry_run: bool,
}

impl BulkRetryBody {
    pub fn new(filter: DeliveryFilter, dry_run: bool) -> Self {
        Self {
            status: filter.status,
            destination_id: filter.destination,
            kind: filter.kind,
            since: filter.since,
            until: filter.until,
            dry_run,
        }
    }
}

/// Runs a bulk retry as `who`: the API's and the dashboard's one way to it.
pub async fn bulk_retry(
    st: &AppState,
    who: &str,
    b: BulkRetryBody,
) -> Result<BulkRetried, ApiError> {
    let filter = DeliveryFilter {
        status: b.status,
        destination: b.destination_id,
        kind: b.kind,
        since: b.since,
        until: b.until,
    };
    // Unlike the list, an unknown kind is refused: a typo must not look like a
    // retry that found nothing to do.
    let q = filter.query()?.ok_or_else(|| {
        let kinds: Vec<String> = OutboxKind::ALL.iter().map(ToString::to_string).collect();
        ApiError::bad_request(
            "invalid_kind",
            format!("kind must be one of {}", kinds.join(", ")),
        )
    })?;
    let r = st.engine.retry_deliveries(who, &q, b.dry_run).await?;
    Ok(BulkRetried {
        matched: r.matched,
        retried: r.retried,
        dry_run: b.dry_run,
    })
}

/// `POST /api/deliveries/retry {"status"?, "destination_id"?, "kind"?, "since"?,
/// "until"?, "dry_run"?}`: retries every pending or dead-lettered delivery the
/// filter selects (at least a status or a destination, else 400), or with
/// `dry_run` only counts them.
#[utoipa::path(
    post,
    path = "/api/deliveries/retry",
    tag = "deliveries",
    request_body(content = BulkRetryBody, description = "The list's filters (at least `status` or `destination_id`) and `dry_run`"),
    responses(
        (status = 200, description = "How many the filter selects, and how many were queued again (0 on a dry run)", body = BulkRetried),
        (status = 400, description = "Neither `status` nor `destination_id`, an unknown `kind`, or a bad status or time")
    ),
    security(("bearer" = [])),
)]
pub async fn retry_many(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<BulkRetryBody>,
) -> Result<Json<BulkRetried>, ApiError> {
    Ok(Json(bulk_retry(&st, &caller.who(), b).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/outbox`: newest first.
#[utoipa::path(
    get,
    path = "/api/outbox",
    tag = "deliveries",
    params(OutboxParams),
    responses(
        (status = 200, description = "Outbox messages, newest first", body = OutboxList)
    ),
    security(("bearer" = [])),
)]
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
