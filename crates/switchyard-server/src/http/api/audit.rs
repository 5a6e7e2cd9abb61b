//! `/api/audit`: the log of configuration changes, newest first, filtered by
//! resource, key, action and time, a page at a time.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchyard_store::{AuditAction, AuditQuery, ResourceKind};

use super::{check_cursor, check_limit, next_cursor};
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

fn time(param: &'static str, v: Option<String>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        switchyard_engine::time::parse_rfc3339(&s).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{param} must be an RFC 3339 time"))
        })
    })
    .transpose()
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
                "resource_kind must be webhook, command, agent, destination or key",
            )
        })?;
    let action = p
        .action
        .map(|a| a.parse::<AuditAction>())
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                "action must be create, update, delete, enable, disable or rotate",
            )
        })?;
    let q = AuditQuery {
        resource_kind,
        resource_id: p.resource_id,
        key_id: p.key_id,
        action,
        since: time("since", p.since)?,
        until: time("until", p.until)?,
        before: check_cursor("aud", p.cursor)?,
        limit,
    };
    let rows = st.engine.audit_log(&q).await?;
    Ok(Json(AuditPage {
        next_cursor: next_cursor(&rows, limit, |a| &a.audit_id),
        audit: rows.iter().map(AuditView::from).collect(),
    }))
}
