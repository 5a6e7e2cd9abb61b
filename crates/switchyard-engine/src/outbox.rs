//! The outbox: the only place an outbound message is built.
//!
//! Everything that leaves Switchyard — a comment or question on the source thread, an
//! answer to a `response_url`, a signed forward, a task pushed to an agent, a workflow
//! run — is an `outbox` row, written in the same transaction as whatever caused it
//! (an event, an API call, a task completion). Routing, the interactive API and task
//! follow-ups all build their rows here, so the delivery engine reads one shape and
//! an `ask` always opens its question.
//!
//! A message's *destination* is what its limits, circuit breaker, signing secret and
//! on/off switch belong to: a forward URL, a push agent, or a provider's API. Its id
//! is derived from a key (`dst_` and a hash), so a message can name it without a read.
//!
//! The bodies the receivers get (a forward's Standard-Webhooks envelope, a task push)
//! are built here too; a forward's body is fixed when the message is made, so every
//! retry sends the same bytes.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchyard_core::writeback::{ApiBases, Credentials};
use switchyard_store::{
    new_id, Effect, Event, HistoryKind, NewEvent, NewHistory, NewOutbox, NewQuestion, OutboxKind,
    Task,
};

use crate::config::Config;
use crate::registry::{Entry, Registry};
use crate::time::rfc3339;

/// What caused a message: the rows it belongs to and the key that makes writing it
/// twice a no-op.
#[derive(Debug, Clone)]
pub struct Cause {
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    /// Unique per message; a second message with the same key is not written.
    pub idempotency_key: String,
    /// Unix micros.
    pub created_at: i64,
}

/// The thread a write-back answers: the event's provider, source and thread, and
/// (Slack) its `response_url`.
#[derive(Debug, Clone, Copy)]
pub struct Thread<'a> {
    pub webhook_id: &'a str,
    pub provider: &'a str,
    pub source: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub thread_key: Option<&'a str>,
    pub response_url: Option<&'a str>,
}

impl<'a> Thread<'a> {
    /// The thread of an event about to be stored.
    pub fn of_new(e: &'a NewEvent, payload: &'a Value) -> Self {
        Self {
            webhook_id: &e.webhook_id,
            provider: &e.provider,
            source: e.source.as_deref(),
            subject: e.subject.as_deref(),
            thread_key: e.thread_key.as_deref(),
            response_url: payload.get("response_url").and_then(Value::as_str),
        }
    }

    /// The thread of a stored event.
    pub fn of_event(e: &'a Event, payload: &'a Value) -> Self {
        Self {
            webhook_id: &e.webhook_id,
            provider: &e.provider,
            source: e.source.as_deref(),
            subject: e.subject.as_deref(),
            thread_key: e.thread_key.as_deref(),
            response_url: payload.get("response_url").and_then(Value::as_str),
        }
    }

    /// Where the sender posts: stored with the message.
    fn target_json(&self) -> Value {
        json!({
            "provider": self.provider,
            "source": self.source,
            "subject": self.subject,
            "thread_key": self.thread_key,
            "response_url": self.response_url,
        })
    }
}

/// A message built, with the rows that go with it.
#[derive(Debug, Clone)]
pub struct Built {
    /// The outbox row and, for `ask`, the question it opens.
    pub effects: Vec<Effect>,
    /// The message's id (`delivery_id` in answers).
    pub delivery_id: String,
    /// The question an `ask` opened.
    pub question_id: Option<String>,
}

impl Built {
    fn one(o: NewOutbox) -> Self {
        Self {
            delivery_id: o.outbox_id.clone(),
            effects: vec![Effect::Outbox(o)],
            question_id: None,
        }
    }
}

/// Builds outbound messages. Cheap to clone; reads the registry for a webhook's own
/// API settings and the configuration for the defaults.
#[derive(Clone)]
pub struct Outbox {
    api_bases: ApiBases,
    provider_tokens: std::collections::HashMap<String, Credentials>,
    registry: Registry,
}

impl Outbox {
    pub fn new(config: &Config, registry: Registry) -> Self {
        Self {
            api_bases: config.delivery.api_bases.clone(),
            provider_tokens: config.delivery.provider_tokens.clone(),
            registry,
        }
    }

