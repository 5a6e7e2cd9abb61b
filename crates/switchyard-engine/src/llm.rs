//! The client workflow `llm` nodes call: one chat completion against an
//! OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, Gemini's compatible API).
//!
//! Which endpoint and model a node uses is resolved here from [`LlmConfig`]: a
//! provider the configuration names gets its own endpoint, every other node the
//! default one. A node with an output schema asks for structured output
//! (`response_format: json_schema`); what the answer means is decided by
//! `switchyard_core::workflow::answer`, not here. Every request carries the run's
//! `Idempotency-Key`, the same on each attempt, so a provider can de-duplicate a
//! node that ran again after a crash.
//!
//! The endpoint is the operator's own, so this client does not go through the
//! delivery SSRF guard (Ollama on localhost must work). It follows no redirects,
//! so the key goes to the configured host only. Errors say whether a retry may
//! help ([`LlmError::retryable`]) and never carry the API key: neither the key
//! nor the URL's user part is in any message, and a body echoing the key has it
//! replaced.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::delivery::ssrf::{describe_error, USER_AGENT};
use crate::error::StartError;

/// How long connecting to an endpoint may take, whatever the node's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error body an [`LlmError`] keeps, in characters.
const EXCERPT_CHARS: usize = 300;
/// The name of the structured-output schema sent to the model.
const SCHEMA_NAME: &str = "node_output";

/// The chat-completions endpoints workflow `llm` nodes call (`Config::llm`): one
/// per provider name a node's `llm.provider` may give, and the default for every
/// other node. The endpoint is the operator's (often Ollama on localhost), so it
/// is not subject to the delivery SSRF guard.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// `SWITCHYARD_LLM_BASE_URL`, `SWITCHYARD_LLM_API_KEY`, `SWITCHYARD_LLM_MODEL`:
    /// for nodes whose provider is unnamed or not configured here.
    pub default: Endpoint,
    /// `[llm.providers.NAME]` in the configuration file, by provider name.
    pub providers: BTreeMap<String, Endpoint>,
    /// `SWITCHYARD_LLM_RECORD`: whether prompts and answers are kept on the node's
    /// record (tokens and timing always are).
    pub record: bool,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            default: Endpoint::default(),
            providers: BTreeMap::new(),
            record: true,
        }
    }
}

/// One OpenAI-compatible endpoint. `Debug` shows no key.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The part before `/chat/completions`: `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer KEY`; no header without one (Ollama, vLLM).
    pub api_key: Option<SecretString>,
    /// The model of nodes that name none.
    pub model: Option<String>,
}

/// A handle on the configured endpoints; cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: LlmConfig,
}

/// One chat completion to ask for.
#[derive(Debug, Clone, Copy)]
pub struct LlmRequest<'a> {
    /// The node's `llm.provider`: its configured endpoint, else the default one.
    pub provider: Option<&'a str>,
    /// The node's `llm.model`, else the endpoint's default model.
    pub model: Option<&'a str>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// The rendered prompt, sent as the one user message.
    pub prompt: &'a str,
    /// `Node::output_json_schema`: asked for as structured output when present.
    pub json_schema: Option<&'a Value>,
    /// `Idempotency-Key`: `<run_id>:<node_id>:<iteration>`, the same on every attempt.
    pub idempotency_key: &'a str,
    /// The whole request, connecting and reading the answer included.
    pub timeout: Duration,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    /// The model the endpoint says answered (else the one asked for).
    pub model: String,
    /// `choices[0].message.content`.
    pub text: String,
    /// `usage.prompt_tokens`, when the endpoint reports it.
    pub input_tokens: Option<u64>,
    /// `usage.completion_tokens`, when the endpoint reports it.
    pub output_tokens: Option<u64>,
}

