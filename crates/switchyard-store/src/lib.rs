//! Switchyard's durable store: traits per aggregate ([`EventStore`],
//! [`TaskStore`], [`DeliveryStore`], …) gathered in one [`Store`], with an embedded
//! SQLite and a PostgreSQL implementation chosen from the database URL at start-up.
//! Each backend is a folder (`sqlite/`, `postgres/`) with a plain `impl` per
//! aggregate and its own `migrations/`; SQL both databases agree on is built once in
//! `sql/`, rows become model values in `rows.rs`, and statuses and kinds are the
//! enums of [`state`]. Queries are built at run time because one build must serve
//! both databases.
//!
//! Writes arrive in batches ([`Store::write_batch`]): the server's group-commit
//! writer gathers concurrent requests into one transaction, so one fsync covers many
//! acknowledged events.
//!
//! The interface names no database-library type: errors are [`StoreError`], rows
//! are the plain types of `model.rs`.

mod clock;
mod crypto;
mod error;
mod model;
mod postgres;
mod rows;
mod sql;
mod sqlite;
pub mod state;

use std::sync::Arc;

pub use clock::{now_micros, set_test_clock_skew};
pub use crypto::{SealError, Sealer};
pub use error::{DbErrorKind, Result, StoreError};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use state::{
    AgentMode, AuditAction, CheckpointStatus, DeliveryStatus, DestinationKind, ExecutionStatus,
    HistoryKind, OutboxKind, QuestionStatus, ResourceKind, RunStatus, StepStatus, TaskStatus,
    TimerKind, UnknownState,
};

/// Every store trait, for `use switchyard_store::prelude::*;`: calling a method on
/// an `Arc<dyn Store>` needs the trait that declares it in scope.
pub mod prelude {
    pub use crate::{
        ActivityStore, AgentStore, AuditStore, CheckpointStore, DeliveryStore, DestinationStore,
        EventStore, ExecutionStore, KeyStore, QuestionStore, RetentionStore, RunStore,
        SettingStore, Store, StreamStore, TaskStore, WebhookStore, WorkflowStore,
    };
}

/// The durable store: every aggregate, plus what concerns the database as a whole.
/// Every method either commits fully or changes nothing.
#[async_trait::async_trait]
pub trait Store:
    EventStore
    + WebhookStore
    + SettingStore
    + AgentStore
    + TaskStore
    + QuestionStore
    + DeliveryStore
    + DestinationStore
    + KeyStore
    + AuditStore
    + CheckpointStore
    + ExecutionStore
    + StreamStore
    + WorkflowStore
    + RunStore
    + RetentionStore
    + ActivityStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;

    /// How many batches may be written at once. SQLite has a single writer; a
    /// PostgreSQL server overlaps several transactions' round trips and fsyncs.
    fn writer_concurrency(&self) -> usize;

    /// Applies this store's migrations.
    async fn migrate(&self) -> Result<()>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// Writes `ops` in one transaction and returns one outcome per op, in order,
    /// only after the commit is durable. An event whose (webhook, delivery id) is
    /// already stored is not written again: its outcome names the stored event.
    /// Replies in the batch answer open questions on their thread; the work new
    /// events created (tasks, questions, outbox messages) commits with them.
    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>>;

    /// Sends `message` to every process [subscribed](Store::subscribe) to this
    /// database (PostgreSQL `NOTIFY`). Nothing on SQLite, whose replicas poll.
    async fn publish(&self, message: &str) -> Result<()>;

    /// Subscribes to what [`Store::publish`] sends and to what the database itself
    /// announces (see [`Subscription`]); `None` on SQLite.
    async fn subscribe(&self) -> Result<Option<Box<dyn Subscription>>>;
}

/// Messages from the processes sharing this database (PostgreSQL `LISTEN`). Besides
/// what [`Store::publish`] sends, the database announces its own changes at commit,
/// as the sender `-` (triggers, so the CLI's changes are announced too): `- registry`
/// (a webhook changed), `- agent:NAME`, `- destination:ID`.
#[async_trait::async_trait]
pub trait Subscription: Send {
    /// The next message. `Ok(None)`: the connection was lost and has been made
    /// again, and messages sent meanwhile are lost, so look again at whatever they
    /// might have announced. An error: the subscription is over; subscribe again.
    async fn recv(&mut self) -> Result<Option<String>>;
}

