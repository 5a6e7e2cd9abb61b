//! The runner: the "workflow-runner" worker claims due runs and moves each one
//! node by node until it finishes, waits, backs off for a retry, or loses its
//! claim. Every move is one guarded [`RunWrite`] through the writer; a claim is
//! renewed while a node works, so a run whose process died is taken over once its
//! claim runs out (`RunsConfig::claim_lease`), from its last completed node.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_core::workflow::render;
use switchyard_core::workflow::{Next, Workflow};
use switchyard_store::{
    CheckpointStatus, Effect, Run, RunChange, RunGuard, RunStatus, RunStep, RunWrite, StepStatus,
    TaskStatus,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::nodes::{self, Ctx, Outcome};
use super::{finished_effects, micros, record_finished, step_started, Cursor, Wait, WaitOn};
use crate::Engine;

/// How long a waiting run sleeps before it looks at what it waits for anyway (a
/// wake-up lost with a replica's connection is found then).
const WAIT_RECHECK: Duration = Duration::from_secs(3600);

/// The "workflow-runner" worker: claims what is due, runs it, and sleeps until the
/// next run is due or the hub says runs moved.
pub async fn run(engine: Engine, stop: CancellationToken) {
    const MAX_NAP: Duration = Duration::from_secs(60);
    let wake = engine.hub.runner_notify();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    // The claims of the runs under way, to release them if the stop cuts them short.
    let held: Held = Arc::default();
    let max = engine.config.runs.max_concurrent.max(1);
    loop {
        let notified = wake.notified();
        while in_flight.try_join_next().is_some() {}
        if in_flight.len() < max {
            let lease = micros(engine.config.runs.claim_lease);
            match engine
                .store
                .claim_runs((max - in_flight.len()) as i64, lease)
                .await
            {
                Ok(runs) => {
                    for r in runs {
                        let (e, stop, held) = (engine.clone(), stop.clone(), held.clone());
                        let claim = (r.run_id.clone(), r.claim_id.clone().unwrap_or_default());
                        lock(&held).insert(claim.0.clone(), claim.1);
                        in_flight.spawn(async move {
                            let id = r.run_id.clone();
                            drive(&e, r, &stop).await;
                            lock(&held).remove(&id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "workflow runs: cannot claim"),
            }
        }
        let nap = match engine.store.next_run_in().await {
            Ok(Some(us)) => Duration::from_micros(u64::try_from(us).unwrap_or(0)).min(MAX_NAP),
            Ok(None) => MAX_NAP,
            Err(e) => {
                tracing::warn!(error = %e, "workflow runs: cannot read the next due time");
                Duration::from_secs(1)
            }
        };
        // Other replicas' runs are announced by the hub (PostgreSQL); SQLite's
        // replicas poll.
        let nap = nap.min(engine.config.wait_fallback.max(Duration::from_millis(200)) * 4);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = notified => {}
            _ = tokio::time::sleep(nap) => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    // Runs under way stop after their node (and release their claim then); a
    // node still working after a grace period is cut short and its run released,
    // so the next start takes it at once (it runs that node again).
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while in_flight.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
        let left: Vec<(String, String)> = lock(&held).drain().collect();
        for (run_id, claim) in left {
            let release = RunWrite {
                run_id,
                guard: RunGuard::Claim(claim),
                change: RunChange {
                    claim_for: Some(0),
                    due_in: Some(0),
                    ..RunChange::default()
                },
                steps: Vec::new(),
                effects: Vec::new(),
            };
            if let Err(e) = engine.write_run(release).await {
                tracing::debug!(error = %e.message, "a run's claim was not released; it runs out");
            }
        }
    }
}

/// How long a stop waits for the nodes under way.
const STOP_GRACE: Duration = Duration::from_secs(5);

type Held = Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;

fn lock(h: &Held) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves one claimed run as far as it goes now.
async fn drive(engine: &Engine, run: Run, stop: &CancellationToken) {
    let run_id = run.run_id.clone();
    if let Err(e) = Driver::new(engine, run, stop).go().await {
        tracing::warn!(run_id = %run_id, error = %e, "workflow run: could not move; it is taken again once its claim runs out");
    }
}

struct Driver<'a> {
    engine: &'a Engine,
    run: Run,
    claim: String,
    stop: &'a CancellationToken,
}

/// Why a run could not move (the claim is left to run out).
type Failure = String;

impl<'a> Driver<'a> {
    fn new(engine: &'a Engine, run: Run, stop: &'a CancellationToken) -> Self {
        let claim = run.claim_id.clone().unwrap_or_default();
        Driver {
            engine,
            run,
            claim,
            stop,
        }
    }

    async fn write(
        &self,
        change: RunChange,
        steps: Vec<RunStep>,
        effects: Vec<Effect>,
    ) -> Result<bool, Failure> {
        self.engine
            .write_run(RunWrite {
                run_id: self.run.run_id.clone(),
                guard: RunGuard::Claim(self.claim.clone()),
                change,
                steps,
                effects,
            })
            .await
            .map_err(|e| e.message)
    }

    async fn go(mut self) -> Result<(), Failure> {
        let wf = match self.definition() {
            Ok(wf) => wf,
            Err(why) => return self.fail_run(&Cursor::default(), why, Vec::new()).await,
        };
        let mut cursor: Cursor =
            serde_json::from_str(&self.run.cursor).map_err(|e| format!("corrupt cursor: {e}"))?;
        let mut state: Value =
            serde_json::from_str(&self.run.state).map_err(|e| format!("corrupt state: {e}"))?;
        if self.run.status == RunStatus::Pending {
            metrics::counter!("switchyard_runs_started_total", "workflow" => self.run.workflow.clone())
                .increment(1);
            let notice = crate::notices::notice(
                "run.started",
                &json!({"run_id": self.run.run_id, "workflow": self.run.workflow, "event_id": self.run.event_id}),
            );
            let change = RunChange {
                status: Some(RunStatus::Running),
                started_at: Some(switchyard_store::now_micros()),
                ..RunChange::default()
            };
            if !self.write(change, Vec::new(), vec![notice]).await? {
                return Ok(());
            }
            self.run.status = RunStatus::Running;
        }
        loop {
            if self.stop.is_cancelled() {
                // Let another start pick it up at once.
                let release = RunChange {
                    claim_for: Some(0),
                    due_in: Some(0),
                    ..RunChange::default()
                };
                self.write(release, Vec::new(), Vec::new()).await?;
                return Ok(());
            }
            if self
                .run
                .deadline
                .is_some_and(|d| switchyard_store::now_micros() > d)
            {
                let why = format!(
                    "the run timed out after {} s",
                    self.engine.config.runs.run_timeout.as_secs()
                );
                let waited = cursor.wait.take();
                self.fail_run(&cursor, why.clone(), Vec::new()).await?;
                if let Some(w) = waited {
                    Box::pin(self.engine.end_wait(&w, "the run's timeout", &why)).await;
                }
                return Ok(());
            }
            if let Some(wait) = cursor.wait.clone() {
                match self.look_at_wait(&wait).await? {
                    Waited::Pending(until) => return self.park(&cursor, until).await,
                    Waited::Done(result) => {
                        let node = cursor.node.clone().unwrap_or_default();
                        let Some(node) = wf.node(&node) else {
                            return self
                                .fail_run(&cursor, format!("no node {node:?}"), Vec::new())
                                .await;
                        };
                        let step = self.step_of(&wait, node.kind.name(), &cursor);
                        let executed = nodes::Executed {
                            outcome: Outcome::Done {
                                result,
                                effects: Vec::new(),
                            },
                            inputs: wait.inputs.clone(),
                            detail: json!({"waited_for": wait.id}),
                            secrets: Vec::new(),
                        };
                        cursor.wait = None;
                        if !self
                            .finish_node(&wf, node, &mut cursor, &mut state, step, executed)
                            .await?
                        {
                            return Ok(());
                        }
                        continue;
                    }
                    Waited::Failed(error) => {
                        let node_id = cursor.node.clone().unwrap_or_default();
                        let kind = wf.node(&node_id).map_or("", |n| n.kind.name());
                        let step = self.step_of(&wait, kind, &cursor);
                        cursor.wait = None;
                        let step = RunStep {
                            status: StepStatus::Failed,
                            error: Some(error.clone()),
                            finished_at: Some(switchyard_store::now_micros()),
                            ..step
                        };
                        return self
                            .fail_run(&cursor, format!("node {node_id}: {error}"), vec![step])
                            .await;
                    }
                }
            }
            let Some(node_id) = cursor.node.clone() else {
                return self.succeed(&cursor, &state).await;
            };
            let Some(node) = wf.node(&node_id) else {
                return self
                    .fail_run(&cursor, format!("no node {node_id:?}"), Vec::new())
                    .await;
            };
            if cursor.node_runs >= self.engine.config.runs.max_steps {
                let why = format!(
                    "the run made {} node runs, the most one run may make (a cycle?)",
                    cursor.node_runs
                );
                return self.fail_run(&cursor, why, Vec::new()).await;
            }
            let iteration = cursor.done.get(&node_id).copied().unwrap_or(0) + 1;
            if let Some(seq) = cursor.in_flight {
                // Claimed with a node under way: its process died mid-node.
                if !self
                    .interrupted(&wf, node, &mut cursor, &mut state, seq, iteration)
                    .await?
                {
                    return Ok(());
                }
                continue;
            }
            let attempt = cursor.failed_attempts + 1;
            let started = switchyard_store::now_micros();
            let step = step_started(
                &self.run,
                cursor.seq,
                &node_id,
                node.kind.name(),
                iteration,
                attempt,
                started,
            );
            let timeout = Duration::from_secs(wf.timeout_of(node));
            cursor.in_flight = Some(step.seq);
            let begin = RunChange {
                cursor: Some(json!(cursor).to_string()),
                claim_for: Some(micros(self.engine.config.runs.claim_lease + timeout)),
                ..RunChange::default()
            };
            if !self.write(begin, vec![step.clone()], Vec::new()).await? {
                return Ok(());
            }
            let ctx = Ctx {
                engine: self.engine,
                run: &self.run,
                wf: &wf,
                node,
                iteration,
                state: &state,
            };
            let clock = std::time::Instant::now();
            let executed = match tokio::time::timeout(timeout, nodes::execute(&ctx)).await {
                Ok(x) => x,
                Err(_) => nodes::Executed {
                    outcome: Outcome::Failed {
                        error: format!("timed out after {} s", timeout.as_secs()),
                        retryable: true,
                    },
                    inputs: Value::Null,
                    detail: Value::Null,
                    secrets: Vec::new(),
                },
            };
            metrics::histogram!("switchyard_node_duration_seconds", "workflow" => self.run.workflow.clone(), "kind" => node.kind.name())
                .record(clock.elapsed().as_secs_f64());
            if !self
                .finish_node(&wf, node, &mut cursor, &mut state, step, executed)
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Records a node run cut short by its process dying as an interrupted
    /// attempt; the node runs again (without using up its retries) unless the run
    /// has been interrupted too often. False when the run stops here.
    async fn interrupted(
        &mut self,
        wf: &Workflow,
        node: &switchyard_core::workflow::Node,
        cursor: &mut Cursor,
        state: &mut Value,
        seq: i64,
        iteration: u32,
    ) -> Result<bool, Failure> {
        let now = switchyard_store::now_micros();
        let recorded = self
            .engine
            .store
            .run_steps(&self.run.run_id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| s.seq == seq);
        let mut step = recorded.unwrap_or_else(|| {
            step_started(
                &self.run,
                seq,
                &node.id,
                node.kind.name(),
                iteration,
                cursor.failed_attempts + 1,
                now,
            )
        });
        cursor.interruptions += 1;
        if cursor.interruptions > super::MAX_INTERRUPTIONS {
            let executed = nodes::Executed {
                outcome: Outcome::Failed {
                    error: format!(
                        "interrupted {} times: the process running it stopped each time",
                        cursor.interruptions
                    ),
                    retryable: false,
                },
                inputs: serde_json::from_str(&step.inputs).unwrap_or(Value::Null),
                detail: Value::Null,
                secrets: Vec::new(),
            };
            self.finish_node(wf, node, cursor, state, step, executed)
                .await?;
            return Ok(false);
        }
        step.status = StepStatus::Failed;
        step.error = Some("interrupted: the process running it stopped".into());
        step.finished_at = Some(now);
        cursor.in_flight = None;
        cursor.seq = seq + 1;
        let change = RunChange {
            cursor: Some(json!(cursor).to_string()),
            ..RunChange::default()
        };
        self.write(change, vec![step], Vec::new()).await
    }

    /// The workflow the run started with.
    fn definition(&self) -> Result<Arc<Workflow>, String> {
        let yaml = self
            .run
            .definition
            .as_deref()
            .ok_or_else(|| "the run has no definition".to_owned())?;
        switchyard_core::workflow::parse(yaml, Some(&self.run.workflow))
            .map(Arc::new)
            .map_err(|errs| {
                format!(
                    "the definition does not load: {}",
                    errs.iter()
                        .map(|e| format!("{}: {}", e.path, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
    }

    /// The step a wait started, as it was recorded.
    fn step_of(&self, wait: &Wait, kind: &str, cursor: &Cursor) -> RunStep {
        let node = cursor.node.clone().unwrap_or_default();
        let iteration = cursor.done.get(&node).copied().unwrap_or(0) + 1;
        let mut s = step_started(
            &self.run,
            wait.seq,
            &node,
            kind,
            iteration,
            cursor.failed_attempts + 1,
            wait.started_at,
        );
        s.inputs = wait.inputs.to_string();
        s
    }

    /// Records a node's outcome: the state and position move on, the run waits,
    /// a retry is scheduled, or the run fails. False when the claim was lost (or
    /// the run stops here: waiting, backing off, finished).
    async fn finish_node(
        &mut self,
        wf: &Workflow,
        node: &switchyard_core::workflow::Node,
        cursor: &mut Cursor,
        state: &mut Value,
        mut step: RunStep,
        executed: nodes::Executed,
    ) -> Result<bool, Failure> {
        let now = switchyard_store::now_micros();
        cursor.in_flight = None;
        let secrets = executed.secrets;
        step.inputs = render::redact(&executed.inputs, &secrets).to_string();
        if !executed.detail.is_null() {
            step.detail = Some(render::redact(&executed.detail, &secrets).to_string());
        }
        let iteration = u32::try_from(step.iteration).unwrap_or(1);
        let outcome = match executed.outcome {
            Outcome::Done { result, effects } => {
                match nodes::outputs_of(node, &wf.state, &result) {
                    Ok(written) => {
                        if let Value::Object(m) = state {
                            for (k, v) in &written {
                                m.insert(k.clone(), v.clone());
                            }
                        }
                        let next = match wf.graph.next(&node.id, state, iteration) {
                            Ok(n) => n,
                            Err(e) => {
                                step.status = StepStatus::Failed;
                                step.error = Some(e.0.clone());
                                step.finished_at = Some(now);
                                self.fail_run(
                                    cursor,
                                    format!("after node {}: {}", node.id, e.0),
                                    vec![step],
                                )
                                .await?;
                                return Ok(false);
                            }
                        };
                        cursor.done.insert(node.id.clone(), iteration);
                        cursor.failed_attempts = 0;
                        cursor.seq = step.seq + 1;
                        cursor.node_runs += 1;
                        cursor.node = match next {
                            Next::Node(n) => Some(n),
                            Next::End => None,
                        };
                        step.status = StepStatus::Succeeded;
                        step.outputs =
                            Some(render::redact(&Value::Object(written), &secrets).to_string());
                        step.finished_at = Some(now);
                        let mut effects = effects;
                        effects.push(crate::notices::notice(
                            "run.node_finished",
                            &json!({"run_id": self.run.run_id, "workflow": self.run.workflow, "node": node.id, "status": "succeeded"}),
                        ));
                        let change = RunChange {
                            status: Some(RunStatus::Running),
                            state: Some(state.to_string()),
                            cursor: Some(json!(cursor).to_string()),
                            wait_ref: Some(None),
                            ..RunChange::default()
                        };
                        return self.write(change, vec![step], effects).await;
                    }
                    // The result did not fit the state: as a failed attempt (an
                    // LLM may answer better next time).
                    Err(why) => Outcome::Failed {
                        error: format!("outputs: {why}"),
                        retryable: true,
                    },
                }
            }
            other => other,
        };
        match outcome {
            Outcome::Done { .. } => {
                Err("internal: a finished node's outcome was handled twice".into())
            }
            Outcome::Wait {
                on,
                id,
                until,
                effects,
            } => {
                cursor.wait = Some(Wait {
                    seq: step.seq,
                    on,
                    id: id.clone(),
                    started_at: step.started_at,
                    inputs: serde_json::from_str(&step.inputs).unwrap_or(Value::Null),
                    until,
                });
                step.status = StepStatus::Waiting;
                step.detail = Some(json!({"waiting_for": {"kind": on, "id": id}}).to_string());
                let change = RunChange {
                    status: Some(RunStatus::Waiting),
                    cursor: Some(json!(cursor).to_string()),
                    wait_ref: Some(Some(id.clone())),
                    due_in: Some(self.due_in(until, now)),
                    claim_for: Some(0),
                    ..RunChange::default()
                };
                if !self.write(change, vec![step], effects).await? {
                    return Ok(false);
                }
                // A checkpoint is opened in its own transaction, before the run
                // waits on it: a decision made in between woke nobody.
                if on == WaitOn::Checkpoint {
                    if let Ok(Some(c)) = self.engine.store.get_checkpoint(&id).await {
                        if c.status != CheckpointStatus::Pending {
                            let _ = self.engine.commit_effects(vec![Effect::WakeRuns(id)]).await;
                        }
                    }
                }
                Ok(false)
            }
            Outcome::Failed { error, retryable } => {
                step.status = StepStatus::Failed;
                step.error = Some(render::redact_str(&error, &secrets));
                step.finished_at = Some(now);
                let retries = wf.retries_of(node);
                if retryable && cursor.failed_attempts < retries {
                    cursor.failed_attempts += 1;
                    cursor.seq = step.seq + 1;
                    let backoff = backoff(cursor.failed_attempts);
                    let change = RunChange {
                        cursor: Some(json!(cursor).to_string()),
                        due_in: Some(micros(backoff)),
                        claim_for: Some(0),
                        ..RunChange::default()
                    };
                    self.write(change, vec![step], Vec::new()).await?;
                    return Ok(false);
                }
                cursor.seq = step.seq + 1;
                let why = format!(
                    "node {}: {}",
                    node.id,
                    step.error.clone().unwrap_or_default()
                );
                self.fail_run(cursor, why, vec![step]).await?;
                Ok(false)
            }
        }
    }

    /// Looks at what a waiting node waits for.
    async fn look_at_wait(&self, wait: &Wait) -> Result<Waited, Failure> {
        let store = &self.engine.store;
        let done = match wait.on {
            WaitOn::Task => match store.get_task(&wait.id).await.map_err(|e| e.to_string())? {
                Some(t) if t.status == TaskStatus::Completed => Some(Waited::Done(
                    t.result
                        .as_deref()
                        .map(|r| serde_json::from_str(r).unwrap_or(Value::String(r.to_owned())))
                        .unwrap_or(Value::Null),
                )),
                Some(t) if t.status == TaskStatus::Failed => Some(Waited::Failed(format!(
                    "task {} failed: {}",
                    t.task_id,
                    t.error.unwrap_or_default()
                ))),
                Some(_) => None,
                None => Some(Waited::Failed(format!("task {} is gone", wait.id))),
            },
            WaitOn::Checkpoint => {
                match store
                    .get_checkpoint(&wait.id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(c) if c.status == CheckpointStatus::Pending => None,
                    Some(c) if c.status == CheckpointStatus::Cancelled => Some(Waited::Failed(
                        format!("checkpoint {} was cancelled", c.checkpoint_id),
                    )),
                    Some(c) => {
                        let json_of = |s: &Option<String>| {
                            s.as_deref()
                                .map(|t| {
                                    serde_json::from_str(t).unwrap_or(Value::String(t.to_owned()))
                                })
                                .unwrap_or(Value::Null)
                        };
                        Some(Waited::Done(json!({
                            "decision": c.decision.clone().unwrap_or_else(|| c.status.as_str().to_owned()),
                            "comment": c.comment.clone().unwrap_or_default(),
                            "response": c.response.clone().unwrap_or_default(),
                            "edited_context": json_of(&c.edited_context),
                            "by": c.decided_by.clone().unwrap_or_default(),
                        })))
                    }
                    None => Some(Waited::Failed(format!("checkpoint {} is gone", wait.id))),
                }
            }
            WaitOn::Run => match store.get_run(&wait.id).await.map_err(|e| e.to_string())? {
                Some(r) if r.status == RunStatus::Succeeded => Some(Waited::Done(
                    serde_json::from_str(&r.state).unwrap_or(Value::Null),
                )),
                Some(r) if r.status.is_terminal() => Some(Waited::Failed(format!(
                    "run {} of {} {}: {}",
                    r.run_id,
                    r.workflow,
                    r.status,
                    r.error.unwrap_or_default()
                ))),
                Some(_) => None,
                None => Some(Waited::Failed(format!("run {} is gone", wait.id))),
            },
        };
        Ok(match done {
            Some(d) => d,
            None => match wait.until {
                Some(u) if switchyard_store::now_micros() >= u => {
                    Waited::Failed(format!("no result from {} in time", wait.id))
                }
                u => Waited::Pending(u),
            },
        })
    }

    /// When a waiting run should be looked at even if nothing wakes it: its wait's
    /// end, the run's deadline, or [`WAIT_RECHECK`], whichever comes first.
    fn due_in(&self, until: Option<i64>, now: i64) -> i64 {
        [until, self.run.deadline]
            .into_iter()
            .flatten()
            .map(|t| (t - now).max(0))
            .fold(micros(WAIT_RECHECK), i64::min)
    }

    /// Puts a waiting run back to sleep until it is woken (or its wait runs out).
    async fn park(&self, cursor: &Cursor, until: Option<i64>) -> Result<(), Failure> {
        let now = switchyard_store::now_micros();
        let due_in = self.due_in(until, now);
        let change = RunChange {
            status: Some(RunStatus::Waiting),
            cursor: Some(json!(cursor).to_string()),
            due_in: Some(due_in),
            claim_for: Some(0),
            ..RunChange::default()
        };
        self.write(change, Vec::new(), Vec::new()).await?;
        Ok(())
    }

    async fn succeed(&self, cursor: &Cursor, state: &Value) -> Result<(), Failure> {
        let change = RunChange {
            status: Some(RunStatus::Succeeded),
            state: Some(state.to_string()),
            cursor: Some(json!(cursor).to_string()),
            wait_ref: Some(None),
            finished_at: Some(switchyard_store::now_micros()),
            claim_for: Some(0),
            ..RunChange::default()
        };
        let effects = finished_effects(&self.run, RunStatus::Succeeded, None);
        if self.write(change, Vec::new(), effects).await? {
            record_finished(&self.run.workflow, RunStatus::Succeeded);
            self.export_trace(None).await;
        }
        Ok(())
    }

    async fn fail_run(
        &self,
        cursor: &Cursor,
        error: String,
        steps: Vec<RunStep>,
    ) -> Result<(), Failure> {
        let change = RunChange {
            status: Some(RunStatus::Failed),
            cursor: Some(json!(cursor).to_string()),
            error: Some(Some(error.clone())),
            wait_ref: Some(None),
            finished_at: Some(switchyard_store::now_micros()),
            claim_for: Some(0),
            ..RunChange::default()
        };
        let effects = finished_effects(&self.run, RunStatus::Failed, Some(&error));
        if self.write(change, steps, effects).await? {
            record_finished(&self.run.workflow, RunStatus::Failed);
            tracing::info!(run_id = %self.run.run_id, workflow = %self.run.workflow, error = %error, "workflow run failed");
            self.export_trace(Some(&error)).await;
        }
        Ok(())
    }

    /// Sends the finished run's trace (OpenTelemetry), when an endpoint is set:
    /// built from the stored steps (a run may have moved in several processes),
    /// in the background so the run's end is not held up by a collector.
    async fn export_trace(&self, error: Option<&str>) {
        if !self.engine.traces.enabled() {
            return;
        }
        let (engine, run, error) = (
            self.engine.clone(),
            self.run.clone(),
            error.map(str::to_owned),
        );
        tokio::spawn(async move {
            let steps = match engine.store.run_steps(&run.run_id).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(run_id = %run.run_id, error = %e, "trace not exported: cannot read the steps");
                    return;
                }
            };
            let trace = trace_of(&run, &steps, error);
            if let Err(e) = engine.traces.export(&trace).await {
                tracing::warn!(run_id = %run.run_id, error = %e, "trace not exported");
            }
        });
    }
}

/// A finished run's trace: the run and one span per step, with the model and
/// tokens an LLM step recorded.
fn trace_of(run: &Run, steps: &[RunStep], error: Option<String>) -> crate::otlp::RunTrace {
    let nanos = |us: i64| u64::try_from(us).unwrap_or(0).saturating_mul(1000);
    let now = switchyard_store::now_micros();
    crate::otlp::RunTrace {
        workflow: run.workflow.clone(),
        run_id: run.run_id.clone(),
        started_unix_nanos: nanos(run.started_at.unwrap_or(run.created_at)),
        finished_unix_nanos: nanos(now),
        error,
        nodes: steps
            .iter()
            .map(|s| {
                let detail: Value = s
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                crate::otlp::NodeSpan {
                    node_id: s.node_id.clone(),
                    kind: s.kind.clone(),
                    seq: u32::try_from(s.seq).unwrap_or(u32::MAX),
                    started_unix_nanos: nanos(s.started_at),
                    finished_unix_nanos: nanos(s.finished_at.unwrap_or(now)),
                    error: s.error.clone(),
                    model: detail["model"].as_str().map(str::to_owned),
                    input_tokens: detail["input_tokens"].as_u64(),
                    output_tokens: detail["output_tokens"].as_u64(),
                }
            })
            .collect(),
    }
}

/// What a waiting node's wait came to.
enum Waited {
    Pending(Option<i64>),
    Done(Value),
    Failed(String),
}

/// A retry's back-off: 1 s, 2 s, 4 s … up to a minute.
fn backoff(failed_attempts: u32) -> Duration {
    Duration::from_secs(1u64 << failed_attempts.saturating_sub(1).min(6))
        .min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn a_cursor_round_trips() {
        let mut c = Cursor {
            node: Some("draft".into()),
            seq: 3,
            ..Cursor::default()
        };
        c.done.insert("draft".into(), 2);
        let back: Cursor = serde_json::from_str(&json!(c).to_string()).unwrap();
        assert_eq!(back, c);
        let empty: Cursor = serde_json::from_str(r#"{"node": null}"#).unwrap();
        assert_eq!(empty, Cursor::default());
    }
}
