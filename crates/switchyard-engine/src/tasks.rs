//! Agents and their tasks: registering agents (pull, or push to a URL), the pull
//! queue (lease with long-poll and a visibility timeout), heartbeat, complete (with
//! follow-up actions) and fail. A task is held by one lease at a time; heartbeat,
//! complete and fail name that lease, so a consumer whose lease expired (and whose
//! task went to someone else) gets a conflict, not a second completion.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use switchyard_core::routing::FieldError;
use switchyard_store::{
    now_micros, Agent, AgentMode, AuditAction, Effect, ResourceKind, Task, TaskFinish, TaskQuery,
    TaskStatus, TaskUpdate,
};

use crate::app::Engine;
use crate::audit;
use crate::error::{Error, Result};
use crate::hub::Changes;
use crate::outbox::{self, Cause, Thread};

/// An agent as registered (`POST /api/agents`, `PUT /api/agents/{name}`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// Letters, digits, '_', '-' and '.' (the path's name on a replace).
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// `pull` (the agent leases) or `push` (tasks are posted to `url`).
    #[serde(default = "pull")]
    #[schema(pattern = "^(pull|push)$")]
    pub mode: String,
    /// An http or https URL; required for `push`.
    #[schema(pattern = "^https?://")]
    pub url: Option<String>,
    pub secret: Option<String>,
}

fn pull() -> String {
    "pull".into()
}

/// How to lease: up to `max` tasks, waiting up to `wait_seconds` (≤ 60) for one,
/// each held for `lease_seconds`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseInput {
    pub max: Option<i64>,
    pub wait_seconds: Option<u64>,
    pub lease_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatInput {
    pub lease_id: String,
    pub lease_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    pub lease_id: String,
    #[serde(default)]
    pub result: Option<Value>,
    /// Follow-up actions, carried out once the completion commits.
    #[serde(default)]
    pub actions: Vec<FollowUp>,
}

/// What a finished task asks for next: `comment` (or `ask`) on the thread of the
/// event the task came from, or `forward` to a URL.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    pub action: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    pub lease_id: String,
    #[serde(default)]
    pub error: String,
    /// Back to the queue (default) or to `failed`.
    #[serde(default = "yes")]
    pub retry: bool,
}

fn yes() -> bool {
    true
}

/// Checks an agent; `name` is the path's name for a replace.
fn validate_agent(name: &str, b: &AgentInput) -> Result<()> {
    let mut errs = Vec::new();
    if let Err(e) = switchyard_core::WebhookId::parse(name) {
        errs.push(FieldError::new("name", e.to_string()));
    }
    if !matches!(b.mode.as_str(), "pull" | "push") {
        errs.push(FieldError::new("mode", "must be \"pull\" or \"push\""));
    }
    match (&b.url, b.mode.as_str()) {
        (None, "push") => errs.push(FieldError::new("url", "a push agent needs a url")),
        (Some(u), _) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            errs.push(FieldError::new("url", "must be an http or https URL"))
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(errs))
    }
}

fn no_agent(name: &str) -> Error {
    Error::not_found("unknown_agent", format!("no agent {name:?}"))
}

fn no_task(id: &str) -> Error {
    Error::not_found("unknown_task", format!("no task {id:?}"))
}

/// A task update's answer: the task, or why not.
fn updated(update: TaskUpdate, task_id: &str) -> Result<Task> {
    match update {
        TaskUpdate::Done(t) => Ok(t),
        TaskUpdate::NotFound => Err(no_task(task_id)),
        TaskUpdate::Conflict(t) => Err(Error::conflict(
            "lease_lost",
            format!(
                "task {task_id:?} is not held under this lease (it is {})",
                t.status
            ),
        )),
    }
}

impl Engine {
    fn agent_record(&self, name: &str, b: AgentInput, created_at: i64) -> Result<Agent> {
        let mode = b
            .mode
            .parse::<AgentMode>()
            .map_err(|_| Error::field("mode", "must be \"pull\" or \"push\""))?;
        Ok(Agent {
            name: name.to_owned(),
            description: b.description,
            mode,
            url: b.url,
            secret: b.secret.map(|s| self.sealer.seal(s.as_bytes())),
            created_at,
            updated_at: now_micros(),
        })
    }

