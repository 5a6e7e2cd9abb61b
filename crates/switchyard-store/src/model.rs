//! Rows the store reads and writes. Plain data, free of database-library types
//! (`rows.rs` shapes database rows into these); times are Unix microseconds.

use serde::Serialize;

use crate::state::{
    AgentMode, AuditAction, CheckpointStatus, DeliveryStatus, DestinationKind, ExecutionStatus,
    HistoryKind, OutboxKind, QuestionStatus, ResourceKind, RunStatus, StepStatus, TaskStatus,
    TimerKind,
};

/// One write in a group-committed batch.
// Events are the common case and move once into the writer's queue; boxing them to
// shrink the rare variants would cost an allocation per event instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// An event, with the work matching it created; the work is written only if the
    /// event is new.
    Event(NewEvent),
    Rejection(NewRejection),
    /// Work created outside ingest (the interactive API).
    Effects(Vec<Effect>),
    /// A workflow run moving on: written only if its guard holds.
    Run(RunWrite),
}

/// The result of one [`WriteOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The event is stored under `event_id`; `duplicate` when it was stored before.
    /// `matched` is the JSON list of what matching created, the original's for a
    /// duplicate.
    Event {
        event_id: String,
        duplicate: bool,
        matched: String,
    },
    Rejection,
    Effects,
    /// Whether the run's guard held (and so whether anything was written).
    Run {
        applied: bool,
    },
}

/// Work an event (or an API call) creates, committed with it.
#[derive(Debug, Clone)]
pub enum Effect {
    Task(NewTask),
    Question(NewQuestion),
    Outbox(NewOutbox),
    /// A notice on the live stream.
    Notice(NewNotice),
    /// A workflow run, created `pending` (or already `failed`, when it could not
    /// start); skipped when its `trigger_key` exists.
    Run(NewRun),
    /// Makes the runs waiting for this task, checkpoint or child run due now.
    WakeRuns(String),
    /// The audit row of the change the other effects make (a replay).
    Audit(NewAudit),
}

/// A notice for the live stream (`/api/stream`, `/ws`), stamped when it commits.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    /// `checkpoint.created`, `checkpoint.decided`, …
    pub event_type: String,
    /// JSON.
    pub payload: String,
}

/// A notice as the stream reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamNotice {
    /// Where it stands in the stream (the SSE id): opaque, ordered by the store.
    pub cursor: String,
    pub event_type: String,
    /// JSON.
    pub payload: String,
    /// Unix micros.
    pub at: i64,
}

/// A reply that may answer open questions on its thread.
#[derive(Debug, Clone)]
pub struct AnswerCandidate {
    /// Who wrote it; a question is never answered by its asker.
    pub actor: Option<String>,
    /// The reply's text. An event whose text is the question itself (Switchyard's
    /// own post coming back) answers nothing.
    pub text: String,
}

/// An accepted request, normalized, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    /// JSON object of selected request headers, secrets redacted.
    pub headers: String,
    /// JSON text of the payload.
    pub payload: String,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
    /// JSON list for the 202 answer's `matched`.
    pub matched: String,
    /// Seed 002's event-log columns: the first matched command, the first task.
    pub matched_command: Option<String>,
    pub task_id: Option<String>,
    pub response_sent: bool,
    pub effects: Vec<Effect>,
    pub answers: Option<AnswerCandidate>,
}

impl NewEvent {
    /// An event with nothing matched.
    pub fn plain(
        event_id: String,
        webhook_id: String,
        provider: String,
        event_type: String,
    ) -> Self {
        Self {
            event_id,
            webhook_id,
            provider,
            event_type,
            delivery_id: None,
            received_at: crate::now_micros(),
            headers: "{}".into(),
            payload: "{}".into(),
            source: None,
            subject: None,
            actor: None,
            thread_key: None,
            matched: "[]".into(),
            matched_command: None,
            task_id: None,
            response_sent: false,
            effects: Vec::new(),
            answers: None,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    pub headers: String,
    pub payload: String,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
    pub matched_command: Option<String>,
    pub task_id: Option<String>,
    pub response_sent: bool,
    pub matched: String,
}

impl Event {
    /// The event as listings show it, without payload and headers.
    pub fn summary(&self) -> EventSummary {
        EventSummary {
            event_id: self.event_id.clone(),
            webhook_id: self.webhook_id.clone(),
            provider: self.provider.clone(),
            event_type: self.event_type.clone(),
            delivery_id: self.delivery_id.clone(),
            received_at: self.received_at,
            source: self.source.clone(),
            subject: self.subject.clone(),
            actor: self.actor.clone(),
            thread_key: self.thread_key.clone(),
        }
    }
}

/// A stored event without its payload and headers, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub received_at: i64,
    pub source: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub thread_key: Option<String>,
}

/// Filters for [`crate::EventStore::list_events`]. `before` is a cursor: only events with
/// a smaller id (older) are returned.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub webhook_id: Option<String>,
    pub delivery_id: Option<String>,
    /// Received at or after this time (Unix micros).
    pub since: Option<i64>,
    /// Received at or before this time (Unix micros).
    pub until: Option<i64>,
    /// Text the payload contains, ignoring case (`%` and `_` are plain characters).
    pub text: Option<String>,
    pub before: Option<String>,
    pub limit: i64,
}