/// Stored events and the audit log of refused requests (written by
/// [`Store::write_batch`]).
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    async fn get_event(&self, event_id: &str) -> Result<Option<Event>>;

    /// Events newest first, without payloads.
    async fn list_events(&self, q: &EventQuery) -> Result<Vec<EventSummary>>;

    async fn count_events(&self) -> Result<i64>;

    /// Refused requests, newest first.
    async fn list_rejections(&self, limit: i64) -> Result<Vec<Rejection>>;
}

/// Webhooks registered through the API or the CLI. Every change writes its
/// `audit` row in its own transaction, only when it changed something.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Creates a webhook unless its id exists; true when it was created. Two
    /// concurrent creates of one id: exactly one succeeds.
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &NewAudit) -> Result<bool>;

    /// Creates or replaces a webhook.
    async fn put_webhook(&self, w: &WebhookRecord, audit: &NewAudit) -> Result<()>;

    async fn get_webhook(&self, webhook_id: &str) -> Result<Option<WebhookRecord>>;

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>>;

    /// True when a webhook was deleted.
    async fn delete_webhook(&self, webhook_id: &str, audit: &NewAudit) -> Result<bool>;

    /// A counter the database bumps in the same transaction as every change to a
    /// webhook or an agent (triggers, whoever writes), so a replica notices another's
    /// change by reading one row.
    async fn registry_version(&self) -> Result<i64>;
}

/// Key-value settings. Reads see the latest write (they go to the writer).
#[async_trait::async_trait]
pub trait SettingStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;

    /// Stores `value` under `key` unless the key exists; returns the value stored.
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<String>;

    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// Agents that take tasks. Every change writes its `audit` row in its own
/// transaction, only when it changed something.
#[async_trait::async_trait]
pub trait AgentStore: Send + Sync {
    /// Creates an agent unless its name exists; true when it was created.
    async fn insert_agent(&self, agent: &Agent, audit: &NewAudit) -> Result<bool>;

    /// Creates or replaces an agent.
    async fn put_agent(&self, agent: &Agent, audit: &NewAudit) -> Result<()>;

    async fn get_agent(&self, name: &str) -> Result<Option<Agent>>;

    async fn list_agents(&self) -> Result<Vec<Agent>>;

    async fn delete_agent(&self, name: &str, audit: &NewAudit) -> Result<bool>;
}

/// Agents' task queues: leases, heartbeats, completion.
#[async_trait::async_trait]
pub trait TaskStore: Send + Sync {
    /// Leases up to `max` of `agent`'s queued tasks (oldest first), including tasks
    /// whose lease expired, for `lease_micros`. Two callers never get the same task:
    /// SQLite has one writer; PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
    async fn lease_tasks(&self, agent: &str, max: i64, lease_micros: i64) -> Result<Vec<Task>>;

    /// Extends a live lease.
    async fn heartbeat_task(
        &self,
        task_id: &str,
        lease_id: &str,
        lease_micros: i64,
    ) -> Result<TaskUpdate>;

    /// Completes or fails a task held under a live lease; `effects` (follow-up
    /// actions) are written in the same transaction, only when it succeeds.
    async fn finish_task(
        &self,
        task_id: &str,
        lease_id: &str,
        finish: &TaskFinish,
        effects: &[Effect],
    ) -> Result<TaskUpdate>;

    async fn get_task(&self, task_id: &str) -> Result<Option<Task>>;

    /// Fails a queued or leased task whoever holds it (its workflow run was
    /// cancelled); false when it had finished already.
    async fn cancel_task(&self, task_id: &str, error: &str) -> Result<bool>;

    /// Tasks newest first.
    async fn list_tasks(&self, q: &TaskQuery) -> Result<Vec<Task>>;

    /// The tasks the stored event `event_id` created, oldest first.
    async fn tasks_of_event(&self, event_id: &str) -> Result<Vec<Task>>;
}

/// Questions asked on threads (answered by [`Store::write_batch`]).
#[async_trait::async_trait]
pub trait QuestionStore: Send + Sync {
    async fn get_question(&self, question_id: &str) -> Result<Option<Question>>;

