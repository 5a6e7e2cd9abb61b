//! Workflow runs (seed 003, issue 11): durable executions of the workflows in the
//! [`crate::workflows`] registry.
//!
//! A run is a row created with whatever started it — an event at
//! `/webhooks/generic` or a `run_workflow` command (in the event's transaction), the
//! API, a parent run's `workflow` node — as [`Effect::Run`]. The [`runner`] claims
//! due runs (SKIP LOCKED on PostgreSQL, so any replica can take one) and moves each
//! node by node; every move is one [`WriteOp::Run`] through the group-commit writer,
//! guarded by the claim, holding the node's step, the new state and position
//! ([`Cursor`]), and the work the node made (outbox messages, tasks, child runs).
//! A completed node is therefore never run again; a node in flight when its
//! process died runs again once the claim runs out.
//!
//! Waiting nodes (`task`, `ask`, `workflow`) park the run as `waiting` on what they
//! wait for (`wait_ref`); the task's completion, the checkpoint's decision or the
//! child run's end writes [`Effect::WakeRuns`] in its own transaction, which makes
//! the run due again.

mod llm_node;
mod nodes;
pub mod runner;
pub(crate) mod trigger;
mod view;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use switchyard_core::workflow::{FieldError, Next};
use switchyard_store::{
    new_id, Effect, NewRun, Run, RunChange, RunGuard, RunQuery, RunStatus, RunStep, RunWrite,
    WriteOp, WriteOutcome,
};

use crate::error::{Error, Result};
use crate::workflows::Loaded;
use crate::Engine;

pub use view::{RunView, StepView};

/// The client `http` nodes send with: the delivery engine's SSRF guard (their
/// URLs come from workflows registered at run time), no redirects, no proxy.
#[derive(Clone)]
pub struct HttpNodes {
    pub client: reqwest::Client,
    pub guard: std::sync::Arc<crate::delivery::ssrf::Guard>,
}

impl HttpNodes {
    pub fn new(
        d: &crate::delivery::DeliveryConfig,
    ) -> std::result::Result<Self, crate::error::StartError> {
        let client = crate::delivery::ssrf::client(
            d.guard.clone(),
            d.connect_timeout,
            Duration::from_secs(24 * 3600),
        )
        .map_err(|e| crate::error::StartError::Client(e.to_string()))?;
        Ok(Self {
            client,
            guard: d.guard.clone(),
        })
    }
}

/// How runs are carried out.
#[derive(Debug, Clone)]
pub struct RunsConfig {
    /// How long a runner's claim on a run lasts; renewed while a node works. After a
    /// crash, another runner takes the run once it runs out.
    pub claim_lease: Duration,
    /// The most runs one process moves at once.
    pub max_concurrent: usize,
    /// How long a run may take from its creation, waits included.
    pub run_timeout: Duration,
    /// The most node executions one run may make (routes may form cycles).
    pub max_steps: u32,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            claim_lease: Duration::from_secs(30),
            max_concurrent: 32,
            run_timeout: Duration::from_secs(24 * 3600),
            max_steps: 1000,
        }
    }
}

/// Where a run stands: the runner's position, kept with the state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Cursor {
    /// The node to run next; `None` once the run reached `END`.
    pub node: Option<String>,
    /// How many times each node has completed (a loop's iterations).
    #[serde(default)]
    pub done: BTreeMap<String, u32>,
    /// The next step's `seq`.
    #[serde(default)]
    pub seq: i64,
    /// Failed attempts of the node run under way.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Node executions so far.
    #[serde(default)]
    pub node_runs: u32,
    /// The step of a node under way: set when it starts, cleared when its outcome
    /// is written. Found set when a run is claimed, it was cut short (its process
    /// died) and counts as a failed attempt.
    #[serde(default)]
    pub in_flight: Option<i64>,
    /// Node runs cut short by a process dying, in this run (see [`MAX_INTERRUPTIONS`]).
    #[serde(default)]
    pub interruptions: u32,
    /// What a waiting node waits for.
    #[serde(default)]
    pub wait: Option<Wait>,
}

