//! Sending a checkpoint's messages: the Slack message and the e-mail of a
//! notification, and the body of a callback. Each is built when it is sent, from
//! the checkpoint as it is then, so an e-mail's signed decision links are never
//! stored, and a reminder for a checkpoint decided meanwhile is not sent.

use std::time::Instant;

use http::Method;
use lettre::Message;
use serde_json::{json, Value};
use switchyard_core::checkpoint::{Decision, Status};
use switchyard_core::notice::{decided_message, pending_message, Notice};
use switchyard_core::writeback::ApiRequest;
use switchyard_store::{now_micros, Checkpoint};

use super::send::{AttemptResult, SendCtx};
use crate::checkpoints::view::CheckpointView;
use crate::checkpoints::{is_terminal, spec_of, status_of};
use crate::config::SmtpConfig;
use crate::notify::email;
use crate::notify::links::{link_expiry, Links};
use crate::outbox::Purpose;
use crate::time::rfc3339;

/// What a notification comes to.
pub enum Prepared {
    /// A POST (Slack), and the provider whose 200s must be read for `"ok"`.
    Http(ApiRequest, Option<&'static str>),
    /// An e-mail for this SMTP server.
    Email(Box<SmtpConfig>, Box<Message>),
    /// Nothing to send, and why.
    Nothing(String),
}

async fn checkpoint(ctx: &SendCtx, payload: &Value) -> Result<Checkpoint, String> {
    let id = payload
        .get("checkpoint_id")
        .and_then(Value::as_str)
        .ok_or("no checkpoint id")?;
    ctx.store
        .get_checkpoint(id)
        .await
        .map_err(|e| format!("reading checkpoint {id}: {e}"))?
        .ok_or_else(|| format!("checkpoint {id} is gone"))
}

/// The request (or e-mail) a notification stands for.
pub async fn prepare(ctx: &SendCtx, payload: &Value) -> Result<Prepared, String> {
    let c = checkpoint(ctx, payload).await?;
    let purpose = payload
        .get("purpose")
        .and_then(Value::as_str)
        .and_then(Purpose::parse)
        .ok_or("a notification without a purpose")?;
    if purpose != Purpose::Decided && is_terminal(&c) {
        return Ok(Prepared::Nothing(format!(
            "not sent: the checkpoint is {} already",
            c.status
        )));
    }
    let spec = spec_of(&c).map_err(|e| e.to_string())?;
    let expires_at = c.expires_at.map(rfc3339);
    let public_url = ctx.config.public_url.trim_end_matches('/');
    let n = Notice {
        checkpoint_id: &c.checkpoint_id,
        spec: &spec,
        expires_at: expires_at.as_deref(),
        public_url,
    };
    match payload.get("channel").and_then(Value::as_str) {
        Some("slack") => {
            let bot = payload.get("slack_channel").and_then(Value::as_str);
            let url = match bot {
                Some(_) => format!(
                    "{}/chat.postMessage",
                    ctx.config.api_bases.slack.trim_end_matches('/')
                ),
                None => payload
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or("a Slack notification without a URL")?
                    .to_owned(),
            };
            let mut message = match purpose {
                Purpose::Decided => {
                    let decision = c.decision.as_deref().and_then(Decision::parse);
                    decided_message(&n, status_of(c.status), decision, c.decided_by.as_deref())
                }
                _ => pending_message(&n),
            };
            if let (Purpose::Reminder | Purpose::Escalation, Some(text)) =
                (purpose, message.get("text").and_then(Value::as_str))
            {
                let head = match purpose {
                    Purpose::Reminder => "Reminder",
                    _ => "Escalated",
                };
                message["text"] = json!(format!("{head}: {text}"));
            }
            let mut headers = vec![(
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            )];
            if let Some(channel) = bot {
                // The bot's token, added here and never stored with the message.
                let creds = ctx
                    .config
                    .provider_tokens
                    .get("slack")
                    .ok_or("posting to a Slack channel needs SLACK_API_TOKEN")?;
                headers.push((
                    "authorization".to_owned(),
                    format!("Bearer {}", creds.token),
                ));
                message["channel"] = json!(channel);
            }
            Ok(Prepared::Http(
                ApiRequest {
                    method: Method::POST,
                    url,
                    headers,
                    body: message.to_string().into_bytes(),
                },
                // Slack's Web API answers 200 with `"ok": false` when it refuses.
                bot.map(|_| "slack"),
            ))
        }
        Some("email") => {
            let smtp = ctx
                .notify
                .smtp
                .clone()
                .ok_or("e-mail needs an SMTP server: SMTP_HOST is not set")?;
            let to: Vec<String> = payload
                .get("to")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let links = Links::new(&ctx.sealer);
            let expires = link_expiry(
                c.expires_at.map(|t| t / 1_000_000),
                c.created_at / 1_000_000,
            );
            let mut content = email::content(&n, &links, expires);
            if purpose != Purpose::Pending {
                let head = match purpose {
                    Purpose::Reminder => "Reminder",
                    _ => "Escalated",
                };
                content.subject = format!("{head}: {}", content.subject);
            }
            let message = email::message(&smtp.from, &to, &content).map_err(|e| e.to_string())?;
            Ok(Prepared::Email(Box::new(smtp), Box::new(message)))
        }
        other => Err(format!("no sender for notifications on {other:?}")),
    }
}

/// Sends an e-mail: accepted by the SMTP server, or failed (for good when the
/// server refused it for good).
pub async fn send_email(smtp: &SmtpConfig, message: Box<Message>) -> AttemptResult {
    let started_at = now_micros();
    let t0 = Instant::now();
    match email::send(smtp, *message).await {
        Ok(()) => AttemptResult {
            started_at,
            latency: t0.elapsed(),
            excerpt: Some(format!("accepted by {}:{}", smtp.host, smtp.port)),
            accepted: true,
            ..AttemptResult::default()
        },
        Err(e) => AttemptResult {
            started_at,
            latency: t0.elapsed(),
            permanent: e.is_permanent(),
            error: Some(e.to_string()),
            ..AttemptResult::default()
        },
    }
}

/// A callback's (or `webhook` notification's) body: `{"type", "timestamp",
/// "data": <checkpoint>}`, timestamped when the checkpoint was decided (or
/// opened), so every retry of a terminal checkpoint's callback sends the same bytes.
pub async fn checkpoint_body(ctx: &SendCtx, payload: &Value) -> Result<Value, String> {
    let c = checkpoint(ctx, payload).await?;
    let event_type = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("checkpoint.decided");
    let at = match status_of(c.status) {
        Status::Pending => c.created_at,
        _ => c.decided_at.unwrap_or(c.updated_at),
    };
    Ok(json!({
        "type": event_type,
        "timestamp": rfc3339(at),
        "data": CheckpointView::new(&c, &ctx.config.public_url),
    }))
}
