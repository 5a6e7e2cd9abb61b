//! The notices the live stream carries ([`crate::stream`]), built as effects of the
//! change they announce, so each is written in that change's transaction. A leaf:
//! planning, tasks and checkpoints all build theirs here.

use serde_json::{json, Value};
use switchyard_store::{Effect, NewNotice};

/// A task notice (`task.completed`, `task.failed`, `task.retried`), written with
/// the change; `error` for a failure.
pub fn task_notice(event_type: &str, task_id: &str, error: Option<&str>) -> Effect {
    let mut payload = json!({"task_id": task_id});
    if let Some(e) = error {
        payload["error"] = json!(e);
    }
    notice(event_type, &payload)
}

/// `task.created`: written in the batch that stores the task's event.
pub fn task_created_notice(task_id: &str, agent: &str, event_id: &str, webhook_id: &str) -> Effect {
    notice(
        "task.created",
        &json!({"task_id": task_id, "agent": agent, "event_id": event_id, "webhook_id": webhook_id}),
    )
}

/// `event.received`: written in the batch that stores the event (only a new one,
/// as its other effects), so a dashboard's event list can show it at once and
/// `switchyard events tail` can print it with how many commands it `matched`.
pub fn event_received_notice(
    event_id: &str,
    webhook_id: &str,
    provider: &str,
    event_type: &str,
    matched: usize,
) -> Effect {
    notice(
        "event.received",
        &json!({"event_id": event_id, "webhook_id": webhook_id, "provider": provider,
                "type": event_type, "matched": matched}),
    )
}

/// A delivery's outcome (`delivery.delivered`, `delivery.retrying`,
/// `delivery.failed` once dead-lettered), written with the attempt's record, so a
/// dashboard's delivery list follows it. `status_code` is the receiver's answer.
pub fn delivery_notice(
    outcome: &str,
    outbox_id: &str,
    destination_id: &str,
    attempts: i64,
    status_code: Option<i64>,
) -> NewNotice {
    new_notice(
        &format!("delivery.{outcome}"),
        &json!({"delivery_id": outbox_id, "destination_id": destination_id,
                "attempts": attempts, "status_code": status_code}),
    )
}

/// A notice for the stream, written as an effect of the change it announces.
pub fn notice(event_type: &str, payload: &Value) -> Effect {
    Effect::Notice(new_notice(event_type, payload))
}

fn new_notice(event_type: &str, payload: &Value) -> NewNotice {
    NewNotice {
        event_type: event_type.to_owned(),
        payload: payload.to_string(),
    }
}