    /// A comment posted on `thread`.
    pub fn comment(&self, cause: Cause, thread: &Thread<'_>, message: &str) -> Built {
        let body = json!({"message": message, "target": thread.target_json()});
        Built::one(self.writeback(OutboxKind::Comment, cause, thread, body))
    }

    /// A question posted on `thread`, and the question it opens; a reply on the
    /// thread answers it. The question is written only if its message is new, so
    /// repeating an `ask` with the same idempotency key opens nothing more.
    pub fn ask(&self, cause: Cause, thread: &Thread<'_>, question: &str) -> Built {
        let question_id = new_id("q");
        let body = json!({
            "question": question,
            "question_id": question_id,
            "target": thread.target_json(),
        });
        let o = self.writeback(OutboxKind::Ask, cause, thread, body);
        let q = NewQuestion {
            question_id: question_id.clone(),
            event_id: o.event_id.clone(),
            webhook_id: thread.webhook_id.to_owned(),
            command_id: o.command_id.clone(),
            thread_key: thread.thread_key.map(str::to_owned),
            asker: self
                .registry
                .get(thread.webhook_id)
                .and_then(|e| e.config.bot_user.clone()),
            question: question.to_owned(),
            created_at: o.created_at,
            posted_by: Some(o.outbox_id.clone()),
            agent: None,
        };
        Built {
            delivery_id: o.outbox_id.clone(),
            effects: vec![Effect::Outbox(o), Effect::Question(q)],
            question_id: Some(question_id),
        }
    }

    /// An answer to the sender: through the event's `response_url` when it has one
    /// (Slack), else on the thread.
    pub fn respond(&self, cause: Cause, thread: &Thread<'_>, response: &str) -> Built {
        let body = json!({"response": response, "target": thread.target_json()});
        Built::one(self.writeback(OutboxKind::Respond, cause, thread, body))
    }

    /// A signed POST of `body` to `url`. Messages with the same `ordering_key` to a
    /// FIFO destination are delivered in order.
    pub fn forward(
        &self,
        cause: Cause,
        url: &str,
        message: &str,
        body: Value,
        ordering_key: Option<String>,
    ) -> Built {
        let key = url_key(url);
        let payload = json!({"url": url, "message": message, "body": body, "destination": key});
        Built::one(row(OutboxKind::Forward, cause, payload, &key, ordering_key))
    }

    /// A task pushed to a push agent; the body is built when it is sent (it carries
    /// the task's current lease).
    pub fn task_push(&self, cause: Cause, task_id: &str, agent: &str) -> Built {
        let key = agent_key(agent);
        let payload = json!({"task_id": task_id, "agent": agent, "destination": key});
        Built::one(row(OutboxKind::TaskPush, cause, payload, &key, None))
    }

    /// A checkpoint's notification to a person: a Slack message to `url` (an
    /// incoming webhook, or a click's `response_url` for `purpose` `decided`) or
    /// an e-mail through the SMTP server `smtp_key` names. The text is built when
    /// it is sent, from the checkpoint as it is then (an e-mail's decision links
    /// are signed then too, so they are never stored).
    pub fn notify(
        &self,
        cause: Cause,
        checkpoint_id: &str,
        to: NotifyTarget<'_>,
        purpose: Purpose,
    ) -> Built {
        let (channel, key, target) = match to {
            NotifyTarget::Slack { url } => ("slack", url_key(url), json!({"url": url})),
            NotifyTarget::SlackChannel { channel } => (
                "slack",
                format!("slack:{}", self.api_bases.slack),
                json!({"slack_channel": channel}),
            ),
            NotifyTarget::Email { to, smtp_key } => {
                ("email", format!("smtp:{smtp_key}"), json!({"to": to}))
            }
        };
        let mut payload = json!({
            "channel": channel,
            "checkpoint_id": checkpoint_id,
            "purpose": purpose.as_str(),
            "destination": key,
            "history": step(checkpoint_id, HistoryKind::Notified, HistoryKind::Notified,
                json!({"channel": channel, "purpose": purpose.as_str()})),
        });
        merge(&mut payload, target);
        Built::one(row(OutboxKind::Notify, cause, payload, &key, None))
    }

