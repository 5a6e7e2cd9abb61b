//! One attempt: the request a message stands for, sent, and what came back.
//!
//! Forwards and task pushes are signed per Standard Webhooks: `webhook-id` is the
//! outbox id (the same on every retry), `webhook-timestamp` the attempt's time, and
//! `webhook-signature` one `v1,` entry per live secret. Write-backs authenticate to
//! the provider with the webhook's token instead (see [`switchyard_core::writeback`]).

use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use switchyard_core::sig::{standard_secret_key, standard_signature_header};
use switchyard_store::OutboxKind;
use switchyard_store::{now_micros, Delivery, Sealer, Store};

use super::ssrf::describe_error;
use super::{notice, DeliveryConfig};
use crate::config::NotifyConfig;
use crate::registry::Registry;
use secrecy::ExposeSecret;
use switchyard_core::writeback::{self, parse_retry_after, ApiRequest, Credentials, Target};

/// How much of an answer is kept.
pub const EXCERPT_BYTES: usize = 4096;

/// What one attempt found.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    /// Unix micros when the request started.
    pub started_at: i64,
    pub latency: Duration,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    /// The first [`EXCERPT_BYTES`] of the answer.
    pub excerpt: Option<String>,
    pub error: Option<String>,
    /// Retrying cannot help (no credentials, a refused address, an unsupported
    /// provider): dead-letter now.
    pub permanent: bool,
    /// Done without an HTTP answer: an SMTP server accepted the e-mail, or there
    /// was nothing left to send (a reminder for a checkpoint decided meanwhile).
    pub accepted: bool,
}

impl AttemptResult {
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && (self.accepted || self.status.is_some_and(|s| (200..300).contains(&s)))
    }

    /// Done without a request; `note` is kept as the excerpt.
    fn accepted(started_at: i64, t0: Instant, note: String) -> Self {
        Self {
            started_at,
            latency: t0.elapsed(),
            excerpt: Some(note),
            accepted: true,
            ..Self::default()
        }
    }

    fn permanent(why: impl Into<String>) -> Self {
        Self {
            started_at: now_micros(),
            error: Some(why.into()),
            permanent: true,
            ..Self::default()
        }
    }
}

/// A destination as the sender needs it.
#[derive(Debug, Clone, Default)]
pub struct DestInfo {
    pub destination_id: String,
    /// `http`, `agent` or `provider`.
    pub kind: String,
    /// The destination's key (a URL, `agent:NAME`, `PROVIDER:BASE`).
    pub key: String,
    /// For an agent: where its tasks are pushed.
    pub agent_url: Option<String>,
    /// Signing keys, newest first.
    pub keys: Vec<Vec<u8>>,
    pub max_concurrency: Option<usize>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<f64>,
    pub disabled: bool,
}

/// What an attempt needs besides the message.
pub struct SendCtx {
    pub client: reqwest::Client,
    pub config: DeliveryConfig,
    /// The SMTP server and the CrewAI API's settings.
    pub notify: NotifyConfig,
    pub store: std::sync::Arc<dyn Store>,
    pub registry: Registry,
    pub sealer: Sealer,
}

/// Makes one attempt at `d`.
pub async fn attempt(ctx: &SendCtx, d: &Delivery, dest: &DestInfo) -> AttemptResult {
    let payload: Value = match serde_json::from_str(&d.payload) {
        Ok(v) => v,
        Err(e) => return AttemptResult::permanent(format!("stored payload is not JSON: {e}")),
    };
    if d.kind == OutboxKind::Notify {
        return match notice::prepare(ctx, &payload).await {
            Ok(notice::Prepared::Http(req, check)) => send(ctx, req, check).await,
            Ok(notice::Prepared::Email(smtp, message)) => notice::send_email(&smtp, message).await,
            Ok(notice::Prepared::Nothing(note)) => {
                AttemptResult::accepted(now_micros(), Instant::now(), note)
            }
            Err(why) => AttemptResult::permanent(why),
        };
    }
    let (req, provider_check) = match prepare(ctx, d, dest, &payload).await {
        Ok(r) => r,
        Err(why) => return AttemptResult::permanent(why),
    };
    send(ctx, req, provider_check.as_deref()).await
}

