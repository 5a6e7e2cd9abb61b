//! The ingest endpoints. Each request goes through the same steps, in this order:
//! resolve the webhook (404), read the body within the limit (413), verify the
//! signature on the raw bytes (401), parse and normalize (415, 400), then hand the
//! event to the group-commit writer and answer only once it is durable (202, or 200
//! for a redelivery). A refused request stores no event; it is written to the audit
//! log without its body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchyard_core::{providers, Inbound, ParseError, Provider, Reply, Secret};
use switchyard_store::{new_id, now_micros, NewEvent, NewRejection, WriteOp, WriteOutcome};

use crate::error::ApiError;
use crate::registry::Entry;
use crate::AppState;

/// `POST /webhooks/{provider}`: the provider's default webhook, configured from env.
pub async fn default_endpoint(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = resolve_default(&st, &provider);
    handle(st, target, peer, uri, headers, body).await
}

/// `POST /webhook/crewai?event=task|step|crew` (seed 000).
pub async fn crewai_endpoint(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = resolve_default(&st, "crewai");
    handle(st, target, peer, uri, headers, body).await
}

/// `POST /webhooks/{provider}/{webhook_id}`: a webhook kept in the store.
pub async fn stored_endpoint(
    State(st): State<AppState>,
    Path((provider, webhook_id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = resolve_stored(&st, &provider, &webhook_id).await;
    handle(st, target, peer, uri, headers, body).await
}

/// The webhook a request is for.
struct Target {
    webhook_id: String,
    provider: &'static dyn Provider,
    secrets: Vec<Secret>,
    /// The registered webhook and its commands, if any.
    entry: Option<Arc<Entry>>,
}

/// A refusal: the error to answer and what to write to the audit log.
struct Refusal {
    webhook_id: Option<String>,
    provider: Option<String>,
    error: ApiError,
}

impl Refusal {
    fn new(webhook_id: Option<&str>, provider: Option<&str>, error: ApiError) -> Self {
        Self {
            webhook_id: webhook_id.map(str::to_owned),
            provider: provider.map(str::to_owned),
            error,
        }
    }
}

fn resolve_default(st: &AppState, provider: &str) -> Result<Target, Refusal> {
    let p = providers::by_name(provider).ok_or_else(|| {
        Refusal::new(
            None,
            None,
            ApiError::not_found(
                "unknown_provider",
                format!("no provider named {provider:?}"),
            ),
        )
    })?;
    // A registered webhook whose id is the provider's name configures the default
    // endpoint's commands (and may carry its own secret).
    let entry = st
        .registry
        .get(p.name())
        .filter(|e| e.config.provider == p.name());
    if entry.as_ref().is_some_and(|e| !e.config.enabled) {
        return Err(Refusal::new(
            Some(p.name()),
            Some(p.name()),
            ApiError::not_found(
                "webhook_disabled",
                format!("/webhooks/{} is disabled", p.name()),
            ),
        ));
    }
    let secrets = match &entry {
        Some(e) if !e.secrets.is_empty() => e.secrets.clone(),
        _ => st.config.secrets_for(p.name()).to_vec(),
    };
    if secrets.is_empty() && p.requires_secret() {
        // Serving a signing provider without its secret would accept forgeries.
        let var = crate::config::env_var_for(p.name());
        return Err(Refusal::new(
            Some(p.name()),
            Some(p.name()),
            ApiError::not_found(
                "webhook_not_configured",
                format!(
                    "/webhooks/{} is not configured: set {var} to enable it",
                    p.name()
                ),
            ),
        ));
    }
    Ok(Target {
        webhook_id: p.name().to_owned(),
        provider: p,
        secrets,
        entry,
    })
}

async fn resolve_stored(
    st: &AppState,
    provider: &str,
    webhook_id: &str,
) -> Result<Target, Refusal> {
    let unknown = || {
        Refusal::new(
            None,
            Some(provider),
            ApiError::not_found(
                "unknown_webhook",
                format!("no enabled webhook {webhook_id:?} for provider {provider:?}"),
            ),
        )
    };
    let p = providers::by_name(provider).ok_or_else(unknown)?;
    let entry = match st.registry.get(webhook_id) {
        Some(e) if e.config.enabled && e.config.provider == p.name() => e,
        _ => return Err(unknown()),
    };
    // A webhook without a secret of its own uses its provider's default secret.
    let secrets = if entry.secrets.is_empty() {
        st.config.secrets_for(p.name()).to_vec()
    } else {
        entry.secrets.clone()
    };
    if secrets.is_empty() && p.requires_secret() {
        let var = crate::config::env_var_for(p.name());
        return Err(Refusal::new(
            Some(webhook_id),
            Some(provider),
            ApiError::not_found(
                "webhook_not_configured",
                format!("webhook {webhook_id:?} has no secret and {var} is not set"),
            ),
        ));
    }
    Ok(Target {
        webhook_id: entry.webhook_id.clone(),
        provider: p,
        secrets,
        entry: Some(entry),
    })
}

async fn handle(
    st: AppState,
    target: Result<Target, Refusal>,
    peer: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let provider_label = match &target {
        Ok(t) => t.provider.name(),
        Err(_) => "unknown",
    };
    metrics::counter!("switchyard_webhooks_received_total", "provider" => provider_label)
        .increment(1);
    let result = match target {
        Ok(t) => accept(&st, t, &uri, &headers, body).await,
        Err(r) => Err(r),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(refusal) => refuse(&st, refusal, peer).await,
    };
    metrics::histogram!("switchyard_ingest_duration_seconds", "provider" => provider_label)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn accept(
    st: &AppState,
    t: Target,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let name = t.provider.name();
    let refuse = |error: ApiError| Refusal::new(Some(&t.webhook_id), Some(name), error);

    let limit = st.config.max_body_bytes;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(refuse(too_large(limit)));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| refuse(too_large(limit)))?;

    let now = time_now();
    let req = Inbound {
        headers,
        query: uri.query(),
        body: &bytes,
        now,
    };
    t.provider
        .verify(&req, &t.secrets)
        .map_err(|e| refuse(ApiError::unauthorized(e.code(), e.to_string())))?;
    let n = t.provider.normalize(&req).map_err(|e| {
        refuse(match e {
            ParseError::UnsupportedMedia(m) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("unsupported media type {m}"),
            ),
            ParseError::Malformed(m) => ApiError::bad_request("malformed_body", m),
        })
    })?;

    // A JSON body is stored as sent; other bodies (forms) as the JSON they decode to.
    let payload = match (req.media_type().as_deref(), std::str::from_utf8(&bytes)) {
        (None | Some("application/json"), Ok(text)) => text.to_owned(),
        _ => n.payload.to_string(),
    };
    let event = NewEvent {
        event_id: new_id("evt"),
        webhook_id: t.webhook_id.clone(),
        provider: name.to_owned(),
        event_type: n.event_type.as_str().to_owned(),
        delivery_id: n.delivery_id.clone(),
        received_at: now_micros(),
        headers: selected_headers(headers),
        payload,
        source: n.source.clone(),
        subject: n.subject.clone(),
        actor: n.actor.clone(),
        thread_key: n.thread_key.clone(),
        matched: "[]".into(),
        matched_command: None,
        task_id: None,
        response_sent: false,
        effects: Vec::new(),
        answers: None,
    };
    let mut event = event;
    let plan = match &t.entry {
        Some(entry) => crate::route::plan(st, entry, &mut event, &n.payload),
        None => crate::route::Plan::default(),
    };
    let (event_id, duplicate, matched) = match st.writer.submit(WriteOp::Event(event)).await {
        Ok(WriteOutcome::Event {
            event_id,
            duplicate,
            matched,
        }) => (event_id, duplicate, matched),
        Ok(_) => {
            return Err(refuse(ApiError::internal(
                "writer answered something else for an event",
            )))
        }
        Err(e) => return Err(refuse(ApiError::unavailable(e))),
    };
    if plan.created_tasks && !duplicate {
        st.tasks_ready.notify_waiters();
    }
    if plan.created_messages && !duplicate {
        st.engine.wake();
    }
    st.events_committed.notify_waiters();
    if duplicate {
        metrics::counter!("switchyard_webhooks_duplicates_total", "provider" => name).increment(1);
    } else {
        metrics::counter!("switchyard_webhooks_accepted_total", "provider" => name).increment(1);
    }
    tracing::debug!(%event_id, provider = name, webhook = %t.webhook_id, event_type = %n.event_type, duplicate, "event stored");

    if let Some(Reply::Json(v)) = n.reply {
        return Ok((StatusCode::OK, Json(v)).into_response());
    }
    if let Some(text) = plan.respond {
        // A respond command's rendered template is the answer: JSON when it parses.
        return Ok(match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.is_object() || v.is_array() => (StatusCode::OK, Json(v)).into_response(),
            _ => (
                StatusCode::OK,
                [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response(),
        });
    }
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let matched: serde_json::Value =
        serde_json::from_str(&matched).unwrap_or_else(|_| serde_json::json!([]));
    let body =
        serde_json::json!({"event_id": event_id, "duplicate": duplicate, "matched": matched});
    Ok((status, Json(body)).into_response())
}

/// Answers a refusal after recording it in the audit log.
async fn refuse(st: &AppState, r: Refusal, peer: SocketAddr) -> Response {
    let reason = r.error.code;
    metrics::counter!("switchyard_webhooks_rejected_total", "reason" => reason).increment(1);
    tracing::info!(status = r.error.status.as_u16(), reason, webhook = ?r.webhook_id, remote = %peer, "request refused");
    if r.error.status != StatusCode::SERVICE_UNAVAILABLE {
        let rejection = NewRejection {
            at: now_micros(),
            webhook_id: r.webhook_id,
            provider: r.provider,
            remote_addr: Some(peer.ip().to_string()),
            status: i64::from(r.error.status.as_u16()),
            reason: reason.to_owned(),
            detail: r.error.message.clone(),
        };
        if let Err(e) = st.writer.submit(WriteOp::Rejection(rejection)).await {
            tracing::warn!(error = %e, "could not record a refused request in the audit log");
        }
    }
    r.error.into_response()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("body exceeds the {limit}-byte limit"),
    )
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Headers worth keeping with an event, as a JSON object. Credentials and signatures
/// are kept as `[redacted]` so one can see they were present; transport headers are
/// dropped.
pub fn selected_headers(headers: &HeaderMap) -> String {
    const DROP: &[&str] = &[
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
    ];
    const SECRET_WORDS: &[&str] = &[
        "signature",
        "token",
        "authorization",
        "hmac",
        "secret",
        "cookie",
        "api-key",
        "apikey",
    ];
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let n = name.as_str();
        if DROP.contains(&n) {
            continue;
        }
        let v = if SECRET_WORDS.iter().any(|w| n.contains(w)) {
            "[redacted]".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        match map.get_mut(n) {
            Some(serde_json::Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                map.insert(n.to_owned(), serde_json::Value::String(v));
            }
        }
    }
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_selected_and_redacted() {
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature-256", "sha256=abc".parse().unwrap());
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        h.insert("x-github-event", "issues".parse().unwrap());
        h.insert("host", "example".parse().unwrap());
        let s = selected_headers(&h);
        assert!(!s.contains("abc") && !s.contains("s3cret"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["x-github-event"], "issues");
        assert_eq!(v["x-hub-signature-256"], "[redacted]");
        assert!(v.get("host").is_none());
    }
}