    /// A checkpoint posted to `url`, signed per Standard Webhooks with the URL's
    /// destination secret: `{"type": event_type, "timestamp", "data": <checkpoint>}`,
    /// the checkpoint read when it is sent. `callback` (the checkpoint's
    /// `callback_url`) records `callback_delivered` / `callback_failed`; a
    /// `webhook` notification records `notified`.
    pub fn checkpoint_post(
        &self,
        cause: Cause,
        checkpoint_id: &str,
        url: &str,
        event_type: &str,
        callback: bool,
    ) -> Built {
        let key = url_key(url);
        let (ok, failed, channel) = match callback {
            true => (
                HistoryKind::CallbackDelivered,
                HistoryKind::CallbackFailed,
                "callback",
            ),
            false => (HistoryKind::Notified, HistoryKind::Notified, "webhook"),
        };
        let payload = json!({
            "url": url,
            "checkpoint_id": checkpoint_id,
            "type": event_type,
            "destination": key,
            "history": step(checkpoint_id, ok, failed,
                json!({"channel": channel, "type": event_type})),
        });
        Built::one(row(OutboxKind::Callback, cause, payload, &key, None))
    }

    /// The call that resumes the agent waiting on a checkpoint: `body` POSTed to
    /// `url` (`None`: not configured, so the attempt fails for good and the
    /// history says why). `resume` is `crewai` (the bearer token is added when it
    /// is sent, never stored) or `langgraph`.
    pub fn resume(
        &self,
        cause: Cause,
        checkpoint_id: &str,
        resume: &str,
        url: Option<&str>,
        body: Value,
    ) -> Built {
        let key = match url {
            Some(u) => url_key(u),
            None => format!("{resume}:unconfigured"),
        };
        let payload = json!({
            "resume": resume,
            "url": url,
            "body": body,
            "checkpoint_id": checkpoint_id,
            "destination": key,
            "history": step(checkpoint_id, HistoryKind::CallbackDelivered,
                HistoryKind::CallbackFailed, json!({"channel": resume})),
        });
        Built::one(row(OutboxKind::Resume, cause, payload, &key, None))
    }

    fn writeback(
        &self,
        kind: OutboxKind,
        cause: Cause,
        thread: &Thread<'_>,
        mut body: Value,
    ) -> NewOutbox {
        let key = self.writeback_key(thread);
        body["destination"] = json!(key);
        // Write-backs on one thread are posted in the order they were made.
        let ordering = thread.thread_key.map(str::to_owned);
        row(kind, cause, body, &key, ordering)
    }

    /// The destination key of a write-back on `thread`: the provider's API (or, for
    /// a Slack answer without a bot token, the `response_url`'s origin).
    fn writeback_key(&self, thread: &Thread<'_>) -> String {
        let entry: Option<std::sync::Arc<Entry>> = self.registry.get(thread.webhook_id);
        let has_token = entry.as_ref().is_some_and(|e| e.api.is_some())
            || self.provider_tokens.contains_key(thread.provider);
        writeback_key(
            &self.api_bases,
            thread,
            WebhookApi {
                base_override: entry
                    .as_ref()
                    .and_then(|e| e.config.api_base_url.as_deref()),
                has_token,
                allowed_hosts: entry.as_ref().map_or(&[][..], |e| &e.config.api_hosts),
            },
        )
    }
}

