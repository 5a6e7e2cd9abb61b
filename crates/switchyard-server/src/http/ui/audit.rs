//! `/ui/audit`: the audit log (who changed what, and each reveal of a secret and
//! bulk retry), newest first, filtered as `GET /api/audit` is, a page at a time.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use minijinja::{context, Value};
use switchyard_store::{AuditAction, ResourceKind};

use super::viewer::Viewer;
use super::{base, forbidden, page, UiError};
use crate::http::api::audit::ListParams;
use crate::http::api::next_cursor;
use crate::http::error::Query;
use crate::http::views::AuditView;
use crate::state::AppState;

/// `GET /ui/audit?resource_kind=&resource_id=&key_id=&action=&since=&until=&cursor=`.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, UiError> {
    if !v.may(&Method::GET, "/api/audit") {
        return Err(forbidden("this key may not read the audit log"));
    }
    let shown = context! {
        resource_kind => p.resource_kind.clone(), resource_id => p.resource_id.clone(),
        key_id => p.key_id.clone(), action => p.action.clone(),
        since => p.since.clone(), until => p.until.clone(),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            [
                ("resource_kind", &p.resource_kind),
                ("resource_id", &p.resource_id),
                ("key_id", &p.key_id),
                ("action", &p.action),
                ("since", &p.since),
                ("until", &p.until),
            ]
            .iter()
            .filter_map(|(k, v)| v.as_deref().filter(|s| !s.is_empty()).map(|v| (*k, v))),
        )
        .finish();
    let q = p.query()?;
    let rows = st.engine.audit_log(&q).await?;
    let entries: Vec<Value> = rows
        .iter()
        .map(AuditView::from)
        .map(|a| {
            let pretty = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
            };
            context! { before_json => pretty(&a.before), after_json => pretty(&a.after), ..Value::from_serialize(&a) }
        })
        .collect();
    let kinds: Vec<String> = ResourceKind::ALL.iter().map(ToString::to_string).collect();
    let actions: Vec<String> = AuditAction::ALL.iter().map(ToString::to_string).collect();
    page(
        "audit.html",
        context! {
            entries => entries,
            next_cursor => next_cursor(&rows, q.limit, |a| &a.audit_id),
            f => shown,
            query => query,
            kinds => kinds,
            actions => actions,
            ..base(&v, "audit")
        },
    )
}
