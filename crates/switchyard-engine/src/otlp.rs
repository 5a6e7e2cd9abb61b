//! OpenTelemetry traces of workflow runs, exported over OTLP/HTTP with protobuf.
//!
//! Once a run has finished, the runner hands [`TraceExporter::export`] a
//! [`RunTrace`] built from the run's stored rows: a root span `workflow {name}` and
//! one child span `node {id}` per node step, with the times the store recorded. The
//! request is POSTed as `application/x-protobuf` to
//! `{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` (or to
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, per the OTel specification).
//!
//! **Why not the OpenTelemetry SDK and a `tracing` bridge.** A run is durable: it
//! may start in one process, wait for a person for a day, and finish in another
//! after a restart, so there is no in-memory span to hold open from start to
//! finish. Spans are instead built after the fact from stored timings, with ids
//! derived from the run id ([`trace_id`], [`root_span_id`], [`node_span_id`]), so
//! exporting the same run twice sends the same spans and a receiver de-duplicates
//! them. For that we need only the OTLP message types: the `opentelemetry-proto`
//! crate's prost-generated messages (features `gen-tonic-messages` and `trace`,
//! without tonic's gRPC client or server) and `prost` to encode them. The SDK's
//! span processors, batching and the `tracing-opentelemetry` layer would add a
//! pipeline built for live spans, which we would only have to work around.
//! (`opentelemetry-proto` still depends on the `opentelemetry` API crates, with
//! their default features off, for conversions we do not use.)

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, SpanFlags, Status,
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::config::{Config, Key};

/// `service.name` when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "switchyard";
/// How long one export may take, connecting included: a slow collector must not
/// hold up the runner that calls it.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest status message sent; a failed LLM node's error can quote a whole
/// answer, and collectors limit attribute and message sizes anyway.
const MAX_STATUS_MESSAGE: usize = 4096;

/// A finished (or failed) run as its stored rows tell it: what one trace is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTrace {
    pub workflow: String,
    pub run_id: String,
    pub started_unix_nanos: u64,
    pub finished_unix_nanos: u64,
    /// Set when the run failed: the root span's status is then ERROR with it.
    pub error: Option<String>,
    /// The run's node steps, in any order.
    pub nodes: Vec<NodeSpan>,
}

/// One node step of a run (a node that ran again in a loop is one step per run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpan {
    pub node_id: String,
    /// The node's kind: `llm`, `log`, `template`, `http`, `forward`, `task`, `ask`,
    /// `workflow`.
    pub kind: String,
    /// The step's number within the run, unique per run: it makes the span id, so
    /// a node that ran three times gives three spans.
    pub seq: u32,
    pub started_unix_nanos: u64,
    pub finished_unix_nanos: u64,
    /// Set when the step failed: its span's status is then ERROR with it.
    pub error: Option<String>,
    /// An LLM node's model (`gen_ai.request.model`).
    pub model: Option<String>,
    /// An LLM node's prompt tokens (`gen_ai.usage.input_tokens`).
    pub input_tokens: Option<u64>,
    /// An LLM node's completion tokens (`gen_ai.usage.output_tokens`).
    pub output_tokens: Option<u64>,
}

/// The trace id of a run: the 16 bytes of its UUID when the id is a prefix and a
/// UUID in simple hex (`run_0190…`, as the store makes them), else the first 16
/// bytes of the SHA-256 of the id. Either way the same run always gets the same
/// trace, whichever process exports it; an all-zero id (invalid in OTLP) is never
/// produced.
pub fn trace_id(run_id: &str) -> [u8; 16] {
    let uuid = run_id.rsplit_once('_').map_or(run_id, |(_, u)| u);
    let mut out = [0u8; 16];
    if uuid.len() == 32 && hex::decode_to_slice(uuid, &mut out).is_ok() && out != [0; 16] {
        return out;
    }
    out.copy_from_slice(&Sha256::digest(run_id.as_bytes())[..16]);
    out
}

/// The root span's id: the first 8 bytes of SHA-256(`{run_id}:run`).
pub fn root_span_id(run_id: &str) -> [u8; 8] {
    span_id(&format!("{run_id}:run"))
}

