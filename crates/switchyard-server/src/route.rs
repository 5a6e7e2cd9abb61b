//! Turns matches into work. The registry's compiled commands decide which commands
//! match an event; this module turns each match into the rows that carry it out
//! (tasks, questions, outbox messages) so they are committed in the event's own
//! transaction, and into the `matched` list of the 202 answer.

use serde_json::{json, Value};
use switchyard_core::routing::{Action, EventView, Match};
use switchyard_store::OutboxKind;
use switchyard_store::{
    new_id, AnswerCandidate, Effect, NewEvent, NewOutbox, NewQuestion, NewTask,
};

use crate::delivery;
use crate::registry::Entry;
use crate::AppState;

/// What routing decided for one event.
#[derive(Debug, Default)]
pub struct Plan {
    /// The HTTP answer a `respond` command chose.
    pub respond: Option<String>,
    /// Whether any task was created (wakes lease long-polls).
    pub created_tasks: bool,
    /// Whether any outbound message was created (wakes the delivery engine).
    pub created_messages: bool,
}

/// The text of a reply, for answering questions: comments and messages only, so a
/// label change on a thread answers nothing.
pub fn reply_text(payload: &Value) -> Option<String> {
    [
        "/comment/body",           // GitHub, Jira
        "/object_attributes/note", // GitLab notes
        "/event/text",             // Slack Events API
        "/data/body",              // Linear comments
    ]
    .iter()
    .find_map(|p| payload.pointer(p).and_then(Value::as_str))
    .or_else(|| {
        // Slack slash commands and messages posted as forms carry `text`.
        payload
            .get("command")
            .and(payload.get("text"))
            .and_then(Value::as_str)
    })
    .map(str::to_owned)
}

/// Where a write-back goes: the provider, the source thread and, for Slack, the
/// event's `response_url`. Shared by routing and the interactive API so the delivery
/// engine reads one shape.
pub fn target_json(
    provider: &str,
    source: Option<&str>,
    subject: Option<&str>,
    thread_key: Option<&str>,
    payload: &Value,
) -> Value {
    json!({
        "provider": provider,
        "source": source,
        "subject": subject,
        "thread_key": thread_key,
        "response_url": payload.get("response_url"),
    })
}

/// The destination of a write-back on `provider` for a webhook (`entry`, or a
/// default endpoint without one): its key and id.
pub fn writeback_destination(
    st: &AppState,
    entry: Option<&Entry>,
    provider: &str,
    subject: Option<&str>,
    thread_key: Option<&str>,
    payload: &Value,
) -> (String, String) {
    let has_token = entry.is_some_and(|e| e.api.is_some())
        || st.config.delivery.provider_tokens.contains_key(provider);
    let key = delivery::writeback_key(
        &st.config.delivery.api_bases,
        provider,
        entry.and_then(|e| e.config.api_base_url.as_deref()),
        has_token,
        subject,
        thread_key,
        payload.get("response_url").and_then(Value::as_str),
    );
    let id = delivery::destination_id(&key);
    (key, id)
}

/// Routes `event` (already normalized, not yet stored) through `entry`'s commands,
/// filling in its matched list, seed 002's log columns and its effects.
pub fn plan(st: &AppState, entry: &Entry, event: &mut NewEvent, payload: &Value) -> Plan {
    let view = EventView {
        event_id: &event.event_id,
        webhook_id: &event.webhook_id,
        provider: &event.provider,
        event_type: &event.event_type,
        payload,
        source: event.source.as_deref(),
        subject: event.subject.as_deref(),
        actor: event.actor.as_deref(),
        thread_key: event.thread_key.as_deref(),
    };
    let matches = entry.compiled.route(&view);
    let mut plan = Plan::default();
    let mut matched = Vec::with_capacity(matches.len());
    for m in matches {
        matched.push(apply(st, entry, event, payload, m, &mut plan));
    }
    event.matched = Value::Array(matched).to_string();
    if event.thread_key.is_some() {
        event.answers = reply_text(payload).map(|text| AnswerCandidate {
            actor: event.actor.clone(),
            text,
        });
    }
    plan
}

