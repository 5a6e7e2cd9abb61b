//! A stored event's consequences: what it caused ([`Engine::caused`]: the tasks,
//! deliveries, questions, checkpoints and runs whose `event_id` is the event), and
//! routing it again ([`Engine::replay`]).
//!
//! A replay plans the stored event with its webhook's current commands through
//! the same planner ingest uses ([`crate::plan`]), drops every effect that already
//! exists under its identity — a task's `(event_id, command_id)`, a message's
//! idempotency key (`EVENT:COMMAND:KIND`), a question's posting message, a run's
//! `trigger_key` — and commits the rest with its audit row as one
//! `WriteOp::Effects` through the writer, so a replay is one transaction and the
//! same write path as ingest. The stored event itself (and its `matched` list,
//! the answer its sender got) is not changed.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchyard_core::providers;
use switchyard_store::{now_micros, AuditAction, Effect, Event, NewEvent, ResourceKind, RunQuery};

use crate::app::Engine;
use crate::error::{Error, Result};

/// What kind of thing an event caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CausedKind {
    Task,
    /// An outbox message (a forward, a comment, a question's post, a task push, …).
    Delivery,
    /// A checkpoint a seed-000 event opened (never made by routing, so never by a
    /// replay).
    Checkpoint,
    /// A question an `ask` command opened on the event's thread.
    Question,
    Run,
}

/// One thing an event caused, or a replay created (or, dry, would create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CausedItem {
    pub kind: CausedKind,
    /// `None` on a dry run: nothing was created, so nothing has an id.
    pub id: Option<String>,
    pub command_id: Option<String>,
    /// One line saying what it is: `task for triage`, `forward to https://…`.
    pub summary: String,
    /// Where it stands now (not for what a replay just made).
    pub status: Option<String>,
    /// What its page is found by beside its id: a task's agent, a message's
    /// destination.
    pub owner: Option<String>,
}

/// What a replay created, or on a dry run would create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub event_id: String,
    pub dry_run: bool,
    pub created: Vec<CausedItem>,
}

/// The longest question text a summary shows, in characters.
const SUMMARY_CHARS: usize = 80;

fn unknown_event(id: &str) -> Error {
    Error::not_found("unknown_event", format!("no event {id:?}"))
}