/// The request for a message, and the provider whose 200s must be checked.
async fn prepare(
    ctx: &SendCtx,
    d: &Delivery,
    dest: &DestInfo,
    payload: &Value,
) -> Result<(ApiRequest, Option<String>), String> {
    match d.kind {
        OutboxKind::Forward => {
            let url = payload
                .get("url")
                .and_then(Value::as_str)
                .ok_or("forward without a url")?;
            let body = payload.get("body").cloned().unwrap_or(Value::Null);
            Ok((
                signed(url, &d.outbox_id, &body.to_string(), &dest.keys),
                None,
            ))
        }
        OutboxKind::TaskPush => {
            let url = dest
                .agent_url
                .as_deref()
                .ok_or("the agent is not a push agent with a URL any more")?;
            let body = task_push_body(ctx, payload).await?;
            Ok((
                signed(url, &d.outbox_id, &body.to_string(), &dest.keys),
                None,
            ))
        }
        OutboxKind::Comment | OutboxKind::Ask | OutboxKind::Respond => {
            let text = crate::outbox::writeback_text(payload).ok_or("nothing to post")?;
            let target = payload.get("target").cloned().unwrap_or(Value::Null);
            let provider = target
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let entry = d.webhook_id.as_deref().and_then(|w| ctx.registry.get(w));
            let creds: Option<Credentials> = entry
                .as_ref()
                .and_then(|e| e.api.clone())
                .or_else(|| ctx.config.provider_tokens.get(&provider).cloned());
            let api_base = entry.as_ref().and_then(|e| e.config.api_base_url.clone());
            let hosts = entry
                .as_ref()
                .map(|e| e.config.api_hosts.clone())
                .unwrap_or_default();
            let subject = target.get("subject").and_then(Value::as_str);
            let base =
                ctx.config
                    .api_bases
                    .for_provider(&provider, api_base.as_deref(), subject, &hosts);
            // `respond` answers through the response URL when there is one.
            let use_response_url = d.kind == OutboxKind::Respond;
            let t = Target {
                provider: &provider,
                thread_key: if use_response_url && target.get("response_url").is_some() {
                    None
                } else {
                    target.get("thread_key").and_then(Value::as_str)
                },
                subject,
                response_url: target.get("response_url").and_then(Value::as_str),
            };
            let creds = if use_response_url && t.response_url.is_some() {
                None
            } else {
                creds
            };
            let req = writeback::build(&t, text, creds.as_ref(), base.as_deref())
                .map_err(|e| e.to_string())?;
            Ok((req, Some(provider)))
        }
        OutboxKind::Callback => {
            let url = payload
                .get("url")
                .and_then(Value::as_str)
                .ok_or("callback without a url")?;
            let body = notice::checkpoint_body(ctx, payload).await?;
            Ok((
                signed(url, &d.outbox_id, &body.to_string(), &dest.keys),
                None,
            ))
        }
        OutboxKind::Resume => {
            let kind = payload.get("resume").and_then(Value::as_str).unwrap_or("");
            let url = payload.get("url").and_then(Value::as_str).ok_or_else(|| {
                format!("{kind}: no API URL is configured (CREWAI_API_URL for crewai)")
            })?;
            let body = payload.get("body").cloned().unwrap_or(Value::Null);
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if kind == "crewai" {
                let token = ctx
                    .notify
                    .crewai_api_token
                    .as_ref()
                    .ok_or("CREWAI_API_TOKEN is not set")?;
                headers.push((
                    "authorization".to_owned(),
                    format!("Bearer {}", token.expose_secret()),
                ));
            }
            Ok((
                ApiRequest {
                    method: Method::POST,
                    url: url.to_owned(),
                    headers,
                    body: body.to_string().into_bytes(),
                },
                None,
            ))
        }
        other => Err(format!("no sender for \"{other}\" messages")),
    }
}