/// Why a completion failed. Messages name the endpoint (without credentials)
/// and, for an answer, its status and a short excerpt of its body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// No endpoint or no model: says which setting to give.
    #[error("LLM not configured: {0}")]
    NotConfigured(String),
    /// The request could not be built from the node's values (an idempotency key
    /// that is not a header value).
    #[error("LLM request to {url} not sent: {message}")]
    Request { url: String, message: String },
    /// Connecting, sending or reading failed.
    #[error("LLM request to {url} failed: {message}")]
    Transport { url: String, message: String },
    /// No whole answer within the request's timeout.
    #[error("LLM request to {url} timed out after {}", humantime::format_duration(*.after))]
    Timeout { url: String, after: Duration },
    /// A status other than 2xx.
    #[error("LLM endpoint {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        /// A short excerpt of the body.
        body: String,
        /// `Retry-After`, when given with a 429 or 5xx.
        retry_after: Option<Duration>,
    },
    /// A 2xx without an answer in it (not JSON, no `choices[0].message.content`,
    /// an empty one, or a refusal).
    #[error("LLM endpoint {url} answered {status} without content: {why}")]
    NoContent {
        url: String,
        status: u16,
        why: String,
    },
}

impl LlmError {
    /// Whether the same request may succeed later: transport errors, timeouts,
    /// 408, 429, 5xx and a 2xx without content are; a configuration problem and
    /// other 4xx (a bad key, an unknown model, a schema the endpoint refuses) are not.
    pub fn retryable(&self) -> bool {
        match self {
            LlmError::NotConfigured(_) | LlmError::Request { .. } => false,
            LlmError::Transport { .. } | LlmError::Timeout { .. } | LlmError::NoContent { .. } => {
                true
            }
            LlmError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
        }
    }

    /// How long the endpoint asked to be left alone (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl LlmClient {
    /// A client for these endpoints: rustls, no redirects, a 10 s connect timeout
    /// (each request sets its own total timeout).
    pub fn new(config: &LlmConfig) -> Result<Self, StartError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| StartError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config: config.clone(),
            }),
        })
    }

    /// Whether prompts and answers are kept on the node's record
    /// (`SWITCHYARD_LLM_RECORD`).
    pub fn record(&self) -> bool {
        self.inner.config.record
    }

    /// Asks for one chat completion and reads its answer. Records
    /// `switchyard_llm_request_seconds` for every request sent and
    /// `switchyard_llm_tokens_total` for the tokens an answer reports.
    pub async fn complete(&self, req: &LlmRequest<'_>) -> Result<LlmAnswer, LlmError> {
        let (endpoint, setting) = self.endpoint(req.provider);
        let base = endpoint.base_url.as_deref().ok_or_else(|| {
            LlmError::NotConfigured(format!("no base URL: set {}", setting.base_url))
        })?;
        let model = req.model.or(endpoint.model.as_deref()).ok_or_else(|| {
            LlmError::NotConfigured(format!(
                "no model: set {} or the node's llm.model",
                setting.model
            ))
        })?;
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        let shown = shown_url(&url);
        let key = endpoint.api_key.as_ref();

        let mut body = json!({
            "model": model,
            "messages": [{"role": "user", "content": req.prompt}],
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(schema) = req.json_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {
                    "name": SCHEMA_NAME,
                    "strict": strict_compatible(schema),
                    "schema": schema,
                },
            });
        }
        let idempotency =
            http::HeaderValue::from_str(req.idempotency_key).map_err(|_| LlmError::Request {
                url: shown.clone(),
                message: format!(
                    "the idempotency key {:?} is not a header value",
                    req.idempotency_key
                ),
            })?;
        let mut builder = self
            .inner
            .http
            .post(&url)
            .timeout(req.timeout)
            .header("Idempotency-Key", idempotency)
            .json(&body);
        if let Some(k) = key {
            builder = builder.bearer_auth(k.expose_secret());
        }

        let started = Instant::now();
        let result = self.send(builder, &shown, key, req.timeout).await;
        metrics::histogram!("switchyard_llm_request_seconds", "model" => model.to_owned())
            .record(started.elapsed().as_secs_f64());
        let (status, bytes) = result?;
        let answer = read_completion(&bytes, model).map_err(|why| LlmError::NoContent {
            url: shown.clone(),
            status,
            why: redact(&why, key),
        })?;
        for (kind, n) in [
            ("input", answer.input_tokens),
            ("output", answer.output_tokens),
        ] {
            if let Some(n) = n {
                metrics::counter!("switchyard_llm_tokens_total", "kind" => kind, "model" => model.to_owned())
                    .increment(n);
            }
        }
        Ok(answer)
    }

    /// Sends the request; a 2xx answer's status and body, else the error.
    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        url: &str,
        key: Option<&SecretString>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), LlmError> {
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmError::Timeout {
                    url: url.to_owned(),
                    after: timeout,
                }
            } else {
                LlmError::Transport {
                    url: url.to_owned(),
                    message: redact(&describe_error(&e), key),
                }
            }
        };
        let resp = builder.send().await.map_err(failed)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(switchyard_core::writeback::parse_retry_after);
        let bytes = resp.bytes().await.map_err(failed)?.to_vec();
        if !(200..300).contains(&status) {
            let mut body = excerpt(&String::from_utf8_lossy(&bytes));
            if (300..400).contains(&status) {
                body = format!("a redirect is not followed ({body})");
            }
            return Err(LlmError::Status {
                url: url.to_owned(),
                status,
                body: redact(&body, key),
                retry_after: retry_after.filter(|_| status == 429 || status >= 500),
            });
        }
        Ok((status, bytes))
    }

    /// The endpoint for `provider` (configured, else the default) and the names
    /// of the settings that fill it, for a `NotConfigured` message.
    fn endpoint(&self, provider: Option<&str>) -> (&Endpoint, Setting) {
        let config = &self.inner.config;
        match provider.and_then(|p| config.providers.get_key_value(p)) {
            Some((name, e)) => (
                e,
                Setting {
                    base_url: format!("llm.providers.{name}.base_url"),
                    model: format!("llm.providers.{name}.model"),
                },
            ),
            None => (
                &config.default,
                Setting {
                    base_url: "SWITCHYARD_LLM_BASE_URL".into(),
                    model: "SWITCHYARD_LLM_MODEL".into(),
                },
            ),
        }
    }
}

