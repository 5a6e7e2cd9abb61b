//! API keys: kept as the SHA-256 of the key, found by it, revoked in place.

use super::Stmt;
use crate::model::ApiKey;

const KEY_COLUMNS: &str = "key_id, name, key_hash, scopes, created_at, created_by, revoked_at";

/// Creates a key.
pub(crate) fn insert<'a>(k: &'a ApiKey, scopes_json: &'a str) -> Stmt<'a> {
    let mut s = Stmt::new(format!("INSERT INTO api_keys ({KEY_COLUMNS}) "));
    s.push_values([k], |k| {
        vec![
            k.key_id.as_str().into(),
            k.name.as_str().into(),
            k.key_hash.as_str().into(),
            scopes_json.into(),
            k.created_at.into(),
            k.created_by.as_str().into(),
            k.revoked_at.into(),
        ]
    });
    s
}

pub(crate) fn by_hash(key_hash: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = "
    ));
    s.push_bind(key_hash);
    s
}

pub(crate) fn get(key_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = "
    ));
    s.push_bind(key_id);
    s
}

pub(crate) fn list() -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY key_id"
    ))
}

/// Revokes a key that is not revoked yet.
pub(crate) fn revoke(key_id: &str, at: i64) -> Stmt<'_> {
    let mut s = Stmt::new("UPDATE api_keys SET revoked_at = ");
    s.push_bind(at)
        .push(" WHERE revoked_at IS NULL AND key_id = ")
        .push_bind(key_id);
    s
}
