//! Turns matches into work. The registry's compiled commands decide which commands
//! match an event; this module turns each match into the rows that carry it out
//! (tasks, and through [`crate::outbox`] questions and outbound messages) so they
//! are committed in the event's own transaction, and into the `matched` list of the
//! 202 answer. It needs only the outbox builder and the registry, never a request,
//! so ingest, a replay and a workflow can all plan.

use serde_json::{json, Value};
use switchyard_core::routing::{Action, EventView, Match};
use switchyard_store::{new_id, AnswerCandidate, Effect, NewEvent, NewTask, OutboxKind};

use crate::outbox::{self, Cause, Outbox, Thread};
use crate::registry::{Entry, Registry};

/// What routing decided for one event.
#[derive(Debug, Default)]
pub struct Plan {
    /// The HTTP answer a `respond` command chose.
    pub respond: Option<String>,
    /// How many commands matched.
    pub matches: usize,
}

/// What planning needs: the outbox builder and the registry (which agents are
/// pushed to).
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    pub outbox: &'a Outbox,
    pub registry: &'a Registry,
    /// The workflows `run_workflow` commands start, and how long a run may take.
    pub workflows: &'a crate::workflows::Workflows,
    pub run_timeout: std::time::Duration,
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

/// Routes `event` (already normalized, not yet stored) through `entry`'s commands,
/// filling in its matched list, seed 002's log columns and its effects.
pub fn plan(p: Planner<'_>, entry: &Entry, event: &mut NewEvent, payload: &Value) -> Plan {
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
    let mut plan = Plan {
        matches: matches.len(),
        ..Plan::default()
    };
    let mut matched = Vec::with_capacity(matches.len());
    for m in matches {
        matched.push(apply(p, event, payload, m, &mut plan));
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
    p: Planner<'_>,
    event: &mut NewEvent,
    payload: &Value,
    m: Match,
    plan: &mut Plan,
) -> Value {
    let mut out = json!({"command_id": m.command_id, "action": m.action.as_str()});
    if event.matched_command.is_none() {
        event.matched_command = Some(m.command_id.clone());
    }
    if m.action == Action::RunWorkflow {
        // Its inputs are its templates; it has no message.
        let entry =
            crate::runs::trigger::plan_command_run(p.workflows, p.run_timeout, event, payload, &m);
        if let (Value::Object(out), Value::Object(entry)) = (&mut out, entry) {
            out.extend(entry);
        }
        return out;
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
    let cause = |kind: OutboxKind| Cause {
        webhook_id: Some(event.webhook_id.clone()),
        event_id: Some(event.event_id.clone()),
        command_id: Some(m.command_id.clone()),
        idempotency_key: format!("{}:{}:{}", event.event_id, m.command_id, kind.as_str()),
        created_at: now,
    };
    let built = match m.action {
        Action::CreateTask => {
            let task_id = new_id("task");
            let agent = m.agent.clone().unwrap_or_default();
            let pushed_lease = p.registry.is_push_agent(&agent).then(|| new_id("lease"));
            if pushed_lease.is_some() {
                let b = p
                    .outbox
                    .task_push(cause(OutboxKind::TaskPush), &task_id, &agent);
                out["delivery_id"] = json!(b.delivery_id);
                event.effects.extend(b.effects);
            }
            event.effects.push(crate::notices::task_created_notice(
                &task_id,
                &agent,
                &event.event_id,
                &event.webhook_id,
            ));
            event.effects.push(Effect::Task(NewTask {
                pushed_lease,
                task_id: task_id.clone(),
                agent,
                message,
                event_id: Some(event.event_id.clone()),
                command_id: Some(m.command_id.clone()),
                webhook_id: Some(event.webhook_id.clone()),
                created_at: now,
            }));
            if event.task_id.is_none() {
                event.task_id = Some(task_id.clone());
            }
            out["agent"] = json!(m.agent);
            out["task_id"] = json!(task_id);
            return out;
        }
        Action::Respond => {
            // The first respond command answers the sender; later ones are recorded.
            if plan.respond.is_none() {
                plan.respond = Some(message);
                event.response_sent = true;
            }
            return out;
        }
        Action::Comment => {
            let thread = Thread::of_new(event, payload);
            p.outbox
                .comment(cause(OutboxKind::Comment), &thread, &message)
        }
        Action::Ask => {
            let thread = Thread::of_new(event, payload);
            let b = p.outbox.ask(cause(OutboxKind::Ask), &thread, &message);
            out["question_id"] = json!(b.question_id);
            out["checkpoint_id"] = json!(b.question_id);
            b
        }
        Action::Forward => {
            let url = m.url.clone().unwrap_or_default();
            let body = outbox::event_forward_body(event, &m.command_id, &message, payload);
            p.outbox.forward(
                cause(OutboxKind::Forward),
                &url,
                &message,
                body,
                m.ordering_key.clone(),
            )
        }
        // Planned above.
        Action::RunWorkflow => return out,
    };
    out["delivery_id"] = json!(built.delivery_id);
    event.effects.extend(built.effects);
    out
}