    /// Routing learns which agents are pushed to; the delivery engine re-reads the
    /// agent's URL and secret.
    async fn agents_changed(&self, name: &str) -> Result<()> {
        self.registry.set_agents(&self.store.list_agents().await?);
        self.deliveries
            .forget(&outbox::destination_id(&outbox::agent_key(name)));
        Ok(())
    }

    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        Ok(self.store.list_agents().await?)
    }

    pub async fn agent(&self, name: &str) -> Result<Agent> {
        self.store
            .get_agent(name)
            .await?
            .ok_or_else(|| no_agent(name))
    }

    pub async fn create_agent(&self, who: &str, b: AgentInput) -> Result<Agent> {
        let name = b.name.clone().unwrap_or_default();
        validate_agent(&name, &b)?;
        let a = self.agent_record(&name, b, now_micros())?;
        let row = audit::record(
            who,
            AuditAction::Create,
            ResourceKind::Agent,
            &name,
            None,
            Some(audit::agent(&a)),
        );
        // Inserted only if absent, so of two concurrent creates exactly one wins.
        if !self.store.insert_agent(&a, &row).await? {
            return Err(Error::conflict(
                "agent_exists",
                format!("agent {name:?} exists; PUT to replace it"),
            ));
        }
        self.agents_changed(&name).await?;
        Ok(a)
    }

    /// Creates or replaces an agent; without a secret the old one is kept.
    pub async fn replace_agent(&self, who: &str, name: &str, b: AgentInput) -> Result<Agent> {
        if b.name.as_deref().is_some_and(|n| n != name) {
            return Err(Error::field("name", "must match the name in the path"));
        }
        validate_agent(name, &b)?;
        let existing = self.store.get_agent(name).await?;
        let created_at = existing.as_ref().map_or_else(now_micros, |a| a.created_at);
        let before = existing.as_ref().map(audit::agent);
        let keep_secret = existing.and_then(|a| a.secret);
        let mut a = self.agent_record(name, b, created_at)?;
        if a.secret.is_none() {
            a.secret = keep_secret;
        }
        let action = if before.is_some() {
            AuditAction::Update
        } else {
            AuditAction::Create
        };
        let row = audit::record(
            who,
            action,
            ResourceKind::Agent,
            name,
            before,
            Some(audit::agent(&a)),
        );
        self.store.put_agent(&a, &row).await?;
        self.agents_changed(name).await?;
        Ok(a)
    }

    pub async fn delete_agent(&self, who: &str, name: &str) -> Result<()> {
        let before = self.agent(name).await?;
        let row = audit::record(
            who,
            AuditAction::Delete,
            ResourceKind::Agent,
            name,
            Some(audit::agent(&before)),
            None,
        );
        if self.store.delete_agent(name, &row).await? {
            self.agents_changed(name).await
        } else {
            Err(no_agent(name))
        }
    }

    /// Leases up to `max` of `agent`'s tasks, waiting up to `wait_seconds` for one
    /// to arrive.
    pub async fn lease_tasks(&self, agent: &str, b: &LeaseInput) -> Result<Vec<Task>> {
        let max = b.max.unwrap_or(1);
        let wait = b.wait_seconds.unwrap_or(0);
        let lease_secs = b.lease_seconds.unwrap_or(300);
        let mut errs = Vec::new();
        if !(1..=100).contains(&max) {
            errs.push(FieldError::new("max", "must be between 1 and 100"));
        }
        if wait > 60 {
            errs.push(FieldError::new("wait_seconds", "must be at most 60"));
        }
        if !(1..=86_400).contains(&lease_secs) {
            errs.push(FieldError::new(
                "lease_seconds",
                "must be between 1 and 86400",
            ));
        }
        if !errs.is_empty() {
            return Err(Error::invalid_with("invalid_body", errs));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let _waiting = self.hub.wait_started();
        loop {
            // Register interest before looking, so a task created in between wakes us.
            let notified = self.hub.tasks_changed();
            let tasks = self
                .store
                .lease_tasks(agent, max, lease_secs * 1_000_000)
                .await?;
            let now = tokio::time::Instant::now();
            if !tasks.is_empty() || now >= deadline {
                return Ok(tasks);
            }
            // Other replicas create tasks too: look again after the fallback interval.
            let nap = (deadline - now).min(self.config.wait_fallback);
            tokio::select! {
                _ = notified => {},
                _ = tokio::time::sleep(nap) => {},
                // Stopping: answer with nothing rather than hold the stop up.
                _ = self.hub.closing() => return Ok(tasks),
            }
        }
    }

    /// Extends a live lease.
    pub async fn heartbeat_task(&self, task_id: &str, b: &HeartbeatInput) -> Result<Task> {
        let secs = b.lease_seconds.unwrap_or(300).clamp(1, 86_400);
        updated(
            self.store
                .heartbeat_task(task_id, &b.lease_id, secs * 1_000_000)
                .await?,
            task_id,
        )
    }

    /// Completes a task held under `lease_id`; its follow-up actions are committed
    /// with the completion, only if it succeeds.
    pub async fn complete_task(&self, task_id: &str, b: CompleteInput) -> Result<Task> {
        let mut effects = self.follow_ups(task_id, &b.actions).await?;
        effects.push(crate::notices::task_notice("task.completed", task_id, None));
        // A workflow run waiting for this task (a `task` node) goes on.
        effects.push(Effect::WakeRuns(task_id.to_owned()));
        let result = b.result.map(|v| v.to_string());
        let update = self
            .store
            .finish_task(
                task_id,
                &b.lease_id,
                &TaskFinish::Complete { result },
                &effects,
            )
            .await?;
        // A completion repeated under the lease that completed it (a client retrying
        // after a lost answer) answers the completed task again; its follow-ups
        // were committed the first time.
        if let TaskUpdate::Conflict(t) = &update {
            if t.status == TaskStatus::Completed && t.lease_id.as_deref() == Some(&b.lease_id) {
                return Ok(t.clone());
            }
        }
        let t = updated(update, task_id)?;
        self.hub.notify(Changes {
            tasks: true,
            ..Changes::of_effects(&effects)
        });
        Ok(t)
    }

    /// Fails a task: back to its queue (`retry`) or to `failed`.
    pub async fn fail_task(&self, task_id: &str, b: FailInput) -> Result<Task> {
        let notice = crate::notices::task_notice(
            if b.retry {
                "task.retried"
            } else {
                "task.failed"
            },
            task_id,
            Some(b.error.as_str()),
        );
        // A final failure wakes the run waiting for the task, which fails its node.
        let mut effects = vec![notice];
        if !b.retry {
            effects.push(Effect::WakeRuns(task_id.to_owned()));
        }
        let finish = TaskFinish::Fail {
            error: b.error,
            retry: b.retry,
        };
        let t = updated(
            self.store
                .finish_task(task_id, &b.lease_id, &finish, &effects)
                .await?,
            task_id,
        )?;
        // The stream's readers wait on task changes too.
        self.hub.notify(Changes {
            tasks: true,
            ..Changes::of_effects(&effects)
        });
        Ok(t)
    }

    /// The outbox messages a completion's follow-up actions stand for; 422 for
    /// actions that cannot be carried out.
    async fn follow_ups(&self, task_id: &str, actions: &[FollowUp]) -> Result<Vec<Effect>> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let task = self
            .store
            .get_task(task_id)
            .await?
            .ok_or_else(|| no_task(task_id))?;
        let event = match &task.event_id {
            Some(e) => self.store.get_event(e).await?,
            None => None,
        };
        let payload: Value = event
            .as_ref()
            .and_then(|e| serde_json::from_str(&e.payload).ok())
            .unwrap_or(Value::Null);
        let mut errors = Vec::new();
        let mut effects = Vec::new();
        let now = now_micros();
        for (i, a) in actions.iter().enumerate() {
            let at = |f: &str| format!("actions[{i}].{f}");
            let Some(message) = a.message.as_deref() else {
                errors.push(FieldError::new(at("message"), "is required"));
                continue;
            };
            let cause = Cause {
                webhook_id: task.webhook_id.clone(),
                event_id: task.event_id.clone(),
                command_id: task.command_id.clone(),
                idempotency_key: format!("{task_id}:followup:{i}"),
                created_at: now,
            };
            let built = match a.action.as_str() {
                "comment" | "ask" => {
                    let Some(e) = &event else {
                        errors.push(FieldError::new(
                            at("action"),
                            "the task has no event to answer",
                        ));
                        continue;
                    };
                    let thread = Thread::of_event(e, &payload);
                    if a.action == "ask" {
                        self.outbox.ask(cause, &thread, message)
                    } else {
                        self.outbox.comment(cause, &thread, message)
                    }
                }
                "forward" => {
                    let Some(url) = a.url.as_deref().filter(|u| reqwest::Url::parse(u).is_ok())
                    else {
                        errors.push(FieldError::new(at("url"), "is required (an absolute URL)"));
                        continue;
                    };
                    let body = outbox::task_completed_body(&task, message, now);
                    self.outbox.forward(cause, url, message, body, None)
                }
                other => {
                    errors.push(FieldError::new(
                        at("action"),
                        format!("{other:?} is not comment, ask or forward"),
                    ));
                    continue;
                }
            };
            effects.extend(built.effects);
        }
        if errors.is_empty() {
            Ok(effects)
        } else {
            Err(Error::invalid(errors))
        }
    }

    pub async fn list_tasks(&self, q: &TaskQuery) -> Result<Vec<Task>> {
        Ok(self.store.list_tasks(q).await?)
    }

    pub async fn task(&self, id: &str) -> Result<Task> {
        self.store.get_task(id).await?.ok_or_else(|| no_task(id))
    }
}