fn short(text: &str) -> String {
    match text.char_indices().nth(SUMMARY_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A run's command, from its trigger key (`EVENT:COMMAND`; seed 003's
/// `EVENT:generic` was started by the body, not a command).
fn run_command(event_id: &str, trigger_key: Option<&str>) -> Option<String> {
    trigger_key
        .and_then(|k| k.strip_prefix(event_id))
        .and_then(|k| k.strip_prefix(':'))
        .filter(|c| *c != "generic")
        .map(str::to_owned)
}

impl Engine {
    /// One stored event, or 404 `unknown_event`.
    pub async fn event(&self, event_id: &str) -> Result<Event> {
        self.store
            .get_event(event_id)
            .await?
            .ok_or_else(|| unknown_event(event_id))
    }

    /// What the stored event `event_id` caused, oldest first within each kind:
    /// tasks, deliveries, questions, checkpoints, runs. 404 for an unknown event.
    pub async fn caused(&self, event_id: &str) -> Result<Vec<CausedItem>> {
        self.event(event_id).await?;
        let mut out = Vec::new();
        for t in self.store.tasks_of_event(event_id).await? {
            out.push(CausedItem {
                kind: CausedKind::Task,
                summary: format!("task for {}", t.agent),
                id: Some(t.task_id),
                command_id: t.command_id,
                status: Some(t.status.as_str().to_owned()),
                owner: Some(t.agent),
            });
        }
        for d in self.store.deliveries_of_event(event_id).await? {
            out.push(CausedItem {
                kind: CausedKind::Delivery,
                summary: format!("{} to {}", d.kind.as_str(), d.destination_id),
                id: Some(d.outbox_id),
                command_id: d.command_id,
                status: Some(d.status.as_str().to_owned()),
                owner: Some(d.destination_id),
            });
        }
        for q in self.store.list_questions_for_event(event_id).await? {
            out.push(CausedItem {
                kind: CausedKind::Question,
                summary: short(&q.question),
                id: Some(q.question_id),
                command_id: q.command_id,
                status: Some(q.status.as_str().to_owned()),
                owner: None,
            });
        }
        // A seed-000 event that opened a checkpoint names it on its timeline entry.
        let opened = self
            .store
            .execution_event(event_id)
            .await?
            .and_then(|e| serde_json::from_str::<Value>(&e.detail).ok())
            .and_then(|d| d.get("checkpoint_id")?.as_str().map(str::to_owned));
        if let Some(id) = opened {
            if let Some(c) = self.store.get_checkpoint(&id).await? {
                out.push(CausedItem {
                    kind: CausedKind::Checkpoint,
                    summary: format!("checkpoint {}", c.name),
                    id: Some(c.checkpoint_id),
                    command_id: None,
                    status: Some(c.status.as_str().to_owned()),
                    owner: None,
                });
            }
        }
        let runs = self
            .store
            .list_runs(&RunQuery {
                event_id: Some(event_id.to_owned()),
                limit: 1000,
                ..RunQuery::default()
            })
            .await?;
        for r in runs.into_iter().rev() {
            out.push(CausedItem {
                kind: CausedKind::Run,
                summary: format!("run of {}", r.workflow),
                command_id: run_command(event_id, r.trigger_key.as_deref()),
                id: Some(r.run_id),
                status: Some(r.status.as_str().to_owned()),
                owner: None,
            });
        }
        Ok(out)
    }

    /// Routes the stored event `event_id` again with its webhook's current
    /// commands and commits what does not exist yet (nothing on a `dry_run`),
    /// with an audit row naming `who` and how many things it created. 404
    /// `unknown_event`; 409 `webhook_gone` or `webhook_disabled` when its webhook
    /// cannot route it.
    pub async fn replay(&self, who: &str, event_id: &str, dry_run: bool) -> Result<Replay> {
        let e = self.event(event_id).await?;
        let entry = self
            .registry
            .get(&e.webhook_id)
            .filter(|en| en.config.provider == e.provider);
        match &entry {
            Some(en) if !en.config.enabled => {
                return Err(Error::conflict(
                    "webhook_disabled",
                    format!(
                        "webhook {:?} is disabled: enable it to replay its events",
                        e.webhook_id
                    ),
                ))
            }
            Some(_) => {}
            // A provider's default endpoint without a registered webhook: no
            // commands, but seed 003's body still starts its run.
            None if providers::by_name(&e.webhook_id).is_some_and(|p| p.name() == e.provider) => {}
            None => {
                return Err(Error::conflict(
                    "webhook_gone",
                    format!(
                        "webhook {:?} no longer exists: there are no commands to replay its events with",
                        e.webhook_id
                    ),
                ))
            }
        }
        let payload: Value = serde_json::from_str(&e.payload)
            .map_err(|err| Error::internal(format!("stored event {event_id}: {err}")))?;
        let mut planned = NewEvent {
            event_id: e.event_id.clone(),
            webhook_id: e.webhook_id.clone(),
            provider: e.provider.clone(),
            event_type: e.event_type.clone(),
            delivery_id: e.delivery_id.clone(),
            received_at: e.received_at,
            headers: e.headers.clone(),
            payload: e.payload.clone(),
            source: e.source.clone(),
            subject: e.subject.clone(),
            actor: e.actor.clone(),
            thread_key: e.thread_key.clone(),
            ..NewEvent::plain(String::new(), String::new(), String::new(), String::new())
        };
        if let Some(en) = &entry {
            crate::plan::plan(self.planner(), en, &mut planned, &payload);
        }
        if e.provider == "generic" && e.event_type == "workflow.run" {
            self.plan_generic_run(&mut planned, &payload)?;
        }
        let kept = self.missing(event_id, planned.effects).await?;
        let created: Vec<CausedItem> = kept
            .iter()
            .filter_map(|eff| item_of(event_id, eff, dry_run))
            .collect();
        if !dry_run && !created.is_empty() {
            let mut effects = kept;
            let audit = crate::audit::record(
                who,
                AuditAction::Replay,
                ResourceKind::Event,
                event_id,
                None,
                Some(json!({
                    "created": created.len(),
                    "items": created
                        .iter()
                        .map(|c| json!({"kind": c.kind, "id": c.id, "command_id": c.command_id}))
                        .collect::<Vec<_>>(),
                })),
            );
            effects.push(Effect::Audit(audit));
            self.commit_effects(effects).await?;
        }
        tracing::info!(%event_id, who, dry_run, created = created.len(), "event replayed");
        Ok(Replay {
            event_id: e.event_id,
            dry_run,
            created,
        })
    }

    /// The planned `effects` that do not exist yet, stamped now; the stream's
    /// `task.created` for each new task.
    async fn missing(&self, event_id: &str, effects: Vec<Effect>) -> Result<Vec<Effect>> {
        let tasks: HashSet<String> = self
            .store
            .tasks_of_event(event_id)
            .await?
            .into_iter()
            .filter_map(|t| t.command_id)
            .collect();
        let keys: HashSet<String> = self
            .store
            .deliveries_of_event(event_id)
            .await?
            .into_iter()
            .map(|d| d.idempotency_key)
            .collect();
        let now = now_micros();
        let mut posted = HashSet::new();
        let mut kept = Vec::new();
        let mut notices = Vec::new();
        for eff in effects {
            match eff {
                Effect::Task(mut t) => {
                    if t.command_id.as_ref().is_some_and(|c| tasks.contains(c)) {
                        continue;
                    }
                    t.created_at = now;
                    notices.push(crate::notices::task_created_notice(
                        &t.task_id,
                        &t.agent,
                        event_id,
                        t.webhook_id.as_deref().unwrap_or_default(),
                    ));
                    kept.push(Effect::Task(t));
                }
                Effect::Outbox(mut o) => {
                    if keys.contains(&o.idempotency_key) {
                        continue;
                    }
                    o.created_at = now;
                    posted.insert(o.outbox_id.clone());
                    kept.push(Effect::Outbox(o));
                }
                // A question goes with the message that posts it.
                Effect::Question(mut q) => {
                    if q.posted_by.as_ref().is_some_and(|p| posted.contains(p)) {
                        q.created_at = now;
                        kept.push(Effect::Question(q));
                    }
                }
                Effect::Run(mut r) => {
                    let exists = match &r.trigger_key {
                        Some(k) => self.store.get_run_by_trigger(k).await?.is_some(),
                        None => false,
                    };
                    if !exists {
                        r.created_at = now;
                        kept.push(Effect::Run(r));
                    }
                }
                // Planning's notices announce its tasks; those of new tasks are
                // made above.
                Effect::Notice(_) | Effect::WakeRuns(_) | Effect::Audit(_) => {}
            }
        }
        kept.extend(notices);
        Ok(kept)
    }
}

/// The list entry of a planned effect (none for a notice).
fn item_of(event_id: &str, eff: &Effect, dry_run: bool) -> Option<CausedItem> {
    let id = |id: &str| (!dry_run).then(|| id.to_owned());
    Some(match eff {
        Effect::Task(t) => CausedItem {
            kind: CausedKind::Task,
            id: id(&t.task_id),
            command_id: t.command_id.clone(),
            summary: format!("task for {}", t.agent),
            status: None,
            owner: Some(t.agent.clone()),
        },
        Effect::Outbox(o) => CausedItem {
            kind: CausedKind::Delivery,
            id: id(&o.outbox_id),
            command_id: o.command_id.clone(),
            summary: format!("{} to {}", o.kind.as_str(), o.destination_id),
            status: None,
            owner: Some(o.destination_id.clone()),
        },
        Effect::Question(q) => CausedItem {
            kind: CausedKind::Question,
            id: id(&q.question_id),
            command_id: q.command_id.clone(),
            summary: short(&q.question),
            status: None,
            owner: None,
        },
        Effect::Run(r) => CausedItem {
            kind: CausedKind::Run,
            id: id(&r.run_id),
            command_id: run_command(event_id, r.trigger_key.as_deref()),
            summary: format!("run of {}", r.workflow),
            status: None,
            owner: None,
        },
        Effect::Notice(_) | Effect::WakeRuns(_) | Effect::Audit(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_command_comes_from_its_trigger_key() {
        assert_eq!(
            run_command("evt_1", Some("evt_1:cmd_a")).as_deref(),
            Some("cmd_a")
        );
        assert_eq!(run_command("evt_1", Some("evt_1:generic")), None);
        assert_eq!(run_command("evt_1", Some("evt_2:cmd_a")), None);
        assert_eq!(run_command("evt_1", None), None);
    }

    #[test]
    fn summaries_are_cut() {
        assert_eq!(short("short"), "short");
        let long = "é".repeat(SUMMARY_CHARS + 5);
        assert_eq!(short(&long).chars().count(), SUMMARY_CHARS + 1);
    }
}
