//! The ingest pipeline: resolve the webhook, verify the signature on the raw bytes,
//! normalize, plan the work its commands create, and commit event and work together
//! through the group-commit writer. The HTTP layer calls it in that order — reading
//! the body within its limit between [`Engine::resolve`] and [`Engine::accept`] — and
//! a CLI replay or a workflow can call the same steps.
//!
//! A refused request stores no event; [`Engine::record_refusal`] writes it to the
//! audit log without its body.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::{providers, Inbound, ParseError, Provider, Reply, Secret};
use switchyard_store::{new_id, now_micros, NewEvent, NewRejection, WriteOp, WriteOutcome};

use crate::app::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::Entry;

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// `/webhooks/{provider}`: the provider's default webhook, configured from env
    /// (or by a registered webhook whose id is the provider's name).
    Default { provider: &'a str },
    /// `/webhooks/{provider}/{webhook_id}`: a registered webhook.
    Stored {
        provider: &'a str,
        webhook_id: &'a str,
    },
}

/// The webhook a request is for.
pub struct Target {
    pub webhook_id: String,
    pub provider: &'static dyn Provider,
    secrets: Vec<Secret>,
    /// The registered webhook and its commands, if any.
    entry: Option<Arc<Entry>>,
}

/// A refused request: the error to answer and what the audit log records.
#[derive(Debug)]
pub struct Refusal {
    pub webhook_id: Option<String>,
    /// A provider Switchyard knows (an unknown name in the path is not kept).
    pub provider: Option<&'static str>,
    pub error: Error,
}

impl Refusal {
    fn new(webhook_id: Option<&str>, provider: Option<&'static str>, error: Error) -> Self {
        Self {
            webhook_id: webhook_id.map(str::to_owned),
            provider,
            error,
        }
    }
}

/// A request as the pipeline sees it: headers, query and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// A committed event.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub event_id: String,
    /// The delivery was stored before; nothing new was written.
    pub duplicate: bool,
    /// What matching created (the original's for a duplicate).
    pub matched: Value,
    /// A reply the provider's protocol requires (a URL-verification challenge).
    pub reply: Option<Value>,
    /// The text a `respond` command chose as the answer.
    pub respond: Option<String>,
}

impl Engine {
    /// Finds the webhook an endpoint names and the secrets it is verified with.
    pub fn resolve(&self, endpoint: Endpoint<'_>) -> Result<Target, Refusal> {
        match endpoint {
            Endpoint::Default { provider } => self.resolve_default(provider),
            Endpoint::Stored {
                provider,
                webhook_id,
            } => self.resolve_stored(provider, webhook_id),
        }
    }

