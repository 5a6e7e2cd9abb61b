//! Every response body the server sends, as a typed struct: one place builds each
//! view from the engine's rows, so the same thing always looks the same wherever it
//! is shown, and an OpenAPI document can be generated from these types.
//!
//! Times are RFC 3339; stored JSON (payloads, headers, results) is shown as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::routing::{CommandConfig, FieldError};
use switchyard_engine::activity::Minute;
use switchyard_engine::delivery::engine::LiveState;
use switchyard_engine::events::{CausedItem, CausedKind, Replay};
use switchyard_engine::interactive::Interacted;
use switchyard_engine::registry::{Entry, Origin};
use switchyard_engine::time::rfc3339;
use switchyard_engine::webhooks::with_command_ids;
use switchyard_engine::workflows::{Loaded, Origin as WorkflowOrigin};
use switchyard_engine::Error;
use switchyard_store::{
    now_micros, Agent, AgentMode, ApiKey, AuditAction, AuditEntry, Delivery, DeliveryAttempt,
    DeliveryStatus, Destination, DestinationKind, Event, EventSummary, HistoryEntry, HistoryKind,
    OutboxKind, Question, QuestionStatus, Rejection, ResourceKind, Task, TaskStatus, PARKED,
};

fn json_or_text(s: &str) -> Value {
    serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// `{"error": {...}}`: the body of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// A checkpoint's 409s: the checkpoint as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Box<CheckpointView>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl From<Error> for ErrorBody {
    fn from(e: Error) -> Self {
        Self {
            error: ErrorDetail {
                code: e.code,
                message: e.message,
                fields: e.fields,
            },
            checkpoint: None,
        }
    }
}

/// The answer to an accepted webhook (202, or 200 for a redelivery).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestAnswer {
    pub event_id: String,
    pub duplicate: bool,
    pub matched: Value,
}

/// The answer to a CrewAI event (`/webhook/crewai`, seed 000): the stored event,
/// and the checkpoint a `checkpoint.required` event opened (or found).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CrewaiAnswer {
    /// `received`, as seed 000's own server answers.
    pub status: &'static str,
    #[serde(flatten)]
    pub ingest: IngestAnswer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_id: Option<String>,
}

/// `POST /webhook/feedback` (seed 000).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackAnswer {
    /// `feedback_received`.
    pub status: &'static str,
    pub checkpoint_id: String,
    pub action: &'static str,
    pub checkpoint: CheckpointView,
}

/// `GET /webhook/checkpoint/{checkpoint_id}`: our checkpoint with seed 000's
/// names for its name and feedback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeedCheckpointView {
    #[serde(flatten)]
    pub checkpoint: CheckpointView,
    pub checkpoint_name: String,
    pub feedback: Option<String>,
}

impl SeedCheckpointView {
    pub fn new(c: &switchyard_store::Checkpoint, public_url: &str) -> Self {
        Self {
            checkpoint: CheckpointView::new(c, public_url),
            checkpoint_name: c.name.clone(),
            feedback: c.comment.clone(),
        }
    }
}

/// `GET /webhook/status/{kickoff_id}`: a CrewAI kickoff's execution (seed 000).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub kickoff_id: String,
    pub status: switchyard_store::ExecutionStatus,
    pub checkpoints: Vec<ExecutionCheckpointView>,
    pub current_checkpoint: Option<String>,
    pub timeline: Vec<TimelineView>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A checkpoint in an execution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionCheckpointView {
    pub checkpoint_id: String,
    pub checkpoint_name: String,
    pub status: switchyard_store::CheckpointStatus,
    pub decision: Option<String>,
    pub feedback_action: Option<String>,
    pub feedback: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
}

/// A step of an execution's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineView {
    pub at: String,
    pub kind: String,
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub detail: Value,
}

