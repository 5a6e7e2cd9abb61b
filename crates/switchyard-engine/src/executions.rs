//! Seed 000's vocabulary over checkpoints: a CrewAI kickoff's execution record,
//! the `checkpoint.required` event that opens a checkpoint, and the feedback
//! actions (`continue`, `stop`, `revise`, `skip`) that decide one.
//!
//! An event to `/webhook/crewai` is stored first, as every ingest is; then
//! [`Engine::apply_crewai_event`] opens its checkpoint (idempotent by
//! `checkpoint_id`) and adds it to its kickoff's execution (idempotent by the
//! event's id). Only then is the sender answered, so a failure here is an error
//! the sender retries, and the retry — a duplicate event — still does what is
//! missing.
//!
//! An execution's stored status is what the crew's own events said (`running`,
//! `completed`, `error`); `waiting_feedback` and `stopped` follow from its
//! checkpoints when it is read, so a decision made anywhere (the native API, a
//! Slack button, a timeout) shows at once.

use serde_json::{json, Map, Value};
use switchyard_core::checkpoint::Decision;
use switchyard_core::event::{str_at, text_at};
use switchyard_core::Inbound;
use switchyard_store::{
    Checkpoint, CheckpointQuery, CheckpointStatus, Execution, ExecutionEnd, ExecutionEvent,
    ExecutionStatus, HistoryKind, NewExecutionEvent,
};

use crate::app::Engine;
use crate::checkpoints::Refusal;
use crate::error::{Error, Result};

/// The event type of seed 000's checkpoint webhook.
pub const CHECKPOINT_REQUIRED: &str = "checkpoint.required";
/// Who opened a checkpoint from a CrewAI event (the webhook's id).
pub const CREWAI: &str = "crewai";
/// The decisions a checkpoint opened from CrewAI allows: every feedback action
/// maps to one of the first three (continue and skip approve, stop rejects,
/// revise edits), and `respond` lets a person answer in words.
pub const SEED_DECISIONS: [Decision; 4] = Decision::ALL;
/// The most timeline entries an execution shows.
pub const MAX_TIMELINE: i64 = 1000;
/// The most checkpoints an execution shows.
const MAX_CHECKPOINTS: i64 = 500;
/// The longest event type a timeline entry keeps, in bytes.
const MAX_EVENT_TYPE: usize = 128;
/// The longest text kept from an event's field in a timeline entry, in bytes.
const MAX_DETAIL_TEXT: usize = 500;

pub use switchyard_core::feedback::{Feedback, FeedbackAction};

/// A feedback body as the engine takes it: 400 with the parser's code and message.
pub fn parse_feedback(body: &[u8]) -> Result<Feedback> {
    Feedback::parse(body).map_err(|e| Error::bad_request(e.code(), e.to_string()))
}

/// A kickoff's execution as `GET /webhook/status/{kickoff_id}` shows it.
#[derive(Debug, Clone)]
pub struct ExecutionState {
    pub kickoff_id: String,
    pub status: ExecutionStatus,
    /// The stored record; none when only checkpoints name the kickoff.
    pub record: Option<Execution>,
    /// The kickoff's checkpoints, oldest first.
    pub checkpoints: Vec<Checkpoint>,
    /// The pending checkpoint it waits on (the newest, if several).
    pub current_checkpoint: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// One step of an execution: an event it sent, or a checkpoint's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub at: i64,
    /// `task`, `step`, `crew` or `checkpoint`.
    pub kind: String,
    pub event_type: String,
    /// The stored event (`GET /api/events/{id}`), for entries from events.
    pub event_id: Option<String>,
    pub detail: Value,
}

/// What one CrewAI event means for its execution.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    /// `task`, `step`, `crew` or `checkpoint`.
    kind: String,
    event_type: String,
    kickoff_id: Option<String>,
    checkpoint: bool,
    end: Option<ExecutionEnd>,
}

