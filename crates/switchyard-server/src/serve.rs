//! The accept loop. `axum::serve` offers no header read timeout and no bound on
//! connections, and a few hundred clients trickling their headers were enough to
//! exhaust the process's file descriptors until `/healthz` failed with "Too many
//! open files". So connections are served here with hyper directly:
//!
//! - **Header read timeout.** hyper's HTTP/1 `header_read_timeout` (driven by a
//!   Tokio timer) closes a connection that has not sent a whole request head in
//!   time — a new one, or a kept-alive one waiting for its next request. hyper
//!   closes it without an answer.
//! - **Connection cap with a reserve.** Up to `max_connections` connections are
//!   served normally. Above that, a small reserve ([`reserve_for`]) of connections
//!   is still accepted but served as [`Capacity::Reserve`]: health, metrics and the
//!   admin API answer as usual, everything else (ingest) gets a JSON 503
//!   `over_capacity`, and the connection is not kept alive, so a reserve slot is
//!   held for one request only. Connections beyond the reserve are accepted and
//!   closed at once (counted in `switchyard_http_connections_refused_total`):
//!   closing them frees their descriptor immediately, whereas leaving them in the
//!   kernel's backlog would queue an operator's `/healthz` behind them. A reserve,
//!   rather than answering every excess connection 503, is what lets an operator
//!   see and act on a full server; it cannot tell an attacker's idle connection from
//!   an operator's before headers arrive, so the header read timeout is what
//!   eventually frees it.
//! - **Graceful shutdown.** When the shutdown future resolves the listener is
//!   dropped (no new connections), idle connections are closed, and in-flight
//!   requests are answered before [`serve`] returns.
//!
//! Each request carries the peer's address as axum's `ConnectInfo<SocketAddr>` (the
//! ingest handlers record it) and the connection's [`Capacity`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub use crate::http::layers::{App, Capacity};

/// How long the loop pauses after an accept error that is not about one connection
/// (out of descriptors, typically), so it does not spin while nothing can be
/// accepted.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Connections above `max_connections` served as [`Capacity::Reserve`].
    pub reserve: usize,
}

impl Limits {
    /// The limits a config asks for, with the reserve [`reserve_for`] its cap.
    pub fn from_config(config: &switchyard_engine::Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            reserve: reserve_for(config.max_connections),
        }
    }
}

/// The reserve kept above a cap: a sixteenth of it, at least 4 (enough for a
/// health check and an admin call at once) and at most 64 (each one is a
/// descriptor too).
pub fn reserve_for(max_connections: usize) -> usize {
    (max_connections / 16).clamp(4, 64)
}

/// Serves `app` (the router in its layers, [`crate::http::layers::with_layers`]) on
/// `listener` until `shutdown` resolves, then stops accepting and
/// returns once every open connection has been answered and closed.
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut reserve_http = http.clone();
    reserve_http.keep_alive(false);

    let regular = Arc::new(Semaphore::new(limits.max_connections));
    let reserve = Arc::new(Semaphore::new(limits.reserve));
    // Graceful shutdown by hand: hyper-util's `GracefulShutdown` cannot watch a
    // connection that may be upgraded (`/ws`).
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let (permit, capacity) = match admit(&regular, &reserve) {
            Some(admitted) => admitted,
            None => {
                metrics::counter!("switchyard_http_connections_refused_total").increment(1);
                tracing::debug!(%peer, "connection refused: over the connection cap and its reserve");
                drop(stream);
                continue;
            }
        };
        // Small answers go out at once rather than waiting for Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(capacity);
            app.clone().oneshot(req)
        });
        let builder = match capacity {
            Capacity::Regular => &http,
            Capacity::Reserve => &reserve_http,
        };
        // With upgrades: `/ws` turns its connection into a WebSocket (which then
        // ends on its own when the engine stops).
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let _open = OpenConnection::new(permit, capacity);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stopping.cancelled() => {
                    // Answer what is in flight, then close (idle ones at once).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // Header timeouts, resets and malformed requests land here: the
                // client's doing, not ours.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::debug!("stopped accepting; waiting for open connections to finish");
    stopping.cancel();
    connections.close();
    connections.wait().await;
    tracing::debug!("every connection finished");
    Ok(())
}

/// A regular permit if one is free, else a reserve one, else none.
fn admit(
    regular: &Arc<Semaphore>,
    reserve: &Arc<Semaphore>,
) -> Option<(OwnedSemaphorePermit, Capacity)> {
    if let Ok(p) = regular.clone().try_acquire_owned() {
        return Some((p, Capacity::Regular));
    }
    reserve
        .clone()
        .try_acquire_owned()
        .ok()
        .map(|p| (p, Capacity::Reserve))
}

/// Errors that concern one connection only (it went away before it was accepted);
/// the loop simply accepts the next.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// An open connection's slot and its place in the `switchyard_http_connections_open`
/// gauge, both given back when the connection's task ends.
struct OpenConnection {
    _permit: OwnedSemaphorePermit,
    capacity: Capacity,
}

impl OpenConnection {
    fn new(permit: OwnedSemaphorePermit, capacity: Capacity) -> Self {
        metrics::gauge!("switchyard_http_connections_open", "class" => class(capacity))
            .increment(1.0);
        Self {
            _permit: permit,
            capacity,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("switchyard_http_connections_open", "class" => class(self.capacity))
            .decrement(1.0);
    }
}

fn class(c: Capacity) -> &'static str {
    match c {
        Capacity::Regular => "regular",
        Capacity::Reserve => "reserve",
    }
}
