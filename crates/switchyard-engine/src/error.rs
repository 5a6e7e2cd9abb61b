//! The one error the application returns. It says what kind of failure happened
//! (the HTTP layer maps each kind to one status code) with a stable machine code and
//! a message meant for the caller. Internal failures are logged here, where their
//! detail is known, and carry only an opaque message outward, so nothing about the
//! database or the code path reaches a sender.

use switchyard_core::routing::FieldError;
use switchyard_store::StoreError;

/// What kind of failure an [`Error`] is; the HTTP layer gives each one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (400).
    BadRequest,
    /// A signature or credential is missing or wrong (401).
    Unauthorized,
    /// The credential is valid but not allowed to do this (403).
    Forbidden,
    /// No such thing (404).
    NotFound,
    /// The thing exists, or is in a state that forbids this (409).
    Conflict,
    /// A body over its limit (413).
    TooLarge,
    /// A body of a media type the endpoint does not read (415).
    UnsupportedMedia,
    /// Well-formed, but fields are invalid (422); see [`Error::fields`].
    Invalid,
    /// Too many requests (429).
    TooManyRequests,
    /// The client did not send its request in time (408).
    Timeout,
    /// A dependency failed in a way a retry may fix (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
}

/// An application error: a kind, a stable `code` and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// For [`ErrorKind::Invalid`]: each problem with the path of the field it is about.
    pub fields: Vec<FieldError>,
    /// Seconds to wait before trying again (`Retry-After`), for a refusal that
    /// passes with time.
    pub retry_after: Option<u32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    /// The same error, saying when to try again: `wait` in whole seconds, rounded
    /// up (retrying earlier would be refused again), at least 1.
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = Some(u32::try_from(secs).unwrap_or(u32::MAX).max(1));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// 422 with one message and no field list.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }

    /// 422 `invalid_config` listing every field problem.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        Self::invalid_with("invalid_config", fields)
    }

    /// 422 with `code`, listing every field problem.
    pub fn invalid_with(code: &'static str, fields: Vec<FieldError>) -> Self {
        let first = fields
            .first()
            .map(|f| format!("{}: {}", f.path, f.message))
            .unwrap_or_default();
        Self {
            kind: ErrorKind::Invalid,
            code,
            message: format!("{} problem(s); first: {first}", fields.len()),
            fields,
            retry_after: None,
        }
    }

    /// 422 for one field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(path, message)])
    }

    /// 408 `body_timeout`: the client sent its headers but not its body in time.
    pub fn body_timeout() -> Self {
        Self::new(
            ErrorKind::Timeout,
            "body_timeout",
            "the request body did not arrive in time",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ErrorKind::TooLarge,
            "body_too_large",
            format!("body exceeds the {limit}-byte limit"),
        )
    }

    /// Logs `err` and answers an opaque 500.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "internal error; see the server log",
        )
    }

    /// Logs `err` and answers 503: the store could not take the write, so nothing was
    /// acknowledged and the caller should retry.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "store unavailable");
        Self::new(
            ErrorKind::Unavailable,
            "store_unavailable",
            "the event store is unavailable; retry later",
        )
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    /// A database that cannot be reached is 503 (retry later); anything else 500.
    fn from(e: StoreError) -> Self {
        if let StoreError::InvalidCursor(c) = &e {
            return Self::bad_request(
                "invalid_cursor",
                format!("{c:?} is not a cursor this server made"),
            );
        }
        if e.is_transient() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<crate::writer::WriteError> for Error {
    /// 503 (retry later) only when a retry can help: a lost connection, a busy
    /// database, a stopped writer. A write the database refuses for good is a 500,
    /// so a sender is not told to retry forever.
    fn from(e: crate::writer::WriteError) -> Self {
        match &e {
            crate::writer::WriteError::Store(s) if !s.is_transient() => Self::internal(e),
            _ => Self::unavailable(e),
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Key(String),
    #[error("outbound HTTP client: {0}")]
    Client(String),
}