/// A node step's span id: the first 8 bytes of SHA-256(`{run_id}:{seq}`).
pub fn node_span_id(run_id: &str, seq: u32) -> [u8; 8] {
    span_id(&format!("{run_id}:{seq}"))
}

fn span_id(text: &str) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&Sha256::digest(text.as_bytes())[..8]);
    out
}

/// The OTLP request for one run: one resource (`service.name`), one scope
/// (`switchyard`), the root span and a child span per node step.
pub fn build_request(trace: &RunTrace, service_name: &str) -> ExportTraceServiceRequest {
    let trace_id = trace_id(&trace.run_id).to_vec();
    let root_id = root_span_id(&trace.run_id).to_vec();
    let common = [
        string_attr("switchyard.workflow", &trace.workflow),
        string_attr("switchyard.run_id", &trace.run_id),
    ];
    let mut spans = Vec::with_capacity(trace.nodes.len() + 1);
    spans.push(Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        // A run is where its trace starts: there is no parent, so none is remote.
        flags: SAMPLED | SpanFlags::ContextHasIsRemoteMask as u32,
        name: format!("workflow {}", trace.workflow),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: trace.started_unix_nanos,
        end_time_unix_nano: trace.finished_unix_nanos.max(trace.started_unix_nanos),
        attributes: common.to_vec(),
        status: status(trace.error.as_deref()),
        ..Default::default()
    });
    for node in &trace.nodes {
        let mut attributes = common.to_vec();
        attributes.push(string_attr("switchyard.node", &node.node_id));
        attributes.push(string_attr("switchyard.node.kind", &node.kind));
        attributes.push(int_attr("switchyard.node.seq", u64::from(node.seq)));
        if node.kind == "llm" {
            attributes.push(string_attr("gen_ai.operation.name", "chat"));
        }
        if let Some(model) = &node.model {
            attributes.push(string_attr("gen_ai.request.model", model));
        }
        if let Some(n) = node.input_tokens {
            attributes.push(int_attr("gen_ai.usage.input_tokens", n));
        }
        if let Some(n) = node.output_tokens {
            attributes.push(int_attr("gen_ai.usage.output_tokens", n));
        }
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id: node_span_id(&trace.run_id, node.seq).to_vec(),
            parent_span_id: root_id.clone(),
            flags: SAMPLED | SpanFlags::ContextHasIsRemoteMask as u32,
            name: format!("node {}", node.node_id),
            // Nodes that call out (an LLM, an HTTP request) are clients, as the
            // GenAI conventions have model calls.
            kind: match node.kind.as_str() {
                "llm" | "http" => SpanKind::Client,
                _ => SpanKind::Internal,
            } as i32,
            start_time_unix_nano: node.started_unix_nanos,
            end_time_unix_nano: node.finished_unix_nanos.max(node.started_unix_nanos),
            attributes,
            status: status(node.error.as_deref()),
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", service_name)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "switchyard".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// W3C trace flags: sampled. Every run is exported, so every span is sampled.
const SAMPLED: u32 = 0x01;

fn string_attr(key: &str, value: &str) -> KeyValue {
    attr(key, any_value::Value::StringValue(value.to_owned()))
}

/// OTLP integers are signed: a count past `i64::MAX` (never in practice) is capped.
fn int_attr(key: &str, value: u64) -> KeyValue {
    attr(
        key,
        any_value::Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// ERROR with the message when there is an error; otherwise none, which OTel
/// reads as "unset", the status instrumentation leaves on success.
fn status(error: Option<&str>) -> Option<Status> {
    let error = error?;
    let mut end = error.len().min(MAX_STATUS_MESSAGE);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    Some(Status {
        message: error[..end].to_owned(),
        code: StatusCode::Error as i32,
    })
}

/// The URL traces are POSTed to: `traces_endpoint` as it is when set (the OTel
/// specification's rule for the per-signal variable), else `endpoint` with
/// `/v1/traces` appended (after any trailing `/`); `None` when neither is set or
/// both are blank.
pub fn traces_url(endpoint: Option<&str>, traces_endpoint: Option<&str>) -> Option<String> {
    fn set(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    if let Some(url) = set(traces_endpoint) {
        return Some(url.to_owned());
    }
    set(endpoint).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
}

/// Sends runs' traces to an OTLP/HTTP collector, or does nothing when no endpoint
/// is configured ([`TraceExporter::enabled`]). Cloning is cheap: clones share one
/// HTTP client.
#[derive(Clone, Debug)]
pub struct TraceExporter {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    url: String,
    /// The URL without a password, for errors and `Debug`.
    shown: String,
    service_name: String,
    /// The client, or why it could not be built (reported by every export rather
    /// than by a constructor that cannot fail).
    client: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceExporter")
            .field("url", &self.shown)
            .field("service_name", &self.service_name)
            .finish_non_exhaustive()
    }
}

/// Why an export failed, by the `outcome` it is counted under.
enum Failure {
    /// No answer: the connection failed or the timeout passed.
    Unreachable(String),
    /// The collector answered with a status other than 2xx.
    Http(String),
    /// The collector took the request but refused some spans (partial success).
    Rejected(String),
}

impl TraceExporter {
    /// An exporter to the OTLP base `endpoint` (`OTEL_EXPORTER_OTLP_ENDPOINT`'s
    /// meaning: traces go to `{endpoint}/v1/traces`), naming the service
    /// `switchyard`; disabled when `endpoint` is `None` or blank.
    pub fn new(endpoint: Option<String>) -> Self {
        Self::to_url(traces_url(endpoint.as_deref(), None), None)
    }

    /// The exporter the configuration asks for: [`Config::otlp_traces_endpoint`]
    /// as it is, else [`Config::otlp_endpoint`] + `/v1/traces`, with
    /// [`Config::otlp_service_name`].
    pub fn from_config(config: &Config) -> Self {
        Self::to_url(
            traces_url(
                config.otlp_endpoint.as_deref(),
                config.otlp_traces_endpoint.as_deref(),
            ),
            config.otlp_service_name.clone(),
        )
    }

    /// The exporter the process's environment asks for:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_SERVICE_NAME`. The server reads these through its settings, which
    /// also check them ([`TraceExporter::from_config`]); this is for tools and
    /// tests that have no [`Config`].
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`TraceExporter::from_env`] reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |key: Key| get(&key.name());
        Self::to_url(
            traces_url(
                var(Key::OtlpEndpoint).as_deref(),
                var(Key::OtlpTracesEndpoint).as_deref(),
            ),
            var(Key::OtlpServiceName),
        )
    }

    /// The same exporter naming the service `name` in its resource (blank keeps
    /// the current name).
    pub fn with_service_name(self, name: impl Into<String>) -> Self {
        let name: String = name.into();
        match self.inner {
            Some(inner) if !name.trim().is_empty() => Self {
                inner: Some(Arc::new(Inner {
                    url: inner.url.clone(),
                    shown: inner.shown.clone(),
                    service_name: name.trim().to_owned(),
                    client: inner.client.clone(),
                })),
            },
            inner => Self { inner },
        }
    }

    fn to_url(url: Option<String>, service_name: Option<String>) -> Self {
        let inner = url.map(|url| {
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .timeout(EXPORT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(crate::delivery::ssrf::USER_AGENT)
                .build()
                .map_err(|e| format!("the HTTP client could not be built: {e}"));
            Arc::new(Inner {
                shown: switchyard_store::redact_url(&url),
                url,
                service_name: service_name
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
                client,
            })
        });
        Self { inner }
    }

    /// Whether an endpoint is configured; when not, [`TraceExporter::export`]
    /// sends nothing.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Where traces are POSTed, when enabled.
    pub fn traces_url(&self) -> Option<&str> {
        self.inner.as_deref().map(|i| i.url.as_str())
    }

    /// The resource's `service.name`, when enabled.
    pub fn service_name(&self) -> Option<&str> {
        self.inner.as_deref().map(|i| i.service_name.as_str())
    }

    /// Sends `trace` to the collector once, within [`EXPORT_TIMEOUT`]; `Ok` when
    /// disabled. An error says what went wrong (unreachable, the HTTP status and
    /// the collector's message, or spans it rejected); the caller logs it, and no
    /// retry is made here: the run is stored, so a later export sends the same
    /// spans. Each export is counted in `switchyard_otlp_exports_total{outcome}`
    /// (`ok`, `unreachable`, `http_error`, `rejected`).
    pub async fn export(&self, trace: &RunTrace) -> Result<(), String> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let result = inner.send(trace).await;
        let outcome = match &result {
            Ok(()) => "ok",
            Err(Failure::Unreachable(_)) => "unreachable",
            Err(Failure::Http(_)) => "http_error",
            Err(Failure::Rejected(_)) => "rejected",
        };
        metrics::counter!("switchyard_otlp_exports_total", "outcome" => outcome).increment(1);
        result.map_err(|f| match f {
            Failure::Unreachable(m) | Failure::Http(m) | Failure::Rejected(m) => m,
        })
    }
}

impl Inner {
    async fn send(&self, trace: &RunTrace) -> Result<(), Failure> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| Failure::Unreachable(e.clone()))?;
        let body = build_request(trace, &self.service_name).encode_to_vec();
        let response = client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, PROTOBUF)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Without the URL, which reqwest would show with its password.
                Failure::Unreachable(format!(
                    "OTLP export to {} failed: {}",
                    self.shown,
                    error_chain(&e.without_url())
                ))
            })?;
        let status = response.status();
        let is_protobuf = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROTOBUF));
        // A body that does not arrive in time is the collector's problem, not the
        // export's: the status already says how it went.
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Failure::Http(format!(
                "OTLP export to {} answered {status}{}",
                self.shown,
                error_detail(&body, is_protobuf)
            )));
        }
        if is_protobuf {
            let partial = ExportTraceServiceResponse::decode(body.as_ref())
                .ok()
                .and_then(|r| r.partial_success);
            if let Some(p) = partial.filter(|p| p.rejected_spans > 0) {
                return Err(Failure::Rejected(format!(
                    "OTLP export to {} rejected {} span(s): {}",
                    self.shown, p.rejected_spans, p.error_message
                )));
            }
        }
        Ok(())
    }
}

