//! Checkpoints (seed 000): an agent opens one and waits; a person decides, or it is
//! cancelled. The rules of a decision are `switchyard_core::checkpoint::decide`;
//! this service reads the checkpoint, applies them, and writes the transition as
//! one conditional update on the version it read (with its history and the
//! messages it triggers). When another change won the race, it reads again and
//! decides on what is there now, so of two decisions exactly one decides and the
//! other is answered 409 with the checkpoint as it became.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_core::checkpoint::{
    self as cp, Approval, Channel, Current, Decision, DecisionInput, Outcome, Refused, Spec, Status,
};
use switchyard_store::{
    new_id, Checkpoint, CheckpointChange, CheckpointQuery, CheckpointStatus, HistoryEntry,
    HistoryKind, NewCheckpoint, NewHistory, NewTimer, Timer, TimerKind,
};

use crate::app::Engine;
use crate::error::{Error, Result};
use crate::hub::Changes;
use crate::outbox::Purpose;

mod messages;
mod replies;
pub mod view;

pub use replies::Clicked;

/// The longest a wait may last, in seconds; a longer `timeout` is cut to it.
pub const MAX_WAIT_SECS: u64 = 60;

/// A refused change, with the checkpoint as it is when that explains the refusal
/// (the 409s: decided already, another action, cancelled already).
#[derive(Debug)]
pub struct Refusal {
    pub error: Error,
    pub checkpoint: Option<Box<Checkpoint>>,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self {
            error,
            checkpoint: None,
        }
    }
}

