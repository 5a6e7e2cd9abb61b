//! Workflow runs' traces over OTLP/HTTP, checked against [`OtlpReceiver`]: a
//! loopback collector that decodes what it is sent with `opentelemetry-proto`, as a
//! real one would, and keeps the spans. The runner's tests reuse it.
//!
//! It is not the generic `receiver::Receiver`: it answers as a collector does —
//! 415 for a body that is not `application/x-protobuf`, 400 for one that does not
//! decode, an `ExportTraceServiceResponse` otherwise — so an exporter that sends
//! the wrong thing fails here rather than being recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode as SpanStatus, Span};
use prost::Message;
use switchyard_engine::otlp::{NodeSpan, RunTrace, TraceExporter};
use switchyard_server::http::ops::metrics_handle;
use tokio::sync::{oneshot, Notify};

const PROTOBUF: &str = "application/x-protobuf";
const WAIT: Duration = Duration::from_secs(10);

/// How the receiver answers the next exports.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with an empty `ExportTraceServiceResponse`; the spans are kept.
    Accept,
    /// This status with a `google.rpc.Status` body carrying the message; nothing
    /// is kept.
    Status(u16, String),
    /// 200 with a partial success rejecting this many spans, and the message;
    /// nothing is kept.
    Reject(i64, String),
}

/// `google.rpc.Status`, the body OTLP/HTTP errors carry.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Default)]
struct Log {
    /// Requests whose spans were kept, decoded, in arrival order.
    accepted: Vec<ExportTraceServiceRequest>,
    /// Every POST to `/v1/traces`, whatever was answered.
    posts: usize,
    answer: Option<Answer>,
}

struct Shared {
    log: Mutex<Log>,
    /// Told after every POST, so waiters look again at once.
    arrived: Notify,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A test that panicked while holding the lock has already failed; the log
        // itself is still whole.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A loopback OTLP/HTTP collector on `127.0.0.1:0` accepting `POST /v1/traces`
/// (protobuf); it stops when dropped. Point an exporter at [`OtlpReceiver::endpoint`]
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`'s meaning) and read what arrived with
/// [`OtlpReceiver::spans`] or [`OtlpReceiver::wait_for_spans`].
pub struct OtlpReceiver {
    endpoint: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl OtlpReceiver {
    /// Starts a receiver on a free port that accepts every export until told
    /// otherwise ([`OtlpReceiver::answer`]).
    pub async fn start() -> OtlpReceiver {
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            arrived: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the OTLP receiver");
        let addr = listener.local_addr().expect("OTLP receiver address");
        let app = Router::new()
            .route("/v1/traces", post(export))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Dropping the sender stops the server too.
                    let _ = stopped.await;
                })
                .await
                .expect("OTLP receiver server");
        });
        OtlpReceiver {
            endpoint: format!("http://{addr}"),
            shared,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`: the base, as `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `Config::otlp_endpoint` take it (exports go to `/v1/traces` under it).
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// `http://127.0.0.1:PORT/v1/traces`, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// takes it.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint)
    }

    /// How the next exports are answered (until changed again).
    pub fn answer(&self, answer: Answer) {
        self.shared.log().answer = Some(answer);
    }

    /// Every kept request, decoded, in arrival order (for the resource and scope).
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.log().accepted.clone()
    }

    /// Every kept span, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        spans_of(&self.shared.log().accepted)
    }

    /// How many exports were POSTed, whatever they were answered.
    pub fn posts(&self) -> usize {
        self.shared.log().posts
    }

    /// Waits until at least `n` spans have been kept and returns them all;
    /// panics, naming what did arrive, if fewer than `n` are within `timeout`.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a POST between the look and the wait
            // still wakes it.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                panic!(
                    "expected {n} spans at {} within {timeout:?}; {} arrived in {} POSTs: {names:?}",
                    self.endpoint,
                    spans.len(),
                    self.posts()
                );
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn spans_of(requests: &[ExportTraceServiceRequest]) -> Vec<Span> {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.iter().cloned())
        .collect()
}

async fn export(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = answer(&shared, &headers, &body);
    shared.arrived.notify_waiters();
    reply
}

