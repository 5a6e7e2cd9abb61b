//! Decisions that come back through a channel: a click on a Slack button
//! (`POST /slack/interactivity`, verified with Slack's `v0` signature and the app's
//! signing secret, `SLACK_WEBHOOK_SECRET`) and an e-mail's signed confirm link
//! (`/ui/confirm/{token}`: its GET only shows the page, its POST decides).

use switchyard_core::checkpoint::{Channel, Decision, DecisionInput};
use switchyard_core::notice::{parse_interaction, InteractionError};
use switchyard_core::provider::{Inbound, Provider};
use switchyard_core::providers::slack::Slack;
use switchyard_store::Checkpoint;

use super::Refusal;
use crate::app::Engine;
use crate::error::{Error, Result};
use crate::notify::links::{LinkError, Links};
use crate::outbox::Purpose;

/// What a Slack click came to.
#[derive(Debug)]
pub enum Clicked {
    /// The checkpoint as the click left it (decided, or a quorum vote counted).
    Decided(Box<Checkpoint>),
    /// Not one of Switchyard's buttons, or not a button: nothing done, and why.
    Ignored(String),
}

impl Engine {
    /// A click on a Slack decision button: the signature is checked on the raw
    /// bytes first (401 without a valid one; 503 when no signing secret is
    /// configured), then the click decides as the clicking user, and the message is
    /// replaced with the outcome through the click's `response_url`.
    pub async fn slack_click(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> std::result::Result<Clicked, Refusal> {
        let secrets = self
            .config
            .provider_secrets
            .get("slack")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::unavailable(
                    "Slack interactivity needs the app's signing secret: set SLACK_WEBHOOK_SECRET",
                )
            })?;
        let inbound = Inbound {
            headers,
            query: None,
            body,
            now: crate::time::now_secs(),
        };
        Slack
            .verify(&inbound, secrets)
            .map_err(|e| Error::unauthorized(e.code(), e.to_string()))?;
        let click = match parse_interaction(body) {
            Ok(c) => c,
            Err(e @ (InteractionError::NotBlockActions(_) | InteractionError::NotOurs(_))) => {
                return Ok(Clicked::Ignored(e.to_string()))
            }
            Err(e) => return Err(Error::bad_request("invalid_interaction", e.to_string()).into()),
        };
        let input = DecisionInput {
            decision: click.decision.as_str().to_owned(),
            by: Some(click.by().to_owned()),
            ..DecisionInput::default()
        };
        let result = self
            .decide_checkpoint_replying(
                &click.checkpoint_id,
                &input,
                "slack",
                click.response_url.as_deref(),
            )
            .await;
        match result {
            Ok(done) => Ok(Clicked::Decided(Box::new(done))),
            Err(refusal) => {
                // Decided already (elsewhere, or by another click): the message
                // still shows buttons, so it is replaced with the outcome too.
                if let (Some(c), Some(url)) = (&refusal.checkpoint, &click.response_url) {
                    let step = format!("late-{}", &crate::outbox::destination_id(url)[4..]);
                    let slack = [Channel::Slack {
                        webhook_url: Some(url.clone()),
                        slack_channel: None,
                    }];
                    let sends =
                        self.notifications(&c.checkpoint_id, &slack, Purpose::Decided, &step);
                    if let Err(e) = self.commit_effects(sends.effects).await {
                        tracing::warn!(error = %e.message, "could not queue the Slack message's update");
                    }
                }
                Err(refusal)
            }
        }
    }

    /// The checkpoint and decision a confirm link names: 404 `unknown_link` for a
    /// malformed or forged link, 404 `link_expired` for an expired one.
    pub async fn confirm_link(&self, token: &str) -> Result<(Checkpoint, Decision)> {
        let links = Links::new(&self.sealer);
        let (id, decision) = links
            .verify(token, crate::time::now_secs())
            .map_err(|e| match e {
                LinkError::Expired => {
                    Error::not_found("link_expired", "this decision link has expired")
                }
                _ => Error::not_found("unknown_link", "this decision link is not valid"),
            })?;
        Ok((self.checkpoint(&id).await?, decision))
    }

    /// A confirm page's POST: the link's decision, with what the form adds.
    pub async fn confirm_decision(
        &self,
        token: &str,
        mut input: DecisionInput,
    ) -> std::result::Result<Checkpoint, Refusal> {
        let (c, decision) = self.confirm_link(token).await?;
        input.decision = decision.as_str().to_owned();
        if input.by.as_deref().is_none_or(|b| b.trim().is_empty()) {
            input.by = Some("email link".to_owned());
        }
        self.decide_checkpoint(&c.checkpoint_id, &input, "email_link")
            .await
    }
}