/// Which settings an endpoint comes from.
struct Setting {
    base_url: String,
    model: String,
}

/// Reads `choices[0].message.content`, the model and the token counts of a
/// chat-completion answer; why not, when it holds no answer.
fn read_completion(bytes: &[u8], asked: &str) -> Result<LlmAnswer, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "the body is not JSON ({e}): {}",
            excerpt(&String::from_utf8_lossy(bytes))
        )
    })?;
    let choice = v.pointer("/choices/0");
    let message = choice.and_then(|c| c.get("message"));
    let text = match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        // Some servers answer content parts; the text ones are the answer.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        let refusal = message
            .and_then(|m| m.get("refusal"))
            .and_then(Value::as_str);
        let finish = choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str);
        return Err(match (refusal, finish) {
            (Some(r), _) => format!("the model refused: {}", excerpt(r)),
            (None, Some(f)) => format!("no content (finish_reason {f:?})"),
            (None, None) if choice.is_none() => {
                format!("no choices: {}", excerpt(&v.to_string()))
            }
            (None, None) => "no content".to_owned(),
        });
    }
    let usage = |name: &str| v.pointer(&format!("/usage/{name}")).and_then(Value::as_u64);
    Ok(LlmAnswer {
        model: v
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(asked)
            .to_owned(),
        text,
        input_tokens: usage("prompt_tokens"),
        output_tokens: usage("completion_tokens"),
    })
}

/// Whether OpenAI's strict structured outputs accept `schema`: every object
/// lists its properties, requires all of them and allows nothing else. A `dict`
/// or an `object` without a schema is none of that; such a schema is sent with
/// `strict: false` (OpenAI refuses it as strict with a 400) and the answer is
/// still checked field by field when it is read.
pub fn strict_compatible(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else {
        return true;
    };
    if o.get("type").and_then(Value::as_str) == Some("object") {
        let Some(props) = o.get("properties").and_then(Value::as_object) else {
            return false;
        };
        if o.get("additionalProperties") != Some(&Value::Bool(false)) {
            return false;
        }
        let required: Vec<&str> = o
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if props.keys().any(|k| !required.contains(&k.as_str())) {
            return false;
        }
        if !props.values().all(strict_compatible) {
            return false;
        }
    }
    o.get("items").is_none_or(strict_compatible)
}