fn answer(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut log = shared.log();
    log.posts += 1;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != PROTOBUF {
        return status(415, format!("expected {PROTOBUF}, got {content_type:?}"));
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return status(400, format!("the body does not decode: {e}")),
    };
    let partial_success = match log.answer.clone().unwrap_or(Answer::Accept) {
        Answer::Accept => {
            log.accepted.push(request);
            None
        }
        Answer::Status(code, message) => return status(code, message),
        Answer::Reject(rejected_spans, error_message) => Some(ExportTracePartialSuccess {
            rejected_spans,
            error_message,
        }),
    };
    protobuf(
        StatusCode::OK,
        ExportTraceServiceResponse { partial_success }.encode_to_vec(),
    )
}

fn status(code: u16, message: String) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    protobuf(code, RpcStatus { code: 3, message }.encode_to_vec())
}

fn protobuf(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

/// The span named `name`; panics listing the names there are.
pub fn span_named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        panic!("no span {name:?} among {names:?}")
    })
}

/// A span's attribute by key.
pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// A string attribute; `None` when absent or of another type.
pub fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// An integer attribute; `None` when absent or of another type.
pub fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key) {
        Some(Value::IntValue(n)) => Some(*n),
        _ => None,
    }
}

/// A run of three steps, the last one an LLM node that failed the run.
fn failed_run(run_id: &str) -> RunTrace {
    let t0: u64 = 1_750_000_000_000_000_000;
    let ms = 1_000_000;
    RunTrace {
        workflow: "triage".into(),
        run_id: run_id.into(),
        started_unix_nanos: t0,
        finished_unix_nanos: t0 + 900 * ms,
        error: Some("node summarize: the answer had no field score".into()),
        nodes: vec![
            NodeSpan {
                node_id: "log_event".into(),
                kind: "log".into(),
                seq: 0,
                started_unix_nanos: t0 + 10 * ms,
                finished_unix_nanos: t0 + 20 * ms,
                ..Default::default()
            },
            NodeSpan {
                node_id: "format".into(),
                kind: "template".into(),
                seq: 1,
                started_unix_nanos: t0 + 30 * ms,
                finished_unix_nanos: t0 + 40 * ms,
                ..Default::default()
            },
            NodeSpan {
                node_id: "summarize".into(),
                kind: "llm".into(),
                seq: 2,
                started_unix_nanos: t0 + 50 * ms,
                finished_unix_nanos: t0 + 850 * ms,
                error: Some("the answer had no field score".into()),
                model: Some("gpt-4o-mini".into()),
                input_tokens: Some(512),
                output_tokens: Some(48),
            },
        ],
    }
}