impl From<switchyard_store::StoreError> for Refusal {
    fn from(e: switchyard_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl Refusal {
    fn conflict(code: &'static str, message: String, c: Checkpoint) -> Self {
        Self {
            error: Error::conflict(code, message),
            checkpoint: Some(Box::new(c)),
        }
    }
}

/// The creation spec a checkpoint was stored with.
pub fn spec_of(c: &Checkpoint) -> Result<Spec> {
    serde_json::from_str(&c.spec).map_err(|e| {
        Error::internal(format!(
            "checkpoint {:?}: stored spec unreadable: {e}",
            c.checkpoint_id
        ))
    })
}

/// The quorum votes a checkpoint holds.
pub fn approvals_of(c: &Checkpoint) -> Result<Vec<Approval>> {
    serde_json::from_str(&c.approvals).map_err(|e| {
        Error::internal(format!(
            "checkpoint {:?}: stored approvals unreadable: {e}",
            c.checkpoint_id
        ))
    })
}

pub fn status_of(s: CheckpointStatus) -> Status {
    match s {
        CheckpointStatus::Pending => Status::Pending,
        CheckpointStatus::Approved => Status::Approved,
        CheckpointStatus::Rejected => Status::Rejected,
        CheckpointStatus::Edited => Status::Edited,
        CheckpointStatus::Responded => Status::Responded,
        CheckpointStatus::Expired => Status::Expired,
        CheckpointStatus::Cancelled => Status::Cancelled,
    }
}

fn stored_status(s: Status) -> CheckpointStatus {
    match s {
        Status::Pending => CheckpointStatus::Pending,
        Status::Approved => CheckpointStatus::Approved,
        Status::Rejected => CheckpointStatus::Rejected,
        Status::Edited => CheckpointStatus::Edited,
        Status::Responded => CheckpointStatus::Responded,
        Status::Expired => CheckpointStatus::Expired,
        Status::Cancelled => CheckpointStatus::Cancelled,
    }
}

/// True once a checkpoint can no longer change.
pub fn is_terminal(c: &Checkpoint) -> bool {
    status_of(c.status).is_terminal()
}

fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

/// What a checkpoint transition changed: the checkpoints, and what its effects
/// touch (the outbox when it queued messages, so the delivery engine looks at
/// once; runs it woke).
fn changed(effects: &[switchyard_store::Effect]) -> Changes {
    let mut c = Changes::of_effects(effects);
    c.checkpoints = true;
    c
}

impl Engine {
    /// Opens a checkpoint from a `POST /api/checkpoints` body, by `created_by` (a
    /// key id; `agent` when an agent's key). Idempotent by `checkpoint_id`: the
    /// same id again returns the stored checkpoint and `false`, writing nothing.
    pub async fn create_checkpoint(
        &self,
        body: &[u8],
        created_by: &str,
        agent: Option<&str>,
    ) -> Result<(Checkpoint, bool)> {
        if let Err(e) = serde_json::from_slice::<Value>(body) {
            return Err(Error::bad_request(
                "invalid_json",
                format!("the body is not JSON: {e}"),
            ));
        }
        let mut spec =
            Spec::from_json(body).map_err(|f| Error::invalid_with("invalid_checkpoint", f))?;
        let mut problems = spec.validate();
        if problems.is_empty() {
            problems = self.unservable(&spec);
        }
        if !problems.is_empty() {
            return Err(Error::invalid_with("invalid_checkpoint", problems));
        }
        let id = spec.checkpoint_id.clone().unwrap_or_else(|| new_id("cp"));
        spec.checkpoint_id = Some(id.clone());
        let new = NewCheckpoint {
            checkpoint_id: id.clone(),
            row_id: new_id("cpr"),
            name: spec.name.clone(),
            kickoff_id: spec.kickoff_id.clone(),
            spec: to_json(&spec)?,
            action_digest: spec.action_digest(),
            created_by: created_by.to_owned(),
            agent: agent.map(str::to_owned),
            timeout_micros: spec.timeout_seconds.map(micros),
            timers: timers_of(&spec),
        };
        let mut sends = self.notifications(&id, &self.channels(&spec), Purpose::Pending, "notify");
        sends.effects.push(messages::notice(
            "checkpoint.created",
            &id,
            &spec,
            "pending",
            json!({"question": spec.question, "decisions": spec.allowed()}),
        ));
        let mut history = vec![NewHistory {
            kind: HistoryKind::Created,
            by: Some(created_by.to_owned()),
            detail: None,
        }];
        history.extend(sends.history);
        let created = self
            .store
            .insert_checkpoint(&new, &history, &sends.effects)
            .await?;
        if created {
            // Wakes the timer worker (it sleeps until the next due time), the
            // delivery engine and the live stream.
            self.hub.notify(changed(&sends.effects));
        }
        Ok((self.checkpoint(&id).await?, created))
    }

    pub async fn checkpoint(&self, id: &str) -> Result<Checkpoint> {
        self.store
            .get_checkpoint(id)
            .await?
            .ok_or_else(|| Error::not_found("unknown_checkpoint", format!("no checkpoint {id:?}")))
    }

    /// Checkpoints newest first, filtered.
    pub async fn list_checkpoints(&self, q: &CheckpointQuery) -> Result<Vec<Checkpoint>> {
        Ok(self.store.list_checkpoints(q).await?)
    }

    /// A checkpoint's history, oldest first (404 for an unknown checkpoint).
    pub async fn checkpoint_history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        self.checkpoint(id).await?;
        Ok(self.store.checkpoint_history(id).await?)
    }

    /// Applies a person's decision (`caller`: the key id, used as `by` when the
    /// input names nobody). A quorum vote short of the quorum leaves it pending with
    /// the vote recorded; the same person again changes nothing.
    pub async fn decide_checkpoint(
        &self,
        id: &str,
        input: &DecisionInput,
        caller: &str,
    ) -> std::result::Result<Checkpoint, Refusal> {
        self.decide_checkpoint_replying(id, input, caller, None)
            .await
    }

    /// [`Self::decide_checkpoint`], and when it decides, the Slack message whose
    /// button was clicked is replaced with the outcome through `response_url`.
    pub async fn decide_checkpoint_replying(
        &self,
        id: &str,
        input: &DecisionInput,
        caller: &str,
        response_url: Option<&str>,
    ) -> std::result::Result<Checkpoint, Refusal> {
        loop {
            let c = self.checkpoint(id).await?;
            let spec = spec_of(&c)?;
            let approvals = approvals_of(&c)?;
            let cur = Current {
                status: status_of(c.status),
                spec: &spec,
                action_digest: c.action_digest.as_deref(),
                approvals: &approvals,
            };
            let now = switchyard_store::now_micros();
            let by = input
                .by
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| caller.to_owned());
            let outcome = match cp::decide(&cur, input, now) {
                Ok(o) => o,
                Err(Refused::Invalid(f)) => {
                    return Err(Error::invalid_with("invalid_decision", vec![f]).into())
                }
                Err(e @ Refused::Terminal(_)) => {
                    return Err(Refusal::conflict("checkpoint_decided", e.to_string(), c))
                }
                Err(e @ Refused::DigestMismatch) => {
                    return Err(Refusal::conflict(
                        "action_digest_mismatch",
                        e.to_string(),
                        c,
                    ))
                }
            };
            let mut change = CheckpointChange {
                checkpoint_id: c.checkpoint_id.clone(),
                version: c.version,
                status: c.status,
                approvals: c.approvals.clone(),
                decision: None,
                comment: None,
                edited_context: None,
                response: None,
                decided_by: None,
                feedback_action: None,
                edited_action: None,
            };
            let mut history = Vec::new();
            let mut effects = Vec::new();
            let quorum_vote = |approvals: &[Approval]| NewHistory {
                kind: HistoryKind::Approval,
                by: Some(by.clone()),
                detail: Some(
                    json!({"approvals": approvals.len(), "approvals_required": spec.quorum()})
                        .to_string(),
                ),
            };
            match outcome {
                Outcome::AlreadyCounted => return Ok(c),
                Outcome::Vote { approvals } => {
                    change.approvals = to_json(&approvals)?;
                    history.push(quorum_vote(&approvals));
                }
                Outcome::Decided { decision, status } => {
                    if decision == Decision::Approve && spec.quorum() > 1 {
                        let mut all = approvals.clone();
                        all.push(Approval {
                            by: by.clone(),
                            at: now,
                        });
                        change.approvals = to_json(&all)?;
                        history.push(quorum_vote(&all));
                    }
                    change.status = stored_status(status);
                    change.decision = Some(decision.as_str().to_owned());
                    change.comment = input.comment.clone();
                    change.edited_context = match &input.edited_context {
                        Some(v) => Some(to_json(v)?),
                        None => None,
                    };
                    change.response = input.response.clone();
                    change.decided_by = Some(by.clone());
                    change.feedback_action = input.feedback_action.clone();
                    change.edited_action = match &input.edited_action {
                        Some(a) => Some(to_json(a)?),
                        None => None,
                    };
                    let mut detail = json!({"decision": decision.as_str()});
                    if let Some(a) = &input.edited_action {
                        detail["edited_action"] = json!(a);
                    }
                    if let Some(cm) = &input.comment {
                        detail["comment"] = json!(cm);
                    }
                    history.push(NewHistory {
                        kind: HistoryKind::Decided,
                        by: Some(by.clone()),
                        detail: Some(detail.to_string()),
                    });
                    let sends = self.terminal_sends(
                        id,
                        &spec,
                        "checkpoint.decided",
                        Some(decision),
                        Some(input),
                    );
                    history.extend(sends.history);
                    effects.extend(sends.effects);
                    effects.push(messages::notice(
                        "checkpoint.decided",
                        id,
                        &spec,
                        status.as_str(),
                        json!({"decision": decision.as_str(), "decided_by": by}),
                    ));
                    if let Some(url) = response_url {
                        let slack = [Channel::Slack {
                            webhook_url: Some(url.to_owned()),
                            slack_channel: None,
                        }];
                        let sends = self.notifications(id, &slack, Purpose::Decided, "clicked");
                        effects.extend(sends.effects);
                    }
                }
            }
            if let Some(done) = self
                .store
                .update_checkpoint(&change, &history, &effects)
                .await?
            {
                self.hub.checkpoint_changed(id, changed(&effects));
                if is_terminal(&done) {
                    record_end(&done);
                }
                return Ok(done);
            }
            // Another change won the race: decide again on what is there now.
        }
    }

