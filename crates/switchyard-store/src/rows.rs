//! Row-to-domain shaping, shared by both backends: each table's row as the database
//! returns it (`sqlx::FromRow`, generic over the database) and its conversion into
//! the crate's plain model types. Statuses and kinds become enums here, through
//! [`DbText::from_db`], so an unknown text is a [`crate::StoreError::Corrupt`] in
//! exactly one place. The model itself knows nothing of the database library.

use crate::error::Result;
use crate::model::{
    Agent, ApiKey, AuditEntry, Checkpoint, Delivery, DeliveryAttempt, Destination, Event,
    EventSummary, HistoryEntry, Question, Rejection, Task, Timer, WebhookRecord,
};
use crate::state::TimerKind;
use crate::state::{
    AgentMode, AuditAction, CheckpointStatus, DbText, DeliveryStatus, DestinationKind, HistoryKind,
    OutboxKind, QuestionStatus, ResourceKind, TaskStatus,
};
use crate::StoreError;

/// A database row that becomes a model value.
pub(crate) trait IntoDomain {
    type Domain;

    fn into_domain(self) -> Result<Self::Domain>;
}

/// Shapes an optional row.
pub(crate) fn one<R: IntoDomain>(row: Option<R>) -> Result<Option<R::Domain>> {
    row.map(IntoDomain::into_domain).transpose()
}

/// Shapes a list of rows, failing on the first corrupt one.
pub(crate) fn all<R: IntoDomain>(rows: Vec<R>) -> Result<Vec<R::Domain>> {
    rows.into_iter().map(IntoDomain::into_domain).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    event_id: String,
    webhook_id: String,
    provider: String,
    event_type: String,
    delivery_id: Option<String>,
    received_at: i64,
    headers: String,
    payload: String,
    source: Option<String>,
    subject: Option<String>,
    actor: Option<String>,
    thread_key: Option<String>,
    matched_command: Option<String>,
    task_id: Option<String>,
    response_sent: bool,
    matched: String,
}

impl IntoDomain for EventRow {
    type Domain = Event;

