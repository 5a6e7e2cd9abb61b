//! Shared harness for Switchyard's fuzz targets: turns fuzzer bytes into an
//! [`Inbound`] request and checks the invariants every provider must keep.
//!
//! Each `provider_*` target hands [`run_provider`] its provider. Header names are
//! picked from the ones that provider reads ([`HEADER_NAMES`]) and bodies are often
//! built from JSON keys providers look up ([`KEYS`]), so the fuzzer spends its time
//! on values rather than on guessing names. When the input asks for it, the request
//! is also signed correctly by an oracle written here against the `hmac` crate
//! directly (not through `switchyard_core::sig`), and verification must then succeed.
//!
//! `cargo test` here checks the harness; see `scripts/fuzz-smoke` for running it.

use arbitrary::Arbitrary;
use base64::Engine;
use hmac::Mac;
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::{EventType, Inbound, Provider, Secret, VerifyError};

/// At most this many fuzzer-chosen headers are set on one request.
pub const MAX_HEADERS: usize = 6;

/// At most this many secrets are configured, as during a rotation.
pub const MAX_SECRETS: usize = 2;

/// The headers each provider reads besides `Content-Type`, which every request may
/// carry. The fuzzer picks names from these and makes up the values.
pub const HEADER_NAMES: &[(&str, &[&str])] = &[
    (
        "crewai",
        &[
            "authorization",
            "x-webhook-signature",
            "x-webhook-id",
            "idempotency-key",
            "x-request-id",
        ],
    ),
    (
        "generic",
        &[
            "x-webhook-signature",
            "x-webhook-id",
            "idempotency-key",
            "x-request-id",
        ],
    ),
    (
        "github",
        &["x-hub-signature-256", "x-github-event", "x-github-delivery"],
    ),
    (
        "gitlab",
        &[
            "x-gitlab-token",
            "x-gitlab-event",
            "idempotency-key",
            "x-gitlab-event-uuid",
        ],
    ),
    (
        "jira",
        &["x-hub-signature", "x-atlassian-webhook-identifier"],
    ),
    (
        "linear",
        &["linear-signature", "linear-delivery", "linear-event"],
    ),
    ("notion", &["x-notion-signature"]),
    (
        "sentry",
        &[
            "sentry-hook-signature",
            "sentry-hook-resource",
            "request-id",
            "sentry-hook-timestamp",
        ],
    ),
    (
        "shopify",
        &[
            "x-shopify-hmac-sha256",
            "x-shopify-topic",
            "x-shopify-webhook-id",
            "x-shopify-event-id",
            "x-shopify-shop-domain",
        ],
    ),
    (
        "slack",
        &[
            "x-slack-signature",
            "x-slack-request-timestamp",
            "x-slack-retry-num",
        ],
    ),
    (
        "standard",
        &[
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-id",
            "svix-timestamp",
            "svix-signature",
        ],
    ),
    ("stripe", &["stripe-signature"]),
];

/// The headers `provider` reads, from [`HEADER_NAMES`].
pub fn header_names(provider: &str) -> &'static [&'static str] {
    HEADER_NAMES
        .iter()
        .find(|(p, _)| *p == provider)
        .map(|(_, names)| *names)
        .unwrap_or_else(|| panic!("no header names listed for provider {provider}"))
}

/// The body's `Content-Type`: mostly one a provider accepts, sometimes anything.
#[derive(Arbitrary, Debug)]
pub enum ContentType {
    Absent,
    Json,
    JsonCharset,
    PlusJson,
    Form,
    FormCharset,
    Text,
    Raw(Vec<u8>),
}

impl ContentType {
    /// Sets the header on `headers` (or leaves it unset).
    pub fn apply(&self, headers: &mut HeaderMap) {
        let value: &[u8] = match self {
            Self::Absent => return,
            Self::Json => b"application/json",
            Self::JsonCharset => b"Application/JSON; charset=utf-8",
            Self::PlusJson => b"application/vnd.api+json",
            Self::Form => b"application/x-www-form-urlencoded",
            Self::FormCharset => b"application/x-www-form-urlencoded ; charset=UTF-8",
            Self::Text => b"text/plain",
            Self::Raw(raw) => raw,
        };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
    }
}

/// A body with a media type, for the body-decoder targets.
#[derive(Arbitrary, Debug)]
pub struct TypedBody {
    pub content_type: ContentType,
    /// Last, so it takes the rest of the input unframed.
    pub body: Vec<u8>,
}

impl TypedBody {
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        self.content_type.apply(&mut h);
        h
    }
}