/// How many times a run's nodes may be cut short by their process dying before
/// the run fails (a node that kills its process must not do so forever). An
/// interrupted node runs again without using up its retries.
pub(crate) const MAX_INTERRUPTIONS: u32 = 3;

/// A waiting node: its step and what it waits for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Wait {
    pub seq: i64,
    pub on: WaitOn,
    /// The task, checkpoint or child run id.
    pub id: String,
    pub started_at: i64,
    pub inputs: Value,
    /// Unix micros after which the node fails (a `task` node's timeout).
    pub until: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WaitOn {
    Task,
    Checkpoint,
    Run,
}

/// What started a run.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    pub event_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub restarted_from: Option<String>,
    /// Unique: the same trigger again starts nothing.
    pub key: Option<String>,
}

/// The JSON object `inputs` must be; a field error at `inputs` otherwise.
pub fn inputs_object(
    inputs: Option<&Value>,
) -> std::result::Result<Map<String, Value>, Vec<FieldError>> {
    match inputs {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Err(vec![FieldError::new("inputs", "is required")]),
        Some(_) => Err(vec![FieldError::new("inputs", "must be a JSON object")]),
    }
}

impl Engine {
    /// A new run of `loaded` with `inputs` (see [`new_run`]).
    pub fn new_run(
        &self,
        loaded: &Loaded,
        inputs: &Map<String, Value>,
        trigger: Trigger,
    ) -> std::result::Result<NewRun, Vec<FieldError>> {
        new_run(loaded, inputs, trigger, self.config.runs.run_timeout)
    }
}

/// A new run of `loaded` with `inputs`: its first state (inputs converted into
/// their declared types, defaults for the rest) and first node, due at once and
/// timing out `run_timeout` after now. Every problem with the inputs at once, each
/// at `inputs.FIELD`.
pub fn new_run(
    loaded: &Loaded,
    inputs: &Map<String, Value>,
    trigger: Trigger,
    run_timeout: Duration,
) -> std::result::Result<NewRun, Vec<FieldError>> {
    let wf = &loaded.workflow;
    let state = wf.state.initial(inputs).map_err(|errs| {
        errs.into_iter()
            .map(|e| FieldError::new(format!("inputs.{}", e.path), e.message))
            .collect::<Vec<_>>()
    })?;
    let state = Value::Object(state);
    let first = wf.graph.first(&state).map_err(|e| {
        vec![FieldError::new(
            "inputs",
            format!("the first edge: {}", e.0),
        )]
    })?;
    let cursor = Cursor {
        node: match first {
            Next::Node(n) => Some(n),
            Next::End => None,
        },
        ..Cursor::default()
    };
    let now = switchyard_store::now_micros();
    Ok(NewRun {
        run_id: new_id("run"),
        workflow: wf.name.clone(),
        status: RunStatus::Pending,
        definition: Some(loaded.yaml.clone()),
        inputs: Value::Object(inputs.clone()).to_string(),
        state: state.to_string(),
        cursor: json!(cursor).to_string(),
        error: None,
        event_id: trigger.event_id,
        parent_run_id: trigger.parent_run_id,
        restarted_from: trigger.restarted_from,
        trigger_key: trigger.key,
        deadline: Some(now.saturating_add(micros(run_timeout))),
        created_at: now,
    })
}

/// A run that could not start (an unknown workflow, inputs that do not fit, as a
/// `run_workflow` command may produce): recorded `failed` with why.
pub fn failed_run(workflow: &str, inputs: &Value, error: String, trigger: Trigger) -> NewRun {
    NewRun {
        run_id: new_id("run"),
        workflow: workflow.to_owned(),
        status: RunStatus::Failed,
        definition: None,
        inputs: inputs.to_string(),
        state: "{}".into(),
        cursor: json!(Cursor::default()).to_string(),
        error: Some(error),
        event_id: trigger.event_id,
        parent_run_id: trigger.parent_run_id,
        restarted_from: trigger.restarted_from,
        trigger_key: trigger.key,
        deadline: None,
        created_at: switchyard_store::now_micros(),
    }
}

