//! The layers around the router, outermost first:
//!
//! 1. a request id: a sane `x-request-id` sent by the client is kept, anything else
//!    is replaced by a fresh UUID ([`RequestIds`]), and the id is echoed on every
//!    answer;
//! 2. a tracing span per request carrying that id, the method and the path, so
//!    every log line written while the request is handled (the engine's
//!    "webhook accepted" and "request refused" included) can be found by it;
//! 3. panics caught and answered as the house JSON 500, logged and counted;
//! 4. the connection's capacity class: a connection served from the reserve above
//!    `max_connections` (see [`crate::serve`]) answers only health, metrics and the
//!    admin API, and 503 `over_capacity` for everything else;
//! 5. a body read timeout: a body that stalls is answered 408 `body_timeout` by the
//!    extractors (see [`crate::http::error::is_body_timeout`]).
//!
//! [`with_layers`] wraps any router, so a test can serve a router with extra routes
//! (a panicking one) exactly as production serves its own.
//!
//! The stack wraps the router as a whole, once: `Router::layer` would instead wrap
//! every route, and axum clones a route's whole service (layers, handler and its
//! state) for each request it serves. The capacity check is a plain
//! [`tower::Layer`] for the same reason (`axum::middleware::from_fn` clones its
//! inner service and boxes a future per request). `scripts/bench-cpu` measures
//! what a request costs.

use std::any::Any;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hash::{BuildHasher, RandomState};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use switchyard_engine::{Error, ErrorKind};
use tower::util::future::EitherResponseFuture;
use tower::util::Either;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::http::error::ApiError;

/// The header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent request id kept; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// How a connection was admitted (see [`crate::serve`]); the accept loop puts it in
/// every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Within `max_connections`: everything is served.
    Regular,
    /// From the reserve above it: only [`is_essential`] paths are served.
    Reserve,
}

/// The router in the layers every answer goes through: what [`crate::serve`] serves.
pub trait App:
    Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future: Future<Output = Result<Response, Infallible>> + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> App for S where
    S: Service<
            Request,
            Response = Response,
            Error = Infallible,
            Future: Future<Output = Result<Response, Infallible>> + Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Wraps `router` in the layers every answer goes through.
pub fn with_layers(router: Router, body_read_timeout: Duration) -> impl App {
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .map_request(drop_unusable_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(AdmitLayer)
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout))
        .service(router)
}

/// Fresh request ids: UUIDs (version 4 layout) made of a random 64-bit key drawn
/// once per process and a counter, so each one is unique within the process and
/// unlikely to repeat across processes, without asking the OS for randomness on
/// every request. They are ids, not secrets.
#[derive(Clone)]
pub struct RequestIds {
    key: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        // std's hasher keys are drawn from the OS's random source.
        let key = RandomState::new().hash_one(std::process::id());
        Self {
            key,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The next id, as its 36-character hyphenated text.
    pub fn next_id(&self) -> [u8; 36] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let hi = (self.key & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (n & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let bytes = (u128::from(hi) << 64 | u128::from(lo)).to_be_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut at = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0x0F)];
            at += 2;
        }
        out
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_bytes(&self.next_id())
            .ok()
            .map(RequestId::new)
    }
}

/// Whether `value` may be used as a request id: 1 to [`MAX_REQUEST_ID_LEN`] visible
/// ASCII characters, so it is safe to log and to echo.
pub fn is_usable_request_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= MAX_REQUEST_ID_LEN && b.iter().all(u8::is_ascii_graphic)
}

/// Removes a client-sent request id that is not usable (or is sent more than once),
/// so that [`SetRequestIdLayer`] makes a fresh one instead of keeping it.
fn drop_unusable_request_id(mut req: Request) -> Request {
    let mut values = req.headers().get_all(&REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(v), None) => is_usable_request_id(v),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// The span every log line of a request is written in. The query is left out: it
/// may carry tokens.
fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    )
}

/// Paths a reserve connection still serves: what an operator needs while the
/// server is full — health (seed 000's `/health` too), metrics and the admin API (which checks its key as
/// usual).
pub fn is_essential(path: &str) -> bool {
    matches!(path, "/" | "/healthz" | "/health" | "/metrics")
        || path == "/api"
        || path.starts_with("/api/")
}

/// Refuses non-essential requests on reserve connections with a JSON 503 (with
/// `Retry-After`); the connection then closes, as reserve connections are not kept
/// alive.
#[derive(Debug, Clone, Copy)]
struct AdmitLayer;

impl<S> Layer<S> for AdmitLayer {
    type Service = Admit<S>;

    fn layer(&self, inner: S) -> Admit<S> {
        Admit { inner }
    }
}

/// The service [`AdmitLayer`] makes.
#[derive(Debug, Clone)]
struct Admit<S> {
    inner: S,
}

impl<S, B> Service<axum::http::Request<B>> for Admit<S>
where
    S: Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EitherResponseFuture<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let reserve = req.extensions().get::<Capacity>() == Some(&Capacity::Reserve);
        if reserve && !is_essential(req.uri().path()) {
            Either::<&mut S, _>::Right(OverCapacity(PhantomData)).call(req)
        } else {
            Either::<_, OverCapacity<S::Error>>::Left(&mut self.inner).call(req)
        }
    }
}

/// The answer on a reserve connection to anything but an essential path.
struct OverCapacity<E>(PhantomData<fn() -> E>);

impl<B, E> Service<axum::http::Request<B>> for OverCapacity<E> {
    type Response = Response;
    type Error = E;
    type Future = Ready<Result<Response, E>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: axum::http::Request<B>) -> Self::Future {
        metrics::counter!("switchyard_http_requests_over_capacity_total").increment(1);
        ready(Ok(ApiError::from(Error::new(
            ErrorKind::Unavailable,
            "over_capacity",
            "the server is at its connection limit; retry later",
        ))
        .into_response()))
    }
}

/// The answer to a panicking handler: the opaque JSON 500, with the panic's message
/// logged (inside the request's span) and counted.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    metrics::counter!("switchyard_http_panics_total").increment(1);
    ApiError::internal(format_args!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_visible_ascii_of_bounded_length() {
        let ok = |s: &str| is_usable_request_id(&HeaderValue::from_str(s).expect("value"));
        assert!(ok("abc-123_XYZ.:/"));
        assert!(ok(&"a".repeat(MAX_REQUEST_ID_LEN)));
        assert!(!ok(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(!ok(""));
        assert!(!ok("has space"));
        assert!(!ok("tab\there"));
        let obs = HeaderValue::from_bytes(b"caf\xc3\xa9").expect("obs-text value");
        assert!(!is_usable_request_id(&obs));
    }

    #[test]
    fn fresh_request_ids_are_distinct_version_4_uuids() {
        let ids = RequestIds::new();
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        for id in [a, b] {
            let text = std::str::from_utf8(&id).expect("ASCII");
            let groups: Vec<usize> = text.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{text}");
            assert!(text
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(&text[14..15], "4", "version 4: {text}");
            assert!(
                matches!(&text[19..20], "8" | "9" | "a" | "b"),
                "variant: {text}"
            );
        }
        assert_ne!(RequestIds::new().next_id(), a, "another key per instance");
    }

    #[test]
    fn essential_paths() {
        for p in [
            "/",
            "/healthz",
            "/health",
            "/metrics",
            "/api",
            "/api/webhooks",
        ] {
            assert!(is_essential(p), "{p}");
        }
        for p in ["/webhooks/github", "/apiary", "/webhook/crewai", "/nope"] {
            assert!(!is_essential(p), "{p}");
        }
    }
}