/// Object keys providers look up, so structured bodies reach past "no type".
pub const KEYS: &[&str] = &[
    "type",
    "action",
    "id",
    "event",
    "event_type",
    "event_id",
    "webhookEvent",
    "webhookTimestamp",
    "object_kind",
    "object_attributes",
    "iid",
    "url",
    "user",
    "user_username",
    "username",
    "project",
    "path_with_namespace",
    "issue",
    "merge_request",
    "repository",
    "full_name",
    "organization",
    "login",
    "sender",
    "pull_request",
    "discussion",
    "number",
    "html_url",
    "fields",
    "key",
    "self",
    "comment",
    "author",
    "accountId",
    "displayName",
    "data",
    "object",
    "account",
    "team",
    "issueId",
    "actor",
    "name",
    "agent",
    "agent_role",
    "kickoff_id",
    "execution_id",
    "checkpoint_id",
    "workflow_name",
    "inputs",
    "verification_token",
    "entity",
    "workspace_id",
    "authors",
    "challenge",
    "channel",
    "channel_type",
    "channel_id",
    "thread_ts",
    "ts",
    "container",
    "message_ts",
    "item",
    "command",
    "ssl_check",
    "text",
    "payload",
    "admin_graphql_api_id",
    "project_slug",
    "slug",
    "web_url",
    "permalink",
];

/// String values that steer normalization down its branches.
pub const VALUES: &[&str] = &[
    "url_verification",
    "event_callback",
    "message",
    "channel",
    "group",
    "im",
    "mpim",
    "block_actions",
    "issue",
    "merge_request",
    "note",
    "push",
    "open",
    "Issue",
    "Comment",
    "opened",
    "created",
    "jira:issue_created",
    "checkout.session.completed",
    "",
    " ",
    "a.b",
    "\u{0}",
    "\u{7f}\u{e9}",
];

/// A JSON object key: usually one a provider reads.
#[derive(Arbitrary, Debug)]
pub enum Key {
    Known(u8),
    Other(String),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Self::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
            Self::Other(s) => s.clone(),
        }
    }
}

/// A JSON value, built so the fuzzer explores payload shapes rather than syntax.
#[derive(Arbitrary, Debug)]
pub enum Val {
    Known(u8),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Object(Vec<(Key, Val)>),
    Array(Vec<Val>),
}

impl Val {
    fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Known(i) => Value::String(VALUES[usize::from(*i) % VALUES.len()].to_owned()),
            Self::Str(s) => Value::String(s.clone()),
            Self::Int(n) => Value::from(*n),
            // NaN and infinities have no JSON form; `from` makes them null.
            Self::Float(f) => Value::from(*f),
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
            Self::Object(fields) => object(fields),
            Self::Array(items) => Value::Array(items.iter().map(Val::json).collect()),
        }
    }

    /// The value as a form field: strings as they are, anything else as JSON text
    /// (so `payload=<json>` arises).
    fn form_text(&self) -> String {
        match self.json() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

fn object(fields: &[(Key, Val)]) -> serde_json::Value {
    serde_json::Value::Object(fields.iter().map(|(k, v)| (k.text(), v.json())).collect())
}

/// A request body: raw bytes, or built from a structure and encoded.
#[derive(Arbitrary, Debug)]
pub enum Body {
    Raw(Vec<u8>),
    /// A JSON object.
    Object(Vec<(Key, Val)>),
    /// An `application/x-www-form-urlencoded` body.
    Form(Vec<(Key, Val)>),
}

impl Body {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Raw(b) => b.clone(),
            Self::Object(fields) => object(fields).to_string().into_bytes(),
            Self::Form(fields) => {
                let mut ser = form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    ser.append_pair(&k.text(), &v.form_text());
                }
                ser.finish().into_bytes()
            }
        }
    }
}

/// Asks the oracle to sign the request correctly with the first secret.
#[derive(Arbitrary, Debug)]
pub struct Sign {
    /// Seconds between the signed timestamp and `now`, folded into the tolerance.
    pub skew: i16,
    /// Picks between a scheme's equivalent forms (`sha256=` prefix or not, bearer
    /// token or signature).
    pub variant: bool,
}

/// One webhook delivery as the fuzzer builds it.
#[derive(Arbitrary, Debug)]
pub struct Request {
    pub content_type: ContentType,
    /// (index into the provider's header names, raw value). Values that are not valid
    /// header values are dropped, as `http` would never produce them.
    pub headers: Vec<(u8, Vec<u8>)>,
    pub query: Option<String>,
    pub now: i64,
    pub secrets: Vec<Vec<u8>>,
    pub sign: Option<Sign>,
    /// Last, so a raw body takes the rest of the input unframed.
    pub body: Body,
}