/// Where a checkpoint notification goes.
#[derive(Debug, Clone, Copy)]
pub enum NotifyTarget<'a> {
    /// An incoming webhook (or a click's `response_url`).
    Slack { url: &'a str },
    /// A channel the bot posts to (`chat.postMessage`).
    SlackChannel { channel: &'a str },
    /// `smtp_key`: `host:port` of the SMTP server (the destination).
    Email { to: &'a [String], smtp_key: &'a str },
}

/// Why a checkpoint notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The checkpoint was opened: a decision is needed.
    Pending,
    Reminder,
    Escalation,
    /// The outcome, replacing a Slack message whose button was clicked.
    Decided,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Pending => "pending",
            Purpose::Reminder => "reminder",
            Purpose::Escalation => "escalation",
            Purpose::Decided => "decided",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Purpose::Pending,
            Purpose::Reminder,
            Purpose::Escalation,
            Purpose::Decided,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// The checkpoint history step a message leaves when it is delivered (`ok`) or
/// dead-lettered (`failed`); read back by [`finished_step`].
fn step(checkpoint_id: &str, ok: HistoryKind, failed: HistoryKind, detail: Value) -> Value {
    json!({"checkpoint_id": checkpoint_id, "delivered": ok.as_str(), "failed": failed.as_str(),
        "detail": detail})
}

/// The history step of a finished checkpoint message (see [`step`]): its
/// checkpoint and what to record, given whether it was delivered; the detail
/// gains the message id and, on failure, the error. `None` for other messages.
pub fn finished_step(
    payload: &Value,
    delivery_id: &str,
    delivered: bool,
    error: Option<&str>,
) -> Option<(String, NewHistory)> {
    let h = payload.get("history")?;
    let id = h.get("checkpoint_id")?.as_str()?;
    let kind = h
        .get(if delivered { "delivered" } else { "failed" })?
        .as_str()?;
    let kind: HistoryKind = kind.parse().ok()?;
    let mut detail = h.get("detail").cloned().unwrap_or_else(|| json!({}));
    detail["delivery_id"] = json!(delivery_id);
    detail["outcome"] = json!(if delivered { "sent" } else { "failed" });
    if let (false, Some(e)) = (delivered, error) {
        detail["error"] = json!(e);
    }
    Some((
        id.to_owned(),
        NewHistory {
            kind,
            by: None,
            detail: Some(detail.to_string()),
        },
    ))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn row(
    kind: OutboxKind,
    cause: Cause,
    payload: Value,
    destination_key: &str,
    ordering_key: Option<String>,
) -> NewOutbox {
    NewOutbox {
        outbox_id: new_id("msg"),
        kind,
        webhook_id: cause.webhook_id,
        event_id: cause.event_id,
        command_id: cause.command_id,
        payload: payload.to_string(),
        idempotency_key: cause.idempotency_key,
        created_at: cause.created_at,
        destination_id: destination_id(destination_key),
        ordering_key,
    }
}

/// What a forward made by routing delivers, in the Standard Webhooks shape (`type`,
/// `timestamp`, `data`): the event, the command's rendered message and the original
/// payload.
pub fn event_forward_body(
    event: &NewEvent,
    command_id: &str,
    message: &str,
    payload: &Value,
) -> Value {
    json!({
        "type": event.event_type,
        "timestamp": rfc3339(event.received_at),
        "data": {
            "event_id": event.event_id,
            "webhook_id": event.webhook_id,
            "provider": event.provider,
            "event_type": event.event_type,
            "command_id": command_id,
            "message": message,
            "source": event.source,
            "subject": event.subject,
            "actor": event.actor,
            "thread_key": event.thread_key,
            "payload": payload,
        }
    })
}

/// What a task completion's `forward` follow-up delivers.
pub fn task_completed_body(task: &Task, message: &str, now: i64) -> Value {
    json!({
        "type": "task.completed",
        "timestamp": rfc3339(now),
        "data": {
            "task_id": task.task_id,
            "agent": task.agent,
            "message": message,
            "event_id": task.event_id,
            "webhook_id": task.webhook_id,
        }
    })
}

/// What a task push delivers: the task, its event, where to report back and
/// `api_key`, a token good only for this task's heartbeat, complete and fail
/// ([`crate::keys::task_token`]) — never the admin key.
pub fn task_push_body(
    task: &Task,
    event: Option<&Event>,
    public_url: &str,
    api_key: &str,
) -> Value {
    let base = public_url.trim_end_matches('/');
    let event = event.map(|e| {
        json!({
            "id": e.event_id,
            "webhook_id": e.webhook_id,
            "provider": e.provider,
            "event_type": e.event_type,
            "source": e.source,
            "subject": e.subject,
            "actor": e.actor,
            "thread_key": e.thread_key,
            "received_at": rfc3339(e.received_at),
            "payload": serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null),
        })
    });
    json!({
        "type": "task.created",
        "timestamp": rfc3339(task.created_at),
        "data": {
            "task": {
                "id": task.task_id,
                "task_id": task.task_id,
                "agent": task.agent,
                "message": task.message,
                "command_id": task.command_id,
                "webhook_id": task.webhook_id,
                "event_id": task.event_id,
                "lease_id": task.lease_id,
            },
            "event": event,
            "complete_url": format!("{base}/api/tasks/{}/complete", task.task_id),
            "fail_url": format!("{base}/api/tasks/{}/fail", task.task_id),
            "heartbeat_url": format!("{base}/api/tasks/{}/heartbeat", task.task_id),
            "api_key": api_key,
        }
    })
}

/// The text a write-back posts: `message`, an ask's `question` or a `response`.
pub fn writeback_text(payload: &Value) -> Option<&str> {
    payload
        .get("message")
        .or_else(|| payload.get("question"))
        .or_else(|| payload.get("response"))
        .and_then(Value::as_str)
}

/// The id of the destination a key names (`dst_` and 20 hex digits of its SHA-256).
pub fn destination_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("dst_{}", &hex::encode(digest)[..20])
}

