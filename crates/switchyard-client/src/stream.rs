//! `GET /api/stream` as a stream of typed notices. The Server-Sent Events framing is
//! parsed by `eventsource-stream` (a parser of the SSE format over any byte stream,
//! so it reads reqwest's body as it comes); reconnecting is done here rather than by
//! an EventSource crate, because a reconnection must tell a refusal (a revoked key,
//! an id the server no longer keeps: the reader must stop) from a server that is
//! briefly away (keep trying), and must resume from the last id *delivered to the
//! reader*, so nothing is missed or printed twice.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::{Client, Error};

/// A notice as the stream sends it (`{"event_type", "payload", "timestamp"}`), its
/// `id` the SSE event id: the engine's own type.
pub use switchyard_engine::stream::Notice;

/// What the notice stream yields.
#[derive(Debug, Clone)]
pub enum Update {
    /// A notice, in commit order.
    Notice(Notice),
    /// The connection dropped (the reason); the stream is being opened again from
    /// the last notice's id.
    Lost(String),
}

/// An `event.received` notice's payload: a new event was stored.
#[derive(Debug, Clone, Deserialize)]
pub struct EventReceived {
    pub event_id: String,
    pub webhook_id: String,
    pub provider: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// How many commands matched it.
    #[serde(default)]
    pub matched: u64,
}

impl EventReceived {
    /// The payload of `n` when it is an `event.received` notice.
    pub fn of(n: &Notice) -> Option<Self> {
        (n.event_type == "event.received")
            .then(|| serde_json::from_value(n.payload.clone()).ok())
            .flatten()
    }
}

type Events = Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// The first wait before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct State {
    client: Client,
    last_id: Option<String>,
    open: Option<Events>,
    /// Whether a connection was ever made: a first connection that fails is an
    /// error; later ones are retried.
    connected: bool,
    backoff: Duration,
    done: bool,
}

pub(crate) fn notices(
    client: Client,
    last_event_id: Option<String>,
) -> impl Stream<Item = Result<Update, Error>> + Send + 'static {
    let state = State {
        client,
        last_id: last_event_id,
        open: None,
        connected: false,
        backoff: FIRST_BACKOFF,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = next(&mut st).await;
        if item.is_err() {
            st.done = true;
        }
        Some((item, st))
    })
}

async fn next(st: &mut State) -> Result<Update, Error> {
    loop {
        let Some(open) = st.open.as_mut() else {
            match st.client.open_stream(st.last_id.as_deref()).await {
                Ok(answer) => {
                    st.open = Some(Box::pin(answer.bytes_stream().eventsource()));
                    st.connected = true;
                    st.backoff = FIRST_BACKOFF;
                }
                Err(e) if !st.connected || e.is_refused() => return Err(e),
                Err(_) => {
                    tokio::time::sleep(st.backoff).await;
                    st.backoff = (st.backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        };
        match open.next().await {
            Some(Ok(event)) => {
                if event.data.is_empty() {
                    continue;
                }
                let url = st.client.url(&["api", "stream"]);
                let mut notice: Notice =
                    serde_json::from_str(&event.data).map_err(|e| Error::Unexpected {
                        url: url.to_string(),
                        reason: format!("a notice that is not JSON: {e}"),
                    })?;
                notice.id = event.id;
                if !notice.id.is_empty() {
                    st.last_id = Some(notice.id.clone());
                }
                return Ok(Update::Notice(notice));
            }
            Some(Err(e)) => {
                st.open = None;
                return Ok(Update::Lost(crate::innermost(&e)));
            }
            None => {
                st.open = None;
                return Ok(Update::Lost("the server closed the stream".to_owned()));
            }
        }
    }
}
