//! The application's configuration: plain data that the binary fills from its
//! layers (defaults, file, environment, flags) and tests build directly, and the
//! checks every value must pass before anything starts ([`Config::validate`]).
//!
//! Secrets redact themselves, so `format!("{config:?}")` is safe to log: the admin
//! and master keys are [`SecretString`]s, webhook secrets [`switchyard_core::Secret`]s,
//! write-back tokens [`switchyard_core::writeback::Credentials`] (redacted `Debug`),
//! and the database URL a [`DatabaseUrl`] that shows no password.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use switchyard_core::{providers, Secret};
use switchyard_store::PruneKind;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: DatabaseUrl,
    /// Where generated files live (the admin key, the master key).
    pub data_dir: PathBuf,
    /// Webhook bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Admin API bodies larger than this are refused with 413.
    pub max_api_body_bytes: usize,
    /// Long-polls (task lease, question wait) look again at least this often, to
    /// see work committed by other replicas; this process's own commits wake them
    /// at once.
    pub wait_fallback: Duration,
    /// The admin API key from `SWITCHYARD_ADMIN_KEY`; when `None`, one is generated
    /// on first start and only its hash is kept.
    pub admin_key: Option<SecretString>,
    /// Seed 000's `WEBHOOK_API_KEY`: accepted on `/api` as a key with the
    /// `feedback` scope (key id `webhook_api_key`).
    pub webhook_api_key: Option<SecretString>,
    /// The master key sealing stored secrets (`SWITCHYARD_SECRET_KEY`, base64 of 32
    /// bytes); when `None`, `data_dir/secret.key` is used, created on first start.
    pub secret_key: Option<SecretString>,
    /// Secrets of each provider's default endpoint `/webhooks/{provider}`, by provider.
    pub provider_secrets: HashMap<String, Vec<Secret>>,
    /// The folder of webhook config files (`*.json`, `*.yaml`), watched for changes.
    pub config_dir: Option<PathBuf>,
    /// The folder of workflow files (`*.yaml`, `*.yml`), watched for changes; the
    /// `config_path` of a workflow registered through the API is relative to it.
    pub workflows_dir: Option<PathBuf>,
    /// How outbound messages are delivered.
    pub delivery: crate::delivery::DeliveryConfig,
    /// A connection that has not sent a whole request head this long after it
    /// opened (or after its previous answer) is closed, so a client trickling its
    /// headers cannot hold a socket for minutes.
    pub header_read_timeout: Duration,
    /// A request whose body stalls this long (no bytes at all between two reads) is
    /// answered 408 `body_timeout` and its connection closed.
    pub body_read_timeout: Duration,
    /// The most connections served normally at once; a small reserve above it
    /// still answers health, metrics and admin requests (see
    /// `switchyard_server::serve`), and connections beyond that are closed at once.
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` is believed when telling a request's client
    /// address (for allow-lists and the audit log); no one's when empty.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The rate limit of webhooks that set none of their own; none when `None`.
    pub rate_limit: Option<switchyard_core::routing::RateLimit>,
    /// Refused requests one client address may record in the audit log a minute;
    /// the rest are only counted (`switchyard_rejections_unrecorded_total`).
    pub rejections_per_minute: u32,
    /// How long events, delivery attempts, refused requests and finished runs are
    /// kept (the "retention" worker deletes the rest).
    pub retention: RetentionConfig,
    /// Where checkpoint notifications go by default, and the SMTP server e-mail
    /// goes through.
    pub notify: NotifyConfig,
    /// How workflow runs are carried out.
    pub runs: crate::runs::RunsConfig,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/HTTP collector each workflow run's
    /// trace is sent to, at `{it}/v1/traces` (see [`crate::otlp`]); no traces
    /// when this and [`Config::otlp_traces_endpoint`] are `None`.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL traces are sent to,
    /// used as it is and over [`Config::otlp_endpoint`] (the OTel specification's
    /// rule for the per-signal variable).
    pub otlp_traces_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`: the traces' `service.name`; `switchyard` when `None`.
    pub otlp_service_name: Option<String>,
    /// The OpenAI-compatible endpoints workflow `llm` nodes call.
    pub llm: crate::llm::LlmConfig,
}

/// The notification channels' settings: the default targets of a checkpoint
/// without its own `notify`, and the SMTP server.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// `SMTP_*`; e-mail is not sent without it.
    pub smtp: Option<SmtpConfig>,
    /// `NOTIFY_EMAIL_TO`: who is e-mailed by default.
    pub email_to: Vec<String>,
    /// `SLACK_WEBHOOK_URL` (seed 000's): the incoming webhook told by default.
    pub slack_webhook_url: Option<String>,
    /// `CREWAI_API_URL`: where a CrewAI checkpoint's `POST /resume` goes.
    pub crewai_api_url: Option<String>,
    /// `CREWAI_API_TOKEN`: the bearer token of that call, added when it is sent
    /// (never stored with the message).
    pub crewai_api_token: Option<SecretString>,
}

/// How e-mail reaches the SMTP server. `Debug` shows no password.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The `From` mailbox: `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    pub tls: SmtpTls,
}

/// How the SMTP connection is secured (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

