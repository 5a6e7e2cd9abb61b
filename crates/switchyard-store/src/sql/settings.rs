//! Key-value settings the server keeps (the admin key's hash, the master key check).

use super::Stmt;

pub(crate) fn get(key: &str) -> Stmt<'_> {
    let mut s = Stmt::new("SELECT value FROM settings WHERE key = ");
    s.push_bind(key);
    s
}

/// Stores `value` under `key`; with `replace` an existing value is overwritten,
/// otherwise it wins.
pub(crate) fn put<'a>(key: &'a str, value: &'a str, replace: bool) -> Stmt<'a> {
    let mut s = Stmt::new("INSERT INTO settings (key, value) ");
    s.push_values([(key, value)], |(k, v)| vec![k.into(), v.into()]);
    s.push(if replace {
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    } else {
        " ON CONFLICT (key) DO NOTHING"
    });
    s
}
