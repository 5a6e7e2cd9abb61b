//! The one error every handler returns, and the extractors that make every refusal
//! the application sees answer in the same JSON body:
//! `{"error": {"code": "...", "message": "...", "fields"?: [{"path", "message"}]}}`.
//!
//! [`ApiError`] wraps the engine's [`Error`] and gives each kind its status. The
//! extractor wrappers ([`Json`], [`Path`], [`Query`], [`Body`]) turn axum's own
//! rejections — a malformed path (invalid UTF-8 included), a bad query, a body over
//! the limit (413), a body that stalled (408), malformed or mistyped JSON — into that
//! body too, so a client
//! never has to parse plain text. Requests hyper refuses before any handler runs (a
//! header section too large, a malformed request line) are answered by hyper itself;
//! see ARCHITECTURE.md.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchyard_engine::{Error, ErrorKind};

use crate::http::views::{CheckpointView, ErrorBody};

/// An error answered as JSON with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: Error,
    /// Shown beside the error (a checkpoint's 409s show the checkpoint as it is).
    pub checkpoint: Option<Box<CheckpointView>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::from(Error::not_found(code, message))
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::from(Error::bad_request(code, message))
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::from(Error::unauthorized(code, message))
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::from(Error::internal(err))
    }

    /// The same error, showing `checkpoint` beside it.
    pub fn with_checkpoint(mut self, checkpoint: CheckpointView) -> Self {
        self.checkpoint = Some(Box::new(checkpoint));
        self
    }
}

/// The status each kind of error is answered with.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self {
            status: status_of(error.kind),
            error,
            checkpoint: None,
        }
    }
}

impl From<switchyard_store::StoreError> for ApiError {
    fn from(e: switchyard_store::StoreError) -> Self {
        Self::from(Error::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry_after = match self.error.retry_after {
            Some(secs) => Some(secs),
            None if status == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            None => None,
        };
        let body = ErrorBody {
            checkpoint: self.checkpoint,
            ..ErrorBody::from(self.error)
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(secs.max(1)),
            );
        }
        resp
    }
}

/// The JSON 404 for paths no route serves.
pub async fn no_route() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint")
}

/// The JSON 405 for a known path with the wrong method.
pub async fn wrong_method() -> ApiError {
    // 405 is not an application kind of error: only the router answers it.
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: Error::bad_request("method_not_allowed", "method not allowed on this endpoint"),
        checkpoint: None,
    }
}

/// Whether reading a body failed because it stalled past the body read timeout
/// (`tower_http`'s body timeout error, however deeply axum has wrapped it).
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A body that stalled answers 408; one over the limit, 413; any other failure to
/// read it, 400.
fn body_error(e: &BytesRejection, limit_hint: Option<usize>) -> ApiError {
    if is_body_timeout(e) {
        ApiError::from(Error::body_timeout())
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::from(Error::new(
            ErrorKind::TooLarge,
            "body_too_large",
            match limit_hint {
                Some(n) => format!("body exceeds the {n}-byte limit"),
                None => "body exceeds the limit".to_owned(),
            },
        ))
    } else {
        ApiError::bad_request("malformed_body", e.body_text())
    }
}

/// A JSON body whose rejections are answered in the house error format: 415 for a
/// missing or wrong content type, 400 for malformed JSON, 413 for a body over the
/// limit, 422 for JSON of the wrong shape.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::from(Error::new(
                ErrorKind::UnsupportedMedia,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ))),
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request("malformed_body", e.body_text()))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::from(Error::unprocessable(
                "invalid_body",
                e.body_text(),
            ))),
            Err(JsonRejection::BytesRejection(e)) => Err(body_error(&e, None)),
            Err(e) => Err(ApiError::bad_request("malformed_body", e.body_text())),
        }
    }
}

/// An optional JSON body: empty (or only whitespace) means `T::default()`, whatever
/// the content type; otherwise it must be JSON of `T`'s shape (422 if not).
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Body(bytes) = Body::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::from(Error::unprocessable("invalid_body", e.to_string())))
    }
}

/// The raw body, within the router's body limit (413 over it).
pub struct Body(pub bytes::Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        bytes::Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| body_error(&e, None))
    }
}

/// Path parameters; a segment that does not decode (invalid UTF-8 included) is a
/// JSON 400.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::bad_request("invalid_path", e.body_text()))
            }
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

/// Query parameters; unknown or mistyped ones are a JSON 400.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}