impl SmtpTls {
    pub const NAMES: &'static str = "starttls, tls or none";

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(Self::Starttls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starttls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// The usual port for this mode: 587, 465, 25.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// The store's URL. A PostgreSQL URL may carry a password, so `Debug` and `Display`
/// show it redacted ([`switchyard_store::redact_url`]) and only [`DatabaseUrl::expose`]
/// gives the text back.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL with its password, for opening the store and nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL without its password: in the user part (`user:***@host`) and in a
    /// `password=` query parameter.
    pub fn redacted(&self) -> String {
        let url = switchyard_store::redact_url(self.expose());
        let Some((base, query)) = url.split_once('?') else {
            return url;
        };
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("{base}?{}", query.join("&"))
    }
}

/// The store is opened with `&config.database_url` where a `&str` is wanted; the
/// deref keeps those call sites as they are, while formatting still goes through
/// the redacting `Display`.
impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        self.expose()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<&str> for DatabaseUrl {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for DatabaseUrl {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// A setting, by the names users know it by. Validation errors carry one, so the
/// binary can say which file key, environment variable or flag to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    DatabaseUrl,
    SecretKey,
    AdminKey,
    WebhookApiKey,
    MaxBodyBytes,
    MaxApiBodyBytes,
    WaitFallback,
    HeaderReadTimeout,
    BodyReadTimeout,
    MaxConnections,
    TrustedProxies,
    RateLimitPerSecond,
    RateLimitBurst,
    RejectionsPerMinute,
    /// `[retention]`: how long rows of one kind are kept.
    Retention(switchyard_store::PruneKind),
    PublicUrl,
    RetrySchedule,
    ConnectTimeout,
    Timeout,
    ClaimTimeout,
    Concurrency,
    MaxInFlight,
    SmtpHost,
    SmtpPort,
    SmtpUsername,
    SmtpPassword,
    SmtpFrom,
    SmtpTls,
    NotifyEmailTo,
    SlackWebhookUrl,
    CrewaiApiUrl,
    OtlpEndpoint,
    OtlpTracesEndpoint,
    OtlpServiceName,
    LlmBaseUrl,
    LlmApiKey,
    LlmModel,
    RunTimeout,
    RunClaimLease,
    RunConcurrency,
    /// The `[llm.providers.NAME]` tables (file only; the problem names the provider).
    LlmProviders,
    /// Not settable; checked because a float can be anything.
    Jitter,
    /// A provider's write-back API base (`github`, `gitlab`, `jira`, `slack`, `linear`).
    ApiUrl(&'static str),
}

impl Key {
    /// Every key that has an environment variable, with the write-back providers'.
    pub const SETTABLE: &'static [Key] = &[
        Key::DatabaseUrl,
        Key::SecretKey,
        Key::AdminKey,
        Key::WebhookApiKey,
        Key::MaxBodyBytes,
        Key::MaxApiBodyBytes,
        Key::WaitFallback,
        Key::HeaderReadTimeout,
        Key::BodyReadTimeout,
        Key::MaxConnections,
        Key::TrustedProxies,
        Key::RateLimitPerSecond,
        Key::RateLimitBurst,
        Key::RejectionsPerMinute,
        Key::Retention(switchyard_store::PruneKind::Events),
        Key::Retention(switchyard_store::PruneKind::Attempts),
        Key::Retention(switchyard_store::PruneKind::Rejections),
        Key::Retention(switchyard_store::PruneKind::Runs),
        Key::PublicUrl,
        Key::RetrySchedule,
        Key::ConnectTimeout,
        Key::Timeout,
        Key::ClaimTimeout,
        Key::Concurrency,
        Key::MaxInFlight,
        Key::SmtpHost,
        Key::SmtpPort,
        Key::SmtpUsername,
        Key::SmtpPassword,
        Key::SmtpFrom,
        Key::SmtpTls,
        Key::NotifyEmailTo,
        Key::SlackWebhookUrl,
        Key::CrewaiApiUrl,
        Key::OtlpEndpoint,
        Key::OtlpTracesEndpoint,
        Key::OtlpServiceName,
        Key::LlmBaseUrl,
        Key::LlmApiKey,
        Key::LlmModel,
        Key::RunTimeout,
        Key::RunClaimLease,
        Key::RunConcurrency,
        Key::ApiUrl("github"),
        Key::ApiUrl("gitlab"),
        Key::ApiUrl("jira"),
        Key::ApiUrl("slack"),
        Key::ApiUrl("linear"),
    ];

    /// The key in the configuration file, dotted for tables (`delivery.timeout`).
    pub fn file_key(self) -> String {
        match self {
            Key::DatabaseUrl => "database_url".into(),
            Key::SecretKey => "secret_key".into(),
            Key::AdminKey => "admin_key".into(),
            Key::WebhookApiKey => "webhook_api_key".into(),
            Key::MaxBodyBytes => "max_body_bytes".into(),
            Key::MaxApiBodyBytes => "max_api_body_bytes".into(),
            Key::WaitFallback => "wait_fallback".into(),
            Key::HeaderReadTimeout => "header_read_timeout".into(),
            Key::BodyReadTimeout => "body_read_timeout".into(),
            Key::MaxConnections => "max_connections".into(),
            Key::TrustedProxies => "trusted_proxies".into(),
            Key::RateLimitPerSecond => "rate_limit.per_second".into(),
            Key::RateLimitBurst => "rate_limit.burst".into(),
            Key::RejectionsPerMinute => "rejections.per_minute".into(),
            Key::Retention(kind) => format!("retention.{}", kind.as_str()),
            Key::PublicUrl => "public_url".into(),
            Key::RetrySchedule => "delivery.retry_schedule".into(),
            Key::ConnectTimeout => "delivery.connect_timeout".into(),
            Key::Timeout => "delivery.timeout".into(),
            Key::ClaimTimeout => "delivery.claim_timeout".into(),
            Key::Concurrency => "delivery.concurrency".into(),
            Key::MaxInFlight => "delivery.max_in_flight".into(),
            Key::SmtpHost => "smtp.host".into(),
            Key::SmtpPort => "smtp.port".into(),
            Key::SmtpUsername => "smtp.username".into(),
            Key::SmtpPassword => "smtp.password".into(),
            Key::SmtpFrom => "smtp.from".into(),
            Key::SmtpTls => "smtp.tls".into(),
            Key::NotifyEmailTo => "notify.email_to".into(),
            Key::SlackWebhookUrl => "notify.slack_webhook_url".into(),
            Key::CrewaiApiUrl => "notify.crewai_api_url".into(),
            Key::OtlpEndpoint => "otlp.endpoint".into(),
            Key::OtlpTracesEndpoint => "otlp.traces_endpoint".into(),
            Key::OtlpServiceName => "otlp.service_name".into(),
            Key::LlmBaseUrl => "llm.base_url".into(),
            Key::LlmApiKey => "llm.api_key".into(),
            Key::LlmModel => "llm.model".into(),
            Key::RunTimeout => "runs.timeout".into(),
            Key::RunClaimLease => "runs.claim_lease".into(),
            Key::RunConcurrency => "runs.concurrency".into(),
            Key::LlmProviders => "llm.providers".into(),
            Key::Jitter => "delivery.jitter".into(),
            Key::ApiUrl(p) => format!("providers.{p}.api_url"),
        }
    }

    /// The environment variable, or `None` for a value only code sets.
    pub fn env(self) -> Option<String> {
        let name = match self {
            Key::DatabaseUrl => "DATABASE_URL",
            Key::SecretKey => "SWITCHYARD_SECRET_KEY",
            Key::AdminKey => "SWITCHYARD_ADMIN_KEY",
            Key::WebhookApiKey => "WEBHOOK_API_KEY",
            Key::MaxBodyBytes => "SWITCHYARD_MAX_BODY_BYTES",
            Key::MaxApiBodyBytes => "SWITCHYARD_MAX_API_BODY_BYTES",
            Key::WaitFallback => "SWITCHYARD_WAIT_FALLBACK",
            Key::HeaderReadTimeout => "SWITCHYARD_HEADER_READ_TIMEOUT",
            Key::BodyReadTimeout => "SWITCHYARD_BODY_READ_TIMEOUT",
            Key::MaxConnections => "SWITCHYARD_MAX_CONNECTIONS",
            Key::TrustedProxies => "SWITCHYARD_TRUSTED_PROXIES",
            Key::RateLimitPerSecond => "SWITCHYARD_RATE_LIMIT_PER_SECOND",
            Key::RateLimitBurst => "SWITCHYARD_RATE_LIMIT_BURST",
            Key::RejectionsPerMinute => "SWITCHYARD_REJECTIONS_PER_MINUTE",
            Key::Retention(kind) => {
                return Some(format!(
                    "SWITCHYARD_RETENTION_{}",
                    kind.as_str().to_ascii_uppercase()
                ))
            }
            Key::PublicUrl => "SWITCHYARD_PUBLIC_URL",
            Key::RetrySchedule => "SWITCHYARD_RETRY_SCHEDULE",
            Key::ConnectTimeout => "SWITCHYARD_DELIVERY_CONNECT_TIMEOUT",
            Key::Timeout => "SWITCHYARD_DELIVERY_TIMEOUT",
            Key::ClaimTimeout => "SWITCHYARD_DELIVERY_CLAIM_TIMEOUT",
            Key::Concurrency => "SWITCHYARD_DELIVERY_CONCURRENCY",
            Key::MaxInFlight => "SWITCHYARD_DELIVERY_MAX_IN_FLIGHT",
            Key::SmtpHost => "SMTP_HOST",
            Key::SmtpPort => "SMTP_PORT",
            Key::SmtpUsername => "SMTP_USERNAME",
            Key::SmtpPassword => "SMTP_PASSWORD",
            Key::SmtpFrom => "SMTP_FROM",
            Key::SmtpTls => "SMTP_TLS",
            Key::NotifyEmailTo => "NOTIFY_EMAIL_TO",
            Key::SlackWebhookUrl => "SLACK_WEBHOOK_URL",
            Key::CrewaiApiUrl => "CREWAI_API_URL",
            Key::OtlpEndpoint => "OTEL_EXPORTER_OTLP_ENDPOINT",
            Key::OtlpTracesEndpoint => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Key::OtlpServiceName => "OTEL_SERVICE_NAME",
            Key::LlmBaseUrl => "SWITCHYARD_LLM_BASE_URL",
            Key::LlmApiKey => "SWITCHYARD_LLM_API_KEY",
            Key::LlmModel => "SWITCHYARD_LLM_MODEL",
            Key::RunTimeout => "SWITCHYARD_RUN_TIMEOUT",
            Key::RunClaimLease => "SWITCHYARD_RUN_CLAIM_LEASE",
            Key::RunConcurrency => "SWITCHYARD_RUN_CONCURRENCY",
            Key::Jitter | Key::LlmProviders => return None,
            Key::ApiUrl(p) => {
                return Some(format!("SWITCHYARD_{}_API_URL", p.to_ascii_uppercase()))
            }
        };
        Some(name.to_owned())
    }

    /// The environment variable when there is one, else the file key.
    pub fn name(self) -> String {
        self.env().unwrap_or_else(|| self.file_key())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A setting that cannot be used, and why. `Display` names the setting by its
/// environment variable; [`ConfigError::problem`] is the reason alone, for callers
/// that know where the value came from and name it themselves.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} {problem}")]
pub struct ConfigError {
    pub key: Key,
    pub problem: Problem,
}

/// What is wrong with a setting's value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("must be between {min} and {max} (got {got})")]
    OutOfRange {
        min: String,
        max: String,
        got: String,
    },
    #[error("must have between {min} and {max} entries (got {got})")]
    Entries { min: usize, max: usize, got: usize },
    #[error("must not be empty")]
    Empty,
    #[error("must be an http(s) URL (got {got:?}: {why})")]
    Url { got: String, why: String },
    #[error("must be sqlite://PATH or postgres://... (got {0:?})")]
    DatabaseUrl(String),
    #[error("must be the base64 of 32 bytes")]
    SecretKey,
    #[error("must be a finite number between {min} and {max} (got {got})")]
    NotFinite { min: f64, max: f64, got: f64 },
    #[error("is not valid: {0}")]
    Invalid(String),
}

impl ConfigError {
    pub fn new(key: Key, problem: Problem) -> Self {
        Self { key, problem }
    }
}

/// The largest body either limit accepts.
pub const MAX_BODY_LIMIT: usize = 1 << 30;
/// The range of [`Config::wait_fallback`].
pub const WAIT_FALLBACK_RANGE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(60));
/// The range of [`Config::header_read_timeout`] and [`Config::body_read_timeout`].
pub const READ_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(3600));
/// The range of [`Config::rejections_per_minute`] (0 records none).
pub const REJECTIONS_PER_MINUTE_RANGE: (u32, u32) = (0, 100_000);
/// The range of [`Config::max_connections`].
pub const MAX_CONNECTIONS_RANGE: (usize, usize) = (1, 100_000);

/// Checks `min <= got <= max` for a count or size.
pub(crate) fn in_range<T: PartialOrd + fmt::Display>(
    key: Key,
    got: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if got < min || got > max {
        return Err(ConfigError::new(
            key,
            Problem::OutOfRange {
                min: min.to_string(),
                max: max.to_string(),
                got: got.to_string(),
            },
        ));
    }
    Ok(())
}

/// Checks `min <= got <= max` for a duration, shown the way it is written (`5s`).
pub(crate) fn duration_in_range(
    key: Key,
    got: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if got < min || got > max {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        return Err(ConfigError::new(
            key,
            Problem::OutOfRange {
                min: show(min),
                max: show(max),
                got: show(got),
            },
        ));
    }
    Ok(())
}

/// Checks that `url` is an absolute http(s) URL with a host.
pub(crate) fn http_url(key: Key, url: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        ConfigError::new(
            key,
            Problem::Url {
                got: url.to_owned(),
                why: why.to_owned(),
            },
        )
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme is not http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("there is no host"));
    }
    Ok(())
}