/// A JSON POST signed per Standard Webhooks.
fn signed(url: &str, msg_id: &str, body: &str, keys: &[Vec<u8>]) -> ApiRequest {
    let ts = now_micros() / 1_000_000;
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), msg_id.to_owned()),
        ("webhook-timestamp".to_owned(), ts.to_string()),
    ];
    if !keys.is_empty() {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        headers.push((
            "webhook-signature".to_owned(),
            standard_signature_header(&refs, msg_id, ts, body.as_bytes()),
        ));
    }
    ApiRequest {
        method: Method::POST,
        url: url.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// A task push: the task as it is now (with its lease), its event, where to
/// report back and the token to do it with (good for this task only; computed
/// here, so it is never stored); the body itself is built by the outbox.
async fn task_push_body(ctx: &SendCtx, payload: &Value) -> Result<Value, String> {
    let task_id = payload
        .get("task_id")
        .and_then(Value::as_str)
        .ok_or("task push without a task id")?;
    let task = ctx
        .store
        .get_task(task_id)
        .await
        .map_err(|e| format!("reading the task: {e}"))?
        .ok_or_else(|| format!("task {task_id} is gone"))?;
    let event = match &task.event_id {
        Some(id) => ctx
            .store
            .get_event(id)
            .await
            .map_err(|e| format!("reading the event: {e}"))?,
        None => None,
    };
    Ok(crate::outbox::task_push_body(
        &task,
        event.as_ref(),
        &ctx.config.public_url,
        &crate::keys::task_token(&ctx.sealer, &task.task_id),
    ))
}

/// Sends a prepared request through the guarded client.
async fn send(ctx: &SendCtx, req: ApiRequest, provider_check: Option<&str>) -> AttemptResult {
    let started_at = now_micros();
    let t0 = Instant::now();
    let mut out = AttemptResult {
        started_at,
        ..AttemptResult::default()
    };
    let url = match reqwest::Url::parse(&req.url) {
        Ok(u) => u,
        Err(e) => return AttemptResult::permanent(format!("bad URL {:?}: {e}", req.url)),
    };
    if let Err(e) = ctx.config.guard.check_url(&url) {
        return AttemptResult::permanent(e.to_string());
    }
    let mut builder = ctx.client.request(req.method, url).body(req.body);
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    match builder.send().await {
        Err(e) => {
            out.error = Some(describe_error(&e));
            // A refusal by the guard surfaces as a resolve error: not worth retrying.
            out.permanent = is_guard_refusal(&e);
        }
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            out.status = Some(status);
            out.retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut buf = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        let room = EXCERPT_BYTES.saturating_sub(buf.len());
                        buf.extend_from_slice(&c[..c.len().min(room)]);
                        if buf.len() >= EXCERPT_BYTES {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        out.error = Some(format!("reading the answer: {}", describe_error(&e)));
                        break;
                    }
                }
            }
            if (300..400).contains(&status) {
                out.error = Some(format!("redirect ({status}) is not followed"));
            } else if !(200..300).contains(&status) {
                out.error = Some(format!("HTTP {status}"));
            } else if let Some(p) = provider_check {
                if let Err(why) = writeback::check_response(p, status, &buf) {
                    out.error = Some(why);
                }
            }
            out.excerpt = Some(String::from_utf8_lossy(&buf).into_owned());
        }
    }
    out.latency = t0.elapsed();
    out
}

fn is_guard_refusal(e: &reqwest::Error) -> bool {
    super::ssrf::refusal(e).is_some()
}

/// Opens a sealed Standard Webhooks secret into its signing key.
pub fn open_key(sealer: &Sealer, sealed: &str) -> Option<Vec<u8>> {
    let raw = sealer.open(sealed).ok()?;
    let s = String::from_utf8(raw).ok()?;
    standard_secret_key(&s)
}
