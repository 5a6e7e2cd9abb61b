//! The live stream on both stores: Server-Sent Events carry each checkpoint
//! transition as it commits (on this replica and on another), a reconnect with
//! `Last-Event-ID` gets exactly what was missed, a bad id is 400 and a missing key
//! 401; the WebSocket carries the same notices. The SSE reader is the client
//! crate's (`switchyard_client::Client::notices`), as `switchyard events tail` uses.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use switchyard_client::{Client, Update};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};

const WAIT: Duration = Duration::from_secs(20);

/// One notice, as the stream sent it: its SSE id, its type (the SSE event name,
/// which the client checks against the data) and its data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
}

/// An open `GET /api/stream`, read notice by notice through the client crate.
pub struct Sse {
    notices: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<Update, switchyard_client::Error>> + Send>,
    >,
}

impl Sse {
    /// Opens the stream (after `last_event_id`, or from now) and returns once it is
    /// open, so whatever commits next is on it.
    pub async fn open(app: &TestApp, last_event_id: Option<&str>) -> Sse {
        let client = Client::new(&app.base, Some(ADMIN_KEY.to_owned())).unwrap();
        let mut notices = Box::pin(client.notices(last_event_id.map(str::to_owned)));
        let first = tokio::time::timeout(WAIT, notices.next())
            .await
            .expect("the stream did not open within the wait");
        assert!(matches!(first, Some(Ok(Update::Connected))), "{first:?}");
        Sse { notices }
    }

    /// The next notice; panics after [`WAIT`] or if the connection drops.
    pub async fn next(&mut self) -> SseEvent {
        let update = tokio::time::timeout(WAIT, self.notices.next())
            .await
            .expect("no event within the wait")
            .expect("the stream ended")
            .unwrap();
        match update {
            Update::Notice(n) => SseEvent {
                id: n.id.clone(),
                event: n.event_type.clone(),
                data: serde_json::to_value(&n).unwrap(),
            },
            other => panic!("the stream dropped: {other:?}"),
        }
    }
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = app.api(Method::POST, path, Some(body)).await;
    assert!(s == 200 || s == 201, "{path}: {s} {b}");
    b
}

fn quiet(id: &str) -> Value {
    json!({"checkpoint_id": id, "name": "deploy", "kickoff_id": "k1",
           "notify": [{"channel": "websocket"}]})
}

async fn sse_carries_checkpoints_and_resumes(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    // Before the stream opens: not sent to a reader starting from now.
    post(&app, "/api/checkpoints", quiet("before")).await;
    let mut sse = Sse::open(&app, None).await;
    post(&app, "/api/checkpoints", quiet("s1")).await;
    post(
        &app,
        "/api/checkpoints/s1/decision",
        json!({"decision": "approve", "by": "ann"}),
    )
    .await;
    let created = sse.next().await;
    assert_eq!(created.event, "checkpoint.created");
    assert_eq!(created.data["event_type"], "checkpoint.created");
    assert_eq!(
        created.data["payload"]["checkpoint_id"], "s1",
        "{created:?}"
    );
    assert_eq!(created.data["payload"]["status"], "pending");
    assert!(created.data["timestamp"].as_str().unwrap().ends_with('Z'));
    let decided = sse.next().await;
    assert_eq!(decided.event, "checkpoint.decided");
    assert_eq!(decided.data["payload"]["decision"], "approve");
    assert_eq!(decided.data["payload"]["decided_by"], "ann");
    assert_ne!(created.id, decided.id);

    // A second replica's change reaches this replica's reader.
    let other = TestApp::replica_of(&app).await;
    post(&other, "/api/checkpoints", quiet("s2")).await;
    post(&other, "/api/checkpoints/s2/cancel", json!({})).await;
    let e = sse.next().await;
    assert_eq!(
        (e.event.as_str(), &e.data["payload"]["checkpoint_id"]),
        ("checkpoint.created", &json!("s2"))
    );
    let e = sse.next().await;
    assert_eq!(e.event, "checkpoint.cancelled");
    drop(sse);

    // Missed while away: a reconnect with the last id gets exactly that, in order.
    post(&app, "/api/checkpoints", quiet("s3")).await;
    let mut again = Sse::open(&app, Some(&decided.id)).await;
    let got: Vec<(String, Value)> = [again.next().await, again.next().await, again.next().await]
        .into_iter()
        .map(|e| (e.event, e.data["payload"]["checkpoint_id"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("checkpoint.created".to_owned(), json!("s2")),
            ("checkpoint.cancelled".to_owned(), json!("s2")),
            ("checkpoint.created".to_owned(), json!("s3")),
        ]
    );

    // A made-up id is refused; so is a missing key.
    let r = app
        .client
        .get(app.url("/api/stream"))
        .bearer_auth(ADMIN_KEY)
        .header("last-event-id", "not-a-cursor")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "invalid_cursor");
    let r = app.client.get(app.url("/api/stream")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    other.stop().await;
    app.stop().await;
}

async fn websocket_carries_notices(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let ws_url = app.url("/ws").replacen("http://", "ws://", 1);
    // Without a key: refused before the upgrade.
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    let mut req = ws_url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_KEY}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    post(&app, "/api/checkpoints", quiet("w1")).await;
    let msg = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await.expect("socket ended").unwrap() {
                Message::Text(t) => return serde_json::from_str::<Value>(&t).unwrap(),
                _ => continue,
            }
        }
    })
    .await
    .expect("no message");
    assert_eq!(msg["event_type"], "checkpoint.created");
    assert_eq!(msg["payload"]["checkpoint_id"], "w1");
    let last = msg["id"].as_str().unwrap().to_owned();
    drop(socket);

    // Missed while disconnected: `?last_event_id=` resumes after the last seen.
    post(&app, "/api/checkpoints/w1/cancel", json!({})).await;
    let mut req = format!("{ws_url}?last_event_id={last}")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_KEY}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let msg = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await.expect("socket ended").unwrap() {
                Message::Text(t) => return serde_json::from_str::<Value>(&t).unwrap(),
                _ => continue,
            }
        }
    })
    .await
    .expect("no message");
    assert_eq!(msg["event_type"], "checkpoint.cancelled");
    assert_eq!(msg["payload"]["checkpoint_id"], "w1");
    drop(socket);
    app.stop().await;
}

both_stores!(
    sse_carries_checkpoints_and_resumes,
    websocket_carries_notices
);
