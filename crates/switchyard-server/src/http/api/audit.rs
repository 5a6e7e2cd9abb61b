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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    resource_kind: Option<String>,
    resource_id: Option<String>,
    key_id: Option<String>,
    action: Option<String>,
    /// RFC 3339; changes at or after it.
    since: Option<String>,
    /// RFC 3339; changes at or before it.
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `a, b, c`: the names a filter takes.
fn names<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /api/audit?resource_kind=&resource_id=&key_id=&action=&since=&until=`.
pub async fn list(
    State(st): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = check_limit(p.limit)?;
    let resource_kind = p
        .resource_kind
        .map(|k| k.parse::<ResourceKind>())
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("resource_kind must be one of {}", names(ResourceKind::ALL)),
            )
        })?;
    let action = p
        .action
        .map(|a| a.parse::<AuditAction>())
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("action must be one of {}", names(AuditAction::ALL)),
            )
        })?;
    let q = AuditQuery {
        resource_kind,
        resource_id: p.resource_id,
        key_id: p.key_id,
        action,
        since: check_time("since", p.since)?,
        until: check_time("until", p.until)?,
        before: check_cursor("aud", p.cursor)?,
        limit,
    };
    let rows = st.engine.audit_log(&q).await?;
    Ok(Json(AuditPage {
        next_cursor: next_cursor(&rows, limit, |a| &a.audit_id),
        audit: rows.iter().map(AuditView::from).collect(),
    }))
}
