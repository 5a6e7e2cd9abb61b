//! Seed 002's `WebhookConfig` as the API receives it: arbitrary bytes are parsed,
//! validated, compiled and, when they compile, routed against a realistic event.
//! Nothing may panic, and validation must agree with compilation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_core::routing::{CompiledWebhook, EventView, WebhookConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = WebhookConfig::from_json(data) else {
        return;
    };
    let errors = cfg.validate();
    let compiled = CompiledWebhook::compile(&cfg);
    assert_eq!(errors.is_empty(), compiled.is_ok(), "validate and compile disagree");
    if let Ok(c) = compiled {
        let payload = serde_json::json!({
            "action": "opened",
            "issue": {"number": 1, "title": "T", "body": "@agent hi", "labels": [{"name": "bug"}],
                      "fields": {"summary": "S", "labels": ["x"]}, "key": "K-1"},
            "comment": {"body": "@agent"},
            "label": {"name": "urgent"},
            "text": "hello", "channel_name": "engineering",
        });
        for event_type in ["issues.opened", "issue_comment.created", "jira:issue_created", "message.channels"] {
            let view = EventView {
                event_id: "evt_1",
                webhook_id: "w",
                provider: "github",
                event_type,
                payload: &payload,
                source: Some("o/r"),
                subject: None,
                actor: Some("a"),
                thread_key: Some("github:o/r#1"),
            };
            let _ = c.route(&view);
        }
    }
});