impl From<&switchyard_engine::executions::ExecutionState> for ExecutionView {
    fn from(x: &switchyard_engine::executions::ExecutionState) -> Self {
        let r = x.record.as_ref();
        Self {
            kickoff_id: x.kickoff_id.clone(),
            status: x.status,
            checkpoints: x
                .checkpoints
                .iter()
                .map(|c| ExecutionCheckpointView {
                    checkpoint_id: c.checkpoint_id.clone(),
                    checkpoint_name: c.name.clone(),
                    status: c.status,
                    decision: c.decision.clone(),
                    feedback_action: c.feedback_action.clone(),
                    feedback: c.comment.clone(),
                    created_at: rfc3339(c.created_at),
                    decided_at: c.decided_at.map(rfc3339),
                })
                .collect(),
            current_checkpoint: x.current_checkpoint.clone(),
            timeline: x
                .timeline
                .iter()
                .map(|t| TimelineView {
                    at: rfc3339(t.at),
                    kind: t.kind.clone(),
                    event_type: t.event_type.clone(),
                    event_id: t.event_id.clone(),
                    detail: t.detail.clone(),
                })
                .collect(),
            result: r.and_then(|r| r.result.as_deref()).map(json_or_text),
            error: r.and_then(|r| r.error.clone()),
            created_at: r.map(|r| rfc3339(r.created_at)),
            updated_at: r.map(|r| rfc3339(r.updated_at)),
        }
    }
}

/// `GET /health` (seed 000): `healthy` when the store answers, with the count of
/// checkpoints waiting for a person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeedHealth {
    pub status: &'static str,
    pub pending_checkpoints: Option<i64>,
    pub service: &'static str,
    pub version: &'static str,
    pub store: StoreHealth,
    pub timestamp: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    pub store: StoreHealth,
    /// Every supervised background worker, by name.
    pub workers: std::collections::BTreeMap<String, WorkerView>,
    /// The workers that are down now (waiting to be restarted); any makes the
    /// answer 503.
    pub workers_down: Vec<String>,
}

/// A background worker's health in `/healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerView {
    pub up: bool,
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

impl From<switchyard_engine::WorkerHealth> for WorkerView {
    fn from(h: switchyard_engine::WorkerHealth) -> Self {
        Self {
            up: h.up,
            restarts: h.restarts,
            last_failure: h.last_failure,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    pub kind: &'static str,
    pub ok: bool,
}

/// An event in a list: no headers or payload.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventSummaryView {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: String,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
}

impl From<&EventSummary> for EventSummaryView {
    fn from(e: &EventSummary) -> Self {
        Self {
            id: e.event_id.clone(),
            event_id: e.event_id.clone(),
            webhook_id: e.webhook_id.clone(),
            provider: e.provider.clone(),
            event_type: e.event_type.clone(),
            delivery_id: e.delivery_id.clone(),
            received_at: rfc3339(e.received_at),
            source: e.source.clone(),
            subject: e.subject.clone(),
            actor: e.actor.clone(),
            thread_key: e.thread_key.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<EventSummaryView>,
    pub next_cursor: Option<String>,
}

/// One event with its headers (credentials redacted) and payload.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub summary: EventSummaryView,
    pub headers: Value,
    pub payload: Value,
    pub matched_command: Option<String>,
    pub task_id: Option<String>,
    pub response_sent: bool,
}

/// One thing an event caused (`GET /api/events/{id}/caused`) or a replay created
/// (`created` of [`ReplayView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CausedView {
    pub kind: CausedKind,
    /// Null for what a dry run would create.
    pub id: Option<String>,
    pub command_id: Option<String>,
    pub summary: String,
    /// Where it stands now; absent for what a replay just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl From<&CausedItem> for CausedView {
    fn from(c: &CausedItem) -> Self {
        Self {
            kind: c.kind,
            id: c.id.clone(),
            command_id: c.command_id.clone(),
            summary: c.summary.clone(),
            status: c.status.clone(),
        }
    }
}

/// `GET /api/events/{id}/caused`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CausedList {
    pub event_id: String,
    pub caused: Vec<CausedView>,
}

/// `POST /api/events/{id}/replay`: what was created (on a dry run, what would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayView {
    pub event_id: String,
    pub dry_run: bool,
    pub created: Vec<CausedView>,
}

impl From<&Replay> for ReplayView {
    fn from(r: &Replay) -> Self {
        Self {
            event_id: r.event_id.clone(),
            dry_run: r.dry_run,
            created: r.created.iter().map(CausedView::from).collect(),
        }
    }
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        Self {
            summary: EventSummaryView::from(&e.summary()),
            headers: json_or_text(&e.headers),
            payload: json_or_text(&e.payload),
            matched_command: e.matched_command.clone(),
            task_id: e.task_id.clone(),
            response_sent: e.response_sent,
        }
    }
}

