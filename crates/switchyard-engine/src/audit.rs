//! The audit log of configuration changes: who (a key id, `cli` for the command
//! line), what (the action, the resource and its state before and after, secrets
//! redacted) and when.
//!
//! Every change service builds its row here and hands it to the store method that
//! makes the change, which writes both in one transaction (and the row only if the
//! change touched anything). The snapshots below are the one place a resource is
//! turned into audit JSON, so a secret cannot slip into the log by one path.

use serde_json::{json, Map, Value};
use switchyard_core::routing::CommandConfig;
use switchyard_store::{
    new_id, now_micros, Agent, ApiKey, AuditAction, AuditEntry, AuditQuery, Destination, NewAudit,
    ResourceKind, WebhookRecord, WorkflowRecord,
};

use crate::app::Engine;
use crate::error::Result;

/// What a redacted secret reads as.
pub const REDACTED: &str = "********";

/// An audit row for a change `who` made to `kind` `id`, now.
pub fn record(
    who: &str,
    action: AuditAction,
    kind: ResourceKind,
    id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> NewAudit {
    NewAudit {
        audit_id: new_id("aud"),
        at: now_micros(),
        key_id: who.to_owned(),
        action,
        resource_kind: kind,
        resource_id: id.to_owned(),
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    }
}

/// The resource id of a command: `WEBHOOK_ID/COMMAND_ID`.
pub fn command_id(webhook_id: &str, command_id: &str) -> String {
    format!("{webhook_id}/{command_id}")
}

/// A webhook as the log shows it: its stored definition, with its secrets and API
/// token only counted or marked present.
pub fn webhook(r: &WebhookRecord) -> Value {
    let mut config = match serde_json::from_str::<Value>(&r.config_json) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    // The stored definition holds no secret (they are sealed apart); drop the
    // fields anyway, so the log never depends on that.
    for k in ["secret", "secrets", "api_token"] {
        config.remove(k);
    }
    let secrets = r.sealed_secrets().len();
    config.insert("webhook_id".into(), json!(r.webhook_id));
    config.insert("name".into(), json!(r.name));
    config.insert("provider".into(), json!(r.provider));
    config.insert("enabled".into(), json!(r.enabled));
    config.insert("secret".into(), json!((secrets > 0).then_some(REDACTED)));
    config.insert("secrets_count".into(), json!(secrets));
    config.insert(
        "api_token".into(),
        json!(r.api_token.as_ref().map(|_| REDACTED)),
    );
    Value::Object(config)
}

/// A command as the log shows it (commands hold no secrets).
pub fn command(c: &CommandConfig) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// A registered workflow: its name and source (workflows hold no secrets; they
/// name environment variables instead).
pub fn workflow(w: &WorkflowRecord) -> Value {
    json!({
        "name": w.name,
        "config_path": w.config_path,
        "yaml": w.yaml,
    })
}

/// An agent, its secret marked present.
pub fn agent(a: &Agent) -> Value {
    json!({
        "name": a.name,
        "description": a.description,
        "mode": a.mode,
        "url": a.url,
        "secret": a.secret.as_ref().map(|_| REDACTED),
    })
}

/// A destination's settings and state; its signing secrets marked present.
pub fn destination(d: &Destination) -> Value {
    json!({
        "destination_id": d.destination_id,
        "url": d.url,
        "kind": d.kind,
        "max_concurrency": d.max_concurrency,
        "rate_per_second": d.rate_per_second,
        "burst": d.burst,
        "fifo": d.fifo,
        "enabled": d.disabled_at.is_none(),
        "disabled_reason": d.disabled_reason,
        "secret": d.secret.as_ref().map(|_| REDACTED),
        "previous_secret": d.previous_secret.as_ref().map(|_| REDACTED),
        "previous_secret_expires_at": d.previous_expires_at.map(crate::time::rfc3339),
    })
}

/// An API key: never the key nor its hash.
pub fn key(k: &ApiKey) -> Value {
    json!({
        "key_id": k.key_id,
        "name": k.name,
        "scopes": k.scopes,
        "created_by": k.created_by,
        "revoked": k.revoked_at.is_some(),
    })
}

impl Engine {
    /// Recorded changes, newest first.
    pub async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        Ok(self.store.list_audit(q).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_snapshot_never_holds_its_secrets() {
        let r = WebhookRecord {
            webhook_id: "gh".into(),
            name: "gh".into(),
            provider: "github".into(),
            enabled: true,
            secrets: json!(["sealed-one", "sealed-two"]).to_string(),
            config_json: json!({"name": "gh", "provider": "github", "secret": "s3cret",
                                "api_token": "tok", "commands": []})
            .to_string(),
            created_at: 1,
            created_by: "api".into(),
            updated_at: 1,
            api_token: Some("sealed-token".into()),
        };
        let v = webhook(&r).to_string();
        for s in ["s3cret", "tok\"", "sealed-one", "sealed-token"] {
            assert!(!v.contains(s), "{s} in {v}");
        }
        let v = webhook(&r);
        assert_eq!(v["secret"], REDACTED);
        assert_eq!(v["secrets_count"], 2);
        assert_eq!(v["api_token"], REDACTED);
    }
}
