//! The live stream: `GET /api/stream` as Server-Sent Events and `GET /ws` as a
//! WebSocket, both carrying `{"event_type", "payload", "timestamp"}` notices
//! (see `switchyard_engine::stream`). SSE: each event's `id:` is its cursor and
//! `event:` its type; a client reconnecting with `Last-Event-ID` (browsers' EventSource
//! do it by themselves) gets what it missed. WebSocket: one JSON text message per
//! notice with its `id` added; `?last_event_id=` resumes. Both end when the server
//! stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use switchyard_engine::stream::Notice;
use switchyard_engine::Engine;

use crate::http::error::{ApiError, Query};
use crate::state::AppState;

/// How often an idle stream sends a keep-alive (an SSE comment, a WebSocket ping),
/// so proxies do not close it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// For clients that cannot set `Last-Event-ID` (the WebSocket).
    last_event_id: Option<String>,
}

fn last_event_id(headers: &HeaderMap, p: StreamParams) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(p.last_event_id)
}

/// The notices after `cursor`, one at a time, until the server stops.
fn notices(
    engine: std::sync::Arc<Engine>,
    cursor: Option<String>,
) -> impl Stream<Item = Notice> + Send {
    let start = (engine, cursor, std::collections::VecDeque::<Notice>::new());
    stream::unfold(start, |(engine, mut cursor, mut queue)| async move {
        loop {
            if let Some(n) = queue.pop_front() {
                cursor = Some(n.id.clone());
                return Some((n, (engine, cursor, queue)));
            }
            match engine.stream_next(cursor.as_deref()).await {
                Ok(Some(batch)) => queue.extend(batch),
                Ok(None) => return None,
                Err(e) => {
                    // A store that does not answer ends the stream; the client
                    // reconnects with its last id and misses nothing.
                    tracing::warn!(error = %e, "live stream: reading notices failed");
                    return None;
                }
            }
        }
    })
}

/// `GET /api/stream`: Server-Sent Events.
#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "stream",
    params(StreamParams, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this cursor")),
    responses(
        (status = 200, description = "Server-Sent Events until the server stops: each `id:` is a cursor, `event:` the notice type, `data:` `{\"event_type\", \"payload\", \"timestamp\"}`", body = String, content_type = "text/event-stream")
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn sse(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let cursor = st
        .engine
        .stream_start(last_event_id(&headers, p).as_deref())
        .await?;
    let events = notices(st.engine.clone(), cursor).map(|n| {
        let data = serde_json::to_string(&n).unwrap_or_default();
        Ok(Event::default().id(n.id).event(n.event_type).data(data))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// `GET /ws`: the same notices over a WebSocket.
pub async fn ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let cursor = st
        .engine
        .stream_start(last_event_id(&headers, p).as_deref())
        .await?;
    let engine = st.engine.clone();
    Ok(upgrade
        .on_upgrade(move |socket| serve_socket(socket, engine, cursor))
        .into_response())
}

async fn serve_socket(
    mut socket: WebSocket,
    engine: std::sync::Arc<Engine>,
    cursor: Option<String>,
) {
    let mut notices = Box::pin(notices(engine, cursor));
    let mut ping = tokio::time::interval(KEEP_ALIVE);
    ping.tick().await;
    loop {
        tokio::select! {
            n = notices.next() => {
                let Some(n) = n else { break };
                let mut v = serde_json::to_value(&n).unwrap_or_default();
                v["id"] = serde_json::Value::String(n.id.clone());
                if socket.send(Message::Text(v.to_string().into())).await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // The client's messages are not read; a close or an error ends it.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