/// A refused request in the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectionView {
    pub id: i64,
    pub at: String,
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    pub remote_addr: Option<String>,
    pub status: i64,
    pub reason: String,
    pub detail: String,
}

impl From<Rejection> for RejectionView {
    fn from(r: Rejection) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            webhook_id: r.webhook_id,
            provider: r.provider,
            remote_addr: r.remote_addr,
            status: r.status,
            reason: r.reason,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectionList {
    pub rejections: Vec<RejectionView>,
}

/// A registered webhook. Secrets are shown once, in the answer to the call that
/// set them, and as `********` ever after.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub webhook_id: String,
    pub name: String,
    pub provider: String,
    pub endpoint: String,
    pub secret: Option<String>,
    pub secrets_count: usize,
    pub api_token: Option<&'static str>,
    pub api_user: Option<String>,
    pub api_base_url: Option<String>,
    /// Hosts a write-back may go to when the event names its own site (Jira).
    pub api_hosts: Vec<String>,
    /// Requests a second the webhook accepts (429 beyond); none when null.
    pub rate_limit: Option<switchyard_core::routing::RateLimit>,
    /// Client addresses allowed to post (403 for others); any when empty.
    pub allowed_ips: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    pub bot_user: Option<String>,
    pub commands: Vec<CommandConfig>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `api`, or `file:PATH` for a webhook defined in the config folder.
    pub source: String,
    /// What the operator should fix about how the webhook is protected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl WebhookView {
    pub fn new(e: &Entry, secret_once: Option<&str>, warnings: Vec<String>) -> Self {
        let mut cfg = e.config.clone();
        with_command_ids(&mut cfg);
        let secret = match secret_once {
            Some(s) => Some(s.to_owned()),
            None if e.secrets.is_empty() => None,
            None => Some("********".to_owned()),
        };
        Self {
            webhook_id: e.webhook_id.clone(),
            endpoint: format!("/webhooks/{}/{}", cfg.provider, e.webhook_id),
            name: cfg.name,
            provider: cfg.provider,
            secret,
            secrets_count: e.secrets.len(),
            api_token: e.api.as_ref().map(|_| "********"),
            api_user: cfg.api_user,
            api_base_url: cfg.api_base_url,
            api_hosts: cfg.api_hosts,
            rate_limit: cfg.rate_limit,
            allowed_ips: cfg.allowed_ips,
            enabled: cfg.enabled,
            description: cfg.description,
            bot_user: cfg.bot_user,
            commands: cfg.commands,
            created_by: cfg.created_by,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
            source: match &e.origin {
                Origin::Api => "api".to_owned(),
                Origin::File(p) => format!("file:{}", p.display()),
            },
            warnings,
        }
    }
}

/// A file of a watched folder that did not load, with why.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileErrorView {
    pub file: String,
    pub error: String,
}

