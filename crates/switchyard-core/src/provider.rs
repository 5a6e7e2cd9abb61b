//! The provider abstraction: how one sender proves a request is genuine and how its
//! body becomes an event. Adding a provider is one file in `providers/` and one line
//! in [`crate::providers::ALL`].

use crate::Normalized;

/// The parts of an HTTP request a provider may look at. `body` is the raw bytes as
/// received: signatures are always checked on these, before anything is parsed.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a http::HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// Seconds since the Unix epoch, for replay windows. Passed in so tests and
    /// fuzzing are deterministic.
    pub now: i64,
}

impl<'a> Inbound<'a> {
    /// A header's value as text (UTF-8, so a non-ASCII delivery id or event name
    /// is read, not lost); `None` when absent, not UTF-8, or sent more than once —
    /// two values for one header are ambiguous, and a signature check must never
    /// pick one of them.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        match self.lookup(name) {
            Lookup::One(v) => std::str::from_utf8(v.as_bytes()).ok().map(str::trim),
            Lookup::Missing | Lookup::Repeated => None,
        }
    }

    /// A header's value if it was sent exactly once, in one look-up: a look-up by
    /// `&str` parses and hashes the name each time, and ingest asks for a few
    /// headers per request (`scripts/bench-cpu`).
    fn lookup(&self, name: &str) -> Lookup<'a> {
        let mut values = self.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Lookup::Missing,
            (Some(v), None) => Lookup::One(v),
            (Some(_), Some(_)) => Lookup::Repeated,
        }
    }

    /// Whether a header was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        matches!(self.lookup(name), Lookup::Repeated)
    }

    /// A signature header's value: missing, repeated (ambiguous) and non-ASCII are
    /// all refusals.
    pub fn signature_header(&self, name: &'static str) -> Result<&'a str, VerifyError> {
        match self.lookup(name) {
            Lookup::Missing => Err(VerifyError::Missing(name)),
            Lookup::Repeated => Err(VerifyError::Malformed(name)),
            Lookup::One(v) => std::str::from_utf8(v.as_bytes())
                .map(str::trim)
                .map_err(|_| VerifyError::Malformed(name)),
        }
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The media type without parameters, lower-cased (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        let ct = self.header("content-type")?;
        let mt = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        (!mt.is_empty()).then_some(mt)
    }
}

/// What one look-up of a header found.
enum Lookup<'a> {
    Missing,
    One(&'a http::HeaderValue),
    Repeated,
}

/// A secret a webhook is verified with. Several may be valid at once while a secret
/// is rotated; a request is genuine if it verifies against any one of them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

/// Why a request was not accepted as genuine. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing signature: expected header {0}")]
    Missing(&'static str),
    #[error("malformed signature header {0}")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the {0} s tolerance")]
    Stale(i64),
}

impl VerifyError {
    /// A short machine-readable reason, used in the audit log and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "signature_missing",
            Self::Malformed(_) => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
            Self::Stale(_) => "timestamp_stale",
        }
    }
}

/// Why a verified request could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// 415: the body's media type is not one this provider sends.
    #[error("unsupported media type {0}")]
    UnsupportedMedia(String),
    /// 400: the body or a required header or parameter is malformed.
    #[error("{0}")]
    Malformed(String),
}

/// One sender's scheme. Implementations are stateless; configuration arrives as
/// arguments so one value serves every webhook of that provider.
pub trait Provider: Send + Sync + 'static {
    /// The name in `/webhooks/{provider}` and in `{PROVIDER}_WEBHOOK_SECRET`.
    fn name(&self) -> &'static str;

    /// Whether requests must be signed even when no secret is configured. When true
    /// and no secret is configured, the provider's default endpoint is not served.
    fn requires_secret(&self) -> bool;

    /// Checks the request against `secrets` (any one may match). With no secrets,
    /// a provider that does not require one accepts the request unsigned; a
    /// webhook with a secret never does.
    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError>;

    /// Turns a verified request into an event.
    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError>;
}