impl Config {
    /// A configuration with defaults and no secrets.
    pub fn new(database_url: impl Into<DatabaseUrl>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            database_url: database_url.into(),
            data_dir: data_dir.into(),
            max_body_bytes: 1024 * 1024,
            max_api_body_bytes: 1024 * 1024,
            wait_fallback: Duration::from_millis(250),
            admin_key: None,
            webhook_api_key: None,
            secret_key: None,
            provider_secrets: HashMap::new(),
            config_dir: None,
            workflows_dir: None,
            delivery: crate::delivery::DeliveryConfig::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            trusted_proxies: Vec::new(),
            rate_limit: None,
            rejections_per_minute: 60,
            retention: RetentionConfig::default(),
            notify: NotifyConfig::default(),
            runs: crate::runs::RunsConfig::default(),
            otlp_endpoint: None,
            otlp_traces_endpoint: None,
            otlp_service_name: None,
            llm: crate::llm::LlmConfig::default(),
        }
    }

    /// Reads each provider's default-endpoint secrets from the environment:
    /// `{PROVIDER}_WEBHOOK_SECRET` and, during rotation, `{PROVIDER}_WEBHOOK_SECRET_PREVIOUS`
    /// (both valid). `generic` and `crewai` use seed 003's `WEBHOOK_SECRET`;
    /// `standard` uses `STANDARD_WEBHOOK_SECRET`.
    pub fn secrets_from_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        for p in providers::ALL {
            let var = env_var_for(p.name());
            let mut secrets = Vec::new();
            for name in [var.clone(), format!("{var}_PREVIOUS")] {
                if let Some(v) = get(&name).filter(|v| !v.is_empty()) {
                    secrets.push(Secret::new(v.into_bytes()));
                }
            }
            if !secrets.is_empty() {
                self.provider_secrets.insert(p.name().to_owned(), secrets);
            }
        }
    }

    /// Checks every setting against its documented range, so a bad value stops the
    /// start with a message naming it instead of misbehaving later. Ranges:
    /// body limits 1 B..=1 GiB, `wait_fallback` 10 ms..=60 s, the database URL's
    /// scheme, the master key (base64 of 32 bytes), a set admin key not blank, and
    /// the delivery settings ([`validate_delivery`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.expose();
        let scheme_ok = url.starts_with("sqlite:")
            || ((url.starts_with("postgres://") || url.starts_with("postgresql://"))
                && reqwest::Url::parse(url).is_ok());
        if !scheme_ok {
            return Err(ConfigError::new(
                Key::DatabaseUrl,
                Problem::DatabaseUrl(self.database_url.redacted()),
            ));
        }
        if let Some(key) = &self.secret_key {
            if switchyard_store::Sealer::from_base64(key.expose_secret()).is_none() {
                return Err(ConfigError::new(Key::SecretKey, Problem::SecretKey));
            }
        }
        for (k, key) in [
            (Key::AdminKey, &self.admin_key),
            (Key::WebhookApiKey, &self.webhook_api_key),
        ] {
            if key
                .as_ref()
                .is_some_and(|v| v.expose_secret().trim().is_empty())
            {
                return Err(ConfigError::new(k, Problem::Empty));
            }
        }
        in_range(Key::MaxBodyBytes, self.max_body_bytes, 1, MAX_BODY_LIMIT)?;
        in_range(
            Key::MaxApiBodyBytes,
            self.max_api_body_bytes,
            1,
            MAX_BODY_LIMIT,
        )?;
        let (lo, hi) = WAIT_FALLBACK_RANGE;
        duration_in_range(Key::WaitFallback, self.wait_fallback, lo, hi)?;
        let (lo, hi) = READ_TIMEOUT_RANGE;
        duration_in_range(Key::HeaderReadTimeout, self.header_read_timeout, lo, hi)?;
        duration_in_range(Key::BodyReadTimeout, self.body_read_timeout, lo, hi)?;
        let (lo, hi) = MAX_CONNECTIONS_RANGE;
        in_range(Key::MaxConnections, self.max_connections, lo, hi)?;
        if let Some(r) = &self.rate_limit {
            use switchyard_core::routing::access::{MAX_BURST, MAX_PER_SECOND, MIN_PER_SECOND};
            if !r.per_second.is_finite()
                || !(MIN_PER_SECOND..=MAX_PER_SECOND).contains(&r.per_second)
            {
                return Err(ConfigError::new(
                    Key::RateLimitPerSecond,
                    Problem::NotFinite {
                        min: MIN_PER_SECOND,
                        max: MAX_PER_SECOND,
                        got: r.per_second,
                    },
                ));
            }
            if let Some(b) = r.burst {
                in_range(Key::RateLimitBurst, b, 1, MAX_BURST)?;
            }
        }
        let (lo, hi) = REJECTIONS_PER_MINUTE_RANGE;
        in_range(Key::RejectionsPerMinute, self.rejections_per_minute, lo, hi)?;
        self.retention.validate()?;
        validate_delivery(&self.delivery)?;
        validate_notify(&self.notify)?;
        validate_llm(&self.llm)?;
        let r = &self.runs;
        duration_in_range(
            Key::RunTimeout,
            r.run_timeout,
            Duration::from_secs(1),
            Duration::from_secs(30 * 24 * 3600),
        )?;
        duration_in_range(
            Key::RunClaimLease,
            r.claim_lease,
            Duration::from_secs(1),
            Duration::from_secs(600),
        )?;
        in_range(Key::RunConcurrency, r.max_concurrent, 1, 1024)?;
        self.validate_otlp()
    }

    /// The OTLP endpoints are http(s) URLs (OTLP/HTTP has no other scheme) and a
    /// set service name is not blank.
    fn validate_otlp(&self) -> Result<(), ConfigError> {
        for (key, url) in [
            (Key::OtlpEndpoint, &self.otlp_endpoint),
            (Key::OtlpTracesEndpoint, &self.otlp_traces_endpoint),
        ] {
            if let Some(url) = url {
                http_url(key, url)?;
            }
        }
        if self
            .otlp_service_name
            .as_ref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(ConfigError::new(Key::OtlpServiceName, Problem::Empty));
        }
        Ok(())
    }

    /// The default endpoint's secrets for `provider`.
    pub fn secrets_for(&self, provider: &str) -> &[Secret] {
        self.provider_secrets
            .get(provider)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The environment variable holding `provider`'s default-endpoint secret.
pub fn env_var_for(provider: &str) -> String {
    match provider {
        "generic" | "crewai" => "WEBHOOK_SECRET".to_owned(),
        p => format!(
            "{}_WEBHOOK_SECRET",
            p.to_ascii_uppercase().replace('-', "_")
        ),
    }
}

/// Checks the notification settings: an SMTP host without blanks, a port from 1
/// to 65535, a `From` that is a mailbox, a username and password given together,
/// default recipients that are addresses, and the Slack webhook an http(s) URL.
fn validate_notify(n: &NotifyConfig) -> Result<(), ConfigError> {
    let invalid = |key, why: String| Err(ConfigError::new(key, Problem::Invalid(why)));
    if let Some(smtp) = &n.smtp {
        let host = smtp.host.trim();
        if host.is_empty() {
            return Err(ConfigError::new(Key::SmtpHost, Problem::Empty));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return invalid(Key::SmtpHost, format!("{host:?} is not a host name"));
        }
        in_range(Key::SmtpPort, smtp.port, 1, u16::MAX)?;
        if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
            return invalid(
                Key::SmtpFrom,
                format!(
                    "{:?} is not an address like alerts@example.com or Name <alerts@example.com> ({e})",
                    smtp.from
                ),
            );
        }
        match (&smtp.username, &smtp.password) {
            (Some(u), _) if u.trim().is_empty() => {
                return Err(ConfigError::new(Key::SmtpUsername, Problem::Empty))
            }
            (Some(_), None) => {
                return invalid(Key::SmtpPassword, "must be set with SMTP_USERNAME".into())
            }
            (None, Some(_)) => {
                return invalid(Key::SmtpUsername, "must be set with SMTP_PASSWORD".into())
            }
            _ => {}
        }
    }
    for to in &n.email_to {
        if to.parse::<lettre::Address>().is_err() {
            return invalid(
                Key::NotifyEmailTo,
                format!("{to:?} is not an e-mail address"),
            );
        }
    }
    if !n.email_to.is_empty() && n.smtp.is_none() {
        return invalid(
            Key::NotifyEmailTo,
            "needs an SMTP server: set SMTP_HOST and SMTP_FROM".into(),
        );
    }
    if let Some(url) = &n.slack_webhook_url {
        http_url(Key::SlackWebhookUrl, url)?;
    }
    if let Some(url) = &n.crewai_api_url {
        http_url(Key::CrewaiApiUrl, url)?;
    }
    Ok(())
}

