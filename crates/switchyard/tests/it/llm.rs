//! A loopback OpenAI-compatible chat-completions API ([`FakeLlm`]) and the LLM
//! client's tests against it: what a request looks like, which endpoint and model
//! it goes to, how answers and failures are read, and that the key never shows.
//!
//! The fake answers scripted replies first, then, with nothing scripted, from the
//! request itself ([`FakeLlm::echo`]): a structured request gets an object with a
//! value of each required property's type, a plain one the prompt's last line. So a
//! workflow test can run an example file without scripting every call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard_core::workflow::{parse, read_answer};
use switchyard_engine::llm::{Endpoint, LlmClient, LlmConfig, LlmError, LlmRequest};

use crate::receiver::{Receiver, Recorded, Reply};

/// The path every answer comes from; others are 404.
const COMPLETIONS: &str = "/v1/chat/completions";

/// A recording, scriptable OpenAI-compatible endpoint on `127.0.0.1`.
pub struct FakeLlm {
    rx: Receiver,
    queue: Arc<Mutex<VecDeque<Scripted>>>,
}

/// What the next request is answered with.
enum Scripted {
    Text(String),
    Json(Value),
    Status(u16),
    Reply(Reply),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl FakeRequest {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The user message's text.
    pub fn prompt(&self) -> &str {
        self.body["messages"][0]["content"].as_str().unwrap_or("")
    }

    /// The structured-output schema asked for, if any.
    pub fn schema(&self) -> Option<&Value> {
        self.body.pointer("/response_format/json_schema/schema")
    }
}

impl FakeLlm {
    /// Starts a fake on a free port; it echoes until told otherwise.
    pub async fn start() -> FakeLlm {
        let rx = Receiver::start().await;
        let queue: Arc<Mutex<VecDeque<Scripted>>> = Arc::default();
        let next = queue.clone();
        rx.set_responder(move |r| {
            let scripted = next.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            answer(r, scripted)
        });
        FakeLlm { rx, queue }
    }

    /// `http://127.0.0.1:PORT/v1`: what `SWITCHYARD_LLM_BASE_URL` is set to.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.rx.url)
    }

    fn push(&self, s: Scripted) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(s);
    }

    /// The next answer's content is `text`.
    pub fn push_text(&self, text: &str) {
        self.push(Scripted::Text(text.to_owned()));
    }

    /// The next answer's content is `v` as JSON text.
    pub fn push_json(&self, v: Value) {
        self.push(Scripted::Json(v));
    }

    /// The next request is answered `status` with an OpenAI-style error body (and
    /// `Retry-After: 1` for a 429). A 2xx this way is an answer without content.
    pub fn push_status(&self, status: u16) {
        self.push(Scripted::Status(status));
    }

    /// The next request is answered exactly `reply`.
    pub fn push_reply(&self, reply: Reply) {
        self.push(Scripted::Reply(reply));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.rx.requests().iter().map(fake_request).collect()
    }

    /// Waits until `n` requests have arrived; panics listing them if they do not.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<FakeRequest> {
        let got = self.rx.wait_for(n, timeout).await;
        got.iter().map(fake_request).collect()
    }

    /// The content echo mode answers a chat-completion request `body` with: for a
    /// structured request an object with a value of each required property's type
    /// (a string is the prompt's last line, a boolean true, an integer 1, a number
    /// 0.9, an array one such item, an object its required properties), else the
    /// prompt's last line.
    pub fn echo(body: &Value) -> String {
        let prompt = body["messages"][0]["content"].as_str().unwrap_or("");
        let line = prompt
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned();
        match body.pointer("/response_format/json_schema/schema") {
            Some(schema) => value_of(schema, &line).to_string(),
            None => line,
        }
    }
}

fn fake_request(r: &Recorded) -> FakeRequest {
    FakeRequest {
        path: r.path.clone(),
        headers: r.headers.clone(),
        body: r.json(),
    }
}