    /// Cancels a pending checkpoint; a terminal one is 409 with its state.
    pub async fn cancel_checkpoint(
        &self,
        id: &str,
        caller: &str,
    ) -> std::result::Result<Checkpoint, Refusal> {
        loop {
            let c = self.checkpoint(id).await?;
            if is_terminal(&c) {
                let message = format!("the checkpoint is {} already", c.status);
                return Err(Refusal::conflict("checkpoint_decided", message, c));
            }
            let change = CheckpointChange {
                checkpoint_id: c.checkpoint_id.clone(),
                version: c.version,
                status: CheckpointStatus::Cancelled,
                approvals: c.approvals.clone(),
                decision: None,
                comment: None,
                edited_context: None,
                response: None,
                decided_by: Some(caller.to_owned()),
                feedback_action: None,
                edited_action: None,
            };
            let spec = spec_of(&c)?;
            let mut sends = self.terminal_sends(id, &spec, "checkpoint.cancelled", None, None);
            sends.effects.push(messages::notice(
                "checkpoint.cancelled",
                id,
                &spec,
                "cancelled",
                json!({"cancelled_by": caller}),
            ));
            let mut history = vec![NewHistory {
                kind: HistoryKind::Cancelled,
                by: Some(caller.to_owned()),
                detail: None,
            }];
            history.extend(sends.history);
            if let Some(done) = self
                .store
                .update_checkpoint(&change, &history, &sends.effects)
                .await?
            {
                self.hub.checkpoint_changed(id, changed(&sends.effects));
                record_end(&done);
                return Ok(done);
            }
        }
    }