    async fn list_questions_for_event(&self, event_id: &str) -> Result<Vec<Question>>;

    /// Questions newest first, filtered.
    async fn list_questions(&self, q: &QuestionQuery) -> Result<Vec<Question>>;
}

/// The outbox as a delivery queue: claims, attempts, retry and recovery.
#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claims due deliveries for one attempt each (counting the attempt) for
    /// `claim_micros`, both by the database's clock. Two claimers never hold one message at once: SQLite has
    /// one writer; PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
    async fn claim_deliveries(&self, q: &ClaimQuery) -> Result<Vec<Delivery>>;

    /// Records finished attempts and their consequences in one transaction. A
    /// message whose claim was lost (another process took it after the deadline)
    /// keeps its attempt record but is not moved.
    async fn finish_deliveries(&self, done: &[FinishedAttempt]) -> Result<()>;

    /// How long until the earliest pending message is due, in microseconds by the
    /// database's clock (zero or less: due now); `None` when nothing is pending.
    async fn next_delivery_in(&self) -> Result<Option<i64>>;

    /// How many messages have `status` (pending: the queue's depth, every
    /// replica's).
    async fn count_with_status(&self, status: DeliveryStatus) -> Result<i64>;

    async fn get_delivery(&self, outbox_id: &str) -> Result<Option<Delivery>>;

    /// The message written under an idempotency key, if any.
    async fn get_delivery_by_key(&self, idempotency_key: &str) -> Result<Option<Delivery>>;

    /// Deliveries newest first.
    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>>;

    /// The outbox messages written for the stored event `event_id`, oldest first.
    async fn deliveries_of_event(&self, event_id: &str) -> Result<Vec<Delivery>>;
    /// How many deliveries `q`'s filters select (its cursor and limit aside).
    async fn count_deliveries(&self, q: &DeliveryQuery) -> Result<u64>;

    async fn list_attempts(&self, outbox_id: &str) -> Result<Vec<DeliveryAttempt>>;

    /// Puts a pending or dead-lettered message back in the queue, due now. `None`
    /// when there is no such message; a delivered one is returned unchanged.
    async fn retry_delivery(&self, outbox_id: &str) -> Result<Option<Delivery>>;

    /// Puts these messages back in the queue, due now, those still pending or
    /// dead-lettered (a workflow run's record never); returns how many.
    async fn retry_deliveries(&self, outbox_ids: &[String]) -> Result<u64>;

    /// Requeues a destination's dead-lettered messages created at or after `since`,
    /// due now; returns how many.
    async fn recover_destination(&self, destination_id: &str, since: i64) -> Result<u64>;
}

/// Where deliveries go: settings, signing secrets, on/off state.
#[async_trait::async_trait]
pub trait DestinationStore: Send + Sync {
    /// Creates a destination row unless one exists.
    async fn ensure_destination(&self, d: &Destination) -> Result<()>;

    /// Creates or replaces a destination, with its `audit` row.
    async fn put_destination(&self, d: &Destination, audit: &NewAudit) -> Result<()>;

    async fn get_destination(&self, destination_id: &str) -> Result<Option<Destination>>;

    async fn list_destinations(&self) -> Result<Vec<Destination>>;

    /// Moves a destination's pending, unclaimed messages due before `until` to
    /// `until` (an open circuit, a pause), so claims do not walk past them. Parking
    /// until enabled happens only while the destination is disabled, so a stale
    /// view cannot park what an enable just released. Returns how many moved.
    async fn park_destination(&self, destination_id: &str, until: Park) -> Result<u64>;

    /// Disables (with a reason) or, with `None`, re-enables a destination; its pending
    /// messages are parked at [`PARKED`] while it is disabled and due at once when it
    /// is enabled. False when there is no such destination. The `audit` row is
    /// written with the change.
    async fn set_destination_disabled(
        &self,
        destination_id: &str,
        reason: Option<&str>,
        audit: &NewAudit,
    ) -> Result<bool>;
}