/// A value of the type `schema` describes.
fn value_of(schema: &Value, text: &str) -> Value {
    match schema["type"].as_str() {
        Some("string") => json!(text),
        Some("boolean") => json!(true),
        Some("integer") => json!(1),
        Some("number") => json!(0.9),
        Some("array") => match schema.get("items") {
            Some(items) => json!([value_of(items, text)]),
            None => json!(["x"]),
        },
        Some("object") => {
            let mut out = serde_json::Map::new();
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            for name in required.iter().filter_map(Value::as_str) {
                let prop = &schema["properties"][name];
                out.insert(name.to_owned(), value_of(prop, text));
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// Words, standing in for tokens.
fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// The reply to `r`: the scripted one, else the echo.
fn answer(r: &Recorded, scripted: Option<Scripted>) -> Reply {
    let error = |status: u16, message: &str| Reply {
        status,
        ..Reply::json(json!({"error": {"message": message, "type": "fake", "code": status}}))
    };
    if r.method != "POST" || r.path != COMPLETIONS {
        return error(404, &format!("no route {} {}", r.method, r.path));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&r.body) else {
        return error(400, "the body is not JSON");
    };
    let content = match scripted {
        Some(Scripted::Reply(reply)) => return reply,
        Some(Scripted::Status(s)) => {
            let reply = error(s, &format!("fake status {s}"));
            return if s == 429 {
                reply.header("Retry-After", "1")
            } else {
                reply
            };
        }
        Some(Scripted::Text(t)) => t,
        Some(Scripted::Json(v)) => v.to_string(),
        None => FakeLlm::echo(&body),
    };
    let prompt = body["messages"][0]["content"].as_str().unwrap_or("");
    let (input, output) = (words(prompt), words(&content));
    Reply::json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    }))
}

// ---- the client's tests ----

const WAIT: Duration = Duration::from_secs(10);

fn endpoint(base_url: &str, key: Option<&str>, model: Option<&str>) -> Endpoint {
    Endpoint {
        base_url: Some(base_url.to_owned()),
        api_key: key.map(SecretString::from),
        model: model.map(str::to_owned),
    }
}

fn client(default: Endpoint, providers: &[(&str, Endpoint)]) -> LlmClient {
    let config = LlmConfig {
        default,
        providers: providers
            .iter()
            .map(|(n, e)| ((*n).to_owned(), e.clone()))
            .collect::<BTreeMap<_, _>>(),
        record: true,
    };
    LlmClient::new(&config).unwrap()
}

fn request<'a>(prompt: &'a str, key: &'a str) -> LlmRequest<'a> {
    LlmRequest {
        provider: None,
        model: None,
        temperature: None,
        max_tokens: None,
        prompt,
        json_schema: None,
        idempotency_key: key,
        timeout: WAIT,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_has_the_openai_shape() {
    let fake = FakeLlm::start().await;
    let schema = json!({
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": false,
    });
    // A trailing slash on the base is not doubled.
    let base = format!("{}/", fake.base_url());
    let with_key = client(endpoint(&base, Some("sk-test-1"), Some("gpt-test")), &[]);
    let answer = with_key
        .complete(&LlmRequest {
            temperature: Some(0.2),
            max_tokens: Some(64),
            json_schema: Some(&schema),
            ..request("Say hi", "run_1:greet:0")
        })
        .await
        .unwrap();
    assert_eq!(answer.text, r#"{"reply":"Say hi"}"#);

    let no_key = client(endpoint(&fake.base_url(), None, Some("llama3")), &[]);
    no_key
        .complete(&request("plain", "run_1:greet:1"))
        .await
        .unwrap();

    let got = fake.requests();
    assert_eq!(got.len(), 2);
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.path, COMPLETIONS);
    assert_eq!(first.header("authorization"), Some("Bearer sk-test-1"));
    assert_eq!(first.header("idempotency-key"), Some("run_1:greet:0"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.body,
        json!({
            "model": "gpt-test",
            "messages": [{"role": "user", "content": "Say hi"}],
            "temperature": 0.2,
            "max_tokens": 64,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "node_output", "strict": true, "schema": schema},
            },
        })
    );
    assert_eq!(second.path, COMPLETIONS);
    assert_eq!(second.header("authorization"), None, "no key, no header");
    assert_eq!(second.header("idempotency-key"), Some("run_1:greet:1"));
    assert_eq!(
        second.body,
        json!({"model": "llama3", "messages": [{"role": "user", "content": "plain"}]}),
        "no schema, no response_format; unset options are left out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_openai_refuses_as_strict_is_sent_without_strict() {
    let fake = FakeLlm::start().await;
    let w = parse(
        r#"
schema_version: "1.0"
flow: {name: counts}
state:
  fields:
    topic: {type: str, required: true}
    counts: {type: "dict[str, int]", default: {}}
nodes:
  - id: count
    prompt: "Count words in {state.topic}"
    outputs: [counts]
edges:
  - {from: START, to: count}
  - {from: count, to: END}
"#,
        None,
    )
    .unwrap();
    let schema = w.nodes[0].output_json_schema(&w.state).unwrap();
    fake.push_json(json!({"counts": {"a": 2}}));
    let c = client(endpoint(&fake.base_url(), None, Some("m")), &[]);
    c.complete(&LlmRequest {
        json_schema: Some(&schema),
        ..request("count", "k")
    })
    .await
    .unwrap();
    let got = fake.requests();
    assert_eq!(
        got[0].body["response_format"]["json_schema"]["strict"],
        json!(false)
    );
    assert_eq!(got[0].schema(), Some(&schema));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_and_its_token_counts_are_read() {
    let fake = FakeLlm::start().await;
    let c = client(endpoint(&fake.base_url(), None, Some("gpt-test")), &[]);

    fake.push_text("  Deploy finished on time  ");
    let a = c
        .complete(&request("Format this notice please", "k1"))
        .await
        .unwrap();
    assert_eq!(a.model, "gpt-test", "the model the endpoint names");
    assert_eq!(a.text, "  Deploy finished on time  ", "as answered");
    assert_eq!((a.input_tokens, a.output_tokens), (Some(4), Some(4)));

    fake.push_json(json!({"score": 0.5, "tags": ["a"]}));
    let a = c.complete(&request("Rate it", "k2")).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&a.text).unwrap(),
        json!({"score": 0.5, "tags": ["a"]})
    );
    // The fake counts words: the compact JSON is one.
    assert_eq!((a.input_tokens, a.output_tokens), (Some(2), Some(1)));

    // An endpoint that reports no usage: no counts, and the model asked for.
    fake.push_reply(Reply::json(json!({
        "choices": [{"message": {"role": "assistant", "content": "ok"}}],
    })));
    let a = c.complete(&request("x", "k3")).await.unwrap();
    assert_eq!((a.model.as_str(), a.text.as_str()), ("gpt-test", "ok"));
    assert_eq!((a.input_tokens, a.output_tokens), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_a_real_node_so_its_answer_reads() {
    let fake = FakeLlm::start().await;
    // The node of the examples' draft_until_good.yaml.
    let w = parse(
        r#"
schema_version: "1.0"
flow: {name: draft_until_good}
state:
  fields:
    question: {type: str, required: true}
    draft: {type: str, default: ""}
    approved: {type: bool, default: false}
    rounds: {type: int, default: 0}
nodes:
  - id: draft
    prompt: "Answer the customer's question: {state.question}"
    outputs: [draft, approved, rounds]
    output_schema:
      type: object
      fields:
        - {name: draft, type: str}
        - {name: approved, type: bool}
        - {name: rounds, type: int}
edges:
  - {from: START, to: draft}
  - from: draft
    loop: {condition_field: approved, max_iterations: 4, exit_to: END}
"#,
        None,
    )
    .unwrap();
    let node = w.node("draft").unwrap();
    let schema = node.output_json_schema(&w.state).unwrap();
    let c = client(endpoint(&fake.base_url(), None, Some("m")), &[]);
    let prompt = "Answer the customer's question: refunds?\nThen judge your new draft.";
    let a = c
        .complete(&LlmRequest {
            json_schema: Some(&schema),
            ..request(prompt, "run:draft:0")
        })
        .await
        .unwrap();
    assert_eq!(fake.requests()[0].prompt(), prompt);
    let state = read_answer(node, &w.state, &a.text).unwrap();
    assert_eq!(
        Value::Object(state),
        json!({"draft": "Then judge your new draft.", "approved": true, "rounds": 1})
    );

    // A plain-text request gets the prompt's last line.
    let a = c.complete(&request(prompt, "run:x:0")).await.unwrap();
    assert_eq!(a.text, "Then judge your new draft.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_provider_goes_to_its_own_endpoint() {
    let openai = FakeLlm::start().await;
    let ollama = FakeLlm::start().await;
    let c = client(
        endpoint(&openai.base_url(), Some("sk-default"), Some("gpt-4o-mini")),
        &[(
            "ollama",
            endpoint(&ollama.base_url(), None, Some("llama3.1")),
        )],
    );
    let ask = |provider: Option<&'static str>, model: Option<&'static str>| {
        let c = c.clone();
        async move {
            c.complete(&LlmRequest {
                provider,
                model,
                ..request("hi", "k")
            })
            .await
            .unwrap()
            .model
        }
    };
    assert_eq!(ask(Some("ollama"), None).await, "llama3.1");
    assert_eq!(ask(Some("ollama"), Some("qwen2.5")).await, "qwen2.5");
    assert_eq!(ask(Some("anthropic"), None).await, "gpt-4o-mini");
    assert_eq!(ask(None, Some("gpt-4o")).await, "gpt-4o");

    let to_ollama = ollama.requests();
    assert_eq!(to_ollama.len(), 2);
    for r in &to_ollama {
        assert_eq!(
            r.header("authorization"),
            None,
            "the default key never goes to a provider's endpoint"
        );
    }
    let to_openai = openai.requests();
    assert_eq!(
        to_openai.len(),
        2,
        "an unconfigured provider uses the default"
    );
    for r in &to_openai {
        assert_eq!(r.header("authorization"), Some("Bearer sk-default"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_whether_a_retry_may_help() {
    let fake = FakeLlm::start().await;
    let c = client(endpoint(&fake.base_url(), None, Some("m")), &[]);
    let fail = || async { c.complete(&request("hi", "k")).await.unwrap_err() };

    for status in [429, 500, 503] {
        fake.push_status(status);
        let e = fail().await;
        assert!(e.retryable(), "{e}");
        assert!(
            matches!(e, LlmError::Status { status: s, .. } if s == status),
            "{e:?}"
        );
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("answered {status}")) && shown.contains("fake status"),
            "the status and the body's excerpt: {shown}"
        );
    }
    fake.push_status(429);
    assert_eq!(fail().await.retry_after(), Some(Duration::from_secs(1)));

    for status in [400, 401, 404, 422] {
        fake.push_status(status);
        let e = fail().await;
        assert!(!e.retryable(), "{e}");
    }

    // A 2xx without an answer in it.
    fake.push_status(200);
    let e = fail().await;
    assert!(
        matches!(e, LlmError::NoContent { status: 200, .. }),
        "{e:?}"
    );
    assert!(e.retryable());
    fake.push_reply(Reply::status(200).body("<html>busy</html>"));
    let e = fail().await;
    assert!(e.retryable() && e.to_string().contains("not JSON"), "{e}");
    fake.push_text("   ");
    assert!(matches!(fail().await, LlmError::NoContent { .. }));

    // Slower than the request's timeout.
    fake.push_reply(Reply::status(200).delay(Duration::from_secs(5)));
    let e = c
        .complete(&LlmRequest {
            timeout: Duration::from_millis(300),
            ..request("hi", "k")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Timeout { .. }) && e.retryable(),
        "{e}"
    );

    // Nothing listening.
    let closed_port = crate::support::ClosedPort::new();
    let closed = format!("http://127.0.0.1:{}/v1", closed_port.port);
    let c = client(endpoint(&closed, None, Some("m")), &[]);
    let e = c.complete(&request("hi", "k")).await.unwrap_err();
    assert!(
        matches!(e, LlmError::Transport { .. }) && e.retryable(),
        "{e}"
    );
    assert!(e.to_string().contains("could not connect"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_settings_are_named_and_nothing_is_sent() {
    let fake = FakeLlm::start().await;
    let not_configured = |c: LlmClient, provider: Option<&'static str>| async move {
        let e = c
            .complete(&LlmRequest {
                provider,
                ..request("hi", "k")
            })
            .await
            .unwrap_err();
        assert!(!e.retryable(), "{e}");
        match e {
            LlmError::NotConfigured(why) => why,
            other => panic!("{other:?}"),
        }
    };
    let nothing = client(Endpoint::default(), &[]);
    assert_eq!(
        not_configured(nothing, None).await,
        "no base URL: set SWITCHYARD_LLM_BASE_URL"
    );
    let no_model = client(endpoint(&fake.base_url(), None, None), &[]);
    assert_eq!(
        not_configured(no_model, None).await,
        "no model: set SWITCHYARD_LLM_MODEL or the node's llm.model"
    );
    let provider_without_model = client(
        endpoint(&fake.base_url(), None, Some("m")),
        &[("vllm", endpoint(&fake.base_url(), None, None))],
    );
    assert_eq!(
        not_configured(provider_without_model, Some("vllm")).await,
        "no model: set llm.providers.vllm.model or the node's llm.model"
    );
    assert!(fake.requests().is_empty());

    let bad_key = client(endpoint(&fake.base_url(), None, Some("m")), &[]);
    let e = bad_key
        .complete(&request("hi", "line\nbreak"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::Request { .. }) && !e.retryable(),
        "{e}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_never_shows_in_an_error() {
    const KEY: &str = "sk-live-7f3a9c";
    let fake = FakeLlm::start().await;
    let c = client(endpoint(&fake.base_url(), Some(KEY), Some("m")), &[]);
    assert!(!format!("{c:?}").contains(KEY));
    let echoed = format!("Incorrect API key provided: {KEY}. Bearer {KEY}");
    fake.push_reply(Reply::status(401).body(echoed.clone()));
    fake.push_reply(Reply::status(503).body(echoed.clone()));
    fake.push_reply(Reply::json(json!({
        "choices": [{"message": {"content": null, "refusal": echoed}}],
    })));
    fake.push_reply(Reply::status(200).body(echoed));
    for _ in 0..4 {
        let e = c.complete(&request("hi", "k")).await.unwrap_err();
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(KEY), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
    // The key did go where it belongs.
    let got = fake.wait_for(4, WAIT).await;
    assert!(got
        .iter()
        .all(|r| r.header("authorization") == Some(&*format!("Bearer {KEY}"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_latency_are_recorded() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let fake = FakeLlm::start().await;
    let c = client(endpoint(&fake.base_url(), None, Some("gpt-test")), &[]);
    fake.push_text("three word answer");
    fake.push_status(500);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The recorder is process-wide unless it is local to a thread; the requests
    // run on this thread so that only theirs are seen.
    tokio::task::block_in_place(|| {
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Handle::current();
            rt.block_on(async {
                c.complete(&request("one two", "k")).await.unwrap();
                c.complete(&request("one two", "k")).await.unwrap_err();
            })
        })
    });
    let mut counters = BTreeMap::new();
    let mut latencies = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        match (key.name(), value) {
            ("switchyard_llm_tokens_total", DebugValue::Counter(n)) => {
                counters.insert(labels.join(","), n);
            }
            ("switchyard_llm_request_seconds", DebugValue::Histogram(v)) => {
                assert_eq!(labels, ["model=gpt-test"]);
                latencies.extend(v);
            }
            (name, v) => panic!("unexpected metric {name}: {v:?}"),
        }
    }
    assert_eq!(
        counters,
        BTreeMap::from([
            ("kind=input,model=gpt-test".to_owned(), 2),
            ("kind=output,model=gpt-test".to_owned(), 3),
        ])
    );
    assert_eq!(latencies.len(), 2, "failed requests are timed too");
    assert!(latencies.iter().all(|s| s.into_inner() > 0.0));
}