/// Checks the LLM endpoints: base URLs are http(s) URLs, every provider has one,
/// and a key or model that is set is not blank.
fn validate_llm(l: &crate::llm::LlmConfig) -> Result<(), ConfigError> {
    let d = &l.default;
    if let Some(url) = &d.base_url {
        http_url(Key::LlmBaseUrl, url)?;
    }
    if d.api_key
        .as_ref()
        .is_some_and(|k| k.expose_secret().trim().is_empty())
    {
        return Err(ConfigError::new(Key::LlmApiKey, Problem::Empty));
    }
    if d.model.as_ref().is_some_and(|m| m.trim().is_empty()) {
        return Err(ConfigError::new(Key::LlmModel, Problem::Empty));
    }
    let invalid = |why: String| Err(ConfigError::new(Key::LlmProviders, Problem::Invalid(why)));
    for (name, p) in &l.providers {
        if name.trim().is_empty() {
            return invalid("a provider name must not be blank".into());
        }
        let Some(url) = &p.base_url else {
            return invalid(format!("provider {name:?} has no base_url"));
        };
        if let Err(e) = http_url(Key::LlmProviders, url) {
            return invalid(format!("provider {name:?}: base_url {}", e.problem));
        }
        if p.api_key
            .as_ref()
            .is_some_and(|k| k.expose_secret().trim().is_empty())
        {
            return invalid(format!("provider {name:?}: the API key is blank"));
        }
        if p.model.as_ref().is_some_and(|m| m.trim().is_empty()) {
            return invalid(format!("provider {name:?}: model must not be blank"));
        }
    }
    Ok(())
}