impl Engine {
    /// The workflow served under `name`; 404 naming it.
    pub fn runnable(&self, name: &str) -> Result<std::sync::Arc<Loaded>> {
        self.workflows
            .get(name)
            .ok_or_else(|| trigger::unknown_workflow(name))
    }

    /// `POST /api/workflows/{name}/runs`: starts a run; 404 for an unknown
    /// workflow, 400 naming each input that does not fit.
    pub async fn start_run(&self, name: &str, inputs: Option<&Value>) -> Result<Run> {
        let loaded = self.runnable(name)?;
        let inputs = inputs_object(inputs).map_err(bad_inputs)?;
        let new = self
            .new_run(&loaded, &inputs, Trigger::default())
            .map_err(bad_inputs)?;
        let id = new.run_id.clone();
        self.commit_effects(vec![Effect::Run(new)]).await?;
        self.run_row(&id).await
    }

    /// The stored run; 404 when there is none.
    pub async fn run_row(&self, run_id: &str) -> Result<Run> {
        self.store
            .get_run(run_id)
            .await?
            .ok_or_else(|| Error::not_found("no_run", format!("no run {run_id:?}")))
    }

    /// A run as the API shows it: with its steps and child runs.
    pub async fn run_view(&self, run_id: &str) -> Result<RunView> {
        let run = self.run_row(run_id).await?;
        let steps = self.store.run_steps(run_id).await?;
        let children = self
            .store
            .list_runs(&RunQuery {
                parent_run_id: Some(run_id.to_owned()),
                limit: 1000,
                ..RunQuery::default()
            })
            .await?;
        Ok(RunView::of(&run, &steps, &children))
    }

    /// Runs newest first.
    pub async fn list_runs(&self, q: &RunQuery) -> Result<Vec<Run>> {
        Ok(self.store.list_runs(q).await?)
    }

    /// Cancels a live run (and, through it, the task, checkpoint or child run it
    /// waits for); a finished one is 409.
    pub async fn cancel_run(&self, run_id: &str, who: &str) -> Result<Run> {
        let run = self.run_row(run_id).await?;
        if run.status.is_terminal() {
            return Err(Error::conflict(
                "run_finished",
                format!("the run is {} already", run.status),
            ));
        }
        let cursor: Cursor = serde_json::from_str(&run.cursor).unwrap_or_default();
        let now = switchyard_store::now_micros();
        // The step waiting or under way ends with the run.
        let open = [cursor.wait.as_ref().map(|w| w.seq), cursor.in_flight];
        let mut steps = Vec::new();
        if open.iter().any(Option::is_some) {
            for mut step in self.store.run_steps(run_id).await? {
                if open.contains(&Some(step.seq)) {
                    step.status = switchyard_store::StepStatus::Cancelled;
                    step.finished_at = Some(now);
                    step.error = Some(format!("cancelled by {who}"));
                    steps.push(step);
                }
            }
        }
        let error = format!("cancelled by {who}");
        let write = RunWrite {
            run_id: run_id.to_owned(),
            guard: RunGuard::Live,
            change: RunChange {
                status: Some(RunStatus::Cancelled),
                error: Some(Some(error.clone())),
                wait_ref: Some(None),
                finished_at: Some(now),
                claim_for: Some(0),
                ..RunChange::default()
            },
            steps,
            effects: finished_effects(&run, RunStatus::Cancelled, Some(&error)),
        };
        if !self.write_run(write).await? {
            // It finished meanwhile.
            let run = self.run_row(run_id).await?;
            return Err(Error::conflict(
                "run_finished",
                format!("the run is {} already", run.status),
            ));
        }
        record_finished(&run.workflow, RunStatus::Cancelled);
        // What it waited for goes too.
        if let Some(w) = cursor.wait {
            self.end_wait(&w, who, &error).await;
        }
        self.run_row(run_id).await
    }

