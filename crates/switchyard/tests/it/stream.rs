//! The live stream on both stores: Server-Sent Events carry each checkpoint
//! transition as it commits (on this replica and on another), a reconnect with
//! `Last-Event-ID` gets exactly what was missed, a bad id is 400 and a missing key
//! 401; the WebSocket carries the same notices.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};

const WAIT: Duration = Duration::from_secs(20);

/// One SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
}

/// An open `GET /api/stream`, read event by event.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buf: String,
}

impl Sse {
    pub async fn open(app: &TestApp, last_event_id: Option<&str>) -> Sse {
        let mut r = app
            .client
            .get(app.url("/api/stream"))
            .bearer_auth(ADMIN_KEY);
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            body: Box::pin(r.bytes_stream().map(|c| c.map(|b| b.to_vec()))),
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); panics after [`WAIT`].
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) =
                        (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if !data.is_empty() {
                        return SseEvent {
                            id,
                            event,
                            data: serde_json::from_str(&data).unwrap(),
                        };
                    }
                    continue;
                }
                let chunk = self.body.next().await.expect("the stream ended").unwrap();
                self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("no event within the wait")
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