/// A refused request, for the audit log. Never holds the body.
#[derive(Debug, Clone)]
pub struct NewRejection {
    pub at: i64,
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    pub remote_addr: Option<String>,
    pub status: i64,
    pub reason: String,
    pub detail: String,
}

/// A stored rejection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub id: i64,
    pub at: i64,
    pub webhook_id: Option<String>,
    pub provider: Option<String>,
    pub remote_addr: Option<String>,
    pub status: i64,
    pub reason: String,
    pub detail: String,
}

/// A registered webhook. `secrets` holds sealed secrets (see [`crate::Sealer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub webhook_id: String,
    pub name: String,
    pub provider: String,
    pub enabled: bool,
    /// JSON array of sealed secrets.
    pub secrets: String,
    pub config_json: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    /// The sealed API token write-backs use.
    pub api_token: Option<String>,
}

impl WebhookRecord {
    /// The sealed secrets as a list.
    pub fn sealed_secrets(&self) -> Vec<String> {
        serde_json::from_str(&self.secrets).unwrap_or_default()
    }
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_id: String,
    pub agent: String,
    pub message: String,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub webhook_id: Option<String>,
    pub created_at: i64,
    /// For a push agent: the task is created leased under this id, with no expiry,
    /// and its push message carries the id so the agent can complete it.
    pub pushed_lease: Option<String>,
}

/// A stored task. A lease past its expiry reads as [`TaskStatus::Queued`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub task_id: String,
    pub agent: String,
    pub status: TaskStatus,
    pub message: String,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub webhook_id: Option<String>,
    pub attempts: i64,
    pub lease_id: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Filters for listing tasks, newest first.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub agent: Option<String>,
    pub status: Option<TaskStatus>,
    pub before: Option<String>,
    pub limit: i64,
}

/// Which questions `list_questions` returns: newest first.
#[derive(Debug, Clone, Default)]
pub struct QuestionQuery {
    pub status: Option<QuestionStatus>,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    /// Only questions with an id before this one (the previous page's last).
    pub before: Option<String>,
    pub limit: i64,
}

/// What happened to a heartbeat, completion or failure.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskUpdate {
    Done(Task),
    /// No such task.
    NotFound,
    /// The task is not held under this lease (expired and re-leased, or finished).
    Conflict(Task),
}

/// A question to open.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub question_id: String,
    pub event_id: Option<String>,
    pub webhook_id: String,
    pub command_id: Option<String>,
    pub thread_key: Option<String>,
    pub asker: Option<String>,
    pub question: String,
    pub created_at: i64,
    /// The id of the message that posts the question, written in the same batch:
    /// the question is opened only if that very message was inserted (not skipped
    /// as a repeat of its idempotency key), so a repeated `ask` opens no second one.
    pub posted_by: Option<String>,
    /// The agent that opened it through the API (an `agent:NAME` key), which may
    /// then read and wait for it.
    pub agent: Option<String>,
}

/// A stored question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub question_id: String,
    pub event_id: Option<String>,
    pub webhook_id: String,
    pub command_id: Option<String>,
    pub thread_key: Option<String>,
    pub asker: Option<String>,
    pub question: String,
    pub status: QuestionStatus,
    pub answer: Option<String>,
    pub answer_event_id: Option<String>,
    pub answered_by: Option<String>,
    pub created_at: i64,
    pub answered_at: Option<i64>,
    /// The agent that opened it through the API, if one did.
    pub agent: Option<String>,
}

/// Outbound work to record: one message for the delivery engine.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub outbox_id: String,
    pub kind: OutboxKind,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    /// JSON with everything needed to carry it out.
    pub payload: String,
    pub idempotency_key: String,
    pub created_at: i64,
    /// Where it goes (see [`Destination`]); its limits and state apply.
    pub destination_id: String,
    /// When set, messages with the same destination and key are delivered one at a
    /// time, oldest first.
    pub ordering_key: Option<String>,
}

