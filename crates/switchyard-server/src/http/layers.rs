//! The layers around every route, outermost first:
//!
//! 1. a request id: a sane `x-request-id` sent by the client is kept, anything else
//!    is replaced by a fresh UUID, and the id is echoed on every answer;
//! 2. a tracing span per request carrying that id, the method and the path, so
//!    every log line written while the request is handled (the engine's
//!    "webhook accepted" and "request refused" included) can be found by it;
//! 3. the connection's capacity class: a connection served from the reserve above
//!    `max_connections` (see [`crate::serve`]) answers only health, metrics and the
//!    admin API, and 503 `over_capacity` for everything else;
//! 4. panics caught and answered as the house JSON 500, logged and counted;
//! 5. a body read timeout: a body that stalls is answered 408 `body_timeout` by the
//!    extractors (see [`crate::http::error::is_body_timeout`]).
//!
//! [`with_layers`] wraps any router, so a test can serve a router with extra routes
//! (a panicking one) exactly as production serves its own.

use std::any::Any;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use switchyard_engine::{Error, ErrorKind};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
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

/// Wraps `router` in the layers every answer goes through.
pub fn with_layers(router: Router, body_read_timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .map_request(drop_unusable_request_id)
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(axum::middleware::from_fn(admit))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(RequestBodyTimeoutLayer::new(body_read_timeout)),
    )
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
/// server is full — health, metrics and the admin API (which checks its key as
/// usual).
pub fn is_essential(path: &str) -> bool {
    matches!(path, "/" | "/healthz" | "/metrics") || path == "/api" || path.starts_with("/api/")
}

/// Refuses non-essential requests on reserve connections with a JSON 503 (with
/// `Retry-After`); the connection then closes, as reserve connections are not kept
/// alive.
async fn admit(req: Request, next: Next) -> Response {
    let reserve = req.extensions().get::<Capacity>() == Some(&Capacity::Reserve);
    if reserve && !is_essential(req.uri().path()) {
        metrics::counter!("switchyard_http_requests_over_capacity_total").increment(1);
        return ApiError::from(Error::new(
            ErrorKind::Unavailable,
            "over_capacity",
            "the server is at its connection limit; retry later",
        ))
        .into_response();
    }
    next.run(req).await
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
    fn essential_paths() {
        for p in ["/", "/healthz", "/metrics", "/api", "/api/webhooks"] {
            assert!(is_essential(p), "{p}");
        }
        for p in ["/webhooks/github", "/apiary", "/webhook/crewai", "/nope"] {
            assert!(!is_essential(p), "{p}");
        }
    }
}