    fn resolve_default(&self, provider: &str) -> Result<Target, Refusal> {
        let p = providers::by_name(provider).ok_or_else(|| {
            Refusal::new(
                None,
                None,
                Error::not_found(
                    "unknown_provider",
                    format!("no provider named {provider:?}"),
                ),
            )
        })?;
        // A registered webhook whose id is the provider's name configures the default
        // endpoint's commands (and may carry its own secret).
        let entry = self
            .registry
            .get(p.name())
            .filter(|e| e.config.provider == p.name());
        if entry.as_ref().is_some_and(|e| !e.config.enabled) {
            return Err(Refusal::new(
                Some(p.name()),
                Some(p.name()),
                Error::not_found(
                    "webhook_disabled",
                    format!("/webhooks/{} is disabled", p.name()),
                ),
            ));
        }
        let secrets = match &entry {
            Some(e) if !e.secrets.is_empty() => e.secrets.clone(),
            _ => self.config.secrets_for(p.name()).to_vec(),
        };
        if secrets.is_empty() && p.requires_secret() {
            // Serving a signing provider without its secret would accept forgeries.
            let var = crate::config::env_var_for(p.name());
            return Err(Refusal::new(
                Some(p.name()),
                Some(p.name()),
                Error::not_found(
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

    fn resolve_stored(&self, provider: &str, webhook_id: &str) -> Result<Target, Refusal> {
        let unknown = || {
            Refusal::new(
                None,
                providers::by_name(provider).map(|p| p.name()),
                Error::not_found(
                    "unknown_webhook",
                    format!(
                        "no enabled webhook {:?} for provider {provider:?}",
                        cut(webhook_id, MAX_RECORDED_ID)
                    ),
                ),
            )
        };
        let p = providers::by_name(provider).ok_or_else(unknown)?;
        let entry = match self.registry.get(webhook_id) {
            Some(e) if e.config.enabled && e.config.provider == p.name() => e,
            _ => return Err(unknown()),
        };
        // A webhook without a secret of its own uses its provider's default secret.
        let secrets = if entry.secrets.is_empty() {
            self.config.secrets_for(p.name()).to_vec()
        } else {
            entry.secrets.clone()
        };
        if secrets.is_empty() && p.requires_secret() {
            let var = crate::config::env_var_for(p.name());
            return Err(Refusal::new(
                Some(webhook_id),
                Some(p.name()),
                Error::not_found(
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

    /// The address a request counts as coming from: `peer`, or for a trusted proxy
    /// what it says in `X-Forwarded-For` (see [`crate::protect::Protections::client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.protections.client_ip(peer, headers)
    }

    /// The checks made before the body is read: the webhook's IP allow-list (403
    /// `ip_not_allowed`), then its rate limit (429 `rate_limited`, with when to
    /// retry).
    pub fn admit(&self, t: &Target, client: IpAddr) -> Result<(), Refusal> {
        let (allowed, own) = match &t.entry {
            Some(e) => (e.compiled.allowed_ips(), e.compiled.rate_limit()),
            None => (&[][..], None),
        };
        self.protections
            .check_allowed(allowed, client)
            .and_then(|()| self.protections.check_rate(&t.webhook_id, own))
            .map_err(|e| self.refusal(t, e))
    }

    /// A refusal for `target` (a body over the limit, found by the caller).
    pub fn refusal(&self, t: &Target, error: Error) -> Refusal {
        Refusal::new(Some(&t.webhook_id), Some(t.provider.name()), error)
    }

    /// Verifies, normalizes, plans and commits one request; answers only once the
    /// event and the work it created are durable.
    pub async fn accept(&self, t: &Target, req: Request<'_>) -> Result<Accepted, Refusal> {
        let name = t.provider.name();
        let refuse = |error: Error| self.refusal(t, error);
        let inbound = Inbound {
            headers: req.headers,
            query: req.query,
            body: req.body,
            now: crate::time::now_secs(),
        };
        t.provider
            .verify(&inbound, &t.secrets)
            .map_err(|e| refuse(Error::unauthorized(e.code(), e.to_string())))?;
        let n = t.provider.normalize(&inbound).map_err(|e| {
            refuse(match e {
                ParseError::UnsupportedMedia(m) => Error::new(
                    ErrorKind::UnsupportedMedia,
                    "unsupported_media_type",
                    format!("unsupported media type {m}"),
                ),
                ParseError::Malformed(m) => Error::bad_request("malformed_body", m),
            })
        })?;

        // A JSON body is stored as sent; other bodies (forms) as the JSON they decode to.
        let payload = match (
            inbound.media_type().as_deref(),
            std::str::from_utf8(req.body),
        ) {
            (None | Some("application/json"), Ok(text)) => text.to_owned(),
            _ => n.payload.to_string(),
        };
        let mut event = NewEvent {
            event_id: new_id("evt"),
            webhook_id: t.webhook_id.clone(),
            provider: name.to_owned(),
            event_type: n.event_type.as_str().to_owned(),
            delivery_id: n
                .delivery_id
                .as_deref()
                .and_then(switchyard_core::delivery_key),
            received_at: now_micros(),
            headers: selected_headers(req.headers),
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
        let plan = match &t.entry {
            Some(entry) => crate::plan::plan(self.planner(), entry, &mut event, &n.payload),
            None => crate::plan::Plan::default(),
        };
        // Seed 003: a body naming a workflow starts it.
        if name == "generic" && event.event_type == "workflow.run" {
            self.plan_generic_run(&mut event, &n.payload)
                .map_err(refuse)?;
        }
        event.effects.push(crate::notices::event_received_notice(
            &event.event_id,
            &event.webhook_id,
            &event.provider,
            &event.event_type,
            plan.matches,
        ));
        let (event_id, duplicate, matched) = match self.writer.submit(WriteOp::Event(event)).await {
            Ok(WriteOutcome::Event {
                event_id,
                duplicate,
                matched,
            }) => (event_id, duplicate, matched),
            Ok(_) => {
                return Err(refuse(Error::internal(
                    "writer answered something else for an event",
                )))
            }
            Err(e) => return Err(refuse(Error::from(e))),
        };
        if duplicate {
            metrics::counter!("switchyard_webhooks_duplicates_total", "provider" => name)
                .increment(1);
        } else {
            metrics::counter!("switchyard_webhooks_accepted_total", "provider" => name)
                .increment(1);
        }
        tracing::info!(%event_id, provider = name, webhook = %t.webhook_id, event_type = %n.event_type, matches = plan.matches, duplicate, "webhook accepted");
        let matched = serde_json::from_str(&matched).unwrap_or_else(|_| Value::Array(Vec::new()));
        Ok(Accepted {
            event_id,
            duplicate,
            matched,
            reply: n.reply.map(|Reply::Json(v)| v),
            respond: plan.respond,
        })
    }

    /// Records a refused request in the audit log (never its body, and its ids cut
    /// to [`MAX_RECORDED_ID`] bytes). Not recorded, only counted: a store that is
    /// unavailable, a request over its rate limit (that would let a flood fill the
    /// disk), and refusals past `rejections_per_minute` for one address.
    pub async fn record_refusal(&self, r: &Refusal, status: u16, remote: Option<IpAddr>) {
        let reason = r.error.code;
        metrics::counter!(crate::telemetry::WEBHOOKS_REJECTED, "reason" => reason).increment(1);
        tracing::info!(status, reason, webhook = ?r.webhook_id.as_deref().map(|w| cut(w, MAX_RECORDED_ID)), remote = ?remote, "request refused");
        if matches!(
            r.error.kind,
            ErrorKind::Unavailable | ErrorKind::TooManyRequests
        ) {
            return;
        }
        if !self.protections.may_record_refusal(remote) {
            metrics::counter!("switchyard_rejections_unrecorded_total").increment(1);
            return;
        }
        let rejection = NewRejection {
            at: now_micros(),
            webhook_id: r
                .webhook_id
                .as_deref()
                .map(|w| cut(w, MAX_RECORDED_ID).to_owned()),
            provider: r.provider.map(str::to_owned),
            remote_addr: remote.map(|ip| ip.to_string()),
            status: i64::from(status),
            reason: reason.to_owned(),
            detail: cut(&r.error.message, MAX_RECORDED_DETAIL).to_owned(),
        };
        if let Err(e) = self.writer.submit(WriteOp::Rejection(rejection)).await {
            tracing::warn!(error = %e, "could not record a refused request in the audit log");
        }
    }
}

/// The longest webhook id or provider name the audit log keeps, in bytes.
pub const MAX_RECORDED_ID: usize = 128;
/// The longest refusal message the audit log keeps, in bytes.
pub const MAX_RECORDED_DETAIL: usize = 512;

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Headers worth keeping with an event, as a JSON object. Credentials and signatures
/// are kept as `[redacted]` so one can see they were present; transport headers are
/// dropped. A header sent more than once keeps its values joined by `", "`.
///
/// The text is what serializing a `serde_json` map of the headers would give (keys
/// in byte order, compact), written directly: this runs for every request, and the
/// map's strings and nodes were a tenth of ingest's CPU (`scripts/bench-cpu`).
pub fn selected_headers(headers: &HeaderMap) -> String {
    const DROP: &[&str] = &[
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "accept-encoding",
    ];
    // Sorted by name (a stable sort: a repeated header's values stay in the order
    // they came), so each name's values are side by side.
    let mut kept: Vec<(&str, &http::HeaderValue)> = Vec::with_capacity(headers.len());
    kept.extend(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value))
            .filter(|(name, _)| !DROP.contains(name)),
    );
    kept.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(
        2 + kept
            .iter()
            .map(|(name, value)| name.len() + value.len() + 16)
            .sum::<usize>(),
    );
    out.push('{');
    let mut prev: Option<&str> = None;
    for (name, value) in kept {
        if prev == Some(name) {
            out.push_str(", ");
        } else {
            if prev.is_some() {
                out.push_str("\",");
            }
            push_json_string(&mut out, name);
            out.push_str(":\"");
            prev = Some(name);
        }
        if names_a_secret(name) {
            out.push_str("[redacted]");
        } else {
            push_json_chars(&mut out, &String::from_utf8_lossy(value.as_bytes()));
        }
    }
    if prev.is_some() {
        out.push('"');
    }
    out.push('}');
    out
}

/// Words that make a header's value a credential or a signature, kept as
/// `[redacted]`.
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

/// Whether a header name contains one of [`SECRET_WORDS`]: one pass over the name,
/// comparing words only where one could start (a `str::contains` per word was most
/// of [`selected_headers`]' cost).
fn names_a_secret(name: &str) -> bool {
    const STARTS: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < SECRET_WORDS.len() {
            t[SECRET_WORDS[i].as_bytes()[0] as usize] = true;
            i += 1;
        }
        t
    };
    let b = name.as_bytes();
    (0..b.len()).any(|i| {
        STARTS[usize::from(b[i])]
            && SECRET_WORDS
                .iter()
                .any(|w| b[i..].starts_with(w.as_bytes()))
    })
}

/// Appends `s` as a JSON string, quoted.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    push_json_chars(out, s);
    out.push('"');
}

/// Appends `s` escaped for inside a JSON string, exactly as `serde_json` escapes it:
/// `"` and `\\`, the short forms of the control characters that have them, and
/// `\u00XX` (lower-case hex) for the other control characters; nothing else.
fn push_json_chars(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const ESCAPED: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = true;
            b += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t
    };
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if !ESCAPED[usize::from(b)] {
            continue;
        }
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            _ => "",
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
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
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["x-github-event"], "issues");
        assert_eq!(v["x-hub-signature-256"], "[redacted]");
        assert!(v.get("host").is_none());
    }

    /// What `selected_headers` wrote before it built its text directly: a
    /// `serde_json` map, serialized.
    fn selected_headers_by_map(headers: &HeaderMap) -> String {
        let mut map = serde_json::Map::new();
        for (name, value) in headers {
            let n = name.as_str();
            if [
                "host",
                "content-length",
                "connection",
                "keep-alive",
                "transfer-encoding",
                "accept-encoding",
            ]
            .contains(&n)
            {
                continue;
            }
            let secret = SECRET_WORDS.iter().any(|w| n.contains(w));
            let v = if secret {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            match map.get_mut(n) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&v);
                }
                _ => {
                    map.insert(n.to_owned(), Value::String(v));
                }
            }
        }
        Value::Object(map).to_string()
    }

    #[test]
    fn headers_text_is_what_a_json_map_gives() {
        let mut h = HeaderMap::new();
        assert_eq!(selected_headers(&h), "{}");
        assert_eq!(selected_headers(&h), selected_headers_by_map(&h));
        h.insert("host", "example".parse().unwrap());
        h.insert("content-length", "12".parse().unwrap());
        assert_eq!(selected_headers(&h), "{}");
        for (k, v) in [
            ("x-github-event", &b"issues"[..]),
            ("content-type", &b"application/json"[..]),
            ("x-hub-signature-256", &b"sha256=abc"[..]),
            ("x-request-id", &b"8f0c2a4e-0000-4000-8000-000000000001"[..]),
            ("accept", &b"text/plain"[..]),
            ("accept", &b"application/json"[..]),
            ("cookie", &b"a=1"[..]),
            ("cookie", &b"b=2"[..]),
            ("x-quoted", &b"say \"hi\" \\ back\tslash"[..]),
            ("x-latin", &b"caf\xe9 \xff"[..]),
            ("x-utf8", "gr\u{fc}n \u{1f600}".as_bytes()),
            ("a-first", &b""[..]),
            ("zz-last", &b"~!@#$%^&*()"[..]),
            ("user-agent", &b"GitHub-Hookshot/abc"[..]),
        ] {
            h.append(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        let direct = selected_headers(&h);
        assert_eq!(direct, selected_headers_by_map(&h));
        let v: Value = serde_json::from_str(&direct).unwrap();
        assert_eq!(v["accept"], "text/plain, application/json");
        assert_eq!(v["cookie"], "[redacted], [redacted]");
        assert_eq!(v["x-quoted"], "say \"hi\" \\ back\tslash");
    }

    #[test]
    fn secret_names_are_found_anywhere_in_the_name() {
        for name in [
            "x-hub-signature-256",
            "authorization",
            "proxy-authorization",
            "x-gitlab-token",
            "x-hmac",
            "x-webhook-secret",
            "cookie",
            "set-cookie",
            "x-api-key",
            "apikey",
            "x-apikeyz",
            "ssignature",
            "hhmac",
        ] {
            assert!(names_a_secret(name), "{name}");
        }
        for name in [
            "",
            "x-github-event",
            "content-type",
            "x-request-id",
            "signatur",
            "x-api-ke",
            "tokn",
            "cooki",
            "x-hma",
            "secre",
            "apike",
        ] {
            assert!(!names_a_secret(name), "{name}");
        }
        for name in ["sig", "x-signature", "tok", "token-x", "a", "hmacs"] {
            let by_contains = SECRET_WORDS.iter().any(|w| name.contains(w));
            assert_eq!(names_a_secret(name), by_contains, "{name}");
        }
    }

    #[test]
    fn json_escaping_matches_serde_json() {
        let mut all = String::new();
        for c in (0..0x800)
            .chain([0xFFFD, 0x1F600])
            .filter_map(char::from_u32)
        {
            let one = c.to_string();
            let mut out = String::new();
            push_json_string(&mut out, &one);
            assert_eq!(out, serde_json::to_string(&one).unwrap(), "{:#x}", c as u32);
            all.push(c);
            all.push('x');
        }
        let mut out = String::new();
        push_json_string(&mut out, &all);
        assert_eq!(out, serde_json::to_string(&all).unwrap());
    }
}