const PROTOBUF: &str = "application/x-protobuf";

/// A collector's error body: OTLP/HTTP sends a `google.rpc.Status` in protobuf,
/// whose field 2 is the message; anything else is shown as text, shortened.
fn error_detail(body: &[u8], is_protobuf: bool) -> String {
    const SHOWN: usize = 300;
    let text = if is_protobuf {
        RpcStatus::decode(body)
            .map(|s| s.message)
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(body).trim().to_owned()
    };
    if text.is_empty() {
        return String::new();
    }
    let shown: String = text.chars().take(SHOWN).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    format!(": {shown}{more}")
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error, as far as we read it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An error and its sources on one line: reqwest's own message ("error sending
/// request") hides whether the connection was refused or timed out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const RUN: &str = "run_0190b3c4d5e67f808192a3b4c5d6e7f8";

    fn sample() -> RunTrace {
        RunTrace {
            workflow: "triage".into(),
            run_id: RUN.into(),
            started_unix_nanos: 1_700_000_000_000_000_000,
            finished_unix_nanos: 1_700_000_003_000_000_000,
            error: Some("node summarize failed".into()),
            nodes: vec![
                NodeSpan {
                    node_id: "log_event".into(),
                    kind: "log".into(),
                    seq: 0,
                    started_unix_nanos: 1_700_000_000_100_000_000,
                    finished_unix_nanos: 1_700_000_000_200_000_000,
                    ..Default::default()
                },
                NodeSpan {
                    node_id: "summarize".into(),
                    kind: "llm".into(),
                    seq: 1,
                    started_unix_nanos: 1_700_000_000_300_000_000,
                    finished_unix_nanos: 1_700_000_002_900_000_000,
                    error: Some("wrong type for score".into()),
                    model: Some("gpt-4o-mini".into()),
                    input_tokens: Some(120),
                    output_tokens: Some(34),
                },
            ],
        }
    }

    fn attrs(span: &Span) -> Vec<(String, any_value::Value)> {
        span.attributes
            .iter()
            .map(|kv| {
                let v = kv.value.clone().and_then(|v| v.value).unwrap();
                (kv.key.clone(), v)
            })
            .collect()
    }

    fn get<'a>(attrs: &'a [(String, any_value::Value)], key: &str) -> Option<&'a any_value::Value> {
        attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    #[test]
    fn ids_are_derived_from_the_run_id() {
        // The uuid's bytes, written out independently of the code.
        assert_eq!(
            trace_id(RUN),
            [
                0x01, 0x90, 0xb3, 0xc4, 0xd5, 0xe6, 0x7f, 0x80, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6,
                0xe7, 0xf8
            ]
        );
        // Not a uuid: the first 16 bytes of SHA-256 of the whole id.
        let digest = Sha256::digest(b"run_42");
        assert_eq!(trace_id("run_42")[..], digest[..16]);
        let nil = format!("run_{}", "0".repeat(32));
        assert_ne!(trace_id(&nil), [0; 16], "an all-zero trace id is invalid");
        assert_eq!(trace_id(&nil)[..], Sha256::digest(nil.as_bytes())[..16]);

        assert_eq!(
            root_span_id(RUN)[..],
            Sha256::digest(format!("{RUN}:run").as_bytes())[..8]
        );
        assert_eq!(
            node_span_id(RUN, 7)[..],
            Sha256::digest(format!("{RUN}:7").as_bytes())[..8]
        );
        // Deterministic, and distinct between steps, runs and the root.
        assert_eq!(node_span_id(RUN, 1), node_span_id(RUN, 1));
        assert_ne!(node_span_id(RUN, 1), node_span_id(RUN, 2));
        assert_ne!(node_span_id(RUN, 1), node_span_id("run_other", 1));
        assert_ne!(root_span_id(RUN), node_span_id(RUN, 0));
        assert_eq!(build_request(&sample(), "s"), build_request(&sample(), "s"));
    }

    #[test]
    fn the_encoded_request_decodes_to_the_run() {
        let bytes = build_request(&sample(), "switchyard-test").encode_to_vec();
        let req = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.resource_spans.len(), 1);
        let rs = &req.resource_spans[0];
        let resource = rs.resource.as_ref().unwrap();
        assert_eq!(
            resource.attributes,
            vec![string_attr("service.name", "switchyard-test")]
        );
        assert_eq!(rs.scope_spans.len(), 1);
        assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "switchyard");
        let spans = &rs.scope_spans[0].spans;
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["workflow triage", "node log_event", "node summarize"]
        );

        let root = &spans[0];
        let root_id = root_span_id(RUN).to_vec();
        assert_eq!(root.span_id, root_id);
        assert!(root.parent_span_id.is_empty());
        assert_eq!(
            (root.start_time_unix_nano, root.end_time_unix_nano),
            (1_700_000_000_000_000_000, 1_700_000_003_000_000_000)
        );
        let status = root.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "node summarize failed");
        let a = attrs(root);
        assert_eq!(get(&a, "switchyard.workflow"), Some(&s("triage")));
        assert_eq!(get(&a, "switchyard.run_id"), Some(&s(RUN)));
        assert_eq!(get(&a, "switchyard.node"), None);

        for (span, seq) in spans[1..].iter().zip([0, 1]) {
            assert_eq!(span.trace_id, trace_id(RUN).to_vec());
            assert_eq!(span.parent_span_id, root_id);
            assert_eq!(span.span_id, node_span_id(RUN, seq).to_vec());
        }
        let log = &spans[1];
        assert_eq!(log.status, None, "a step that succeeded has no status");
        assert_eq!(log.kind, SpanKind::Internal as i32);
        assert_eq!(
            (log.start_time_unix_nano, log.end_time_unix_nano),
            (1_700_000_000_100_000_000, 1_700_000_000_200_000_000)
        );
        let a = attrs(log);
        assert_eq!(get(&a, "switchyard.node"), Some(&s("log_event")));
        assert_eq!(get(&a, "switchyard.node.kind"), Some(&s("log")));
        assert_eq!(get(&a, "switchyard.workflow"), Some(&s("triage")));
        assert!(get(&a, "gen_ai.request.model").is_none());

        let llm = &spans[2];
        assert_eq!(llm.kind, SpanKind::Client as i32);
        let status = llm.status.as_ref().unwrap();
        assert_eq!(
            (status.code, status.message.as_str()),
            (StatusCode::Error as i32, "wrong type for score")
        );
        let a = attrs(llm);
        assert_eq!(get(&a, "gen_ai.request.model"), Some(&s("gpt-4o-mini")));
        assert_eq!(
            get(&a, "gen_ai.usage.input_tokens"),
            Some(&any_value::Value::IntValue(120))
        );
        assert_eq!(
            get(&a, "gen_ai.usage.output_tokens"),
            Some(&any_value::Value::IntValue(34))
        );
        assert_eq!(get(&a, "gen_ai.operation.name"), Some(&s("chat")));
    }

    #[test]
    fn times_never_run_backwards_and_messages_are_bounded() {
        let mut t = sample();
        t.finished_unix_nanos = t.started_unix_nanos - 1; // clocks of two processes
        t.error = Some("é".repeat(MAX_STATUS_MESSAGE)); // 2 bytes each
        let req = build_request(&t, "s");
        let root = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(root.end_time_unix_nano, root.start_time_unix_nano);
        let message = &root.status.as_ref().unwrap().message;
        assert!(message.len() <= MAX_STATUS_MESSAGE && message.len() >= MAX_STATUS_MESSAGE - 1);
        assert!(message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_endpoint_follows_the_otel_variables() {
        assert_eq!(traces_url(None, None), None);
        assert_eq!(traces_url(Some(" "), Some("")), None);
        assert_eq!(
            traces_url(Some("http://c:4318"), None).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            traces_url(Some("http://c:4318/otlp/"), None).as_deref(),
            Some("http://c:4318/otlp/v1/traces")
        );
        // The per-signal variable is used as it is, and wins.
        assert_eq!(
            traces_url(Some("http://c:4318"), Some("http://t:9/custom")).as_deref(),
            Some("http://t:9/custom")
        );

        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let off = TraceExporter::from_lookup(env(&[]));
        assert!(!off.enabled() && off.traces_url().is_none());
        let on = TraceExporter::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SERVICE_NAME", "hooks-prod"),
        ]));
        assert!(on.enabled());
        assert_eq!(on.traces_url(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(on.service_name(), Some("hooks-prod"));
        let traces = TraceExporter::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/t"),
        ]));
        assert_eq!(traces.traces_url(), Some("http://127.0.0.1:9/t"));
        let plain = TraceExporter::new(Some("http://127.0.0.1:4318".into()));
        assert_eq!(plain.service_name(), Some(DEFAULT_SERVICE_NAME));
        assert_eq!(
            plain.clone().with_service_name("other").service_name(),
            Some("other")
        );
        assert!(!TraceExporter::new(None).enabled());

        let mut c = Config::new("sqlite://x.db", ".");
        assert!(!TraceExporter::from_config(&c).enabled());
        c.otlp_endpoint = Some("http://127.0.0.1:4318".into());
        c.otlp_service_name = Some("svc".into());
        let e = TraceExporter::from_config(&c);
        assert_eq!(e.traces_url(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(e.service_name(), Some("svc"));
    }

    #[tokio::test]
    async fn a_disabled_exporter_sends_nothing_and_an_unreachable_one_says_so() {
        assert_eq!(TraceExporter::new(None).export(&sample()).await, Ok(()));
        // A port nothing listens on: bind one, then close it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = TraceExporter::new(Some(format!("http://{addr}")));
        let err = e.export(&sample()).await.unwrap_err();
        assert!(
            err.starts_with(&format!("OTLP export to http://{addr}/v1/traces failed")),
            "{err}"
        );
        // A password in the URL is shown neither in errors nor in `Debug`.
        let e = TraceExporter::new(Some(format!("http://u:hunter2@{addr}")));
        let err = e.export(&sample()).await.unwrap_err();
        for shown in [err, format!("{e:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(&format!("u:***@{addr}")), "{shown}");
        }
    }

    #[test]
    fn collector_error_bodies_are_read() {
        let body = RpcStatus {
            code: 3,
            message: "bad trace id".into(),
        }
        .encode_to_vec();
        assert_eq!(error_detail(&body, true), ": bad trace id");
        assert_eq!(error_detail(b" not found\n", false), ": not found");
        assert_eq!(error_detail(b"", false), "");
        assert!(error_detail("x".repeat(1000).as_bytes(), false).ends_with("x…"));
    }
}