/// Checks the delivery settings a user can set (and the jitter, a float) against
/// [`crate::delivery::ranges`] and the URLs for being http(s) URLs.
fn validate_delivery(d: &crate::delivery::DeliveryConfig) -> Result<(), ConfigError> {
    let (lo, hi) = crate::delivery::ranges::SCHEDULE_ENTRIES;
    let n = d.retry_schedule.len();
    if !(lo..=hi).contains(&n) {
        return Err(ConfigError::new(
            Key::RetrySchedule,
            Problem::Entries {
                min: lo,
                max: hi,
                got: n,
            },
        ));
    }
    for d in &d.retry_schedule {
        duration_in_range(
            Key::RetrySchedule,
            *d,
            Duration::ZERO,
            crate::delivery::ranges::SCHEDULE_DELAY_MAX,
        )?;
    }
    let (lo, hi) = crate::delivery::ranges::TIMEOUT;
    duration_in_range(Key::ConnectTimeout, d.connect_timeout, lo, hi)?;
    duration_in_range(Key::Timeout, d.timeout, lo, hi)?;
    let (lo, hi) = crate::delivery::ranges::CLAIM_TIMEOUT;
    duration_in_range(Key::ClaimTimeout, d.claim_timeout, lo, hi)?;
    let (lo, hi) = crate::delivery::ranges::CONCURRENCY;
    in_range(Key::Concurrency, d.default_concurrency, lo, hi)?;
    let (lo, hi) = crate::delivery::ranges::MAX_IN_FLIGHT;
    in_range(Key::MaxInFlight, d.max_in_flight, lo, hi)?;
    if !d.jitter.is_finite() || !(0.0..=1.0).contains(&d.jitter) {
        return Err(ConfigError::new(
            Key::Jitter,
            Problem::NotFinite {
                min: 0.0,
                max: 1.0,
                got: d.jitter,
            },
        ));
    }
    http_url(Key::PublicUrl, &d.public_url)?;
    let bases = &d.api_bases;
    for (provider, base) in [
        ("github", Some(&bases.github)),
        ("gitlab", Some(&bases.gitlab)),
        ("jira", bases.jira.as_ref()),
        ("slack", Some(&bases.slack)),
        ("linear", Some(&bases.linear)),
    ] {
        if let Some(base) = base {
            http_url(Key::ApiUrl(provider), base)?;
        }
    }
    Ok(())
}