/// Reads an event: its kind (the `event` query value, or `checkpoint`), its type
/// (the body's `event_type` or `type`, else the kind), and whether it ends the
/// crew — a crew-level event whose type says it completed (or, untyped, that
/// carries a `result` or `output`) or failed (or carries an `error`).
fn read(query_kind: &str, payload: &Value) -> Reading {
    let typed = str_at(payload, "/event_type").or_else(|| str_at(payload, "/type"));
    let checkpoint = match typed.as_deref() {
        Some(t) => t == CHECKPOINT_REQUIRED,
        None => payload.get("checkpoint_id").is_some(),
    };
    // An id too long to be one names no execution (the event is stored anyway).
    let kickoff_id = text_at(payload, "/kickoff_id")
        .or_else(|| text_at(payload, "/execution_id"))
        .filter(|k| !k.is_empty() && k.len() <= switchyard_core::checkpoint::MAX_ID);
    if checkpoint {
        return Reading {
            kind: "checkpoint".into(),
            event_type: CHECKPOINT_REQUIRED.into(),
            kickoff_id,
            checkpoint,
            end: None,
        };
    }
    let lower = typed.as_deref().map(str::to_ascii_lowercase);
    let crew_level =
        query_kind == "crew" || lower.as_deref().is_some_and(|t| t.starts_with("crew"));
    let error = payload.get("error").filter(|e| !e.is_null());
    let end = if !crew_level {
        None
    } else if lower
        .as_deref()
        .is_some_and(|t| t.contains("fail") || t.contains("error"))
        || error.is_some()
    {
        Some(ExecutionEnd {
            status: ExecutionStatus::Error,
            result: None,
            error: Some(match error {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => lower.clone().unwrap_or_default(),
            }),
        })
    } else {
        let result = payload
            .get("result")
            .or_else(|| payload.get("output"))
            .filter(|r| !r.is_null());
        let completed = match lower.as_deref() {
            Some(t) => ["complet", "finish", "success", "succeed"]
                .iter()
                .any(|w| t.contains(w)),
            None => result.is_some(),
        };
        completed.then(|| ExecutionEnd {
            status: ExecutionStatus::Completed,
            result: result.map(Value::to_string),
            error: None,
        })
    };
    Reading {
        kind: query_kind.to_owned(),
        event_type: typed.map_or_else(
            || query_kind.to_owned(),
            |t| cut(&t, MAX_EVENT_TYPE).to_owned(),
        ),
        kickoff_id,
        checkpoint,
        end,
    }
}