/// The key of a forward URL's destination: the URL without its query or fragment,
/// so one endpoint is one destination whatever parameters a command adds.
pub fn url_key(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// The key of a push agent's destination.
pub fn agent_key(name: &str) -> String {
    format!("agent:{name}")
}

/// What a webhook says about its write-backs: its own API base, whether it has a
/// token, and the hosts its events may name as their site.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookApi<'a> {
    pub base_override: Option<&'a str>,
    pub has_token: bool,
    pub allowed_hosts: &'a [String],
}

/// The key of a write-back's destination: the provider's API (or, for a Slack
/// answer without a bot token, the `response_url`'s origin).
pub fn writeback_key(bases: &ApiBases, thread: &Thread<'_>, api: WebhookApi<'_>) -> String {
    let provider = thread.provider;
    if provider == "slack" && !(api.has_token && thread.thread_key.is_some()) {
        if let Some(origin) = thread
            .response_url
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
        {
            return format!("slack:{origin}");
        }
    }
    match bases.for_provider(
        provider,
        api.base_override,
        thread.subject,
        api.allowed_hosts,
    ) {
        Some(base) => format!("{provider}:{base}"),
        None => format!("{provider}:unconfigured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_ids_are_stable_and_distinct() {
        let a = destination_id("https://example.com/hook");
        assert_eq!(a, destination_id("https://example.com/hook"));
        assert_ne!(a, destination_id("https://example.com/other"));
        assert!(a.starts_with("dst_") && a.len() == 24);
        assert_eq!(
            url_key("https://example.com/hook?x=1#f"),
            "https://example.com/hook"
        );
    }

    #[test]
    fn slack_answers_without_a_token_go_to_the_response_url() {
        let bases = ApiBases::default();
        let mut t = Thread {
            webhook_id: "sl",
            provider: "slack",
            source: None,
            subject: None,
            thread_key: None,
            response_url: Some("https://hooks.slack.com/commands/T1/2/3"),
        };
        let key = writeback_key(&bases, &t, WebhookApi::default());
        assert_eq!(key, "slack:https://hooks.slack.com");
        t.thread_key = Some("slack:C1:1.2");
        t.response_url = None;
        let api = WebhookApi {
            has_token: true,
            ..WebhookApi::default()
        };
        let key = writeback_key(&bases, &t, api);
        assert!(key.starts_with("slack:https://slack.com"), "{key}");
    }

    fn cause(key: &str) -> Cause {
        Cause {
            webhook_id: Some("gh".into()),
            event_id: Some("evt_1".into()),
            command_id: None,
            idempotency_key: key.into(),
            created_at: 1,
        }
    }

    fn thread() -> Thread<'static> {
        Thread {
            webhook_id: "gh",
            provider: "github",
            source: Some("acme/app"),
            subject: Some("https://github.com/acme/app/issues/1"),
            thread_key: Some("github:acme/app#1"),
            response_url: None,
        }
    }

    #[test]
    fn an_ask_opens_its_question_guarded_by_its_message() {
        let outbox = Outbox::new(&Config::new("sqlite://x", "."), Registry::default());
        let built = outbox.ask(cause("k1"), &thread(), "Which version?");
        let [Effect::Outbox(o), Effect::Question(q)] = built.effects.as_slice() else {
            panic!("an ask is a message and a question: {:?}", built.effects);
        };
        assert_eq!(o.kind, OutboxKind::Ask);
        assert_eq!(built.question_id.as_deref(), Some(q.question_id.as_str()));
        assert_eq!(q.posted_by.as_deref(), Some(o.outbox_id.as_str()));
        let payload: Value = serde_json::from_str(&o.payload).unwrap();
        assert_eq!(payload["question_id"], json!(q.question_id));
        assert_eq!(payload["target"]["thread_key"], "github:acme/app#1");
        assert_eq!(o.ordering_key.as_deref(), Some("github:acme/app#1"));
    }
}