/// The range of a non-zero retention age (zero keeps forever): a minute to ten
/// years (of 365.25 days, as humantime counts them, so the bound reads `10years`).
pub const RETENTION_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(315_576_000));

const DAY: u64 = 24 * 3600;

/// How long each kind of row is kept; [`Duration::ZERO`] keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Received events (`SWITCHYARD_RETENTION_EVENTS`, default 30 days).
    pub events: Duration,
    /// Delivery attempts (`SWITCHYARD_RETENTION_ATTEMPTS`, default 30 days).
    pub attempts: Duration,
    /// Refused requests (`SWITCHYARD_RETENTION_REJECTIONS`, default 7 days).
    pub rejections: Duration,
    /// Finished workflow runs and their steps (`SWITCHYARD_RETENTION_RUNS`,
    /// default 30 days).
    pub runs: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(30 * DAY),
            attempts: Duration::from_secs(30 * DAY),
            rejections: Duration::from_secs(7 * DAY),
            runs: Duration::from_secs(30 * DAY),
        }
    }
}

impl RetentionConfig {
    /// How long rows of `kind` are kept (zero: forever).
    pub fn age(&self, kind: PruneKind) -> Duration {
        match kind {
            PruneKind::Events => self.events,
            PruneKind::Attempts => self.attempts,
            PruneKind::Rejections => self.rejections,
            PruneKind::Runs => self.runs,
        }
    }

    /// Sets how long rows of `kind` are kept.
    pub fn set(&mut self, kind: PruneKind, age: Duration) {
        match kind {
            PruneKind::Events => self.events = age,
            PruneKind::Attempts => self.attempts = age,
            PruneKind::Rejections => self.rejections = age,
            PruneKind::Runs => self.runs = age,
        }
    }

