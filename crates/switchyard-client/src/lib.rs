//! A typed client of a running Switchyard server: each method is one `/api` call
//! and returns the server's own view (`switchyard_server::http::views`), so the
//! client and the server cannot disagree about a field. The CLI's client commands
//! (`switchyard events`, `checkpoints`, …) and the integration tests use it.
//!
//! Failures are one [`Error`]: [`Error::Refused`] when the server answered 4xx
//! (with its `{"error": {...}}` body), anything else — unreachable, 5xx, an answer
//! that is not the expected JSON — is the server's side ([`Error::is_refused`] is
//! false). The live stream (`GET /api/stream`) is [`Client::notices`]: typed
//! notices that survive a dropped connection by reconnecting from the last id.

mod stream;
mod types;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use stream::{EventReceived, Notice, Update};
pub use switchyard_server::http::views::{
    BulkRetried, CausedList, CausedView, CheckpointPage, CheckpointView, CreatedKeyView,
    DeliveryPage, DeliveryView, EventPage, EventSummaryView, EventView, KeyList, KeyView,
    ReplayView, RunStarted, RunView,
};
pub use types::{
    ApiErrorBody, ApiErrorDetail, BulkRetry, CheckpointFilter, DeliveryFilter, EventFilter,
    WorkflowList, WorkflowSummary,
};

/// Where a client talks to when told nothing else.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

/// How long one call may take; the long-polls below ask for at most 60 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request (4xx): bad input, no such thing, a key that is
    /// wrong or lacks the scope.
    #[error("{status}: {}", .body.error.message)]
    Refused { status: u16, body: ApiErrorBody },
    /// The server failed (5xx).
    #[error("the server failed ({status}): {message}")]
    Server { status: u16, message: String },
    /// No answer: nothing listens there, the connection broke, or it timed out.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not what this endpoint answers (another program on the
    /// port, or a server of another version).
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected { url: String, reason: String },
    /// The base URL given is not an http(s) URL.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
}

impl Error {
    /// Whether the server refused the request (4xx), as opposed to failing or not
    /// being reached.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused { .. })
    }

    /// The server's error code (`unknown_event`, `unauthorized`…) of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }

    /// The status of an answer that was an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. } | Error::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn unreachable(url: &Url, e: &reqwest::Error) -> Self {
        Error::Unreachable {
            url: url.to_string(),
            reason: innermost(e),
        }
    }
}

/// The most specific message of an error chain ("Connection refused (os error
/// 111)" rather than "error sending request for url …"), for a one-line report.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    if e.to_string().contains("timed out") || last.to_string().contains("timed out") {
        return "timed out".to_owned();
    }
    last.to_string()
}

