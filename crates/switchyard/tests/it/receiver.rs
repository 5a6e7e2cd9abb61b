//! A recording HTTP receiver for delivery tests (svix's `TestReceiver`): a small axum
//! server on `127.0.0.1:0` that records every request it is sent and answers with
//! scripted replies. It stands in for forward targets, push agents and the GitHub,
//! GitLab, Jira, Slack and Linear APIs.
//!
//! A request is recorded as soon as its body has arrived, before any reply delay,
//! so a sender that times out has still been seen. The i-th recorded request gets
//! the i-th scripted reply: recording and choosing happen under one lock, so two
//! concurrent requests never share a reply.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path and, if there was one, `?` and the query.
    pub path: String,
    /// In arrival order; names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the body had arrived.
    pub at: Instant,
}

impl Recorded {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics, showing the body, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn summary(&self) -> String {
        const SHOWN: usize = 200;
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(SHOWN).collect();
        let more = if self.body.len() > body.len() {
            "…"
        } else {
            ""
        };
        format!("{} {} {body}{more}", self.method, self.path)
    }
}

/// What the receiver answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// This status with an empty body.
    pub fn status(s: u16) -> Self {
        Reply {
            status: s,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    /// 200 with this JSON body.
    pub fn json(v: Value) -> Self {
        Reply {
            body: v.to_string(),
            ..Reply::status(200)
        }
        .header("content-type", "application/json")
    }

    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status)
            .unwrap_or_else(|e| panic!("reply status {}: {e}", self.status));
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() = status;
        for (k, v) in self.headers {
            let name = HeaderName::try_from(k.as_str())
                .unwrap_or_else(|e| panic!("reply header name {k:?}: {e}"));
            let value = HeaderValue::try_from(v.as_str())
                .unwrap_or_else(|e| panic!("reply header {k}: {v:?}: {e}"));
            res.headers_mut().append(name, value);
        }
        res
    }
}

/// The default reply: 200 `ok`.
fn ok() -> Reply {
    Reply::status(200).body("ok")
}

/// A reply computed from the request it answers.
type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Log {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
    default: Reply,
    /// When set, answers what the script does not cover instead of `default`.
    responder: Option<Responder>,
}