    /// Each age is zero or within [`RETENTION_RANGE`].
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        let (lo, hi) = RETENTION_RANGE;
        for kind in PruneKind::ALL {
            let age = self.age(kind);
            if !age.is_zero() {
                duration_in_range(Key::Retention(kind), age, lo, hi)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_seeds() {
        assert_eq!(env_var_for("github"), "GITHUB_WEBHOOK_SECRET");
        assert_eq!(env_var_for("generic"), "WEBHOOK_SECRET");
        assert_eq!(env_var_for("crewai"), "WEBHOOK_SECRET");
        let mut c = Config::new("sqlite://x.db", ".");
        c.secrets_from_env(|k| match k {
            "GITHUB_WEBHOOK_SECRET" => Some("new".into()),
            "GITHUB_WEBHOOK_SECRET_PREVIOUS" => Some("old".into()),
            "WEBHOOK_SECRET" => Some("w".into()),
            _ => None,
        });
        assert_eq!(c.secrets_for("github").len(), 2);
        assert_eq!(c.secrets_for("crewai").len(), 1);
        assert!(c.secrets_for("stripe").is_empty());
        assert!(
            !format!("{c:?}").contains("new"),
            "secrets must not appear in Debug"
        );
    }

    fn key_of(configure: impl FnOnce(&mut Config)) -> Option<Key> {
        let mut c = Config::new("sqlite://./data/x.db", ".");
        configure(&mut c);
        c.validate().err().map(|e| e.key)
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(key_of(|_| {}), None);
        assert_eq!(
            key_of(|c| c.database_url = "postgres://u:p@h:5432/d".into()),
            None
        );
    }

    #[test]
    fn each_range_is_enforced_at_both_ends() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        type Change = Box<dyn FnOnce(&mut Config)>;
        let cases: Vec<(Key, Change)> = vec![
            (Key::MaxBodyBytes, Box::new(|c| c.max_body_bytes = 0)),
            (
                Key::MaxBodyBytes,
                Box::new(|c| c.max_body_bytes = MAX_BODY_LIMIT + 1),
            ),
            (Key::MaxApiBodyBytes, Box::new(|c| c.max_api_body_bytes = 0)),
            (
                Key::WaitFallback,
                Box::new(move |c| c.wait_fallback = ms(9)),
            ),
            (
                Key::WaitFallback,
                Box::new(move |c| c.wait_fallback = s(61)),
            ),
            (
                Key::HeaderReadTimeout,
                Box::new(move |c| c.header_read_timeout = ms(99)),
            ),
            (
                Key::BodyReadTimeout,
                Box::new(move |c| c.body_read_timeout = s(3601)),
            ),
            (Key::MaxConnections, Box::new(|c| c.max_connections = 0)),
            (
                Key::RetrySchedule,
                Box::new(|c| c.delivery.retry_schedule.clear()),
            ),
            (
                Key::RetrySchedule,
                Box::new(|c| c.delivery.retry_schedule = vec![Duration::ZERO; 51]),
            ),
            (
                Key::RetrySchedule,
                Box::new(move |c| c.delivery.retry_schedule = vec![s(8 * 86_400)]),
            ),
            (
                Key::ConnectTimeout,
                Box::new(|c| c.delivery.connect_timeout = Duration::ZERO),
            ),
            (
                Key::Timeout,
                Box::new(move |c| c.delivery.timeout = s(3601)),
            ),
            (
                Key::ClaimTimeout,
                Box::new(move |c| c.delivery.claim_timeout = s(3 * 3600 + 1)),
            ),
            (
                Key::Concurrency,
                Box::new(|c| c.delivery.default_concurrency = 0),
            ),
            (
                Key::Concurrency,
                Box::new(|c| c.delivery.default_concurrency = 10_001),
            ),
            (Key::MaxInFlight, Box::new(|c| c.delivery.max_in_flight = 0)),
            (
                Key::MaxInFlight,
                Box::new(|c| c.delivery.max_in_flight = 100_001),
            ),
            (
                Key::RunTimeout,
                Box::new(|c| c.runs.run_timeout = Duration::ZERO),
            ),
            (
                Key::RunClaimLease,
                Box::new(|c| c.runs.claim_lease = Duration::from_secs(3600)),
            ),
            (Key::RunConcurrency, Box::new(|c| c.runs.max_concurrent = 0)),
            (Key::Jitter, Box::new(|c| c.delivery.jitter = f64::NAN)),
            (Key::Jitter, Box::new(|c| c.delivery.jitter = 1.5)),
            (
                Key::PublicUrl,
                Box::new(|c| c.delivery.public_url = "ftp://x".into()),
            ),
            (
                Key::PublicUrl,
                Box::new(|c| c.delivery.public_url = "not a url".into()),
            ),
            (
                Key::ApiUrl("jira"),
                Box::new(|c| c.delivery.api_bases.jira = Some("acme".into())),
            ),
            (
                Key::DatabaseUrl,
                Box::new(|c| c.database_url = "mysql://x".into()),
            ),
            (
                Key::SecretKey,
                Box::new(|c| c.secret_key = Some("c2hvcnQ=".into())),
            ),
            (Key::AdminKey, Box::new(|c| c.admin_key = Some(" ".into()))),
            (
                Key::WebhookApiKey,
                Box::new(|c| c.webhook_api_key = Some("".into())),
            ),
            (
                Key::OtlpEndpoint,
                Box::new(|c| c.otlp_endpoint = Some("localhost:4318".into())),
            ),
            (
                Key::OtlpTracesEndpoint,
                Box::new(|c| c.otlp_traces_endpoint = Some("grpc://c:4317".into())),
            ),
            (
                Key::OtlpServiceName,
                Box::new(|c| c.otlp_service_name = Some(" ".into())),
            ),
        ];
        for (want, configure) in cases {
            assert_eq!(key_of(configure), Some(want));
        }
        // The ends themselves are allowed.
        assert_eq!(key_of(|c| c.max_body_bytes = MAX_BODY_LIMIT), None);
        assert_eq!(key_of(|c| c.delivery.default_concurrency = 10_000), None);
        assert_eq!(key_of(|c| c.delivery.max_in_flight = 100_000), None);
        assert_eq!(key_of(move |c| c.wait_fallback = ms(10)), None);
        assert_eq!(key_of(move |c| c.delivery.timeout = s(3600)), None);
        assert_eq!(
            key_of(|c| {
                c.otlp_endpoint = Some("http://127.0.0.1:4318".into());
                c.otlp_traces_endpoint = Some("https://otel.example.com/v1/traces".into());
                c.otlp_service_name = Some("hooks".into());
            }),
            None
        );
    }

    #[test]
    fn errors_name_the_environment_variable() {
        let mut c = Config::new("sqlite://x.db", ".");
        c.delivery.default_concurrency = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "SWITCHYARD_DELIVERY_CONCURRENCY must be between 1 and 10000 (got 0)"
        );
        c.delivery.default_concurrency = 1;
        c.wait_fallback = Duration::from_secs(120);
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "SWITCHYARD_WAIT_FALLBACK must be between 10ms and 1m (got 2m)"
        );
    }

    #[test]
    fn database_url_hides_its_password() {
        let url =
            DatabaseUrl::new("postgres://sy:hunter2@db:5432/sy?sslmode=require&password=hunter3");
        for shown in [format!("{url:?}"), url.to_string()] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("hunter3"),
                "{shown}"
            );
            assert!(shown.contains("postgres://sy:***@db:5432/sy?sslmode=require&password=***"));
        }
        assert!(url.expose().contains("hunter2"));
        let mut c = Config::new(url, ".");
        c.admin_key = Some("admin-hunter4".into());
        c.secret_key = Some("master-hunter5".into());
        c.webhook_api_key = Some("feedback-hunter6".into());
        c.notify.smtp = Some(smtp());
        if let Some(s) = c.notify.smtp.as_mut() {
            s.username = Some("mailer".into());
            s.password = Some("smtp-hunter7".into());
        }
        let shown = format!("{c:?}");
        for s in [
            "hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7",
        ] {
            assert!(!shown.contains(s), "{s} in {shown}");
        }
    }

    #[test]
    fn llm_settings_are_checked() {
        use crate::llm::{Endpoint, LlmConfig};

        let ollama = || Endpoint {
            base_url: Some("http://127.0.0.1:11434/v1".into()),
            api_key: None,
            model: Some("llama3.1".into()),
        };
        assert!(
            LlmConfig::default().record,
            "prompts are kept unless turned off"
        );
        assert_eq!(
            key_of(|c| {
                c.llm.default = Endpoint {
                    base_url: Some("https://api.openai.com/v1".into()),
                    api_key: Some("sk-hunter8".into()),
                    model: Some("gpt-4o-mini".into()),
                };
                c.llm.providers.insert("ollama".into(), ollama());
            }),
            None
        );
        type Change = Box<dyn FnOnce(&mut LlmConfig)>;
        let cases: Vec<(Key, Change)> = vec![
            (
                Key::LlmBaseUrl,
                Box::new(|l| l.default.base_url = Some("127.0.0.1:11434/v1".into())),
            ),
            (
                Key::LlmApiKey,
                Box::new(|l| l.default.api_key = Some(" ".into())),
            ),
            (
                Key::LlmModel,
                Box::new(|l| l.default.model = Some("".into())),
            ),
            (
                Key::LlmProviders,
                Box::new(move |l| {
                    l.providers.insert(
                        "ollama".into(),
                        Endpoint {
                            base_url: None,
                            ..ollama()
                        },
                    );
                }),
            ),
        ];
        for (key, change) in cases {
            assert_eq!(key_of(|c| change(&mut c.llm)), Some(key));
        }
        let mut c = Config::new("sqlite://x.db", ".");
        c.llm.providers.insert(
            "vllm".into(),
            Endpoint {
                base_url: Some("ftp://gpu-box:8000/v1".into()),
                ..ollama()
            },
        );
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "llm.providers is not valid: provider \"vllm\": base_url must be an http(s) URL \
             (got \"ftp://gpu-box:8000/v1\": the scheme is not http or https)"
        );
        c.llm.providers.clear();
        c.llm.default.api_key = Some("sk-hunter9".into());
        c.llm.providers.insert(
            "openai".into(),
            Endpoint {
                api_key: Some("sk-hunter10".into()),
                ..ollama()
            },
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter"), "{shown}");
    }

    fn smtp() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            username: None,
            password: None,
            from: "Switchyard <alerts@example.com>".into(),
            tls: SmtpTls::Starttls,
        }
    }

    #[test]
    fn notify_settings_are_checked() {
        let with = |f: Box<dyn FnOnce(&mut NotifyConfig)>| {
            key_of(|c| {
                c.notify.smtp = Some(smtp());
                f(&mut c.notify)
            })
        };
        assert_eq!(with(Box::new(|_| {})), None);
        assert_eq!(
            with(Box::new(|n| {
                n.email_to = vec!["a@example.com".into(), "b@example.org".into()];
                n.slack_webhook_url = Some("https://hooks.slack.com/services/T/B/x".into());
            })),
            None
        );
        type Change = Box<dyn FnOnce(&mut NotifyConfig)>;
        let set = |f: fn(&mut SmtpConfig)| -> Change {
            Box::new(move |n: &mut NotifyConfig| f(n.smtp.as_mut().unwrap()))
        };
        let cases: Vec<(Key, Change)> = vec![
            (Key::SmtpPort, set(|s| s.port = 0)),
            (Key::SmtpHost, set(|s| s.host = " ".into())),
            (Key::SmtpHost, set(|s| s.host = "smtp example".into())),
            (Key::SmtpFrom, set(|s| s.from = "not an address".into())),
            (Key::SmtpFrom, set(|s| s.from = "".into())),
            (Key::SmtpPassword, set(|s| s.username = Some("u".into()))),
            (Key::SmtpUsername, set(|s| s.password = Some("p".into()))),
            (
                Key::NotifyEmailTo,
                Box::new(|n| n.email_to = vec!["nobody".into()]),
            ),
            (
                Key::NotifyEmailTo,
                Box::new(|n| {
                    n.smtp = None;
                    n.email_to = vec!["a@example.com".into()];
                }),
            ),
            (
                Key::SlackWebhookUrl,
                Box::new(|n| n.slack_webhook_url = Some("hooks.slack.com/x".into())),
            ),
            (
                Key::CrewaiApiUrl,
                Box::new(|n| n.crewai_api_url = Some("api.crewai.com".into())),
            ),
        ];
        for (key, change) in cases {
            assert_eq!(with(change), Some(key));
        }
        for (name, tls) in [
            ("starttls", SmtpTls::Starttls),
            ("TLS", SmtpTls::Tls),
            ("none", SmtpTls::None),
        ] {
            assert_eq!(SmtpTls::parse(name), Some(tls));
        }
        assert_eq!(SmtpTls::parse("ssl"), None);
        assert_eq!(SmtpTls::default(), SmtpTls::Starttls);
        assert_eq!(Key::SmtpTls.env().as_deref(), Some("SMTP_TLS"));
        assert_eq!(Key::NotifyEmailTo.file_key(), "notify.email_to");
    }
}