/// A stored outbox message and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub outbox_id: String,
    pub kind: OutboxKind,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub command_id: Option<String>,
    pub payload: String,
    pub status: DeliveryStatus,
    pub idempotency_key: String,
    pub created_at: i64,
    pub destination_id: String,
    pub ordering_key: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub claim_id: Option<String>,
    pub claimed_until: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub updated_at: i64,
}

/// One attempt at a delivery, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryAttempt {
    pub outbox_id: String,
    pub attempt: i64,
    pub started_at: i64,
    pub status_code: Option<i64>,
    pub latency_micros: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// What to claim: due messages not held by a live claim, skipping `exclude`d
/// destinations (saturated, open circuits) and messages waiting behind an older one
/// with the same ordering key.
#[derive(Debug, Clone)]
pub struct ClaimQuery {
    pub claim_id: String,
    pub limit: i64,
    pub claim_micros: i64,
    pub exclude: Vec<String>,
    /// Claim only this destination's messages (a circuit breaker's probe).
    pub only: Option<String>,
}

/// How an attempt ended, for [`crate::DeliveryStore::finish_deliveries`].
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again this many microseconds from now (by the database's clock).
    Retry {
        in_micros: i64,
    },
    /// No attempts left: dead-lettered.
    Dead,
    /// Not attempted (the circuit opened meanwhile): back to the queue, due this many
    /// microseconds from now, the attempt count restored, nothing recorded.
    Released {
        in_micros: i64,
    },
}

/// Where [`crate::DestinationStore::park_destination`] moves messages to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// Until the destination is enabled again ([`crate::PARKED`]).
    UntilEnabled,
    /// This many microseconds from now (by the database's clock), rounded up to
    /// the second, so parking again with the same deadline finds the messages
    /// already there.
    For(i64),
}

/// The record of a finished attempt and what follows from it.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    pub outbox_id: String,
    pub claim_id: String,
    pub outcome: AttemptOutcome,
    pub attempt: DeliveryAttempt,
    /// Disable the message's destination with this reason (410 Gone).
    pub disable_destination: Option<(String, String)>,
    /// A pushed task whose push was dead-lettered goes back to its pull queue.
    pub requeue_task: Option<String>,
    /// A step for a checkpoint's history (checkpoint id, step), written with the
    /// outcome when the message is delivered or dead-lettered (its notification
    /// sent or failed, its callback delivered or failed).
    pub history: Option<(String, NewHistory)>,
    /// The live stream's notice of the outcome (`delivery.delivered`, …), written
    /// with it.
    pub notice: Option<NewNotice>,
}

/// Filters for listing deliveries; `since`/`until` bound `created_at` (inclusive,
/// Unix micros).
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    pub destination_id: Option<String>,
    pub kind: Option<OutboxKind>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only messages a retry would put back in the queue: pending or dead-lettered
    /// (and never a workflow run's record, which the delivery engine does not send).
    pub retryable: bool,
    pub before: Option<String>,
    pub limit: i64,
}

/// Where deliveries go, with its limits and state. Rows are created the first time a
/// message names them; settings left `None` take the server's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub destination_id: String,
    /// A URL, `agent:NAME`, or `PROVIDER:API-BASE`.
    pub url: String,
    pub kind: DestinationKind,
    pub max_concurrency: Option<i64>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<i64>,
    pub fifo: bool,
    /// Sealed signing secrets.
    pub secret: Option<String>,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A registered agent. `secret` is sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub description: String,
    pub mode: AgentMode,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a leased task ends.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskFinish {
    Complete {
        result: Option<String>,
    },
    /// With `retry`, back to the queue; otherwise `failed`.
    Fail {
        error: String,
        retry: bool,
    },
}

/// An API key for `/api`. Only the SHA-256 of the key is kept; `scopes` are the
/// scope texts (`admin`, `read`, `agent:NAME`, `feedback`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub name: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    /// The key id that created it (`cli` for the command line).
    pub created_by: String,
    /// Set when revoked; a revoked key is refused at once.
    pub revoked_at: Option<i64>,
}

