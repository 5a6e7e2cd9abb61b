//! The audit log of configuration changes: one row per change, written in the
//! change's transaction; listed newest first with filters and a cursor.

use super::Stmt;
use crate::model::{AuditQuery, NewAudit};
use crate::state::DbText;

const AUDIT_COLUMNS: &str =
    "audit_id, at, key_id, action, resource_kind, resource_id, before_json, after_json";

pub(crate) fn insert(a: &NewAudit) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) "));
    s.push_values([a], |a| {
        vec![
            a.audit_id.as_str().into(),
            a.at.into(),
            a.key_id.as_str().into(),
            a.action.to_db().into(),
            a.resource_kind.to_db().into(),
            a.resource_id.as_str().into(),
            a.before.as_deref().into(),
            a.after.as_deref().into(),
        ]
    });
    s
}

pub(crate) fn list(q: &AuditQuery) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
    if let Some(k) = q.resource_kind {
        s.push(" AND resource_kind = ").push_bind(k.to_db());
    }
    if let Some(id) = &q.resource_id {
        s.push(" AND resource_id = ").push_bind(id.as_str());
    }
    if let Some(k) = &q.key_id {
        s.push(" AND key_id = ").push_bind(k.as_str());
    }
    if let Some(a) = q.action {
        s.push(" AND action = ").push_bind(a.to_db());
    }
    if let Some(t) = q.since {
        s.push(" AND at >= ").push_bind(t);
    }
    if let Some(t) = q.until {
        s.push(" AND at <= ").push_bind(t);
    }
    if let Some(c) = &q.before {
        s.push(" AND audit_id < ").push_bind(c.as_str());
    }
    s.push(" ORDER BY audit_id DESC LIMIT ").push_bind(q.limit);
    s
}