    /// Waits up to `timeout` (at most [`MAX_WAIT_SECS`]) for the checkpoint to be
    /// terminal; returns it either way. Woken by the hub the moment a decision
    /// commits here or (through [`crate::replicas`]) on another replica.
    pub async fn wait_checkpoint(&self, id: &str, timeout: Duration) -> Result<Checkpoint> {
        let timeout = timeout.min(Duration::from_secs(MAX_WAIT_SECS));
        let deadline = tokio::time::Instant::now() + timeout;
        let _waiting = self.hub.wait_started();
        let watch = self.hub.watch_checkpoint(id);
        loop {
            let notified = watch.changed();
            let c = self.checkpoint(id).await?;
            let now = tokio::time::Instant::now();
            if is_terminal(&c) || now >= deadline {
                return Ok(c);
            }
            let nap = (deadline - now).min(self.config.wait_fallback);
            tokio::select! {
                _ = notified => {},
                _ = tokio::time::sleep(nap) => {},
                // Stopping: answer with the checkpoint as it is.
                _ = self.hub.closing() => return Ok(c),
            }
        }
    }
}

fn micros(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

/// The timers a spec asks for: a reminder, each escalation step, the expiry.
fn timers_of(spec: &Spec) -> Vec<NewTimer> {
    let mut out = Vec::new();
    if let Some(r) = spec.remind_after_seconds {
        out.push(NewTimer {
            kind: TimerKind::Remind,
            step: None,
            due_in_micros: micros(r),
        });
    }
    for (i, e) in spec.escalate.iter().enumerate() {
        out.push(NewTimer {
            kind: TimerKind::Escalate,
            step: i64::try_from(i).ok(),
            due_in_micros: micros(e.after_seconds),
        });
    }
    if let Some(t) = spec.timeout_seconds {
        out.push(NewTimer {
            kind: TimerKind::Expire,
            step: None,
            due_in_micros: micros(t),
        });
    }
    out
}

/// How many due timers one round claims, and for how long.
const TIMER_BATCH: i64 = 100;
const TIMER_CLAIM: Duration = Duration::from_secs(60);

impl Engine {
    /// Fires every due timer this process can claim; how many fired.
    pub async fn fire_due_timers(&self) -> Result<usize> {
        let claim = i64::try_from(TIMER_CLAIM.as_micros()).unwrap_or(i64::MAX);
        let timers = self.store.claim_timers(TIMER_BATCH, claim).await?;
        for t in &timers {
            self.fire(t).await?;
        }
        Ok(timers.len())
    }

    /// Fires one claimed timer: expiry decides the default decision; a reminder or
    /// an escalation step is recorded in the history. A timer of a checkpoint that
    /// is terminal already is dropped.
    async fn fire(&self, t: &Timer) -> Result<()> {
        loop {
            let c = self.store.get_checkpoint(&t.checkpoint_id).await?;
            let Some(c) = c.filter(|c| !is_terminal(c)) else {
                self.store.fire_timer(t, None, &[], &[]).await?;
                return Ok(());
            };
            let spec = spec_of(&c)?;
            let id = c.checkpoint_id.as_str();
            let (change, mut history, sends) = match t.kind {
                TimerKind::Expire => {
                    let decision = spec.default_decision.unwrap_or(Decision::Reject);
                    let change = CheckpointChange {
                        checkpoint_id: c.checkpoint_id.clone(),
                        version: c.version,
                        status: CheckpointStatus::Expired,
                        approvals: c.approvals.clone(),
                        decision: Some(decision.as_str().to_owned()),
                        comment: None,
                        edited_context: None,
                        response: None,
                        decided_by: None,
                        feedback_action: None,
                        edited_action: None,
                    };
                    let h = NewHistory {
                        kind: HistoryKind::Expired,
                        by: None,
                        detail: Some(json!({"decision": decision.as_str()}).to_string()),
                    };
                    let mut sends =
                        self.terminal_sends(id, &spec, "checkpoint.expired", Some(decision), None);
                    sends.effects.push(messages::notice(
                        "checkpoint.expired",
                        id,
                        &spec,
                        "expired",
                        json!({"decision": decision.as_str()}),
                    ));
                    (Some(change), vec![h], sends)
                }
                TimerKind::Remind => (
                    None,
                    vec![NewHistory {
                        kind: HistoryKind::Reminded,
                        by: None,
                        detail: None,
                    }],
                    {
                        let mut sends = self.notifications(
                            id,
                            &self.channels(&spec),
                            Purpose::Reminder,
                            "remind",
                        );
                        sends.effects.push(messages::notice(
                            "checkpoint.reminded",
                            id,
                            &spec,
                            "pending",
                            json!({}),
                        ));
                        sends
                    },
                ),
                TimerKind::Escalate => {
                    let step = t.step.and_then(|s| usize::try_from(s).ok());
                    let channels = step
                        .and_then(|s| spec.escalate.get(s))
                        .map(|e| e.notify.clone())
                        .unwrap_or_default();
                    let notify = json!(channels);
                    let mut sends = self.notifications(
                        id,
                        &channels,
                        Purpose::Escalation,
                        &format!("escalate{}", t.step.unwrap_or_default()),
                    );
                    sends.effects.push(messages::notice(
                        "checkpoint.escalated",
                        id,
                        &spec,
                        "pending",
                        json!({"step": t.step}),
                    ));
                    (
                        None,
                        vec![NewHistory {
                            kind: HistoryKind::Escalated,
                            by: None,
                            detail: Some(json!({"step": t.step, "notify": notify}).to_string()),
                        }],
                        sends,
                    )
                }
            };
            history.extend(sends.history);
            if self
                .store
                .fire_timer(t, change.as_ref(), &history, &sends.effects)
                .await?
            {
                self.hub
                    .checkpoint_changed(&t.checkpoint_id, changed(&sends.effects));
                if change.is_some() {
                    if let Some(done) = self.store.get_checkpoint(&t.checkpoint_id).await? {
                        record_end(&done);
                    }
                }
                return Ok(());
            }
            // A decision won the race: look again (the timer is then dropped).
        }
    }
}

/// The metrics of a checkpoint that just became terminal.
fn record_end(c: &Checkpoint) {
    if let Some(at) = c.decided_at {
        let secs = (at - c.created_at).max(0) as f64 / 1e6;
        metrics::histogram!("switchyard_checkpoint_decision_seconds").record(secs);
    }
    if c.status == CheckpointStatus::Expired {
        metrics::counter!("switchyard_checkpoints_expired_total").increment(1);
    }
}