/// API keys for `/api`, kept as hashes.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key with its `audit` row.
    async fn insert_key(&self, key: &ApiKey, audit: &NewAudit) -> Result<()>;

    /// The key with this hash, revoked or not.
    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;

    async fn get_key(&self, key_id: &str) -> Result<Option<ApiKey>>;

    /// Every key, revoked ones included, by id.
    async fn list_keys(&self) -> Result<Vec<ApiKey>>;

    /// Revokes a live key (with its `audit` row); false when there is no live key
    /// with this id.
    async fn revoke_key(&self, key_id: &str, at: i64, audit: &NewAudit) -> Result<bool>;
}

/// The live stream's notices, written as [`Effect::Notice`] with the changes they
/// announce.
#[async_trait::async_trait]
pub trait StreamStore: Send + Sync {
    /// Up to `limit` notices after `cursor` (from the start when `None`), in order.
    /// A notice is listed only once no notice before it can still commit, so a
    /// reader that goes on from the last cursor it saw misses nothing.
    /// `StoreError::InvalidCursor` for a cursor this store did not make.
    async fn stream_after(&self, cursor: Option<&str>, limit: i64) -> Result<Vec<StreamNotice>>;

    /// The cursor of the last notice [`Self::stream_after`] would list now (`None`
    /// when there is none): where a reader that wants only new notices starts.
    async fn stream_head(&self) -> Result<Option<String>>;

    /// Deletes notices stamped before `before` (Unix micros); how many.
    async fn prune_stream(&self, before: i64) -> Result<u64>;
}

