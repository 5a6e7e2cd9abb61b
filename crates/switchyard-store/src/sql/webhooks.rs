//! Webhooks registered through the API or the CLI.

use super::Stmt;
use crate::model::WebhookRecord;

const WEBHOOK_COLUMNS: &str = "webhook_id, name, provider, enabled, secrets, config_json, \
     created_at, created_by, updated_at, api_token";

/// Creates a webhook unless its id exists.
pub(crate) fn insert(w: &WebhookRecord) -> Stmt<'_> {
    let mut s = values(w);
    s.push(" ON CONFLICT (webhook_id) DO NOTHING");
    s
}

/// Creates or replaces a webhook; `created_at` and `created_by` stay the first ones.
pub(crate) fn put(w: &WebhookRecord) -> Stmt<'_> {
    let mut s = values(w);
    s.push(
        " ON CONFLICT (webhook_id) DO UPDATE SET name = excluded.name, \
         provider = excluded.provider, enabled = excluded.enabled, \
         secrets = excluded.secrets, config_json = excluded.config_json, \
         updated_at = excluded.updated_at, api_token = excluded.api_token",
    );
    s
}

fn values(w: &WebhookRecord) -> Stmt<'_> {
    let mut s = Stmt::new(format!("INSERT INTO webhooks ({WEBHOOK_COLUMNS}) "));
    s.push_values([w], |w| {
        vec![
            w.webhook_id.as_str().into(),
            w.name.as_str().into(),
            w.provider.as_str().into(),
            w.enabled.into(),
            w.secrets.as_str().into(),
            w.config_json.as_str().into(),
            w.created_at.into(),
            w.created_by.as_str().into(),
            w.updated_at.into(),
            w.api_token.as_deref().into(),
        ]
    });
    s
}

pub(crate) fn get(webhook_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = "
    ));
    s.push_bind(webhook_id);
    s
}

pub(crate) fn list() -> Stmt<'static> {
    Stmt::new(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY webhook_id"
    ))
}

pub(crate) fn delete(webhook_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new("DELETE FROM webhooks WHERE webhook_id = ");
    s.push_bind(webhook_id);
    s
}

/// The registry's change counter (bumped by triggers, migration 0008).
pub(crate) fn registry_version() -> Stmt<'static> {
    Stmt::new("SELECT version FROM change_counters WHERE name = 'registry'")
}
