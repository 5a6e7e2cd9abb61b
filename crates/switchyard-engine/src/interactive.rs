//! The interactive calls of seed 002: what an agent sends back about an event —
//! a comment on its thread, a question (which opens a question a reply answers), or
//! a response. Each is one outbox message built by [`crate::outbox`].
//!
//! Retrying a call with the same `Idempotency-Key` creates nothing new and answers
//! with the ids the first call stored.

use serde_json::Value;
use switchyard_core::providers;
use switchyard_store::now_micros;

use crate::app::Engine;
use crate::error::{Error, Result};
use crate::outbox::{Cause, Thread};

/// What an agent sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Comment,
    Ask,
    Respond,
}

impl Interaction {
    /// The action's name, as in paths and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Comment => "comment",
            Self::Ask => "ask",
            Self::Respond => "respond",
        }
    }

    /// The body field carrying the text.
    pub fn field(self) -> &'static str {
        match self {
            Self::Comment => "message",
            Self::Ask => "question",
            Self::Respond => "response",
        }
    }
}

/// What an interactive call created (or, repeated, had created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interacted {
    pub event_id: String,
    pub action: Interaction,
    pub delivery_id: String,
    pub question_id: Option<String>,
}

impl Engine {
    /// Posts `text` about `event_id` (an event of webhook `webhook_id`). A
    /// question opened for an agent (`agent`, from its key) is that agent's to read
    /// and wait for.
    pub async fn interact(
        &self,
        webhook_id: &str,
        kind: Interaction,
        event_id: &str,
        text: &str,
        idempotency_key: Option<&str>,
        agent: Option<&str>,
    ) -> Result<Interacted> {
        if self.registry.get(webhook_id).is_none() && providers::by_name(webhook_id).is_none() {
            return Err(Error::not_found(
                "unknown_webhook",
                format!("no webhook {webhook_id:?}"),
            ));
        }
        let event = self
            .store
            .get_event(event_id)
            .await?
            .filter(|e| e.webhook_id == webhook_id)
            .ok_or_else(|| {
                Error::not_found(
                    "unknown_event",
                    format!("no event {event_id:?} on webhook {webhook_id:?}"),
                )
            })?;
        if !switchyard_core::writeback::can_post(&event.provider) {
            // Queueing it would only dead-letter it later as "nothing to post".
            return Err(Error::unprocessable(
                "no_reply_channel",
                format!(
                    "{} has no channel Switchyard can post on (only {}); a routed `respond` command answers the webhook request itself",
                    event.provider,
                    switchyard_core::writeback::CAN_POST.join(", ")
                ),
            ));
        }
        let key = format!(
            "{event_id}:api:{}:{}",
            kind.as_str(),
            idempotency_key
                .map(str::to_owned)
                .unwrap_or_else(|| switchyard_store::new_id("call"))
        );
        // A repeated call answers with what the first one stored.
        if idempotency_key.is_some() {
            if let Some(done) = self.interaction_by_key(&key, event_id, kind).await? {
                return Ok(done);
            }
        }
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        let thread = Thread::of_event(&event, &payload);
        let cause = Cause {
            webhook_id: Some(webhook_id.to_owned()),
            event_id: Some(event.event_id.clone()),
            command_id: None,
            idempotency_key: key.clone(),
            created_at: now_micros(),
        };
        let mut built = match kind {
            Interaction::Comment => self.outbox.comment(cause, &thread, text),
            Interaction::Ask => self.outbox.ask(cause, &thread, text),
            Interaction::Respond => self.outbox.respond(cause, &thread, text),
        };
        for e in &mut built.effects {
            if let switchyard_store::Effect::Question(q) = e {
                q.agent = agent.map(str::to_owned);
            }
        }
        let mine = Interacted {
            event_id: event_id.to_owned(),
            action: kind,
            delivery_id: built.delivery_id.clone(),
            question_id: built.question_id.clone(),
        };
        self.commit_effects(built.effects).await?;
        if idempotency_key.is_some() {
            // Two calls with one key at once: the first to commit stands.
            if let Some(done) = self.interaction_by_key(&key, event_id, kind).await? {
                return Ok(done);
            }
        }
        Ok(mine)
    }

    async fn interaction_by_key(
        &self,
        key: &str,
        event_id: &str,
        kind: Interaction,
    ) -> Result<Option<Interacted>> {
        let Some(d) = self.store.get_delivery_by_key(key).await? else {
            return Ok(None);
        };
        let payload: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
        Ok(Some(Interacted {
            event_id: event_id.to_owned(),
            action: kind,
            delivery_id: d.outbox_id,
            question_id: payload
                .get("question_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
    }
}