/// The URL as shown in messages: without a user name or password.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            // Only fails for URLs that cannot have credentials at all.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "the configured endpoint".to_owned(),
    }
}

/// The first [`EXCERPT_CHARS`] characters, trimmed, with `…` when cut.
fn excerpt(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// `s` with every occurrence of the API key replaced, for endpoints that echo it.
fn redact(s: &str, key: Option<&SecretString>) -> String {
    match key.map(|k| k.expose_secret()).filter(|k| !k.is_empty()) {
        Some(k) => s.replace(k, "[redacted]"),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_completion_is_read() {
        let body = json!({
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
        });
        let a = read_completion(body.to_string().as_bytes(), "gpt-4o-mini").unwrap();
        assert_eq!(
            a,
            LlmAnswer {
                model: "gpt-4o-mini-2024-07-18".into(),
                text: "hi".into(),
                input_tokens: Some(12),
                output_tokens: Some(1),
            }
        );
        // No model and no usage: the model asked for, no counts.
        let body = json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]});
        let a = read_completion(body.to_string().as_bytes(), "llama3").unwrap();
        assert_eq!((a.model.as_str(), a.text.as_str()), ("llama3", "ab"));
        assert_eq!((a.input_tokens, a.output_tokens), (None, None));
    }

    #[test]
    fn a_completion_without_content_says_why() {
        let why = |v: Value| read_completion(v.to_string().as_bytes(), "m").unwrap_err();
        assert_eq!(
            why(json!({"choices": [{"message": {"content": null, "refusal": "I can't"}}]})),
            "the model refused: I can't"
        );
        assert_eq!(
            why(json!({"choices": [{"message": {"content": "  "}, "finish_reason": "length"}]})),
            "no content (finish_reason \"length\")"
        );
        assert_eq!(why(json!({"choices": []})), "no choices: {\"choices\":[]}");
        assert_eq!(why(json!({"choices": [{}]})), "no content");
        let e = read_completion(b"<html>oops</html>", "m").unwrap_err();
        assert!(
            e.starts_with("the body is not JSON (") && e.ends_with("<html>oops</html>"),
            "{e}"
        );
    }

    #[test]
    fn strictness_follows_openai_rules() {
        let strict = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"], "additionalProperties": false}},
            },
            "required": ["a", "b"],
            "additionalProperties": false,
        });
        assert!(strict_compatible(&strict));
        let mut dict = strict.clone();
        dict["properties"]["a"] =
            json!({"type": "object", "additionalProperties": {"type": "number"}});
        assert!(!strict_compatible(&dict));
        let mut optional = strict.clone();
        optional["properties"]["b"]["items"]["required"] = json!([]);
        assert!(!strict_compatible(&optional));
        let mut open = strict;
        open["properties"]["a"] = json!({"type": "object"});
        assert!(!strict_compatible(&open));
    }

    #[test]
    fn messages_hide_credentials() {
        assert_eq!(
            shown_url("https://user:pw@llm.example.com/v1/chat/completions"),
            "https://llm.example.com/v1/chat/completions"
        );
        let key = SecretString::from("sk-test-123");
        assert_eq!(
            redact("bad key sk-test-123 given", Some(&key)),
            "bad key [redacted] given"
        );
        let long = "é".repeat(EXCERPT_CHARS + 5);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(" short "), "short");
    }

    #[test]
    fn retryable_classes() {
        let status = |s: u16| LlmError::Status {
            url: "u".into(),
            status: s,
            body: String::new(),
            retry_after: None,
        };
        for s in [408, 429, 500, 502, 503] {
            assert!(status(s).retryable(), "{s}");
        }
        for s in [301, 400, 401, 403, 404, 422] {
            assert!(!status(s).retryable(), "{s}");
        }
        assert!(!LlmError::NotConfigured("x".into()).retryable());
        let t = LlmError::Timeout {
            url: "u".into(),
            after: Duration::from_millis(1500),
        };
        assert!(t.retryable());
        assert_eq!(t.to_string(), "LLM request to u timed out after 1s 500ms");
    }
}
