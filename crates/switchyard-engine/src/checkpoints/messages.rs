//! What a checkpoint's transitions send: notifications when it opens, when a
//! reminder or an escalation step fires, and, once it is terminal, its callback
//! and the call that resumes the agent. Each is an outbox message built by
//! [`crate::outbox`] and written in the transition's own transaction, so a
//! decision that commits has its callback queued, and one that does not has none.
//!
//! Idempotency keys are derived from the checkpoint and the step
//! (`cp:{id}:{step}:{n}`), so a transition retried after a lost answer queues
//! nothing twice.

use serde_json::{json, Value};
use switchyard_core::checkpoint::{
    langgraph_decision, Channel, Decision, DecisionInput, Resume, Spec,
};
use switchyard_store::{now_micros, Effect, NewHistory};

use crate::app::Engine;
use crate::outbox::{Cause, NotifyTarget, Purpose};

fn cause(key: String) -> Cause {
    Cause {
        webhook_id: None,
        event_id: None,
        command_id: None,
        idempotency_key: key,
        created_at: now_micros(),
    }
}

/// A notice for the live stream about checkpoint `id`: what is known when the
/// change is written (the stream's readers GET the checkpoint for the rest).
pub(super) fn notice(
    event_type: &str,
    checkpoint_id: &str,
    spec: &Spec,
    status: &str,
    extra: Value,
) -> Effect {
    let mut payload = json!({
        "checkpoint_id": checkpoint_id,
        "name": spec.name,
        "kickoff_id": spec.kickoff_id,
        "status": status,
    });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    crate::notices::notice(event_type, &payload)
}

/// What a transition writes besides the checkpoint: messages and history steps.
#[derive(Debug, Default)]
pub(super) struct Sends {
    pub effects: Vec<Effect>,
    pub history: Vec<NewHistory>,
}

impl Engine {
    /// The channels a checkpoint is told on: its own `notify`, or the defaults
    /// (Slack when `SLACK_WEBHOOK_URL` is set, e-mail to `NOTIFY_EMAIL_TO`, and
    /// always the live stream).
    pub(super) fn channels(&self, spec: &Spec) -> Vec<Channel> {
        if let Some(own) = &spec.notify {
            return own.clone();
        }
        let n = &self.config.notify;
        let mut out = Vec::new();
        if n.slack_webhook_url.is_some() {
            out.push(Channel::Slack {
                webhook_url: None,
                slack_channel: None,
            });
        }
        if !n.email_to.is_empty() {
            out.push(Channel::Email {
                to: n.email_to.clone(),
            });
        }
        out.push(Channel::Websocket);
        out
    }

    /// The problems of channels this server cannot serve: a Slack channel without
    /// a URL when `SLACK_WEBHOOK_URL` is unset, e-mail without an SMTP server.
    pub(super) fn unservable(&self, spec: &Spec) -> Vec<switchyard_core::routing::FieldError> {
        let mut lists: Vec<(String, &Vec<Channel>)> = Vec::new();
        if let Some(n) = &spec.notify {
            lists.push(("notify".into(), n));
        }
        for (i, e) in spec.escalate.iter().enumerate() {
            lists.push((format!("escalate[{i}].notify"), &e.notify));
        }
        let n = &self.config.notify;
        let mut out = Vec::new();
        for (path, channels) in lists {
            for (i, c) in channels.iter().enumerate() {
                let problem = match c {
                    Channel::Slack {
                        webhook_url: None,
                        slack_channel: None,
                    } if n.slack_webhook_url.is_none() => {
                        Some("no webhook_url, and no SLACK_WEBHOOK_URL is configured")
                    }
                    Channel::Slack {
                        slack_channel: Some(_),
                        ..
                    } if !self.config.delivery.provider_tokens.contains_key("slack") => Some(
                        "posting to a channel needs the bot's token: SLACK_API_TOKEN is not set",
                    ),
                    Channel::Email { .. } if n.smtp.is_none() => {
                        Some("e-mail needs an SMTP server: SMTP_HOST and SMTP_FROM are not set")
                    }
                    _ => None,
                };
                if let Some(p) = problem {
                    out.push(switchyard_core::routing::FieldError::new(
                        format!("{path}[{i}]"),
                        p,
                    ));
                }
            }
        }
        out
    }