fn apply(
    st: &AppState,
    entry: &Entry,
    event: &mut NewEvent,
    payload: &Value,
    m: Match,
    plan: &mut Plan,
) -> Value {
    let mut out = json!({"command_id": m.command_id, "action": m.action.as_str()});
    if event.matched_command.is_none() {
        event.matched_command = Some(m.command_id.clone());
    }
    let message = match m.message {
        Ok(msg) => msg,
        Err(why) => {
            // A template that fails to render is recorded, and its action skipped:
            // an agent should not get a task whose text is an error.
            tracing::warn!(event_id = %event.event_id, command = %m.command_id, error = %why, "template render failed");
            out["error"] = json!(format!("template: {why}"));
            return out;
        }
    };
    let now = event.received_at;
    let key = |kind: &str| format!("{}:{}:{kind}", event.event_id, m.command_id);
    let outbox =
        |kind: OutboxKind, mut body: Value, dest: (String, String), ordering: Option<String>| {
            body["destination"] = json!(dest.0);
            NewOutbox {
                outbox_id: new_id("msg"),
                kind,
                webhook_id: Some(event.webhook_id.clone()),
                event_id: Some(event.event_id.clone()),
                command_id: Some(m.command_id.clone()),
                payload: body.to_string(),
                idempotency_key: key(kind.as_str()),
                created_at: now,
                destination_id: dest.1,
                ordering_key: ordering,
            }
        };
    // Write-backs on one thread are posted in the order they were made.
    let writeback = || {
        writeback_destination(
            st,
            Some(entry),
            &event.provider,
            event.subject.as_deref(),
            event.thread_key.as_deref(),
            payload,
        )
    };
    let target = target_json(
        &event.provider,
        event.source.as_deref(),
        event.subject.as_deref(),
        event.thread_key.as_deref(),
        payload,
    );
    match m.action {
        Action::CreateTask => {
            let task_id = new_id("task");
            let agent = m.agent.clone().unwrap_or_default();
            let pushed_lease = st.registry.is_push_agent(&agent).then(|| new_id("lease"));
            if pushed_lease.is_some() {
                let key = delivery::agent_key(&agent);
                let id = delivery::destination_id(&key);
                let o = outbox(
                    OutboxKind::TaskPush,
                    json!({"task_id": task_id, "agent": agent}),
                    (key, id),
                    None,
                );
                out["delivery_id"] = json!(o.outbox_id);
                event.effects.push(Effect::Outbox(o));
                plan.created_messages = true;
            }
            event.effects.push(Effect::Task(NewTask {
                pushed_lease,
                task_id: task_id.clone(),
                agent: m.agent.clone().unwrap_or_default(),
                message,
                event_id: Some(event.event_id.clone()),
                command_id: Some(m.command_id.clone()),
                webhook_id: Some(event.webhook_id.clone()),
                created_at: now,
            }));
            if event.task_id.is_none() {
                event.task_id = Some(task_id.clone());
            }
            plan.created_tasks = true;
            out["agent"] = json!(m.agent);
            out["task_id"] = json!(task_id);
        }
        Action::Respond => {
            // The first respond command answers the sender; later ones are recorded.
            if plan.respond.is_none() {
                plan.respond = Some(message);
                event.response_sent = true;
            }
        }
        Action::Comment => {
            let o = outbox(
                OutboxKind::Comment,
                json!({"message": message, "target": target}),
                writeback(),
                event.thread_key.clone(),
            );
            plan.created_messages = true;
            out["delivery_id"] = json!(o.outbox_id);
            event.effects.push(Effect::Outbox(o));
        }
        Action::Ask => {
            let question_id = new_id("q");
            let o = outbox(
                OutboxKind::Ask,
                json!({"question": message, "question_id": question_id, "target": target}),
                writeback(),
                event.thread_key.clone(),
            );
            plan.created_messages = true;
            out["delivery_id"] = json!(o.outbox_id);
            out["question_id"] = json!(question_id);
            out["checkpoint_id"] = json!(question_id);
            event.effects.push(Effect::Outbox(o));
            event.effects.push(Effect::Question(NewQuestion {
                question_id,
                event_id: Some(event.event_id.clone()),
                webhook_id: event.webhook_id.clone(),
                command_id: Some(m.command_id.clone()),
                thread_key: event.thread_key.clone(),
                asker: entry.config.bot_user.clone(),
                question: message,
                created_at: now,
            }));
        }
        Action::Forward => {
            let url = m.url.clone().unwrap_or_default();
            let key = delivery::url_key(&url);
            let id = delivery::destination_id(&key);
            let body = forward_body(event, &m.command_id, &message, payload);
            let o = outbox(
                OutboxKind::Forward,
                json!({"url": url, "message": message, "body": body}),
                (key, id),
                m.ordering_key.clone(),
            );
            plan.created_messages = true;
            out["delivery_id"] = json!(o.outbox_id);
            event.effects.push(Effect::Outbox(o));
        }
        Action::RunWorkflow => {
            let key = format!("workflow:{}", m.workflow.as_deref().unwrap_or_default());
            let id = delivery::destination_id(&key);
            let o = outbox(
                OutboxKind::RunWorkflow,
                json!({"workflow": m.workflow, "message": message, "inputs": payload.get("inputs").unwrap_or(payload)}),
                (key, id),
                None,
            );
            out["delivery_id"] = json!(o.outbox_id);
            event.effects.push(Effect::Outbox(o));
        }
    }
    out
}

/// What a forward delivers, in the Standard Webhooks shape (`type`, `timestamp`,
/// `data`): the event, the command's rendered message and the original payload.
/// Built once, when the event is stored, so every retry sends the same bytes.
pub fn forward_body(event: &NewEvent, command_id: &str, message: &str, payload: &Value) -> Value {
    json!({
        "type": event.event_type,
        "timestamp": crate::api::rfc3339(event.received_at),
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