/// Retention: old rows deleted a small batch at a time, so no statement holds the
/// writer long (see `sql/retention.rs` for what is never deleted).
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` rows of `kind` older than `before` (Unix micros)
    /// that no pending work needs, oldest first; how many went (runs: the runs, their
    /// steps go with them).
    async fn prune(&self, kind: PruneKind, before: i64, limit: i64) -> Result<u64>;
}

/// What happened recently, counted per step (the dashboard's overview charts).
#[async_trait::async_trait]
pub trait ActivityStore: Send + Sync {
    /// `steps` consecutive windows of `step` microseconds from `since` (Unix
    /// micros): events received, requests refused and delivery attempts in each,
    /// one entry per window in order, empty windows included.
    async fn activity(&self, since: i64, step: i64, steps: usize) -> Result<Vec<ActivityCounts>>;
}

/// The audit log of configuration changes (written by the changes themselves).
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Changes newest first.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>>;

    /// Writes a row that goes with no stored change: a secret shown, the summary
    /// of a bulk operation made in several transactions.
    async fn record_audit(&self, a: &NewAudit) -> Result<()>;
}

/// Checkpoints and their history. Every change is one transaction: the row, its
/// history and the outbox messages it triggers.
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Opens a checkpoint with its history and `effects`, unless its id exists;
    /// true when it was created. Two concurrent creates of one id: exactly one
    /// creates, and neither fails.
    async fn insert_checkpoint(
        &self,
        c: &NewCheckpoint,
        history: &[NewHistory],
        effects: &[Effect],
    ) -> Result<bool>;

    async fn get_checkpoint(&self, checkpoint_id: &str) -> Result<Option<Checkpoint>>;

    /// Checkpoints newest first, filtered.
    async fn list_checkpoints(&self, q: &CheckpointQuery) -> Result<Vec<Checkpoint>>;

    /// A checkpoint's history, oldest first.
    async fn checkpoint_history(&self, checkpoint_id: &str) -> Result<Vec<HistoryEntry>>;

    /// Applies `change` if the checkpoint is still at `change.version`, with its
    /// history and `effects`, in one transaction; the row as changed, or `None`
    /// when the version moved (nothing is written). A terminal status stamps
    /// `decided_at`.
    async fn update_checkpoint(
        &self,
        change: &CheckpointChange,
        history: &[NewHistory],
        effects: &[Effect],
    ) -> Result<Option<Checkpoint>>;

    /// Claims up to `max` due timers for `claim_micros` (both by the database's
    /// clock). Two claimers never hold one timer at once: SQLite has one writer;
    /// PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
    async fn claim_timers(&self, max: i64, claim_micros: i64) -> Result<Vec<Timer>>;

    /// How long until the next timer is due or its claim runs out, in
    /// microseconds by the database's clock; `None` when there is none.
    async fn next_timer_in(&self) -> Result<Option<i64>>;

    /// Fires a claimed timer in one transaction: `change` (if any, only at its
    /// version), the checkpoint's `history` and `effects`, and the timer's
    /// deletion. False when the version moved: nothing is written.
    async fn fire_timer(
        &self,
        timer: &Timer,
        change: Option<&CheckpointChange>,
        history: &[NewHistory],
        effects: &[Effect],
    ) -> Result<bool>;
}

/// CrewAI kickoffs' execution records (seed 000): built from their events, read
/// by `GET /webhook/status/{kickoff_id}`.
#[async_trait::async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Adds an event to its kickoff's execution (creating the execution), and
    /// ends the execution when the event says so, in one transaction. The same
    /// event again adds no timeline entry.
    async fn record_execution_event(&self, e: &NewExecutionEvent) -> Result<()>;

    async fn get_execution(&self, kickoff_id: &str) -> Result<Option<Execution>>;

    /// The first `limit` timeline entries, oldest first.
    async fn execution_events(&self, kickoff_id: &str, limit: i64) -> Result<Vec<ExecutionEvent>>;

    /// The timeline entry the stored event `event_id` made (its kickoff, and the
    /// checkpoint it opened in `detail`), if it made one.
    async fn execution_event(&self, event_id: &str) -> Result<Option<ExecutionEvent>>;

    /// How many checkpoints are in `status` (`/health`'s pending count).
    async fn count_checkpoints(&self, status: CheckpointStatus) -> Result<i64>;
}

/// Workflows registered through the API. Every change writes its `audit` row in
/// its own transaction, only when it changed something; the registry's change
/// counter moves with it (triggers), so replicas reload.
#[async_trait::async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Registers a workflow unless its name exists; true when it was created.
    async fn insert_workflow(&self, w: &WorkflowRecord, audit: &NewAudit) -> Result<bool>;

    /// Registers or replaces a workflow.
    async fn put_workflow(&self, w: &WorkflowRecord, audit: &NewAudit) -> Result<()>;

    async fn get_workflow(&self, name: &str) -> Result<Option<WorkflowRecord>>;

    async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>>;

    /// True when a workflow was deleted.
    async fn delete_workflow(&self, name: &str, audit: &NewAudit) -> Result<bool>;
}

/// Workflow runs and their steps. Runs are created as [`Effect::Run`] (with the
/// event or the API call that starts them) and move by [`WriteOp::Run`], each
/// guarded by the claim of the runner that holds the run.
#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    /// Claims up to `max` due runs (pending, running, or waiting past their due
    /// time) for `claim_micros`, under one new claim id, both by the database's
    /// clock. Two claimers never hold one run at once: SQLite has one writer;
    /// PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
    async fn claim_runs(&self, max: i64, claim_micros: i64) -> Result<Vec<Run>>;

    /// How long until the next live run is due or its claim runs out, in
    /// microseconds by the database's clock; `None` when no run is live.
    async fn next_run_in(&self) -> Result<Option<i64>>;

    async fn get_run(&self, run_id: &str) -> Result<Option<Run>>;

    /// The run a trigger started, if any.
    async fn get_run_by_trigger(&self, trigger_key: &str) -> Result<Option<Run>>;

    /// Runs newest first, filtered.
    async fn list_runs(&self, q: &RunQuery) -> Result<Vec<Run>>;

    /// A run's steps in order.
    async fn run_steps(&self, run_id: &str) -> Result<Vec<RunStep>>;

    /// How many runs are in `status`.
    async fn count_runs(&self, status: RunStatus) -> Result<i64>;
}

/// Opens the store a URL names: `sqlite://PATH` (the folder is created) or
/// `postgres://...` / `postgresql://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::Url(format!(
            "{}: expected sqlite://PATH or postgres://...",
            redact_url(url)
        )))
    }
}

/// A URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/...
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_owned()
}

/// The `next_attempt_at` of a message waiting for its destination to be enabled: far
/// beyond any schedule (year 2096), so claims never reach it.
pub const PARKED: i64 = 4_000_000_000_000_000;

/// A new time-ordered id with a type prefix (`evt_0190...`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_id("evt");
        let b = new_id("evt");
        assert!(a < b, "{a} !< {b}");
    }
}