/// A change to record in the audit log. Written in the same transaction as the
/// change itself, and only if the change touched a row.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub audit_id: String,
    pub at: i64,
    /// Who: the API key's id (`admin` for the configured admin key), or `cli`.
    pub key_id: String,
    pub action: AuditAction,
    pub resource_kind: ResourceKind,
    pub resource_id: String,
    /// JSON of the resource before and after, secrets redacted.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub audit_id: String,
    pub at: i64,
    pub key_id: String,
    pub action: AuditAction,
    pub resource_kind: ResourceKind,
    pub resource_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Filters for listing the audit log, newest first; `before` is a cursor (an
/// `audit_id`), `since`/`until` bound `at` (inclusive, Unix micros).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub resource_kind: Option<ResourceKind>,
    pub resource_id: Option<String>,
    pub key_id: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

/// A stored checkpoint. `spec`, `approvals` and `edited_context` are JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub checkpoint_id: String,
    /// Time-ordered (`cpr_` + UUIDv7): the list's order and cursor.
    pub row_id: String,
    pub name: String,
    pub kickoff_id: Option<String>,
    pub status: CheckpointStatus,
    /// The creation spec, JSON.
    pub spec: String,
    pub action_digest: Option<String>,
    /// JSON array of `{"by", "at"}`.
    pub approvals: String,
    pub decision: Option<String>,
    pub comment: Option<String>,
    /// JSON object.
    pub edited_context: Option<String>,
    pub response: Option<String>,
    pub decided_by: Option<String>,
    pub feedback_action: Option<String>,
    /// An `edit` decision's `edited_action` (`{"name", "args"}`), JSON.
    pub edited_action: Option<String>,
    /// The key id that opened it.
    pub created_by: String,
    /// The agent whose key opened it, if an agent's did.
    pub agent: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub updated_at: i64,
    /// Bumped by every change; a change names the version it read.
    pub version: i64,
}

/// A checkpoint to open. Its times are the store's: `created_at` now and
/// `expires_at` `timeout_micros` later, by the database's clock.
#[derive(Debug, Clone)]
pub struct NewCheckpoint {
    pub checkpoint_id: String,
    pub row_id: String,
    pub name: String,
    pub kickoff_id: Option<String>,
    pub spec: String,
    pub action_digest: Option<String>,
    pub created_by: String,
    pub agent: Option<String>,
    pub timeout_micros: Option<i64>,
    /// Timers created with it (due this long after its creation).
    pub timers: Vec<NewTimer>,
}

/// A timer to create with a checkpoint.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub kind: TimerKind,
    /// For `escalate`: the step's index.
    pub step: Option<i64>,
    pub due_in_micros: i64,
}

/// A claimed, due timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub timer_id: String,
    pub checkpoint_id: String,
    pub kind: TimerKind,
    pub step: Option<i64>,
    pub due_at: i64,
}

/// A transition of a pending checkpoint, applied only if its version is still
/// `version`.
#[derive(Debug, Clone)]
pub struct CheckpointChange {
    pub checkpoint_id: String,
    pub version: i64,
    pub status: CheckpointStatus,
    pub approvals: String,
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub edited_context: Option<String>,
    pub response: Option<String>,
    pub decided_by: Option<String>,
    pub feedback_action: Option<String>,
    /// JSON.
    pub edited_action: Option<String>,
}

/// A step to add to a checkpoint's history (stamped now by the store).
#[derive(Debug, Clone)]
pub struct NewHistory {
    pub kind: HistoryKind,
    pub by: Option<String>,
    /// JSON.
    pub detail: Option<String>,
}

/// A step in a checkpoint's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub at: i64,
    pub kind: HistoryKind,
    pub by: Option<String>,
    /// JSON.
    pub detail: Option<String>,
}

/// Which checkpoints `list_checkpoints` returns: newest first.
#[derive(Debug, Clone, Default)]
pub struct CheckpointQuery {
    pub status: Option<CheckpointStatus>,
    pub kickoff_id: Option<String>,
    pub name: Option<String>,
    /// Only checkpoints with a `row_id` before this one (the previous page's last).
    pub before: Option<String>,
    pub limit: i64,
}

/// A CrewAI kickoff's execution record (seed 000), as stored: `status` is
/// `running`, `completed` or `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub kickoff_id: String,
    pub status: ExecutionStatus,
    /// JSON text.
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of an execution's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEvent {
    /// The stored event it came from.
    pub event_id: String,
    pub kickoff_id: String,
    pub at: i64,
    /// `task`, `step`, `crew` or `checkpoint`.
    pub kind: String,
    pub event_type: String,
    /// JSON object.
    pub detail: String,
}