fn new_run_id() -> (String, uuid::Uuid) {
    let uuid = uuid::Uuid::now_v7();
    (format!("run_{}", uuid.simple()), uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_arrives_as_a_trace_of_its_nodes() {
    let metrics = metrics_handle();
    let rx = OtlpReceiver::start().await;
    let (run_id, uuid) = new_run_id();
    let trace = failed_run(&run_id);
    let exporter = TraceExporter::new(Some(rx.endpoint())).with_service_name("sy-it");
    assert!(exporter.enabled());
    exporter.export(&trace).await.unwrap();

    let spans = rx.wait_for_spans(4, WAIT).await;
    assert_eq!(spans.len(), 4, "one root and a span per step");
    let resource = rx.requests()[0].resource_spans[0].resource.clone().unwrap();
    let service = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name");
    assert_eq!(
        service
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value),
        Some(Value::StringValue("sy-it".into()))
    );

    // One trace, whose id is the run id's UUID.
    for span in &spans {
        assert_eq!(span.trace_id, uuid.as_bytes().to_vec(), "{}", span.name);
        assert_eq!(span.span_id.len(), 8, "{}", span.name);
    }
    let root = span_named(&spans, "workflow triage");
    assert!(root.parent_span_id.is_empty(), "the run is the root");
    assert_eq!(str_attr(root, "switchyard.workflow"), Some("triage"));
    assert_eq!(str_attr(root, "switchyard.run_id"), Some(run_id.as_str()));
    assert_eq!(
        (root.start_time_unix_nano, root.end_time_unix_nano),
        (trace.started_unix_nanos, trace.finished_unix_nanos)
    );
    let status = root.status.clone().unwrap();
    assert_eq!(status.code, SpanStatus::Error as i32);
    assert_eq!(
        status.message,
        "node summarize: the answer had no field score"
    );

    for node in &trace.nodes {
        let span = span_named(&spans, &format!("node {}", node.node_id));
        assert_eq!(span.parent_span_id, root.span_id, "{}", span.name);
        assert_eq!(
            str_attr(span, "switchyard.node"),
            Some(node.node_id.as_str())
        );
        assert_eq!(
            str_attr(span, "switchyard.node.kind"),
            Some(node.kind.as_str())
        );
        assert_eq!(str_attr(span, "switchyard.workflow"), Some("triage"));
        assert_eq!(str_attr(span, "switchyard.run_id"), Some(run_id.as_str()));
        assert_eq!(
            (span.start_time_unix_nano, span.end_time_unix_nano),
            (node.started_unix_nanos, node.finished_unix_nanos)
        );
    }
    let ids: std::collections::BTreeSet<&Vec<u8>> = spans.iter().map(|s| &s.span_id).collect();
    assert_eq!(ids.len(), 4, "every span has its own id");

    let log = span_named(&spans, "node log_event");
    assert_eq!(log.status, None, "a step that succeeded has no error");
    assert_eq!(str_attr(log, "gen_ai.request.model"), None);
    assert_eq!(int_attr(log, "gen_ai.usage.input_tokens"), None);

    let llm = span_named(&spans, "node summarize");
    assert_eq!(str_attr(llm, "gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_eq!(int_attr(llm, "gen_ai.usage.input_tokens"), Some(512));
    assert_eq!(int_attr(llm, "gen_ai.usage.output_tokens"), Some(48));
    let status = llm.status.clone().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (SpanStatus::Error as i32, "the answer had no field score")
    );

    // Exporting the run again sends the very same spans (a collector can
    // de-duplicate them): ids come from the stored run, not from this process.
    exporter.export(&trace).await.unwrap();
    let again = rx.wait_for_spans(8, WAIT).await;
    assert_eq!(again[..4], again[4..]);
    assert_eq!(rx.posts(), 2);
    let shown = metrics.render();
    assert!(
        shown.contains(r#"switchyard_otlp_exports_total{outcome="ok"}"#),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_refuses_is_reported_not_ignored() {
    let metrics = metrics_handle();
    let rx = OtlpReceiver::start().await;
    let (run_id, _) = new_run_id();
    let trace = failed_run(&run_id);
    // The traces URL as it is, through the configuration the server reads.
    let mut config = switchyard_engine::Config::new("sqlite://unused.db", ".");
    config.otlp_traces_endpoint = Some(rx.traces_url());
    config.otlp_endpoint = Some("http://127.0.0.1:9".into()); // overridden: never used
    let exporter = TraceExporter::from_config(&config);

    rx.answer(Answer::Status(503, "collector overloaded".into()));
    let err = exporter.export(&trace).await.unwrap_err();
    assert!(
        err.contains("503") && err.ends_with(": collector overloaded"),
        "{err}"
    );

    rx.answer(Answer::Reject(2, "span too old".into()));
    let err = exporter.export(&trace).await.unwrap_err();
    assert!(err.contains("rejected 2 span(s): span too old"), "{err}");

    assert_eq!(rx.posts(), 2, "both exports reached the traces URL");
    assert!(rx.spans().is_empty());
    let shown = metrics.render();
    for outcome in ["http_error", "rejected"] {
        let series = format!(r#"switchyard_otlp_exports_total{{outcome="{outcome}"}}"#);
        assert!(shown.contains(&series), "{series} missing:\n{shown}");
    }

    // Accepting again, the same exporter goes on.
    rx.answer(Answer::Accept);
    exporter.export(&trace).await.unwrap();
    assert_eq!(rx.wait_for_spans(4, WAIT).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_refuses_what_a_collector_would() {
    let rx = OtlpReceiver::start().await;
    let client = reqwest::Client::new();
    let post = |content_type: &'static str, body: &'static [u8]| {
        client
            .post(rx.traces_url())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(post("application/json", b"{}").await.unwrap().status(), 415);
    assert_eq!(post(PROTOBUF, b"\xff\xff\xff").await.unwrap().status(), 400);
    let other = client.post(format!("{}/v1/logs", rx.endpoint())).send();
    assert_eq!(other.await.unwrap().status(), 404);
    assert_eq!(rx.posts(), 2);
    assert!(rx.spans().is_empty() && rx.requests().is_empty());
}
