//! `/api/audit`: the log of configuration changes, newest first, filtered by
//! resource, key, action and time, a page at a time.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchyard_store::{AuditAction, AuditQuery, ResourceKind};

use super::{check_cursor, check_limit, check_time, next_cursor};
use crate::http::error::{ApiError, Query};
use crate::http::views::{AuditPage, AuditView};
use crate::state::AppState;

/// `GET /api/audit`'s query, which the dashboard's audit page takes too. An empty
/// value (a form's unset field) filters nothing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Option<switchyard_store::ResourceKind>)]
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    pub key_id: Option<String>,
    #[param(value_type = Option<switchyard_store::AuditAction>)]
    pub action: Option<String>,
    /// RFC 3339; changes at or after it.
    pub since: Option<String>,
    /// RFC 3339; changes at or before it.
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl ListParams {
    /// The store's query; 400 for a value it cannot take.
    pub fn query(self) -> Result<AuditQuery, ApiError> {
        let given = |v: Option<String>| v.filter(|s| !s.is_empty());
        let limit = check_limit(self.limit)?;
        let resource_kind = given(self.resource_kind)
            .map(|k| k.parse::<ResourceKind>())
            .transpose()
            .map_err(|_| bad_value("resource_kind", ResourceKind::ALL))?;
        let action = given(self.action)
            .map(|a| a.parse::<AuditAction>())
            .transpose()
            .map_err(|_| bad_value("action", AuditAction::ALL))?;
        Ok(AuditQuery {
            resource_kind,
            resource_id: given(self.resource_id),
            key_id: given(self.key_id),
            action,
            since: check_time("since", given(self.since).as_deref())?,
            until: check_time("until", given(self.until).as_deref())?,
            before: check_cursor("aud", given(self.cursor))?,
            limit,
        })
    }
}

/// 400 `invalid_query`: `param` must be one of `all`.
fn bad_value<T: std::fmt::Display>(param: &str, all: &[T]) -> ApiError {
    let names: Vec<String> = all.iter().map(ToString::to_string).collect();
    ApiError::bad_request(
        "invalid_query",
        format!("{param} must be one of {}", names.join(", ")),
    )
}

/// `GET /api/audit?resource_kind=&resource_id=&key_id=&action=&since=&until=`.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(ListParams),
    responses(
        (status = 200, description = "A page of changes, newest first", body = AuditPage)
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = p.query()?;
    let rows = st.engine.audit_log(&q).await?;
    Ok(Json(AuditPage {
        next_cursor: next_cursor(&rows, q.limit, |a| &a.audit_id),
        audit: rows.iter().map(AuditView::from).collect(),
    }))
}