/// A client of one server, with one key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8000`), calling with
    /// `api_key` as its bearer token when given.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("not an http:// or https:// URL"));
        }
        // No total timeout on the client: the stream stays open for as long as it
        // is read; each call sets its own.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("switchyard-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(&innermost(&e)))?;
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of `segments` under the base, each percent-encoded as one segment
    /// (an id cannot climb to another path).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let req = self.http.request(method, url).timeout(CALL_TIMEOUT);
        match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    /// Sends `req` to `url` and reads a `T` from a 2xx answer.
    async fn call<T: DeserializeOwned>(&self, url: Url, req: RequestBuilder) -> Result<T, Error> {
        let answer = self.answer(&url, req).await?;
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| Error::unreachable(&url, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Unexpected {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// Sends `req`; a 2xx answer, else the error it stands for.
    async fn answer(&self, url: &Url, req: RequestBuilder) -> Result<Response, Error> {
        let answer = req.send().await.map_err(|e| Error::unreachable(url, &e))?;
        check(url, answer).await
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Error> {
        let url = self.url(segments);
        self.call(url.clone(), self.request(Method::GET, url)).await
    }

    async fn get_query<T: DeserializeOwned, Q: Serialize>(
        &self,
        segments: &[&str],
        query: &Q,
    ) -> Result<T, Error> {
        let url = self.url(segments);
        let req = self.request(Method::GET, url.clone()).query(query);
        self.call(url, req).await
    }

    async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, Error> {
        let url = self.url(segments);
        let req = self.request(Method::POST, url.clone()).json(body);
        self.call(url, req).await
    }

    // --- events ---

    /// `GET /api/events`: a page of events, newest first.
    pub async fn events(&self, filter: &EventFilter) -> Result<EventPage, Error> {
        self.get_query(&["api", "events"], filter).await
    }

    /// `GET /api/events/{id}`: one event with its headers and payload.
    pub async fn event(&self, id: &str) -> Result<EventView, Error> {
        self.get(&["api", "events", id]).await
    }

    /// `GET /api/events/{id}/caused`: the tasks, deliveries, questions,
    /// checkpoints and runs the event caused.
    pub async fn caused(&self, id: &str) -> Result<CausedList, Error> {
        self.get(&["api", "events", id, "caused"]).await
    }

    /// `POST /api/events/{id}/replay`: routes a stored event again; what it created
    /// (or, with `dry_run`, would create).
    pub async fn replay(&self, id: &str, dry_run: bool) -> Result<ReplayView, Error> {
        self.post(
            &["api", "events", id, "replay"],
            &serde_json::json!({"dry_run": dry_run}),
        )
        .await
    }

    // --- checkpoints ---

    /// `GET /api/checkpoints`: a page, newest first.
    pub async fn checkpoints(&self, filter: &CheckpointFilter) -> Result<CheckpointPage, Error> {
        self.get_query(&["api", "checkpoints"], filter).await
    }

    /// `GET /api/checkpoints/{id}`.
    pub async fn checkpoint(&self, id: &str) -> Result<CheckpointView, Error> {
        self.get(&["api", "checkpoints", id]).await
    }

    /// `POST /api/checkpoints` (an agent asking a person): the checkpoint created,
    /// or the stored one when its `checkpoint_id` exists.
    pub async fn create_checkpoint(&self, spec: &Value) -> Result<CheckpointView, Error> {
        self.post(&["api", "checkpoints"], spec).await
    }

    /// `POST /api/checkpoints/{id}/decision`: the checkpoint after the decision.
    pub async fn decide(
        &self,
        id: &str,
        decision: &switchyard_core::checkpoint::DecisionInput,
    ) -> Result<CheckpointView, Error> {
        self.post(&["api", "checkpoints", id, "decision"], decision)
            .await
    }

    // --- workflows and runs ---

    /// `GET /api/workflows`: every workflow served, and the files that did not load.
    pub async fn workflows(&self) -> Result<WorkflowList, Error> {
        self.get(&["api", "workflows"]).await
    }

    /// `POST /api/workflows/{name}/runs {"inputs"}`: the run just started.
    pub async fn start_run(&self, workflow: &str, inputs: &Value) -> Result<RunStarted, Error> {
        self.post(
            &["api", "workflows", workflow, "runs"],
            &serde_json::json!({"inputs": inputs}),
        )
        .await
    }

    /// `GET /api/runs/{id}`: the run with each node step.
    pub async fn run(&self, id: &str) -> Result<RunView, Error> {
        self.get(&["api", "runs", id]).await
    }

    /// `GET /api/runs/{id}/wait?timeout=SECS` (at most 60): the run once finished,
    /// or as it is when the time is up.
    pub async fn wait_run(&self, id: &str, timeout: Duration) -> Result<RunView, Error> {
        let secs = timeout.as_secs().clamp(1, 60);
        self.get_query(&["api", "runs", id, "wait"], &[("timeout", secs)])
            .await
    }

    // --- deliveries ---

    /// `GET /api/deliveries`: a page, newest first.
    pub async fn deliveries(&self, filter: &DeliveryFilter) -> Result<DeliveryPage, Error> {
        self.get_query(&["api", "deliveries"], filter).await
    }

    /// `GET /api/deliveries/{id}`: the delivery with every attempt.
    pub async fn delivery(&self, id: &str) -> Result<DeliveryView, Error> {
        self.get(&["api", "deliveries", id]).await
    }

    /// `POST /api/deliveries/{id}/retry`: sent again now.
    pub async fn retry_delivery(&self, id: &str) -> Result<DeliveryView, Error> {
        self.post(&["api", "deliveries", id, "retry"], &serde_json::json!({}))
            .await
    }

    /// `POST /api/deliveries/retry`: every delivery the filter selects sent again
    /// (with `dry_run`, only counted).
    pub async fn retry_deliveries(&self, filter: &BulkRetry) -> Result<BulkRetried, Error> {
        self.post(&["api", "deliveries", "retry"], filter).await
    }

    // --- keys ---

    /// `GET /api/keys`: every key (never the keys themselves).
    pub async fn keys(&self) -> Result<KeyList, Error> {
        self.get(&["api", "keys"]).await
    }

    // --- the live stream ---

    /// `GET /api/stream` from after `last_event_id` (or from now): notices as they
    /// commit. A connection that drops is made again from the last id seen (an
    /// [`Update::Lost`] says so), so nothing is missed or repeated. The stream ends
    /// after an error: the first connection failing, or the server refusing a
    /// reconnection (a revoked key, an id older than the server keeps).
    pub fn notices(
        &self,
        last_event_id: Option<String>,
    ) -> impl futures::Stream<Item = Result<Update, Error>> + Send + 'static {
        stream::notices(self.clone(), last_event_id)
    }

    /// Opens one connection to the stream.
    async fn open_stream(&self, last_event_id: Option<&str>) -> Result<Response, Error> {
        let url = self.url(&["api", "stream"]);
        let mut req = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let answer = self.answer(&url, req).await?;
        let kind = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !kind.starts_with("text/event-stream") {
            return Err(Error::Unexpected {
                url: url.to_string(),
                reason: format!("a stream of content type {kind:?}, not text/event-stream"),
            });
        }
        Ok(answer)
    }
}

/// A 2xx answer as it is; another as the error it stands for.
async fn check(url: &Url, answer: Response) -> Result<Response, Error> {
    let status = answer.status();
    if status.is_success() {
        return Ok(answer);
    }
    let text = answer.text().await.unwrap_or_default();
    let parsed = serde_json::from_str::<ApiErrorBody>(&text).ok();
    if status.is_client_error() {
        let body = parsed.unwrap_or_else(|| ApiErrorBody::plain(status, &text));
        return Err(Error::Refused {
            status: status.as_u16(),
            body,
        });
    }
    let message = match parsed {
        Some(b) => b.error.message,
        None if text.trim().is_empty() => reason(status),
        None => text.chars().take(200).collect(),
    };
    if status.is_server_error() {
        Err(Error::Server {
            status: status.as_u16(),
            message,
        })
    } else {
        Err(Error::Unexpected {
            url: url.to_string(),
            reason: format!("status {}: {message}", status.as_u16()),
        })
    }
}

fn reason(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_owned()
}