    fn into_domain(self) -> Result<Event> {
        Ok(Event {
            event_id: self.event_id,
            webhook_id: self.webhook_id,
            provider: self.provider,
            event_type: self.event_type,
            delivery_id: self.delivery_id,
            received_at: self.received_at,
            headers: self.headers,
            payload: self.payload,
            source: self.source,
            subject: self.subject,
            actor: self.actor,
            thread_key: self.thread_key,
            matched_command: self.matched_command,
            task_id: self.task_id,
            response_sent: self.response_sent,
            matched: self.matched,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventSummaryRow {
    event_id: String,
    webhook_id: String,
    provider: String,
    event_type: String,
    delivery_id: Option<String>,
    received_at: i64,
    source: Option<String>,
    subject: Option<String>,
    actor: Option<String>,
    thread_key: Option<String>,
}

impl IntoDomain for EventSummaryRow {
    type Domain = EventSummary;

    fn into_domain(self) -> Result<EventSummary> {
        Ok(EventSummary {
            event_id: self.event_id,
            webhook_id: self.webhook_id,
            provider: self.provider,
            event_type: self.event_type,
            delivery_id: self.delivery_id,
            received_at: self.received_at,
            source: self.source,
            subject: self.subject,
            actor: self.actor,
            thread_key: self.thread_key,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RejectionRow {
    id: i64,
    at: i64,
    webhook_id: Option<String>,
    provider: Option<String>,
    remote_addr: Option<String>,
    status: i64,
    reason: String,
    detail: String,
}

impl IntoDomain for RejectionRow {
    type Domain = Rejection;

    fn into_domain(self) -> Result<Rejection> {
        Ok(Rejection {
            id: self.id,
            at: self.at,
            webhook_id: self.webhook_id,
            provider: self.provider,
            remote_addr: self.remote_addr,
            status: self.status,
            reason: self.reason,
            detail: self.detail,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookRecordRow {
    webhook_id: String,
    name: String,
    provider: String,
    enabled: bool,
    secrets: String,
    config_json: String,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    api_token: Option<String>,
}

impl IntoDomain for WebhookRecordRow {
    type Domain = WebhookRecord;

    fn into_domain(self) -> Result<WebhookRecord> {
        Ok(WebhookRecord {
            webhook_id: self.webhook_id,
            name: self.name,
            provider: self.provider,
            enabled: self.enabled,
            secrets: self.secrets,
            config_json: self.config_json,
            created_at: self.created_at,
            created_by: self.created_by,
            updated_at: self.updated_at,
            api_token: self.api_token,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TaskRow {
    task_id: String,
    agent: String,
    status: String,
    message: String,
    event_id: Option<String>,
    command_id: Option<String>,
    webhook_id: Option<String>,
    attempts: i64,
    lease_id: Option<String>,
    lease_expires_at: Option<i64>,
    result: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IntoDomain for TaskRow {
    type Domain = Task;

    fn into_domain(self) -> Result<Task> {
        Ok(Task {
            task_id: self.task_id,
            agent: self.agent,
            status: TaskStatus::from_db("tasks.status", &self.status)?,
            message: self.message,
            event_id: self.event_id,
            command_id: self.command_id,
            webhook_id: self.webhook_id,
            attempts: self.attempts,
            lease_id: self.lease_id,
            lease_expires_at: self.lease_expires_at,
            result: self.result,
            error: self.error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct QuestionRow {
    question_id: String,
    event_id: Option<String>,
    webhook_id: String,
    command_id: Option<String>,
    thread_key: Option<String>,
    asker: Option<String>,
    question: String,
    status: String,
    answer: Option<String>,
    answer_event_id: Option<String>,
    answered_by: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    agent: Option<String>,
}

impl IntoDomain for QuestionRow {
    type Domain = Question;

    fn into_domain(self) -> Result<Question> {
        Ok(Question {
            question_id: self.question_id,
            event_id: self.event_id,
            webhook_id: self.webhook_id,
            command_id: self.command_id,
            thread_key: self.thread_key,
            asker: self.asker,
            question: self.question,
            status: QuestionStatus::from_db("questions.status", &self.status)?,
            answer: self.answer,
            answer_event_id: self.answer_event_id,
            answered_by: self.answered_by,
            created_at: self.created_at,
            answered_at: self.answered_at,
            agent: self.agent,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    outbox_id: String,
    kind: String,
    webhook_id: Option<String>,
    event_id: Option<String>,
    command_id: Option<String>,
    payload: String,
    status: String,
    idempotency_key: String,
    created_at: i64,
    destination_id: String,
    ordering_key: Option<String>,
    attempts: i64,
    next_attempt_at: i64,
    claim_id: Option<String>,
    claimed_until: Option<i64>,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    updated_at: i64,
}

impl IntoDomain for DeliveryRow {
    type Domain = Delivery;

    fn into_domain(self) -> Result<Delivery> {
        Ok(Delivery {
            outbox_id: self.outbox_id,
            kind: OutboxKind::from_db("outbox.kind", &self.kind)?,
            webhook_id: self.webhook_id,
            event_id: self.event_id,
            command_id: self.command_id,
            payload: self.payload,
            status: DeliveryStatus::from_db("outbox.status", &self.status)?,
            idempotency_key: self.idempotency_key,
            created_at: self.created_at,
            destination_id: self.destination_id,
            ordering_key: self.ordering_key,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            claim_id: self.claim_id,
            claimed_until: self.claimed_until,
            last_attempt_at: self.last_attempt_at,
            last_status: self.last_status,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryAttemptRow {
    outbox_id: String,
    attempt: i64,
    started_at: i64,
    status_code: Option<i64>,
    latency_micros: i64,
    response_excerpt: Option<String>,
    error: Option<String>,
}

impl IntoDomain for DeliveryAttemptRow {
    type Domain = DeliveryAttempt;

    fn into_domain(self) -> Result<DeliveryAttempt> {
        Ok(DeliveryAttempt {
            outbox_id: self.outbox_id,
            attempt: self.attempt,
            started_at: self.started_at,
            status_code: self.status_code,
            latency_micros: self.latency_micros,
            response_excerpt: self.response_excerpt,
            error: self.error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DestinationRow {
    destination_id: String,
    url: String,
    kind: String,
    max_concurrency: Option<i64>,
    rate_per_second: Option<f64>,
    burst: Option<i64>,
    fifo: bool,
    secret: Option<String>,
    previous_secret: Option<String>,
    previous_expires_at: Option<i64>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IntoDomain for DestinationRow {
    type Domain = Destination;

    fn into_domain(self) -> Result<Destination> {
        Ok(Destination {
            destination_id: self.destination_id,
            url: self.url,
            kind: DestinationKind::from_db("destinations.kind", &self.kind)?,
            max_concurrency: self.max_concurrency,
            rate_per_second: self.rate_per_second,
            burst: self.burst,
            fifo: self.fifo,
            secret: self.secret,
            previous_secret: self.previous_secret,
            previous_expires_at: self.previous_expires_at,
            disabled_at: self.disabled_at,
            disabled_reason: self.disabled_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    name: String,
    description: String,
    mode: String,
    url: Option<String>,
    secret: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IntoDomain for AgentRow {
    type Domain = Agent;

    fn into_domain(self) -> Result<Agent> {
        Ok(Agent {
            name: self.name,
            description: self.description,
            mode: AgentMode::from_db("agents.mode", &self.mode)?,
            url: self.url,
            secret: self.secret,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    key_id: String,
    name: String,
    key_hash: String,
    scopes: String,
    created_at: i64,
    created_by: String,
    revoked_at: Option<i64>,
}

impl IntoDomain for ApiKeyRow {
    type Domain = ApiKey;

    fn into_domain(self) -> Result<ApiKey> {
        let scopes = serde_json::from_str(&self.scopes)
            .map_err(|e| StoreError::Corrupt(format!("api_keys.scopes: {e}")))?;
        Ok(ApiKey {
            key_id: self.key_id,
            name: self.name,
            key_hash: self.key_hash,
            scopes,
            created_at: self.created_at,
            created_by: self.created_by,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    audit_id: String,
    at: i64,
    key_id: String,
    action: String,
    resource_kind: String,
    resource_id: String,
    before_json: Option<String>,
    after_json: Option<String>,
}

impl IntoDomain for AuditRow {
    type Domain = AuditEntry;

    fn into_domain(self) -> Result<AuditEntry> {
        Ok(AuditEntry {
            audit_id: self.audit_id,
            at: self.at,
            key_id: self.key_id,
            action: AuditAction::from_db("audit_log.action", &self.action)?,
            resource_kind: ResourceKind::from_db("audit_log.resource_kind", &self.resource_kind)?,
            resource_id: self.resource_id,
            before: self.before_json,
            after: self.after_json,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    checkpoint_id: String,
    row_id: String,
    name: String,
    kickoff_id: Option<String>,
    status: String,
    spec: String,
    action_digest: Option<String>,
    approvals: String,
    decision: Option<String>,
    comment: Option<String>,
    edited_context: Option<String>,
    response: Option<String>,
    decided_by: Option<String>,
    feedback_action: Option<String>,
    created_by: String,
    agent: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    decided_at: Option<i64>,
    updated_at: i64,
    version: i64,
    edited_action: Option<String>,
}

impl IntoDomain for CheckpointRow {
    type Domain = Checkpoint;

    fn into_domain(self) -> Result<Checkpoint> {
        Ok(Checkpoint {
            checkpoint_id: self.checkpoint_id,
            row_id: self.row_id,
            name: self.name,
            kickoff_id: self.kickoff_id,
            status: CheckpointStatus::from_db("checkpoints.status", &self.status)?,
            spec: self.spec,
            action_digest: self.action_digest,
            approvals: self.approvals,
            decision: self.decision,
            comment: self.comment,
            edited_context: self.edited_context,
            response: self.response,
            decided_by: self.decided_by,
            feedback_action: self.feedback_action,
            edited_action: self.edited_action,
            created_by: self.created_by,
            agent: self.agent,
            expires_at: self.expires_at,
            created_at: self.created_at,
            decided_at: self.decided_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct HistoryRow {
    at: i64,
    kind: String,
    by_who: Option<String>,
    detail: Option<String>,
}

impl IntoDomain for HistoryRow {
    type Domain = HistoryEntry;

    fn into_domain(self) -> Result<HistoryEntry> {
        Ok(HistoryEntry {
            at: self.at,
            kind: HistoryKind::from_db("checkpoint_history.kind", &self.kind)?,
            by: self.by_who,
            detail: self.detail,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TimerRow {
    timer_id: String,
    checkpoint_id: String,
    kind: String,
    step: Option<i64>,
    due_at: i64,
}

impl IntoDomain for TimerRow {
    type Domain = Timer;

    fn into_domain(self) -> Result<Timer> {
        Ok(Timer {
            timer_id: self.timer_id,
            checkpoint_id: self.checkpoint_id,
            kind: TimerKind::from_db("timers.kind", &self.kind)?,
            step: self.step,
            due_at: self.due_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExecutionRow {
    kickoff_id: String,
    status: String,
    result: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IntoDomain for ExecutionRow {
    type Domain = crate::model::Execution;

    fn into_domain(self) -> Result<Self::Domain> {
        Ok(crate::model::Execution {
            kickoff_id: self.kickoff_id,
            status: crate::state::ExecutionStatus::from_db("executions.status", &self.status)?,
            result: self.result,
            error: self.error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExecutionEventRow {
    event_id: String,
    kickoff_id: String,
    at: i64,
    kind: String,
    event_type: String,
    detail: String,
}

impl IntoDomain for ExecutionEventRow {
    type Domain = crate::model::ExecutionEvent;

    fn into_domain(self) -> Result<Self::Domain> {
        Ok(crate::model::ExecutionEvent {
            event_id: self.event_id,
            kickoff_id: self.kickoff_id,
            at: self.at,
            kind: self.kind,
            event_type: self.event_type,
            detail: self.detail,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkflowRow {
    name: String,
    yaml: Option<String>,
    config_path: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IntoDomain for WorkflowRow {
    type Domain = crate::model::WorkflowRecord;

    fn into_domain(self) -> Result<Self::Domain> {
        Ok(crate::model::WorkflowRecord {
            name: self.name,
            yaml: self.yaml,
            config_path: self.config_path,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    run_id: String,
    workflow: String,
    status: String,
    definition: Option<String>,
    inputs: String,
    state: String,
    cursor: String,
    error: Option<String>,
    event_id: Option<String>,
    parent_run_id: Option<String>,
    restarted_from: Option<String>,
    trigger_key: Option<String>,
    wait_ref: Option<String>,
    due_at: i64,
    claim_id: Option<String>,
    claimed_until: i64,
    deadline: Option<i64>,
    created_at: i64,
    updated_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl IntoDomain for RunRow {
    type Domain = crate::model::Run;

    fn into_domain(self) -> Result<Self::Domain> {
        Ok(crate::model::Run {
            run_id: self.run_id,
            workflow: self.workflow,
            status: crate::state::RunStatus::from_db("runs.status", &self.status)?,
            definition: self.definition,
            inputs: self.inputs,
            state: self.state,
            cursor: self.cursor,
            error: self.error,
            event_id: self.event_id,
            parent_run_id: self.parent_run_id,
            restarted_from: self.restarted_from,
            trigger_key: self.trigger_key,
            wait_ref: self.wait_ref,
            due_at: self.due_at,
            claim_id: self.claim_id,
            claimed_until: self.claimed_until,
            deadline: self.deadline,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunStepRow {
    run_id: String,
    seq: i64,
    node_id: String,
    kind: String,
    iteration: i64,
    status: String,
    attempt: i64,
    inputs: String,
    outputs: Option<String>,
    detail: Option<String>,
    error: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
}

impl IntoDomain for RunStepRow {
    type Domain = crate::model::RunStep;

    fn into_domain(self) -> Result<Self::Domain> {
        Ok(crate::model::RunStep {
            run_id: self.run_id,
            seq: self.seq,
            node_id: self.node_id,
            kind: self.kind,
            iteration: self.iteration,
            status: crate::state::StepStatus::from_db("run_steps.status", &self.status)?,
            attempt: self.attempt,
            inputs: self.inputs,
            outputs: self.outputs,
            detail: self.detail,
            error: self.error,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}