struct Shared {
    log: Mutex<Log>,
    /// How many requests have been recorded, for `wait_for`.
    arrived: watch::Sender<usize>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A test that panicked while holding the lock has already failed; the log
        // itself is still whole.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts a request as being served until it is answered or its client gives up.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A recording HTTP server on `127.0.0.1`; it stops accepting when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts a receiver on a free port that answers 200 `ok` until told otherwise.
    pub async fn start() -> Receiver {
        let (arrived, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                requests: Vec::new(),
                script: VecDeque::new(),
                default: ok(),
                responder: None,
            }),
            arrived,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Dropping the sender stops the server too.
                    let _ = stopped.await;
                })
                .await
                .expect("receiver server");
        });
        Receiver {
            url: format!("http://{addr}"),
            shared,
            stop: Some(stop),
        }
    }

    /// Replies for the next requests, in order (after any still queued); then the
    /// default again.
    pub fn script(&self, replies: Vec<Reply>) {
        self.shared.log().script.extend(replies);
    }

    /// The reply for requests the script does not cover.
    pub fn set_default(&self, reply: Reply) {
        let mut log = self.shared.log();
        log.default = reply;
        log.responder = None;
    }

    /// Answers requests the script does not cover with `f` of each request,
    /// instead of a fixed default (a fake API that reads what it is asked). `f`
    /// runs under the receiver's lock, so it must not call the receiver.
    pub fn set_responder(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        self.shared.log().responder = Some(Arc::new(f));
    }

    /// Everything recorded so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().requests.clone()
    }

    pub fn count(&self) -> usize {
        self.shared.log().requests.len()
    }

    /// The most requests that were being served at once (from arrival until the
    /// reply, delay included).
    pub fn max_concurrent(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived and returns all of them;
    /// panics, listing what did arrive, if fewer than `n` do within `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let mut arrived = self.shared.arrived.subscribe();
        let enough = tokio::time::timeout(timeout, arrived.wait_for(|&c| c >= n)).await;
        if !matches!(enough, Ok(Ok(_))) {
            let got = self.requests();
            let list: Vec<String> = got.iter().map(|r| format!("  {}", r.summary())).collect();
            panic!(
                "expected {n} requests at {} within {timeout:?}, {} arrived{}{}",
                self.url,
                got.len(),
                if list.is_empty() { "" } else { ":\n" },
                list.join("\n")
            );
        }
        self.requests()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let _in_flight = InFlight::enter(&shared);
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        // The client went away mid-body: nothing was delivered.
        return Reply::status(400).into_response();
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    };
    let (reply, count) = {
        let mut log = shared.log();
        let reply = match (log.script.pop_front(), &log.responder) {
            (Some(r), _) => r,
            (None, Some(f)) => f(&recorded),
            (None, None) => log.default.clone(),
        };
        log.requests.push(recorded);
        (reply, log.requests.len())
    };
    shared.arrived.send_replace(count);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    reply.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scripted_replies_come_in_order_then_the_default() {
        let rx = Receiver::start().await;
        assert!(rx.url.starts_with("http://127.0.0.1:"), "{}", rx.url);
        rx.script(vec![
            Reply::status(503),
            Reply::json(json!({"id": 7})).header("X-Request-Id", "r-1"),
            Reply::status(429)
                .header("Retry-After", "2")
                .body("slow down"),
        ]);
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for i in 0..4 {
            let res = client
                .post(format!("{}/hooks/{i}?attempt={i}", rx.url))
                .header("Webhook-Id", format!("msg_{i}"))
                .json(&json!({"n": i}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            answers.push((status, headers, res.text().await.unwrap()));
        }
        assert_eq!(answers[0].0, 503);
        assert_eq!(answers[0].2, "");
        assert_eq!(answers[1].0, 200);
        assert_eq!(answers[1].1["content-type"], "application/json");
        assert_eq!(answers[1].1["x-request-id"], "r-1");
        assert_eq!(
            serde_json::from_str::<Value>(&answers[1].2).unwrap(),
            json!({"id": 7})
        );
        assert_eq!(answers[2].0, 429);
        assert_eq!(answers[2].1["retry-after"], "2");
        assert_eq!(answers[2].2, "slow down");
        // The script is spent: the default.
        assert_eq!((answers[3].0, answers[3].2.as_str()), (200, "ok"));

        rx.set_default(Reply::status(204));
        let res = client.get(format!("{}/x", rx.url)).send().await.unwrap();
        assert_eq!(res.status(), 204);

        let got = rx.requests();
        assert_eq!(rx.count(), 5);
        assert_eq!(got.len(), 5);
        for (i, r) in got.iter().take(4).enumerate() {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, format!("/hooks/{i}?attempt={i}"));
            assert_eq!(r.header("webhook-id"), Some(format!("msg_{i}").as_str()));
            assert_eq!(r.header("WEBHOOK-ID"), r.header("webhook-id"));
            assert!(r.headers.iter().any(|(k, _)| k == "webhook-id"));
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.json(), json!({"n": i}));
        }
        assert!(got.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(got[4].method, "GET");
        assert_eq!(got[4].path, "/x");
        assert!(got[4].body.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_responder_answers_from_the_request_after_the_script() {
        let rx = Receiver::start().await;
        rx.script(vec![Reply::status(503)]);
        rx.set_responder(|r| Reply::status(200).body(format!("saw {}", r.path)));
        let client = reqwest::Client::new();
        let mut got = Vec::new();
        for path in ["/a", "/b"] {
            let res = client
                .get(format!("{}{path}", rx.url))
                .send()
                .await
                .unwrap();
            got.push((res.status().as_u16(), res.text().await.unwrap()));
        }
        assert_eq!(got, [(503, String::new()), (200, "saw /b".to_owned())]);
        // A fixed default replaces the responder.
        rx.set_default(Reply::status(204));
        let res = client.get(format!("{}/c", rx.url)).send().await.unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(rx.count(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_never_share_a_scripted_reply() {
        let rx = Receiver::start().await;
        let n = 20;
        rx.script(
            (0..n)
                .map(|i| Reply::status(200).body(format!("r{i}")))
                .collect(),
        );
        rx.set_default(Reply::status(202).body("default"));
        let client = reqwest::Client::new();
        let sends = (0..n + 1).map(|_| {
            let client = client.clone();
            let url = rx.url.clone();
            async move {
                let res = client.post(&url).body("x").send().await.unwrap();
                (res.status().as_u16(), res.text().await.unwrap())
            }
        });
        let mut bodies: Vec<(u16, String)> = futures::future::join_all(sends).await;
        bodies.sort();
        let mut expected: Vec<(u16, String)> = (0..n).map(|i| (200, format!("r{i}"))).collect();
        expected.push((202, "default".to_owned()));
        expected.sort();
        assert_eq!(bodies, expected);
        assert_eq!(rx.count(), n + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delayed_replies_show_concurrency() {
        let rx = Receiver::start().await;
        assert_eq!(rx.max_concurrent(), 0);
        let delay = Duration::from_millis(300);
        rx.set_default(Reply::status(200).delay(delay));
        let client = reqwest::Client::new();

        // One at a time: never more than one being served.
        for _ in 0..2 {
            client.post(&rx.url).send().await.unwrap();
        }
        assert_eq!(rx.max_concurrent(), 1);

        // Five at once, each held for the delay: all five overlap.
        let started = Instant::now();
        let sends = (0..5).map(|_| client.post(&rx.url).send());
        for res in futures::future::join_all(sends).await {
            assert_eq!(res.unwrap().status(), 200);
        }
        let took = started.elapsed();
        assert!(took >= delay, "{took:?}");
        assert!(
            took < delay * 4,
            "the replies were not concurrent: {took:?}"
        );
        assert_eq!(rx.max_concurrent(), 5);
        assert_eq!(rx.count(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_is_recorded_before_its_delayed_reply() {
        let rx = Receiver::start().await;
        rx.script(vec![Reply::status(200).delay(Duration::from_secs(5))]);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let err = client.post(&rx.url).body("late").send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        // The sender gave up, but the request was delivered.
        let got = rx.wait_for(1, WAIT).await;
        assert_eq!(got[0].body, b"late");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_for_returns_once_enough_have_arrived() {
        let rx = Receiver::start().await;
        let url = rx.url.clone();
        let sender = tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..3 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.put(format!("{url}/item/{i}")).send().await.unwrap();
            }
        });
        let started = Instant::now();
        let got = rx.wait_for(3, WAIT).await;
        assert!(started.elapsed() < WAIT);
        let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/item/0", "/item/1", "/item/2"]);
        assert!(got.iter().all(|r| r.method == "PUT"));
        // Already there: no wait at all.
        assert_eq!(rx.wait_for(2, Duration::ZERO).await.len(), 3);
        sender.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_for_panics_listing_what_arrived() {
        let rx = Receiver::start().await;
        reqwest::Client::new()
            .post(format!("{}/only?one=1", rx.url))
            .body(r#"{"hello":"world"}"#)
            .send()
            .await
            .unwrap();
        let waited = tokio::spawn(async move {
            rx.wait_for(2, Duration::from_millis(200)).await;
        })
        .await
        .unwrap_err();
        let panic = waited.into_panic();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| panic!("panic without a message"));
        assert!(message.contains("expected 2 requests"), "{message}");
        assert!(message.contains("1 arrived"), "{message}");
        assert!(
            message.contains(r#"POST /only?one=1 {"hello":"world"}"#),
            "{message}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_receiver_stops_listening() {
        let rx = Receiver::start().await;
        let url = rx.url.clone();
        reqwest::Client::new().get(&url).send().await.unwrap();
        drop(rx);
        let deadline = Instant::now() + WAIT;
        loop {
            // A new client each time, so no pooled connection is reused.
            if reqwest::Client::new().get(&url).send().await.is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "{url} still answers");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