/// The fields of an event a timeline entry keeps, long texts cut.
fn detail_of(payload: &Value) -> Value {
    const KEEP: &[&str] = &[
        "task_id",
        "task_name",
        "task",
        "step",
        "agent",
        "agent_role",
        "checkpoint_id",
        "checkpoint_name",
        "status",
        "output",
        "result",
        "error",
        "timestamp",
    ];
    let mut out = Map::new();
    for k in KEEP {
        if let Some(v) = payload.get(*k).filter(|v| !v.is_null()) {
            let v = match v {
                Value::String(s) => Value::String(cut(s, MAX_DETAIL_TEXT).to_owned()),
                Value::Object(_) | Value::Array(_) => {
                    let text = v.to_string();
                    if text.len() > MAX_DETAIL_TEXT {
                        Value::String(format!("{}…", cut(&text, MAX_DETAIL_TEXT)))
                    } else {
                        v.clone()
                    }
                }
                other => other.clone(),
            };
            out.insert((*k).to_owned(), v);
        }
    }
    Value::Object(out)
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The spec of the checkpoint a `checkpoint.required` event opens, as a
/// `POST /api/checkpoints` body: no `notify` (the configured defaults), no
/// resume (its agent waits with `wait_for_feedback`).
fn checkpoint_spec(payload: &Value) -> Value {
    // As sent, so an id the checkpoint cannot take is reported (422), not dropped.
    let kickoff_id = text_at(payload, "/kickoff_id").or_else(|| text_at(payload, "/execution_id"));
    let id = payload.get("checkpoint_id").cloned().unwrap_or(Value::Null);
    let name = payload
        .get("checkpoint_name")
        .filter(|n| !n.is_null())
        .cloned()
        .unwrap_or_else(|| id.clone());
    let mut spec = json!({
        "checkpoint_id": id,
        "name": name,
        "context": payload.get("context").filter(|c| !c.is_null()).cloned().unwrap_or_else(|| json!({})),
        "decisions": SEED_DECISIONS.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
    });
    if let Some(k) = kickoff_id {
        spec["kickoff_id"] = json!(k);
    }
    spec
}

impl Engine {
    /// Applies a stored CrewAI event (`event_id`, the stored event's id — the
    /// first one's for a redelivery): opens the checkpoint a
    /// `checkpoint.required` event asks for and adds the event to its kickoff's
    /// execution. Returns the checkpoint, if it asked for one. Safe to repeat.
    pub async fn apply_crewai_event(
        &self,
        event_id: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Option<Checkpoint>> {
        // The provider parsed the body and the query already; reading them again
        // cannot fail for an event it accepted.
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let headers = http::HeaderMap::new();
        let inbound = Inbound {
            headers: &headers,
            query,
            body,
            now: crate::time::now_secs(),
        };
        let kind = inbound
            .query_param("event")
            .unwrap_or_else(|| "crew".to_owned());
        let r = read(&kind, &payload);
        let checkpoint = if r.checkpoint {
            if payload.get("checkpoint_id").is_none_or(Value::is_null) {
                // Without its id a retry would open a second checkpoint.
                return Err(Error::invalid_with(
                    "invalid_checkpoint",
                    vec![switchyard_core::routing::FieldError::new(
                        "checkpoint_id",
                        "is required for checkpoint.required",
                    )],
                ));
            }
            let spec = checkpoint_spec(&payload);
            let (c, _) = self
                .create_checkpoint(spec.to_string().as_bytes(), CREWAI, None)
                .await?;
            Some(c)
        } else {
            None
        };
        if let Some(kickoff_id) = r.kickoff_id {
            let e = NewExecutionEvent {
                event: ExecutionEvent {
                    event_id: event_id.to_owned(),
                    kickoff_id,
                    at: switchyard_store::now_micros(),
                    kind: r.kind,
                    event_type: r.event_type,
                    detail: detail_of(&payload).to_string(),
                },
                end: r.end,
            };
            self.store.record_execution_event(&e).await?;
        }
        Ok(checkpoint)
    }

    /// Opens the checkpoint a CrewAI human-input webhook asks for (stored as event
    /// `event_id`), with a CrewAI resume spec from its `execution_id` and
    /// `task_id` and the whole payload as context. Its id is derived from those
    /// ids and the body, so a retry finds the same checkpoint while a later
    /// request for the same task (after a retry of the task) opens a new one.
    /// Returns the checkpoint and whether it is new.
    pub async fn open_human_input(
        &self,
        event_id: &str,
        body: &[u8],
    ) -> Result<(Checkpoint, bool)> {
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |path: &str, message: &str| {
            Error::invalid_with(
                "invalid_human_input",
                vec![switchyard_core::routing::FieldError::new(path, message)],
            )
        };
        let execution_id = text_at(&payload, "/execution_id")
            .or_else(|| text_at(&payload, "/kickoff_id"))
            .ok_or_else(|| field("execution_id", "is required (or kickoff_id)"))?;
        let task_id = text_at(&payload, "/task_id")
            .or_else(|| text_at(&payload, "/task/id"))
            .ok_or_else(|| field("task_id", "is required"))?;
        let digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for part in [execution_id.as_bytes(), task_id.as_bytes(), body] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            hex::encode(h.finalize())
        };
        let name = str_at(&payload, "/task_name")
            .or_else(|| str_at(&payload, "/task/name"))
            .unwrap_or_else(|| task_id.clone());
        let mut spec = json!({
            "checkpoint_id": format!("crewai-hi-{}", &digest[..32]),
            "name": cut(&name, switchyard_core::checkpoint::MAX_ID),
            "kickoff_id": execution_id,
            "context": if payload.is_object() { payload.clone() } else { json!({}) },
            "decisions": SEED_DECISIONS.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            "resume": {"kind": "crewai", "execution_id": execution_id, "task_id": task_id},
        });
        if let Some(q) = str_at(&payload, "/question").or_else(|| str_at(&payload, "/prompt")) {
            spec["question"] = json!(q);
        }
        let (c, created) = self
            .create_checkpoint(spec.to_string().as_bytes(), CREWAI, None)
            .await?;
        let mut detail = detail_of(&payload);
        detail["checkpoint_id"] = json!(c.checkpoint_id);
        let e = NewExecutionEvent {
            event: ExecutionEvent {
                event_id: event_id.to_owned(),
                kickoff_id: execution_id,
                at: switchyard_store::now_micros(),
                kind: "task".into(),
                event_type: "human_input.requested".into(),
                detail: detail.to_string(),
            },
            end: None,
        };
        self.store.record_execution_event(&e).await?;
        Ok((c, created))
    }

    /// Decides a checkpoint with seed 000's feedback (`caller`: the key id).
    pub async fn feedback(
        &self,
        f: &Feedback,
        caller: &str,
    ) -> std::result::Result<Checkpoint, Refusal> {
        self.decide_checkpoint(&f.checkpoint_id, &f.decision(), caller)
            .await
    }

    /// A kickoff's execution: its record, checkpoints, status and timeline (404
    /// when neither an event nor a checkpoint names it).
    pub async fn execution(&self, kickoff_id: &str) -> Result<ExecutionState> {
        let record = self.store.get_execution(kickoff_id).await?;
        let mut checkpoints = self
            .store
            .list_checkpoints(&CheckpointQuery {
                kickoff_id: Some(kickoff_id.to_owned()),
                limit: MAX_CHECKPOINTS,
                ..CheckpointQuery::default()
            })
            .await?;
        if record.is_none() && checkpoints.is_empty() {
            return Err(Error::not_found(
                "unknown_execution",
                format!("no execution {kickoff_id:?}"),
            ));
        }
        checkpoints.reverse();
        let events = self
            .store
            .execution_events(kickoff_id, MAX_TIMELINE)
            .await?;
        let mut timeline: Vec<TimelineEntry> = events
            .into_iter()
            .map(|e| TimelineEntry {
                at: e.at,
                kind: e.kind,
                event_type: e.event_type,
                event_id: Some(e.event_id),
                detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
            })
            .collect();
        for c in &checkpoints {
            let announced = timeline.iter().any(|t| {
                t.detail.get("checkpoint_id").and_then(Value::as_str) == Some(&c.checkpoint_id)
            });
            for h in self.store.checkpoint_history(&c.checkpoint_id).await? {
                let event_type = match h.kind {
                    HistoryKind::Created if !announced => "checkpoint.created",
                    HistoryKind::Decided => "checkpoint.decided",
                    HistoryKind::Expired => "checkpoint.expired",
                    HistoryKind::Cancelled => "checkpoint.cancelled",
                    _ => continue,
                };
                let mut detail = json!({"checkpoint_id": c.checkpoint_id});
                if h.kind != HistoryKind::Created {
                    detail["status"] = json!(c.status.as_str());
                    detail["decision"] = json!(c.decision);
                    detail["feedback_action"] = json!(c.feedback_action);
                    detail["feedback"] = json!(c.comment);
                }
                if let Some(by) = h.by {
                    detail["by"] = json!(by);
                }
                timeline.push(TimelineEntry {
                    at: h.at,
                    kind: "checkpoint".into(),
                    event_type: event_type.into(),
                    event_id: None,
                    detail,
                });
            }
        }
        timeline.sort_by_key(|t| t.at);
        let (status, current_checkpoint) = status_of(record.as_ref(), &checkpoints);
        Ok(ExecutionState {
            kickoff_id: kickoff_id.to_owned(),
            status,
            record,
            checkpoints,
            current_checkpoint,
            timeline,
        })
    }

    /// How many checkpoints wait for a person (`/health`).
    pub async fn pending_checkpoints(&self) -> Result<i64> {
        Ok(self
            .store
            .count_checkpoints(CheckpointStatus::Pending)
            .await?)
    }
}

/// An execution's status and the checkpoint it waits on: the crew's end when it
/// ended; else `waiting_feedback` while a checkpoint is pending; else `stopped`
/// when its last decided checkpoint said stop (rejected, expired rejecting, or
/// cancelled); else `running`.
fn status_of(
    record: Option<&Execution>,
    checkpoints: &[Checkpoint],
) -> (ExecutionStatus, Option<String>) {
    let current = checkpoints
        .iter()
        .rev()
        .find(|c| c.status == CheckpointStatus::Pending)
        .map(|c| c.checkpoint_id.clone());
    if let Some(r) = record {
        if matches!(
            r.status,
            ExecutionStatus::Completed | ExecutionStatus::Error
        ) {
            return (r.status, current);
        }
    }
    if current.is_some() {
        return (ExecutionStatus::WaitingFeedback, current);
    }
    let last = checkpoints
        .iter()
        .filter(|c| c.decided_at.is_some())
        .max_by_key(|c| c.decided_at);
    let stopped = last.is_some_and(|c| match c.status {
        CheckpointStatus::Rejected | CheckpointStatus::Cancelled => true,
        CheckpointStatus::Expired => c.decision.as_deref() != Some(Decision::Approve.as_str()),
        _ => false,
    });
    if stopped {
        (ExecutionStatus::Stopped, None)
    } else {
        (ExecutionStatus::Running, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seed_events() {
        let r = read("crew", &json!({"checkpoint_id": "c1", "kickoff_id": "k"}));
        assert!(r.checkpoint);
        assert_eq!(r.kind, "checkpoint");
        let r = read(
            "crew",
            &json!({"event_type": "checkpoint.required", "checkpoint_id": "c1", "execution_id": 7}),
        );
        assert!(r.checkpoint);
        assert_eq!(r.kickoff_id.as_deref(), Some("7"));
        // A typed event that is not a checkpoint, though it names one.
        let r = read(
            "task",
            &json!({"event_type": "task_completed", "checkpoint_id": "c1"}),
        );
        assert!(!r.checkpoint);
        assert_eq!(r.end, None, "a task's completion does not end the crew");
        let r = read("crew", &json!({"kickoff_id": "k", "result": {"a": 1}}));
        assert_eq!(
            r.end,
            Some(ExecutionEnd {
                status: ExecutionStatus::Completed,
                result: Some(r#"{"a":1}"#.into()),
                error: None
            })
        );
        let r = read(
            "step",
            &json!({"event_type": "crew_failed", "error": "boom"}),
        );
        assert_eq!(
            r.end.map(|e| (e.status, e.error)),
            Some((ExecutionStatus::Error, Some("boom".into())))
        );
        let r = read("crew", &json!({"event_type": "crew_started"}));
        assert_eq!(r.end, None);
        let long = "k".repeat(129);
        assert_eq!(read("task", &json!({"kickoff_id": long})).kickoff_id, None);
        let r = read("task", &json!({"event_type": "t".repeat(1000)}));
        assert_eq!(r.event_type.len(), MAX_EVENT_TYPE);
    }

    #[test]
    fn feedback_maps_to_decisions() {
        let f = Feedback::parse(br#"{"checkpoint_id": "c", "action": "skip", "feedback": "meh"}"#)
            .unwrap();
        let d = f.decision();
        assert_eq!(d.decision, "approve");
        assert_eq!(d.feedback_action.as_deref(), Some("skip"));
        let f = Feedback::parse(
            br#"{"checkpoint_id": "c", "action": "revise", "feedback": "shorter"}"#,
        )
        .unwrap();
        assert_eq!(f.decision().decision, "edit");
        assert_eq!(
            f.decision().edited_context,
            Some(json!({"feedback": "shorter"}))
        );
        for bad in [
            &br#"{"action": "stop"}"#[..],
            br#"{"checkpoint_id": "c"}"#,
            br#"{"checkpoint_id": "c", "action": "maybe"}"#,
            br#"{"checkpoint_id": "c", "action": "revise"}"#,
            br#"{"checkpoint_id": 5, "action": "stop"}"#,
            b"[]",
            b"nope",
        ] {
            assert!(
                Feedback::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