    /// The notifications for `channels`, for `purpose`; `step` names the
    /// transition in the idempotency keys.
    pub(super) fn notifications(
        &self,
        checkpoint_id: &str,
        channels: &[Channel],
        purpose: Purpose,
        step: &str,
    ) -> Sends {
        let mut out = Sends::default();
        let smtp_key = self
            .config
            .notify
            .smtp
            .as_ref()
            .map(|s| format!("{}:{}", s.host, s.port));
        for (i, c) in channels.iter().enumerate() {
            let key = format!("cp:{checkpoint_id}:{step}:{i}");
            let built = match c {
                Channel::Slack {
                    slack_channel: Some(channel),
                    ..
                } => Some(self.outbox.notify(
                    cause(key),
                    checkpoint_id,
                    NotifyTarget::SlackChannel { channel },
                    purpose,
                )),
                Channel::Slack {
                    webhook_url,
                    slack_channel: None,
                } => {
                    let url =
                        webhook_url
                            .as_deref()
                            .or(self.config.notify.slack_webhook_url.as_deref());
                    url.map(|url| {
                        self.outbox.notify(
                            cause(key),
                            checkpoint_id,
                            NotifyTarget::Slack { url },
                            purpose,
                        )
                    })
                }
                Channel::Email { to } => smtp_key.as_deref().map(|smtp_key| {
                    self.outbox.notify(
                        cause(key),
                        checkpoint_id,
                        NotifyTarget::Email { to, smtp_key },
                        purpose,
                    )
                }),
                Channel::Webhook { url } => {
                    let event_type = match purpose {
                        Purpose::Pending => "checkpoint.created",
                        Purpose::Reminder => "checkpoint.reminded",
                        Purpose::Escalation => "checkpoint.escalated",
                        Purpose::Decided => "checkpoint.decided",
                    };
                    Some(self.outbox.checkpoint_post(
                        cause(key),
                        checkpoint_id,
                        url,
                        event_type,
                        false,
                    ))
                }
                Channel::Websocket => {
                    // The live stream carries every transition as it commits.
                    out.history.push(NewHistory {
                        kind: switchyard_store::HistoryKind::Notified,
                        by: None,
                        detail: Some(
                            json!({"channel": "websocket", "purpose": purpose.as_str()})
                                .to_string(),
                        ),
                    });
                    None
                }
            };
            if let Some(b) = built {
                out.effects.extend(b.effects);
            }
        }
        out
    }

    /// What a checkpoint becoming terminal sends: its callback (`type`
    /// `checkpoint.decided`, `.expired` or `.cancelled`) and, unless cancelled,
    /// the call that resumes its agent with `decision`.
    pub(super) fn terminal_sends(
        &self,
        checkpoint_id: &str,
        spec: &Spec,
        event_type: &str,
        decision: Option<Decision>,
        input: Option<&DecisionInput>,
    ) -> Sends {
        let mut out = Sends::default();
        if let Some(url) = &spec.callback_url {
            let b = self.outbox.checkpoint_post(
                cause(format!("cp:{checkpoint_id}:callback")),
                checkpoint_id,
                url,
                event_type,
                true,
            );
            out.effects.extend(b.effects);
        }
        if let (Some(resume), Some(decision)) = (&spec.resume, decision) {
            let (kind, url, body) = self.resume_call(resume, spec, decision, input);
            let b = self.outbox.resume(
                cause(format!("cp:{checkpoint_id}:resume")),
                checkpoint_id,
                kind,
                url.as_deref(),
                body,
            );
            out.effects.extend(b.effects);
        }
        // A workflow run waiting on this checkpoint (an `ask` node) goes on.
        out.effects
            .push(switchyard_store::Effect::WakeRuns(checkpoint_id.to_owned()));
        out
    }

    /// The resume call's kind, URL and body.
    fn resume_call(
        &self,
        resume: &Resume,
        spec: &Spec,
        decision: Decision,
        input: Option<&DecisionInput>,
    ) -> (&'static str, Option<String>, Value) {
        let comment = input.and_then(|i| i.comment.as_deref());
        let response = input.and_then(|i| i.response.as_deref());
        let edited_context = input.and_then(|i| i.edited_context.as_ref());
        match resume {
            Resume::Crewai {
                execution_id,
                task_id,
                task_webhook_url,
                step_webhook_url,
                crew_webhook_url,
            } => {
                let own = |event: &str| {
                    format!(
                        "{}/webhook/crewai?event={event}",
                        self.config.delivery.public_url.trim_end_matches('/')
                    )
                };
                let feedback = match (response, comment, edited_context) {
                    (Some(r), _, _) => r.to_owned(),
                    (None, Some(c), _) => c.to_owned(),
                    (None, None, Some(ctx)) => ctx.to_string(),
                    (None, None, None) => String::new(),
                };
                let body = json!({
                    "execution_id": execution_id,
                    "task_id": task_id,
                    "human_feedback": feedback,
                    "is_approve": decision == Decision::Approve,
                    "taskWebhookUrl": task_webhook_url.clone().unwrap_or_else(|| own("task")),
                    "stepWebhookUrl": step_webhook_url.clone().unwrap_or_else(|| own("step")),
                    "crewWebhookUrl": crew_webhook_url.clone().unwrap_or_else(|| own("crew")),
                });
                let url = self
                    .config
                    .notify
                    .crewai_api_url
                    .as_deref()
                    .map(|base| format!("{}/resume", base.trim_end_matches('/')));
                ("crewai", url, body)
            }
            Resume::Langgraph {
                url,
                thread_id,
                assistant_id,
            } => {
                let resume = langgraph_decision(
                    decision,
                    spec,
                    comment,
                    response,
                    edited_context,
                    input.and_then(|i| i.edited_action.as_ref()),
                );
                let body = json!({"assistant_id": assistant_id, "command": {"resume": resume}});
                let url = format!("{}/threads/{thread_id}/runs", url.trim_end_matches('/'));
                ("langgraph", Some(url), body)
            }
        }
    }
}
