//! The normalized event: what every accepted request becomes, whatever its provider.

use crate::EventType;

/// What a provider makes of a verified request. The store adds the id, webhook,
/// provider, received time and selected headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// Dotted event type rules match on (`issues.opened`).
    pub event_type: EventType,
    /// The provider's own delivery id (`X-GitHub-Delivery`, `webhook-id`, Stripe's
    /// `id`, ...). Redeliveries with the same id on the same webhook are duplicates.
    pub delivery_id: Option<String>,
    /// The body as JSON; form-encoded bodies are decoded first.
    pub payload: serde_json::Value,
    /// Where it happened: a repository, project or channel.
    pub source: Option<String>,
    /// What it is about: the issue, pull request or ticket URL.
    pub subject: Option<String>,
    /// Who did it.
    pub actor: Option<String>,
    /// The conversation the event belongs to; answers to questions match on it.
    pub thread_key: Option<String>,
    /// A body the sender expects back instead of the usual acknowledgement.
    pub reply: Option<Reply>,
}

impl Normalized {
    /// An event of `event_type` with nothing but its payload.
    pub fn new(event_type: EventType, payload: serde_json::Value) -> Self {
        Self {
            event_type,
            delivery_id: None,
            payload,
            source: None,
            subject: None,
            actor: None,
            thread_key: None,
            reply: None,
        }
    }
}

/// The answer a provider's handshake requires (Slack's `url_verification`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answer `200` with this JSON body.
    Json(serde_json::Value),
}

/// Reads a string at a JSON pointer (`/issue/html_url`), if it is one.
pub fn str_at(v: &serde_json::Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .map(str::to_owned)
}

/// Reads a string or a number at a JSON pointer as text.
pub fn text_at(v: &serde_json::Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
