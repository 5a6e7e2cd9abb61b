//! Agents that take tasks, by lease (pull) or by push.

use super::Stmt;
use crate::model::Agent;
use crate::state::DbText;

const AGENT_COLUMNS: &str = "name, description, mode, url, secret, created_at, updated_at";

/// Creates or replaces an agent; `created_at` stays the first one.
/// Creates an agent unless its name exists.
pub(crate) fn insert(a: &Agent) -> Stmt<'_> {
    let mut s = values(a);
    s.push(" ON CONFLICT (name) DO NOTHING");
    s
}

pub(crate) fn put(a: &Agent) -> Stmt<'_> {
    let mut s = values(a);
    s.push(
        " ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
         mode = excluded.mode, url = excluded.url, secret = excluded.secret, \
         updated_at = excluded.updated_at",
    );
    s
}

fn values(a: &Agent) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO agents ({AGENT_COLUMNS}) "));
    s.push_values([a], |a| {
        vec![
            a.name.as_str().into(),
            a.description.as_str().into(),
            a.mode.to_db().into(),
            a.url.as_deref().into(),
            a.secret.as_deref().into(),
            a.created_at.into(),
            a.updated_at.into(),
        ]
    });
    s
}

pub(crate) fn get(name: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!("SELECT {AGENT_COLUMNS} FROM agents WHERE name = "));
    s.push_bind(name);
    s
}

pub(crate) fn list() -> Stmt<'static> {
    Stmt::new(format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY name"))
}

pub(crate) fn delete(name: &str) -> Stmt<'_> {
    let mut s = Stmt::new("DELETE FROM agents WHERE name = ");
    s.push_bind(name);
    s
}