/// What the signing oracle promises about `verify`.
enum Expect {
    /// No promise: the request was not signed by the oracle.
    Nothing,
    Ok,
    /// Linear also checks the body's own `webhookTimestamp`, which the oracle does
    /// not control.
    OkOrStale,
}

/// How one request fared, for tests and corpus statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The signing oracle signed the request.
    pub signed: bool,
    pub verified: bool,
    pub normalized: bool,
}

/// Builds the request, verifies and normalizes it, and checks the invariants.
pub fn run_provider(provider: &dyn Provider, req: &Request) -> Outcome {
    let header_names = header_names(provider.name());
    let body = req.body.bytes();
    let mut headers = HeaderMap::new();
    req.content_type.apply(&mut headers);
    for (i, value) in req.headers.iter().take(MAX_HEADERS) {
        // One slot past the provider's names is a raw Content-Type.
        let name = header_names
            .get(usize::from(*i) % (header_names.len() + 1))
            .copied()
            .unwrap_or("content-type");
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
    let secrets: Vec<Secret> = req
        .secrets
        .iter()
        .take(MAX_SECRETS)
        .map(|s| Secret::new(s.clone()))
        .collect();
    let expect = match (&req.sign, secrets.first()) {
        (Some(s), Some(key)) => sign(
            provider.name(),
            &mut headers,
            key.expose(),
            req.now,
            &body,
            s,
        ),
        _ => Expect::Nothing,
    };
    let signed = !matches!(expect, Expect::Nothing);

    let inbound = Inbound {
        headers: &headers,
        query: req.query.as_deref(),
        body: &body,
        now: req.now,
    };

    let verified = provider.verify(&inbound, &secrets);
    if secrets.is_empty() {
        if provider.requires_secret() {
            assert!(
                verified.is_err(),
                "{} requires a secret but accepted a request with none configured",
                provider.name()
            );
        } else {
            assert_eq!(
                verified,
                Ok(()),
                "{} does not require a secret but refused an unsigned request with none configured",
                provider.name()
            );
        }
    }
    match expect {
        Expect::Nothing => {}
        Expect::Ok => assert_eq!(
            verified,
            Ok(()),
            "{} refused a request the oracle signed correctly",
            provider.name()
        ),
        Expect::OkOrStale => assert!(
            matches!(verified, Ok(()) | Err(VerifyError::Stale(_))),
            "{} refused a request the oracle signed correctly: {verified:?}",
            provider.name()
        ),
    }
    if let Err(e) = &verified {
        let _ = (e.code(), e.to_string());
    }

    let normalized = match provider.normalize(&inbound) {
        Ok(n) => {
            assert!(
                EventType::parse(n.event_type.as_str()).is_ok(),
                "{} produced an invalid event type {:?}",
                provider.name(),
                n.event_type
            );
            // Whatever lands in the store must serialize.
            let _ = serde_json::to_vec(&n.payload).expect("payload serializes");
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    };
    Outcome {
        signed,
        verified: verified.is_ok(),
        normalized,
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    headers.insert(
        HeaderName::from_static(name),
        HeaderValue::from_str(value).expect("oracle header values are visible ASCII"),
    );
}

/// A secret that survives being sent as a header value verbatim (header values are
/// read trimmed and must be visible ASCII).
fn as_token(secret: &[u8]) -> Option<&str> {
    let ok = !secret.is_empty()
        && secret.iter().all(|b| (0x20..=0x7e).contains(b))
        && secret.first() != Some(&b' ')
        && secret.last() != Some(&b' ');
    ok.then(|| std::str::from_utf8(secret).expect("ASCII"))
}

/// Signs the request as `provider`'s sender would with `key`, overwriting whatever
/// the fuzzer put in the signature headers.
fn sign(provider: &str, h: &mut HeaderMap, key: &[u8], now: i64, body: &[u8], s: &Sign) -> Expect {
    let body_hex = || hex::encode(hmac_sha256(key, &[body]));
    let ts = now.checked_add(i64::from(s.skew % 301));
    match provider {
        "github" => set(h, "x-hub-signature-256", &format!("sha256={}", body_hex())),
        "jira" => set(h, "x-hub-signature", &format!("sha256={}", body_hex())),
        "notion" => set(h, "x-notion-signature", &format!("sha256={}", body_hex())),
        "sentry" => set(h, "sentry-hook-signature", &body_hex()),
        "shopify" => set(h, "x-shopify-hmac-sha256", &b64(&hmac_sha256(key, &[body]))),
        "linear" => {
            set(h, "linear-signature", &body_hex());
            return Expect::OkOrStale;
        }
        "generic" => {
            let prefix = if s.variant { "SHA256=" } else { "" };
            set(h, "x-webhook-signature", &format!("{prefix}{}", body_hex()));
        }
        "crewai" => match as_token(key) {
            Some(token) if s.variant => set(h, "authorization", &format!("Bearer {token}")),
            _ => {
                h.remove("authorization");
                set(h, "x-webhook-signature", &format!("sha256={}", body_hex()));
            }
        },
        "gitlab" => match as_token(key) {
            Some(token) => set(h, "x-gitlab-token", token),
            None => return Expect::Nothing,
        },
        "slack" => {
            let Some(ts) = ts else { return Expect::Nothing };
            let ts = ts.to_string();
            let mac = hmac_sha256(key, &[b"v0:", ts.as_bytes(), b":", body]);
            set(h, "x-slack-request-timestamp", &ts);
            set(h, "x-slack-signature", &format!("v0={}", hex::encode(mac)));
        }
        "stripe" => {
            let Some(ts) = ts else { return Expect::Nothing };
            let ts = ts.to_string();
            let mac = hmac_sha256(key, &[ts.as_bytes(), b".", body]);
            let v0 = if s.variant { ",v0=00" } else { "" };
            set(
                h,
                "stripe-signature",
                &format!("t={ts},v1={}{v0}", hex::encode(mac)),
            );
        }
        "standard" => {
            let Some(ts) = ts else { return Expect::Nothing };
            let key = match key.strip_prefix(b"whsec_") {
                Some(enc) => match base64::engine::general_purpose::STANDARD.decode(enc) {
                    Ok(k) => k,
                    Err(_) => return Expect::Nothing,
                },
                None => key.to_vec(),
            };
            let ts = ts.to_string();
            let id = "msg_fuzz";
            let mac = hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            let other = if s.variant { "v1a,AAAA " } else { "" };
            set(h, "webhook-id", id);
            set(h, "webhook-timestamp", &ts);
            set(h, "webhook-signature", &format!("{other}v1,{}", b64(&mac)));
        }
        other => panic!("no signing oracle for provider {other}"),
    }
    Expect::Ok
}

#[cfg(test)]
mod tests {
    //! `cargo test` in fuzz/ (any toolchain) checks the harness itself.
    use super::*;
    use switchyard_core::providers::ALL;

    const NOW: i64 = 1_700_000_000;

    fn signed(variant: bool) -> Request {
        Request {
            content_type: ContentType::Json,
            headers: Vec::new(),
            query: None,
            now: NOW,
            secrets: vec![b"s3cret".to_vec(), b"old".to_vec()],
            sign: Some(Sign { skew: -7, variant }),
            body: Body::Raw(
                format!(
                    r#"{{"type":"Issue","action":"create","webhookEvent":"x","object_kind":"push","webhookTimestamp":{}}}"#,
                    NOW * 1000
                )
                .into_bytes(),
            ),
        }
    }

    #[test]
    fn every_provider_has_header_names() {
        assert_eq!(HEADER_NAMES.len(), ALL.len());
        for p in ALL {
            for name in header_names(p.name()) {
                let _ = HeaderName::from_static(name);
            }
        }
    }

    #[test]
    fn the_oracle_signs_what_every_provider_accepts() {
        for p in ALL {
            for variant in [false, true] {
                let out = run_provider(*p, &signed(variant));
                assert!(out.signed && out.verified, "{}: {out:?}", p.name());
            }
        }
    }

    #[test]
    fn unsigned_requests_follow_requires_secret() {
        for p in ALL {
            let mut req = signed(false);
            req.sign = None;
            req.secrets.clear();
            let out = run_provider(*p, &req);
            assert_eq!(out.verified, !p.requires_secret(), "{}", p.name());
        }
    }

    #[test]
    fn structured_bodies_encode() {
        let inner = Val::Object(vec![(Key::Known(0), Val::Known(1))]);
        let form = Body::Form(vec![(Key::Other("payload".into()), inner)]);
        assert_eq!(
            switchyard_core::sig::form_body(&form.bytes()),
            Ok(serde_json::json!({"type": "event_callback"}))
        );
        let obj = Body::Object(vec![(Key::Known(1), Val::Float(f64::NAN))]);
        assert_eq!(obj.bytes(), br#"{"action":null}"#);
    }
}
