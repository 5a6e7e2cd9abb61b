//! The one error type handlers return. It maps to a status and the JSON body every
//! error shares, `{"error": {"code": "...", "message": "..."}}`. Internal errors are
//! logged here with their detail and answered with an opaque message, so nothing about
//! the database or the code path reaches a sender.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Logs `err` and answers an opaque 500.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// Logs `err` and answers 503: the store could not take the write, so nothing was
    /// acknowledged and the sender should retry.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the event store is unavailable; retry later",
        )
    }
}

impl From<switchyard_store::StoreError> for ApiError {
    fn from(e: switchyard_store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
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
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// A JSON body whose rejections are answered in the house error format: 415 for a
/// missing or wrong content type, 400 for malformed JSON, 422 for JSON of the wrong
/// shape.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request("malformed_body", e.body_text()))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.body_text(),
            )),
            Err(e) => Err(ApiError::bad_request("malformed_body", e.body_text())),
        }
    }
}

impl ApiError {
    /// 422 with a list of field problems.
    pub fn invalid_fields(fields: Vec<(String, String)>) -> FieldsError {
        FieldsError(fields)
    }
}

/// 422 `invalid_config` with `fields: [{"path", "message"}]`.
#[derive(Debug)]
pub struct FieldsError(pub Vec<(String, String)>);

impl IntoResponse for FieldsError {
    fn into_response(self) -> Response {
        let first = self
            .0
            .first()
            .map(|(p, m)| format!("{p}: {m}"))
            .unwrap_or_default();
        let fields: Vec<_> = self
            .0
            .iter()
            .map(|(p, m)| serde_json::json!({"path": p, "message": m}))
            .collect();
        let body = serde_json::json!({"error": {
            "code": "invalid_config",
            "message": format!("{} problem(s); first: {first}", self.0.len()),
            "fields": fields,
        }});
        (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
    }
}