impl From<(std::path::PathBuf, String)> for FileErrorView {
    fn from((file, error): (std::path::PathBuf, String)) -> Self {
        Self {
            file: file.display().to_string(),
            error,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
    pub file_errors: Vec<FileErrorView>,
}

/// A workflow the engine serves (`/api/workflows`): what it is, where it comes
/// from, what starting it needs (`inputs`: the required state fields) and its
/// nodes. `yaml` only on `GET /api/workflows/{name}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowView {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub version: Option<String>,
    /// `schema_1.0` or `shorthand`.
    pub format: &'static str,
    /// `file` (the workflows folder) or `api` (registered).
    pub source: &'static str,
    /// The folder file a `file` workflow comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The folder file a registration names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    pub inputs: Vec<String>,
    pub state: std::collections::BTreeMap<String, StateFieldView>,
    pub nodes: Vec<WorkflowNodeView>,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yaml: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateFieldView {
    /// The type as configurable-agents writes it (`str`, `list[str]`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowNodeView {
    pub id: String,
    /// `llm`, `log`, `template`, `http`, `forward`, `task`, `ask` or `workflow`.
    pub kind: &'static str,
}

impl WorkflowView {
    /// The view of `l`; with its YAML when `with_yaml`.
    pub fn new(l: &Loaded, with_yaml: bool) -> Self {
        use switchyard_core::workflow::Format;
        let w = &l.workflow;
        let (source, file, config_path) = match &l.origin {
            WorkflowOrigin::File(p) => ("file", Some(p.display().to_string()), None),
            WorkflowOrigin::Api { config_path } => ("api", None, config_path.clone()),
        };
        Self {
            name: w.name.clone(),
            title: w.title.clone(),
            description: w.description.clone(),
            version: w.version.clone(),
            format: match w.format {
                Format::Schema1 => "schema_1.0",
                Format::Shorthand => "shorthand",
            },
            source,
            file,
            config_path,
            inputs: w
                .state
                .fields
                .iter()
                .filter(|(_, f)| f.required)
                .map(|(name, _)| name.clone())
                .collect(),
            state: w
                .state
                .fields
                .iter()
                .map(|(name, f)| {
                    (
                        name.clone(),
                        StateFieldView {
                            ty: f.ty.to_string(),
                            required: f.required,
                            default: f.default.clone(),
                        },
                    )
                })
                .collect(),
            nodes: w
                .nodes
                .iter()
                .map(|n| WorkflowNodeView {
                    id: n.id.clone(),
                    kind: n.kind.name(),
                })
                .collect(),
            updated_at: rfc3339(l.updated_at),
            yaml: with_yaml.then(|| l.yaml.clone()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowView>,
    /// Folder files, and registrations, that did not load.
    pub file_errors: Vec<FileErrorView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandList {
    pub commands: Vec<CommandConfig>,
}

/// What an interactive call created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InteractionView {
    pub event_id: String,
    pub action: &'static str,
    pub delivery_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
}

impl From<Interacted> for InteractionView {
    fn from(i: Interacted) -> Self {
        Self {
            event_id: i.event_id,
            action: i.action.as_str(),
            delivery_id: i.delivery_id,
            question_id: i.question_id,
        }
    }
}

/// An agent; its secret is shown only as present.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub name: String,
    pub description: String,
    pub mode: AgentMode,
    pub url: Option<String>,
    pub secret: Option<&'static str>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            name: a.name.clone(),
            description: a.description.clone(),
            mode: a.mode,
            url: a.url.clone(),
            secret: a.secret.as_ref().map(|_| "********"),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

/// A task; its lease is shown only while it is held.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    pub task_id: String,
    pub agent: String,
    pub status: TaskStatus,
    pub message: String,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub webhook_id: Option<String>,
    pub attempts: i64,
    pub lease_id: Option<String>,
    pub lease_expires_at: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        let leased = t.status == TaskStatus::Leased;
        Self {
            task_id: t.task_id.clone(),
            agent: t.agent.clone(),
            status: t.status,
            message: t.message.clone(),
            event_id: t.event_id.clone(),
            command_id: t.command_id.clone(),
            webhook_id: t.webhook_id.clone(),
            attempts: t.attempts,
            lease_id: if leased { t.lease_id.clone() } else { None },
            lease_expires_at: if leased {
                t.lease_expires_at.map(rfc3339)
            } else {
                None
            },
            result: t.result.as_deref().map(json_or_text),
            error: t.error.clone(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// The tasks a lease got.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeasedTasks {
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    pub next_cursor: Option<String>,
}

/// A page of questions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuestionPage {
    pub questions: Vec<QuestionView>,
    pub next_cursor: Option<String>,
}

/// A question opened by `ask`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
    pub question_id: String,
    pub status: QuestionStatus,
    pub question: String,
    pub event_id: Option<String>,
    pub webhook_id: String,
    pub command_id: Option<String>,
    pub thread_key: Option<String>,
    pub answer: Option<String>,
    pub answer_event_id: Option<String>,
    pub answered_by: Option<String>,
    pub created_at: String,
    pub answered_at: Option<String>,
}

impl From<&Question> for QuestionView {
    fn from(q: &Question) -> Self {
        Self {
            question_id: q.question_id.clone(),
            status: q.status,
            question: q.question.clone(),
            event_id: q.event_id.clone(),
            webhook_id: q.webhook_id.clone(),
            command_id: q.command_id.clone(),
            thread_key: q.thread_key.clone(),
            answer: q.answer.clone(),
            answer_event_id: q.answer_event_id.clone(),
            answered_by: q.answered_by.clone(),
            created_at: rfc3339(q.created_at),
            answered_at: q.answered_at.map(rfc3339),
        }
    }
}

/// An outbound message and what became of it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub delivery_id: String,
    pub kind: OutboxKind,
    pub status: DeliveryStatus,
    pub destination_id: String,
    pub destination: Value,
    pub ordering_key: Option<String>,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub attempts: i64,
    /// When the next attempt is due; `null` when none is, or when the message waits
    /// for its destination to be enabled rather than for a time.
    pub next_attempt_at: Option<String>,
    pub waiting_for_destination: bool,
    pub last_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub payload: Value,
    /// Every attempt, in `GET /api/deliveries/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        let payload = serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null);
        let pending = d.status == DeliveryStatus::Pending;
        Self {
            id: d.outbox_id.clone(),
            delivery_id: d.outbox_id.clone(),
            kind: d.kind,
            status: d.status,
            destination_id: d.destination_id.clone(),
            destination: payload.get("destination").cloned().unwrap_or(Value::Null),
            ordering_key: d.ordering_key.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            command_id: d.command_id.clone(),
            attempts: d.attempts,
            next_attempt_at: (pending && d.next_attempt_at < PARKED)
                .then(|| rfc3339(d.next_attempt_at)),
            waiting_for_destination: pending && d.next_attempt_at >= PARKED,
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
            payload,
            attempt_log: None,
        }
    }
}

/// One attempt at a delivery.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    pub started_at: String,
    pub status_code: Option<i64>,
    pub latency_ms: f64,
    /// The first 4 KiB of the answer.
    pub response: Option<String>,
    pub error: Option<String>,
}

impl From<&DeliveryAttempt> for AttemptView {
    fn from(a: &DeliveryAttempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: rfc3339(a.started_at),
            status_code: a.status_code,
            latency_ms: a.latency_micros as f64 / 1000.0,
            response: a.response_excerpt.clone(),
            error: a.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// `GET /api/outbox` (session one's name for the deliveries list).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxList {
    pub outbox: Vec<DeliveryView>,
}

/// A destination: its settings and this process's live view of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationView {
    pub id: String,
    pub destination_id: String,
    pub url: String,
    pub kind: DestinationKind,
    pub enabled: bool,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    pub max_concurrency: Option<i64>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<i64>,
    pub fifo: bool,
    pub signing: bool,
    pub previous_secret_expires_at: Option<String>,
    pub circuit: &'static str,
    pub in_flight: usize,
    pub queued: usize,
    pub concurrency_limit: usize,
    pub created_at: String,
    pub updated_at: String,
}

impl DestinationView {
    pub fn new(d: &Destination, live: LiveState) -> Self {
        Self {
            id: d.destination_id.clone(),
            destination_id: d.destination_id.clone(),
            url: d.url.clone(),
            kind: d.kind,
            enabled: d.disabled_at.is_none(),
            disabled_at: d.disabled_at.map(rfc3339),
            disabled_reason: d.disabled_reason.clone(),
            max_concurrency: d.max_concurrency,
            rate_per_second: d.rate_per_second,
            burst: d.burst,
            fifo: d.fifo,
            signing: d.secret.is_some(),
            previous_secret_expires_at: d
                .previous_expires_at
                .filter(|t| *t > now_micros())
                .map(rfc3339),
            circuit: if live.circuit.is_empty() {
                "closed"
            } else {
                live.circuit
            },
            in_flight: live.in_flight,
            queued: live.queued,
            concurrency_limit: live.concurrency_limit,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationList {
    pub destinations: Vec<DestinationView>,
}

/// `POST /api/deliveries/retry`'s answer: how many deliveries the filter selects
/// that a retry touches, and how many were put back in the queue (0 for a dry
/// run).
// Deserialize too: the command line reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkRetried {
    pub matched: u64,
    pub retried: u64,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Recovered {
    pub destination_id: String,
    pub requeued: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    pub destination_id: String,
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub destination_id: String,
    pub secret: String,
    pub previous_secret_expires_at: Option<String>,
}

/// An API key: never the key nor its hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            key_id: k.key_id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.clone(),
            created_at: rfc3339(k.created_at),
            created_by: k.created_by.clone(),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A key just created: the only answer that carries the key itself.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub view: KeyView,
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// A change in the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub audit_id: String,
    pub at: String,
    pub key_id: String,
    pub action: AuditAction,
    pub resource_kind: ResourceKind,
    pub resource_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl From<&AuditEntry> for AuditView {
    fn from(a: &AuditEntry) -> Self {
        Self {
            audit_id: a.audit_id.clone(),
            at: rfc3339(a.at),
            key_id: a.key_id.clone(),
            action: a.action,
            resource_kind: a.resource_kind,
            resource_id: a.resource_id.clone(),
            before: a.before.as_deref().map(json_or_text),
            after: a.after.as_deref().map(json_or_text),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub audit: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

pub use switchyard_engine::checkpoints::view::{CheckpointLinks, CheckpointView};

/// A page of checkpoints, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointPage {
    pub checkpoints: Vec<CheckpointView>,
    pub next_cursor: Option<String>,
}

/// One step in a checkpoint's history.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub at: String,
    pub kind: HistoryKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl From<&HistoryEntry> for HistoryView {
    fn from(h: &HistoryEntry) -> Self {
        Self {
            at: rfc3339(h.at),
            kind: h.kind,
            by: h.by.clone(),
            detail: h.detail.as_deref().map(json_or_text),
        }
    }
}

/// `GET /api/checkpoints/{id}/history`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub checkpoint_id: String,
    pub history: Vec<HistoryView>,
}

pub use switchyard_engine::runs::{RunView, StepView};

/// A page of runs, newest first (without their steps).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunView>,
    pub next_cursor: Option<String>,
}

/// A run just started (`POST /api/workflows/{name}/runs`, a restart).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunStarted {
    pub run_id: String,
    pub status: switchyard_store::RunStatus,
    pub workflow: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_from: Option<String>,
}

impl RunStarted {
    pub fn of(r: &switchyard_store::Run) -> Self {
        Self {
            run_id: r.run_id.clone(),
            status: r.status,
            workflow: r.workflow.clone(),
            restarted_from: r.restarted_from.clone(),
        }
    }
}

/// Seed 003's answer to `POST /webhooks/generic?wait=SECONDS` once the run finished:
/// `status` is `success`, `failed` or `cancelled`; `result` the final state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowResult {
    pub status: &'static str,
    pub workflow_name: String,
    pub result: Value,
    pub run_id: String,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WorkflowResult {
    pub fn of(r: &switchyard_store::Run, event_id: String) -> Self {
        use switchyard_store::RunStatus;
        Self {
            status: match r.status {
                RunStatus::Succeeded => "success",
                RunStatus::Cancelled => "cancelled",
                _ => "failed",
            },
            workflow_name: r.workflow.clone(),
            result: serde_json::from_str(&r.state).unwrap_or(Value::Null),
            run_id: r.run_id.clone(),
            event_id,
            error: r.error.clone(),
        }
    }
}

/// `GET /api/activity`: the last hour a minute at a time, oldest first (the last
/// minute is the one under way).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub minutes: Vec<ActivityMinuteView>,
}

/// One minute of [`ActivityView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityMinuteView {
    /// Where the minute starts.
    pub at: String,
    /// Events received.
    pub events: i64,
    /// Requests refused (`/api/rejections`).
    pub rejected: i64,
    /// `rejected / (events + rejected)`; null when nothing arrived.
    pub error_rate: Option<f64>,
    /// Delivery attempts started.
    pub attempts: i64,
    /// Attempts without a 2xx answer.
    pub failed_attempts: i64,
    /// The attempts' mean latency; null without attempts.
    pub latency_ms: Option<f64>,
    /// The deepest the delivery queue was seen; null when this server did not look
    /// (it was not running then).
    pub queue_depth: Option<i64>,
}

impl From<&Minute> for ActivityMinuteView {
    fn from(m: &Minute) -> Self {
        Self {
            at: rfc3339(m.at),
            events: m.events,
            rejected: m.rejected,
            error_rate: m.error_rate,
            attempts: m.attempts,
            failed_attempts: m.failed_attempts,
            latency_ms: m.latency_ms,
            queue_depth: m.queue_depth,
        }
    }
}