/// An event to add to a kickoff's execution (created if new). Keyed by
/// `event_id`: recording the same event again changes nothing but `end`.
#[derive(Debug, Clone)]
pub struct NewExecutionEvent {
    pub event: ExecutionEvent,
    /// The crew's end (`completed` or `error`, with its result or error).
    pub end: Option<ExecutionEnd>,
}

/// How a crew ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEnd {
    pub status: ExecutionStatus,
    /// JSON text.
    pub result: Option<String>,
    pub error: Option<String>,
}

/// A workflow run to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    pub workflow: String,
    /// `Pending`, or `Failed` with `error` for a run that could not start.
    pub status: RunStatus,
    /// The YAML it runs (`None` when it could not start).
    pub definition: Option<String>,
    /// JSON.
    pub inputs: String,
    /// JSON: the initial state.
    pub state: String,
    /// JSON: the runner's starting position.
    pub cursor: String,
    pub error: Option<String>,
    pub event_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub restarted_from: Option<String>,
    /// Unique: what started it (the same trigger again starts nothing).
    pub trigger_key: Option<String>,
    /// The run's own time-out (Unix micros).
    pub deadline: Option<i64>,
    pub created_at: i64,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    pub definition: Option<String>,
    pub inputs: String,
    pub state: String,
    pub cursor: String,
    pub error: Option<String>,
    pub event_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub restarted_from: Option<String>,
    pub trigger_key: Option<String>,
    pub wait_ref: Option<String>,
    pub due_at: i64,
    /// Set on a claimed run: the guard its runner's writes carry.
    pub claim_id: Option<String>,
    pub claimed_until: i64,
    pub deadline: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One node step of a run (one attempt of one node, one loop iteration).
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    pub run_id: String,
    /// Its place in the run, from 0.
    pub seq: i64,
    pub node_id: String,
    pub kind: String,
    pub iteration: i64,
    pub status: StepStatus,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// JSON.
    pub inputs: String,
    /// JSON.
    pub outputs: Option<String>,
    /// JSON: log lines, prompt and answer, model and tokens, what it waits for.
    pub detail: Option<String>,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A run's move, written in one transaction only if `guard` holds: the run's
/// changed columns, its steps (inserted or replaced by `seq`) and the work it
/// creates.
#[derive(Debug, Clone)]
pub struct RunWrite {
    pub run_id: String,
    pub guard: RunGuard,
    pub change: RunChange,
    pub steps: Vec<RunStep>,
    pub effects: Vec<Effect>,
}

/// What must still be true for a [`RunWrite`] to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunGuard {
    /// The run is not finished and still held under this claim.
    Claim(String),
    /// The run is not finished (cancelling it).
    Live,
}

/// The run columns a [`RunWrite`] sets; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunChange {
    pub status: Option<RunStatus>,
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub error: Option<Option<String>>,
    pub wait_ref: Option<Option<String>>,
    /// Microseconds from now, by the database's clock: when the runner should take
    /// the run next.
    pub due_in: Option<i64>,
    /// Unix micros from now, by the database's clock: how long the claim lasts
    /// (0 releases it).
    pub claim_for: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub workflow: Option<String>,
    pub status: Option<RunStatus>,
    pub event_id: Option<String>,
    pub parent_run_id: Option<String>,
    /// Only runs with an id before this one (the previous page's last).
    pub before: Option<String>,
    pub limit: i64,
}

/// A workflow registered through the API: inline YAML or a file of the folder.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub name: String,
    pub yaml: Option<String>,
    pub config_path: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One window of [`crate::ActivityStore::activity`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    /// Where the window starts (Unix micros).
    pub at: i64,
    /// Events received (stored).
    pub events: i64,
    /// Requests refused (bad signature, unknown webhook, rate limit…).
    pub rejected: i64,
    /// Delivery attempts started.
    pub attempts: i64,
    /// Of those, the ones without a 2xx answer.
    pub failed_attempts: i64,
    /// The attempts' latencies, summed (microseconds).
    pub latency_micros: i64,
}

/// What retention deletes ([`crate::RetentionStore::prune`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PruneKind {
    /// Received events (by `received_at`).
    Events,
    /// Delivery attempts (by `started_at`).
    Attempts,
    /// Refused requests (by `at`).
    Rejections,
    /// Finished workflow runs and their steps (by `finished_at`).
    Runs,
}

impl PruneKind {
    pub const ALL: [PruneKind; 4] = [Self::Events, Self::Attempts, Self::Rejections, Self::Runs];

    /// The name in settings and metrics: `events`, `attempts`, `rejections`, `runs`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Attempts => "attempts",
            Self::Rejections => "rejections",
            Self::Runs => "runs",
        }
    }
}