    /// Ends what a run that stopped waiting waited for: its checkpoint is cancelled,
    /// its task failed with `why`, its child run cancelled. Best effort: a thing that
    /// finished meanwhile stays as it is.
    pub(crate) async fn end_wait(&self, w: &Wait, who: &str, why: &str) {
        match w.on {
            WaitOn::Checkpoint => {
                if let Err(e) = self.cancel_checkpoint(&w.id, who).await {
                    tracing::debug!(checkpoint = %w.id, "not cancelled with its run: {e:?}");
                }
            }
            WaitOn::Run => {
                if let Err(e) = Box::pin(self.cancel_run(&w.id, who)).await {
                    tracing::debug!(run = %w.id, error = %e.message, "child run not cancelled");
                }
            }
            WaitOn::Task => {
                if let Err(e) = self.store.cancel_task(&w.id, why).await {
                    tracing::warn!(task = %w.id, error = %e, "task not cancelled with its run");
                }
            }
        }
    }

    /// Starts the run again from the beginning with the same inputs: a new run
    /// linked to the old (`restarted_from`), on the workflow as it is now.
    pub async fn restart_run(&self, run_id: &str) -> Result<Run> {
        let old = self.run_row(run_id).await?;
        let loaded = self.runnable(&old.workflow)?;
        let inputs: Map<String, Value> = serde_json::from_str(&old.inputs).unwrap_or_default();
        let new = self
            .new_run(
                &loaded,
                &inputs,
                Trigger {
                    event_id: old.event_id.clone(),
                    restarted_from: Some(old.run_id.clone()),
                    ..Trigger::default()
                },
            )
            .map_err(|f| Error::invalid_with("invalid_inputs", f))?;
        let id = new.run_id.clone();
        self.commit_effects(vec![Effect::Run(new)]).await?;
        self.run_row(&id).await
    }

    /// Waits up to `timeout` for a run to finish; the run as it is then.
    pub async fn wait_run(&self, run_id: &str, timeout: Duration) -> Result<Run> {
        let deadline = tokio::time::Instant::now() + timeout;
        let _waiting = self.hub.wait_started();
        loop {
            let changed = self.hub.runs_changed();
            let run = self.run_row(run_id).await?;
            if run.status.is_terminal() || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::select! {
                _ = changed => {}
                _ = self.hub.closing() => return Ok(run),
                _ = tokio::time::sleep(self.config.wait_fallback.max(Duration::from_millis(50))) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Writes a run's move through the writer; whether its guard held.
    pub(crate) async fn write_run(&self, w: RunWrite) -> Result<bool> {
        match self.writer.submit(WriteOp::Run(w)).await? {
            WriteOutcome::Run { applied } => Ok(applied),
            other => Err(Error::internal(format!(
                "unexpected write outcome {other:?}"
            ))),
        }
    }
}

/// 400 `invalid_inputs` naming every input that does not fit (the trigger's body
/// is wrong, not a definition).
pub fn bad_inputs(fields: Vec<FieldError>) -> Error {
    let mut e = Error::invalid_with("invalid_inputs", fields);
    e.kind = crate::error::ErrorKind::BadRequest;
    e
}

/// What a run's end writes with it: the parent's wake-up and the stream notice.
pub(crate) fn finished_effects(run: &Run, status: RunStatus, error: Option<&str>) -> Vec<Effect> {
    let mut payload =
        json!({"run_id": run.run_id, "workflow": run.workflow, "status": status.as_str()});
    if let Some(e) = error {
        payload["error"] = json!(e);
    }
    vec![
        Effect::WakeRuns(run.run_id.clone()),
        crate::notices::notice("run.finished", &payload),
    ]
}

/// Counts a run's end.
pub(crate) fn record_finished(workflow: &str, status: RunStatus) {
    crate::telemetry::run_finished(workflow, status);
}

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A step as first written when its node starts.
pub(crate) fn step_started(
    run: &Run,
    seq: i64,
    node: &str,
    kind: &str,
    iteration: u32,
    attempt: u32,
    at: i64,
) -> RunStep {
    RunStep {
        run_id: run.run_id.clone(),
        seq,
        node_id: node.to_owned(),
        kind: kind.to_owned(),
        iteration: i64::from(iteration),
        status: switchyard_store::StepStatus::Running,
        attempt: i64::from(attempt),
        inputs: "{}".into(),
        outputs: None,
        detail: None,
        error: None,
        started_at: at,
        finished_at: None,
    }
}
