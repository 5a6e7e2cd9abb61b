//! Where the configuration comes from: built-in defaults, then a TOML file
//! (`switchyard.toml` in the working directory, or `--config PATH` /
//! `SWITCHYARD_CONFIG`), then environment variables, then command-line flags — each
//! layer replacing the one before, key by key (figment, as svix-server's `cfg.rs`).
//! The result is checked with [`Config::validate`] before anything starts.
//!
//! Every layer is a figment provider whose metadata names its keys the way the user
//! wrote them (`delivery.timeout in ./switchyard.toml`, `SWITCHYARD_DELIVERY_TIMEOUT`,
//! `--delivery-timeout`), so an error says exactly what to fix. The environment is
//! read through a lookup function, so tests load without touching the process's.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use switchyard_core::{providers, Secret};
use switchyard_engine::config::{env_var_for, Key, SmtpConfig, SmtpTls};
use switchyard_engine::delivery::{parse_schedule, ssrf, writeback};
use switchyard_engine::llm::{Endpoint, LlmConfig};
use switchyard_engine::Config;
use switchyard_store::PruneKind;

use crate::logging::LogFormat;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "SWITCHYARD_CONFIG";
/// The file read from the working directory when none is named.
pub const DEFAULT_FILE: &str = "switchyard.toml";

/// Providers with a write-back API: they take `api_token` and `api_url`.
const WRITEBACK: [&str; 5] = ["github", "gitlab", "jira", "slack", "linear"];

/// The settings that are neither per provider: file key, environment variable, flag.
/// The environment names are the ones the binary has always read.
const TABLE: &[(&str, &str, &str)] = &[
    ("host", "WEBHOOK_SERVER_HOST", "--host"),
    ("port", "WEBHOOK_SERVER_PORT", "--port"),
    ("database_url", "DATABASE_URL", "--database-url"),
    ("data_dir", "SWITCHYARD_DATA_DIR", "--data-dir"),
    ("secret_key", "SWITCHYARD_SECRET_KEY", "--secret-key"),
    ("admin_key", "SWITCHYARD_ADMIN_KEY", "--admin-key"),
    ("webhook_api_key", "WEBHOOK_API_KEY", "--webhook-api-key"),
    ("config_dir", "SWITCHYARD_CONFIG_DIR", "--config-dir"),
    (
        "workflows_dir",
        "SWITCHYARD_WORKFLOWS_DIR",
        "--workflows-dir",
    ),
    (
        "max_body_bytes",
        "SWITCHYARD_MAX_BODY_BYTES",
        "--max-body-bytes",
    ),
    (
        "max_api_body_bytes",
        "SWITCHYARD_MAX_API_BODY_BYTES",
        "--max-api-body-bytes",
    ),
    (
        "wait_fallback",
        "SWITCHYARD_WAIT_FALLBACK",
        "--wait-fallback",
    ),
    (
        "header_read_timeout",
        "SWITCHYARD_HEADER_READ_TIMEOUT",
        "--header-read-timeout",
    ),
    (
        "body_read_timeout",
        "SWITCHYARD_BODY_READ_TIMEOUT",
        "--body-read-timeout",
    ),
    (
        "max_connections",
        "SWITCHYARD_MAX_CONNECTIONS",
        "--max-connections",
    ),
    ("public_url", "SWITCHYARD_PUBLIC_URL", "--public-url"),
    (
        "trusted_proxies",
        "SWITCHYARD_TRUSTED_PROXIES",
        "--trusted-proxies",
    ),
    (
        "rate_limit.per_second",
        "SWITCHYARD_RATE_LIMIT_PER_SECOND",
        "--rate-limit-per-second",
    ),
    (
        "rate_limit.burst",
        "SWITCHYARD_RATE_LIMIT_BURST",
        "--rate-limit-burst",
    ),
    (
        "rejections.per_minute",
        "SWITCHYARD_REJECTIONS_PER_MINUTE",
        "--rejections-per-minute",
    ),
    (
        "retention.events",
        "SWITCHYARD_RETENTION_EVENTS",
        "--retention-events",
    ),
    (
        "retention.attempts",
        "SWITCHYARD_RETENTION_ATTEMPTS",
        "--retention-attempts",
    ),
    (
        "retention.rejections",
        "SWITCHYARD_RETENTION_REJECTIONS",
        "--retention-rejections",
    ),
    (
        "retention.runs",
        "SWITCHYARD_RETENTION_RUNS",
        "--retention-runs",
    ),
    ("log_format", "SWITCHYARD_LOG_FORMAT", "--log-format"),
    (
        "delivery.retry_schedule",
        "SWITCHYARD_RETRY_SCHEDULE",
        "--retry-schedule",
    ),
    (
        "delivery.connect_timeout",
        "SWITCHYARD_DELIVERY_CONNECT_TIMEOUT",
        "--delivery-connect-timeout",
    ),
    (
        "delivery.timeout",
        "SWITCHYARD_DELIVERY_TIMEOUT",
        "--delivery-timeout",
    ),
    (
        "delivery.allow",
        "SWITCHYARD_DELIVERY_ALLOW",
        "--delivery-allow",
    ),
    (
        "delivery.concurrency",
        "SWITCHYARD_DELIVERY_CONCURRENCY",
        "--delivery-concurrency",
    ),
    (
        "delivery.max_in_flight",
        "SWITCHYARD_DELIVERY_MAX_IN_FLIGHT",
        "--delivery-max-in-flight",
    ),
    (
        "delivery.claim_timeout",
        "SWITCHYARD_DELIVERY_CLAIM_TIMEOUT",
        "--delivery-claim-timeout",
    ),
    ("smtp.host", "SMTP_HOST", "--smtp-host"),
    ("smtp.port", "SMTP_PORT", "--smtp-port"),
    ("smtp.username", "SMTP_USERNAME", "--smtp-username"),
    ("smtp.password", "SMTP_PASSWORD", "--smtp-password"),
    ("smtp.from", "SMTP_FROM", "--smtp-from"),
    ("smtp.tls", "SMTP_TLS", "--smtp-tls"),
    ("notify.email_to", "NOTIFY_EMAIL_TO", "--notify-email-to"),
    (
        "notify.slack_webhook_url",
        "SLACK_WEBHOOK_URL",
        "--slack-webhook-url",
    ),
    (
        "notify.crewai_api_url",
        "CREWAI_API_URL",
        "--crewai-api-url",
    ),
    (
        "notify.crewai_api_token",
        "CREWAI_API_TOKEN",
        "--crewai-api-token",
    ),
    (
        "otlp.endpoint",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "--otlp-endpoint",
    ),
    (
        "otlp.traces_endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "--otlp-traces-endpoint",
    ),
    (
        "otlp.service_name",
        "OTEL_SERVICE_NAME",
        "--otel-service-name",
    ),
    ("llm.base_url", "SWITCHYARD_LLM_BASE_URL", "--llm-base-url"),
    ("llm.api_key", "SWITCHYARD_LLM_API_KEY", "--llm-api-key"),
    ("llm.model", "SWITCHYARD_LLM_MODEL", "--llm-model"),
    ("llm.record", "SWITCHYARD_LLM_RECORD", "--llm-record"),
    ("runs.timeout", "SWITCHYARD_RUN_TIMEOUT", "--run-timeout"),
    (
        "runs.claim_lease",
        "SWITCHYARD_RUN_CLAIM_LEASE",
        "--run-claim-lease",
    ),
    (
        "runs.concurrency",
        "SWITCHYARD_RUN_CONCURRENCY",
        "--run-concurrency",
    ),
];

/// Every environment variable and the file keys it sets: [`TABLE`] and, per
/// provider, `{PROVIDER}_WEBHOOK_SECRET` (`WEBHOOK_SECRET` sets both `generic` and
/// `crewai`, as it always has), `_PREVIOUS`, and for the write-back providers
/// `{PROVIDER}_API_TOKEN`, `SWITCHYARD_{PROVIDER}_API_URL` and `JIRA_API_USER`.
pub fn env_names() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = TABLE
        .iter()
        .map(|(key, env, _)| ((*env).to_owned(), vec![(*key).to_owned()]))
        .collect();
    let mut push = |env: String, key: String| match out.iter_mut().find(|(e, _)| *e == env) {
        Some((_, keys)) => keys.push(key),
        None => out.push((env, vec![key])),
    };
    for p in providers::ALL {
        let (name, var) = (p.name(), env_var_for(p.name()));
        push(var.clone(), format!("providers.{name}.secret"));
        push(
            format!("{var}_PREVIOUS"),
            format!("providers.{name}.previous_secret"),
        );
    }
    for p in WRITEBACK {
        let upper = p.to_ascii_uppercase();
        push(
            format!("{upper}_API_TOKEN"),
            format!("providers.{p}.api_token"),
        );
        if let Some(env) = Key::ApiUrl(p).env() {
            push(env, Key::ApiUrl(p).file_key());
        }
    }
    push("JIRA_API_USER".into(), "providers.jira.api_user".into());
    out
}

/// The configuration file's shape, and what every layer fills in. No `Debug`: it
/// holds secrets as plain text until they move into [`Config`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    host: String,
    port: u16,
    database_url: String,
    data_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admin_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_api_key: Option<String>,
    config_dir: PathBuf,
    workflows_dir: PathBuf,
    max_body_bytes: usize,
    max_api_body_bytes: usize,
    wait_fallback: String,
    header_read_timeout: String,
    body_read_timeout: String,
    max_connections: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// CIDRs, as a list or one comma-separated string (as the environment gives).
    trusted_proxies: StringOrList,
    rate_limit: RateLimitSettings,
    rejections: RejectionSettings,
    retention: RetentionSettings,
    /// `text` or `json`.
    log_format: String,
    delivery: DeliverySettings,
    smtp: SmtpSettings,
    notify: NotifySettings,
    otlp: OtlpSettings,
    llm: LlmSettings,
    runs: RunSettings,
    #[serde(default)]
    providers: BTreeMap<String, ProviderSettings>,
}

/// `[runs]`: how workflow runs are carried out.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSettings {
    timeout: String,
    claim_lease: String,
    concurrency: usize,
}

/// Where workflow runs' traces go (OTLP/HTTP); nothing is exported without an
/// endpoint.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traces_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
}

/// `[llm]`: the default endpoint, whether prompts are recorded, and the named
/// providers.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    record: bool,
    #[serde(default)]
    providers: BTreeMap<String, LlmProviderSettings>,
}

/// `[llm.providers.NAME]`. The key is named by its environment variable, never
/// written in the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmProviderSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// 587, 465 or 25 by `tls` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    tls: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifySettings {
    /// Addresses, as a list or one comma-separated string (as the environment gives).
    email_to: StringOrList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slack_webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crewai_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crewai_api_token: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverySettings {
    retry_schedule: String,
    connect_timeout: String,
    timeout: String,
    allow: String,
    concurrency: usize,
    max_in_flight: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim_timeout: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    List(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<&str> {
        match self {
            Self::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
            Self::List(l) => l.iter().map(|s| s.trim()).collect(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectionSettings {
    per_minute: u32,
}

/// `[retention]`: how long each kind of row is kept, a duration (`30d`) or `0`
/// (forever).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionSettings {
    events: Age,
    attempts: Age,
    rejections: Age,
    runs: Age,
}

/// A retention age as written: a duration, or the number `0` (a TOML file may
/// write it bare).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Age {
    Text(String),
    Number(u64),
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = Config::new("sqlite://./data/switchyard.db", "./data");
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            database_url: engine.database_url.expose().to_owned(),
            data_dir: engine.data_dir,
            secret_key: None,
            admin_key: None,
            webhook_api_key: None,
            config_dir: "./data/config/webhooks".into(),
            workflows_dir: "./data/config/workflows".into(),
            max_body_bytes: engine.max_body_bytes,
            max_api_body_bytes: engine.max_api_body_bytes,
            wait_fallback: humantime::format_duration(engine.wait_fallback).to_string(),
            header_read_timeout: humantime::format_duration(engine.header_read_timeout).to_string(),
            body_read_timeout: humantime::format_duration(engine.body_read_timeout).to_string(),
            max_connections: engine.max_connections,
            public_url: None,
            trusted_proxies: StringOrList::One(String::new()),
            rate_limit: RateLimitSettings {
                per_second: None,
                burst: None,
            },
            rejections: RejectionSettings {
                per_minute: engine.rejections_per_minute,
            },
            retention: {
                let age = |kind| {
                    Age::Text(humantime::format_duration(engine.retention.age(kind)).to_string())
                };
                RetentionSettings {
                    events: age(PruneKind::Events),
                    attempts: age(PruneKind::Attempts),
                    rejections: age(PruneKind::Rejections),
                    runs: age(PruneKind::Runs),
                }
            },
            log_format: LogFormat::default().as_str().into(),
            delivery: DeliverySettings {
                retry_schedule: "0,5s,5m,30m,2h,5h,10h,10h".into(),
                connect_timeout: "5s".into(),
                timeout: "30s".into(),
                allow: String::new(),
                concurrency: engine.delivery.default_concurrency,
                max_in_flight: engine.delivery.max_in_flight,
                claim_timeout: None,
            },
            smtp: SmtpSettings {
                host: None,
                port: None,
                username: None,
                password: None,
                from: None,
                tls: SmtpTls::default().as_str().into(),
            },
            notify: NotifySettings {
                email_to: StringOrList::One(String::new()),
                slack_webhook_url: None,
                crewai_api_url: None,
                crewai_api_token: None,
            },
            otlp: OtlpSettings {
                endpoint: None,
                traces_endpoint: None,
                service_name: None,
            },
            llm: LlmSettings {
                base_url: None,
                api_key: None,
                model: None,
                record: LlmConfig::default().record,
                providers: BTreeMap::new(),
            },
            runs: RunSettings {
                timeout: humantime::format_duration(engine.runs.run_timeout).to_string(),
                claim_lease: humantime::format_duration(engine.runs.claim_lease).to_string(),
                concurrency: engine.runs.max_concurrent,
            },
            providers: BTreeMap::new(),
        }
    }
}

/// The flags given on the command line, as `(file key, value)`; flags not given
/// are absent, so they leave the lower layers alone.
pub type Flags = Vec<(&'static str, Value)>;

/// A configuration that cannot be used; the message names the key to fix.
#[derive(Debug)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A loaded, validated configuration.
pub struct Loaded {
    pub config: Config,
    /// Where `serve` listens (`host`, `port`).
    pub listen: SocketAddr,
    /// How log lines are written.
    pub log_format: LogFormat,
}

/// The configuration file to read: `--config`, else `SWITCHYARD_CONFIG`, else
/// `switchyard.toml` in `cwd` when there is one. A named file must exist.
pub fn config_file(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Option<PathBuf>, Invalid> {
    let named = match flag {
        Some(p) => Some(("--config", p.to_path_buf())),
        None => env(CONFIG_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (CONFIG_ENV, PathBuf::from(v))),
    };
    if let Some((from, path)) = named {
        if !path.is_file() {
            return Err(Invalid(format!(
                "{from}: the file {} does not exist",
                path.display()
            )));
        }
        return Ok(Some(path));
    }
    let default = cwd.join(DEFAULT_FILE);
    Ok(default.is_file().then_some(default))
}

/// Loads the configuration: defaults, then `file`, then the environment (through
/// `env`), then `flags`; converts and validates it.
pub fn load(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&Path>,
) -> Result<Loaded, Invalid> {
    let figment = figment(flags, env, file)?;
    let settings: Settings = figment
        .extract_lossy()
        .map_err(|e| Invalid(describe_figment_error(&e)))?;
    let loaded = convert(settings, &figment, env)?;
    loaded
        .config
        .validate()
        .map_err(|e| Invalid(format!("{} {}", name_of(&figment, e.key), e.problem)))?;
    Ok(loaded)
}

/// The layers, lowest first.
fn figment(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&Path>,
) -> Result<Figment, Invalid> {
    let defaults = Value::serialize(Settings::default())
        .ok()
        .and_then(Value::into_dict)
        .ok_or_else(|| Invalid("the built-in defaults do not serialize".into()))?;
    let mut figment = Figment::new().merge(Layer {
        metadata: Metadata::named("built-in default")
            .interpolater(|_: &Profile, keys: &[&str]| keys.join(".")),
        dict: defaults,
    });
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    // One layer per variable, so an error names the exact variable that set a key.
    for (var, keys) in env_names() {
        let Some(value) = env(&var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let mut dict = Dict::new();
        for key in &keys {
            insert(&mut dict, key, Value::from(value.clone()));
        }
        let name = var.clone();
        figment = figment.merge(Layer {
            metadata: Metadata::named(format!("environment variable {var}"))
                .interpolater(move |_: &Profile, _: &[&str]| name.clone()),
            dict,
        });
    }
    let mut dict = Dict::new();
    for (key, value) in flags {
        insert(&mut dict, key, value.clone());
    }
    Ok(figment.merge(Layer {
        metadata: Metadata::named("command line").interpolater(|_: &Profile, keys: &[&str]| {
            let key = keys.join(".");
            TABLE
                .iter()
                .find(|(k, _, _)| *k == key)
                .map_or(key, |(_, _, flag)| (*flag).to_owned())
        }),
        dict,
    }))
}

/// A layer of values with metadata that names them.
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Sets a dotted `key` in `dict`, making the tables on the way.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// How the user wrote the setting at dotted `key`: the flag, the environment
/// variable, or the file key and file that supplied its value.
fn name_for(figment: &Figment, key: &str) -> Option<String> {
    let md = figment.find_metadata(key)?;
    let keys: Vec<&str> = key.split('.').collect();
    Some(match &md.source {
        Some(Source::File(path)) => format!("{key} in {}", path.display()),
        _ => md.interpolate(&Profile::Default, &keys),
    })
}

/// [`name_for`] for a validation key; a key no layer set (a derived value) goes by
/// its environment variable.
fn name_of(figment: &Figment, key: Key) -> String {
    name_for(figment, &key.file_key()).unwrap_or_else(|| key.name())
}

/// A figment error as one line naming the key: `SWITCHYARD_DELIVERY_CONCURRENCY:
/// invalid type: ...`.
fn describe_figment_error(e: &figment::Error) -> String {
    let path = e.path.join(".");
    let name = match &e.metadata {
        Some(md) => match &md.source {
            Some(Source::File(file)) if path.is_empty() => file.display().to_string(),
            Some(Source::File(file)) => format!("{path} in {}", file.display()),
            _ if path.is_empty() => md.name.to_string(),
            _ => md.interpolate(&Profile::Default, &e.path),
        },
        None if path.is_empty() => "configuration".to_owned(),
        None => path,
    };
    format!("{name}: {}", e.kind)
}

/// A duration as written (`5s`, `250ms`; a bare `0` is zero).
fn duration(figment: &Figment, key: &str, text: &str) -> Result<Duration, Invalid> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim()).map_err(|e| {
        let name = name_for(figment, key).unwrap_or_else(|| key.to_owned());
        Invalid(format!("{name} must be a duration like 5s or 250ms ({e})"))
    })
}

/// Turns the merged settings into the engine's [`Config`] and the listen address;
/// `env` gives the variables `[llm.providers]` name for their keys.
fn convert(
    s: Settings,
    figment: &Figment,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Invalid> {
    let named = |key: &str| name_for(figment, key).unwrap_or_else(|| key.to_owned());
    let host = s.host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| {
        Invalid(format!(
            "{} must be an IP address (got {:?})",
            named("host"),
            s.host
        ))
    })?;
    let listen = SocketAddr::new(ip, s.port);

    let mut config = Config::new(s.database_url, s.data_dir);
    config.max_body_bytes = s.max_body_bytes;
    config.max_api_body_bytes = s.max_api_body_bytes;
    config.wait_fallback = duration(figment, "wait_fallback", &s.wait_fallback)?;
    config.header_read_timeout = duration(figment, "header_read_timeout", &s.header_read_timeout)?;
    config.body_read_timeout = duration(figment, "body_read_timeout", &s.body_read_timeout)?;
    config.max_connections = s.max_connections;
    config.admin_key = s.admin_key.map(SecretString::from);
    config.webhook_api_key = s.webhook_api_key.map(SecretString::from);
    config.secret_key = s.secret_key.map(SecretString::from);
    config.config_dir = Some(s.config_dir);
    config.workflows_dir = Some(s.workflows_dir);
    for item in s.trusted_proxies.items() {
        let net = switchyard_core::routing::access::parse_network(item).ok_or_else(|| {
            Invalid(format!(
                "{} must be IP addresses or CIDRs such as 10.0.0.0/8 (got {item:?})",
                named("trusted_proxies")
            ))
        })?;
        config.trusted_proxies.push(net);
    }
    config.rate_limit = match (s.rate_limit.per_second, s.rate_limit.burst) {
        (Some(per_second), burst) => {
            Some(switchyard_core::routing::RateLimit { per_second, burst })
        }
        (None, Some(_)) => {
            return Err(Invalid(format!(
                "{} needs {} as well",
                named("rate_limit.burst"),
                named("rate_limit.per_second")
            )))
        }
        (None, None) => None,
    };
    config.rejections_per_minute = s.rejections.per_minute;
    let r = &s.retention;
    for (kind, age) in [
        (PruneKind::Events, &r.events),
        (PruneKind::Attempts, &r.attempts),
        (PruneKind::Rejections, &r.rejections),
        (PruneKind::Runs, &r.runs),
    ] {
        let key = format!("retention.{}", kind.as_str());
        let age = match age {
            Age::Text(text) => duration(figment, &key, text)?,
            Age::Number(0) => Duration::ZERO,
            Age::Number(n) => {
                return Err(Invalid(format!(
                    "{} must be a duration like 30d, or 0 to keep forever (got {n})",
                    named(&key)
                )))
            }
        };
        config.retention.set(kind, age);
    }
    let log_format = LogFormat::parse(&s.log_format).ok_or_else(|| {
        Invalid(format!(
            "{} must be text or json (got {:?})",
            named("log_format"),
            s.log_format
        ))
    })?;

    for (name, p) in &s.providers {
        if providers::by_name(name).is_none() {
            return Err(Invalid(format!(
                "{} is not a provider",
                named(&format!("providers.{name}"))
            )));
        }
        let writeback = WRITEBACK.contains(&name.as_str());
        for (field, set, ok) in [
            ("api_token", p.api_token.is_some(), writeback),
            ("api_url", p.api_url.is_some(), writeback),
            ("api_user", p.api_user.is_some(), name == "jira"),
        ] {
            if set && !ok {
                return Err(Invalid(format!(
                    "{} is not used: {name} has no such setting",
                    named(&format!("providers.{name}.{field}"))
                )));
            }
        }
        // Blank secrets are unset ones, as they have always been.
        let secrets: Vec<Secret> = [&p.secret, &p.previous_secret]
            .into_iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.as_bytes()))
            .collect();
        if !secrets.is_empty() {
            config.provider_secrets.insert(name.clone(), secrets);
        }
    }

    let d = &mut config.delivery;
    let dl = &s.delivery;
    d.retry_schedule = parse_schedule(&dl.retry_schedule).map_err(|e| {
        Invalid(format!(
            "{} must be comma-separated durations: {e}",
            named("delivery.retry_schedule")
        ))
    })?;
    d.connect_timeout = duration(figment, "delivery.connect_timeout", &dl.connect_timeout)?;
    d.timeout = duration(figment, "delivery.timeout", &dl.timeout)?;
    // A claim must outlast the request it covers, or another process would send the
    // message again while it is still in flight.
    d.claim_timeout = match &dl.claim_timeout {
        Some(t) => {
            duration(figment, "delivery.claim_timeout", t)?.max(d.timeout + Duration::from_secs(1))
        }
        None => d.timeout * 2 + Duration::from_secs(30),
    };
    d.guard = std::sync::Arc::new(
        ssrf::Guard::from_allow_list(&dl.allow)
            .map_err(|e| Invalid(format!("{}: {e}", named("delivery.allow"))))?,
    );
    d.default_concurrency = dl.concurrency;
    d.max_in_flight = dl.max_in_flight;
    // The provider lookups keep their meaning by reading the merged values under
    // their environment names.
    let provider = |name: &str| s.providers.get(name);
    let by_env = |var: &str| -> Option<String> {
        if var == "JIRA_API_USER" {
            return provider("jira").and_then(|p| p.api_user.clone());
        }
        WRITEBACK.iter().find_map(|p| {
            let settings = provider(p)?;
            if Key::ApiUrl(p).env().as_deref() == Some(var) {
                settings.api_url.clone()
            } else if var == format!("{}_API_TOKEN", p.to_ascii_uppercase()) {
                settings.api_token.clone()
            } else {
                None
            }
        })
    };
    d.api_bases = writeback::ApiBases::from_lookup(by_env);
    d.tokens_from_env(by_env);
    d.public_url = s.public_url.unwrap_or_else(|| match ip {
        IpAddr::V6(_) => format!("http://[{ip}]:{}", s.port),
        IpAddr::V4(_) => format!("http://{ip}:{}", s.port),
    });
    config.notify.smtp = smtp(s.smtp, &named)?;
    config.notify.email_to = s
        .notify
        .email_to
        .items()
        .into_iter()
        .map(str::to_owned)
        .collect();
    config.notify.slack_webhook_url = s.notify.slack_webhook_url.filter(|u| !u.is_empty());
    config.notify.crewai_api_url = s.notify.crewai_api_url.filter(|u| !u.is_empty());
    config.notify.crewai_api_token = s
        .notify
        .crewai_api_token
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    // Blank is unset, as for every variable (the OTel SDKs read them the same way).
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    config.runs.run_timeout = duration(figment, "runs.timeout", &s.runs.timeout)?;
    config.runs.claim_lease = duration(figment, "runs.claim_lease", &s.runs.claim_lease)?;
    config.runs.max_concurrent = s.runs.concurrency;
    config.otlp_endpoint = set(s.otlp.endpoint);
    config.otlp_traces_endpoint = set(s.otlp.traces_endpoint);
    config.otlp_service_name = set(s.otlp.service_name);
    config.llm = llm(s.llm, &named, env)?;
    Ok(Loaded {
        config,
        listen,
        log_format,
    })
}

/// The LLM endpoints. A provider's key is read from the variable its
/// `api_key_env` names, which must be set: a key that silently went missing
/// would only show as 401s once a workflow runs. Blank values are unset ones.
fn llm(
    l: LlmSettings,
    named: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LlmConfig, Invalid> {
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let mut providers = BTreeMap::new();
    for (name, p) in l.providers {
        let api_key = match given(p.api_key_env) {
            None => None,
            Some(var) => {
                let key = given(env(var.trim())).ok_or_else(|| {
                    Invalid(format!(
                        "{} names {var}, which is not set",
                        named(&format!("llm.providers.{name}.api_key_env"))
                    ))
                })?;
                Some(SecretString::from(key))
            }
        };
        let endpoint = Endpoint {
            base_url: given(p.base_url),
            api_key,
            model: given(p.model),
        };
        providers.insert(name, endpoint);
    }
    Ok(LlmConfig {
        default: Endpoint {
            base_url: given(l.base_url),
            api_key: given(l.api_key).map(SecretString::from),
            model: given(l.model),
        },
        providers,
        record: l.record,
    })
}

/// The SMTP server, when `smtp.host` is set; its other settings are refused
/// without it, so a half-configured server is not silently ignored.
fn smtp(sm: SmtpSettings, named: &dyn Fn(&str) -> String) -> Result<Option<SmtpConfig>, Invalid> {
    let tls = SmtpTls::parse(&sm.tls).ok_or_else(|| {
        Invalid(format!(
            "{} must be {} (got {:?})",
            named("smtp.tls"),
            SmtpTls::NAMES,
            sm.tls
        ))
    })?;
    let blank = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let Some(host) = blank(sm.host) else {
        for (key, set) in [
            ("smtp.port", sm.port.is_some()),
            ("smtp.username", sm.username.is_some()),
            ("smtp.password", sm.password.is_some()),
            ("smtp.from", sm.from.is_some()),
        ] {
            if set {
                return Err(Invalid(format!(
                    "{} is not used without SMTP_HOST (smtp.host)",
                    named(key)
                )));
            }
        }
        return Ok(None);
    };
    let from = blank(sm.from).ok_or_else(|| {
        Invalid(format!(
            "{} needs SMTP_FROM (smtp.from), the address e-mail is sent from",
            named("smtp.host")
        ))
    })?;
    Ok(Some(SmtpConfig {
        host,
        port: sm.port.unwrap_or(tls.default_port()),
        username: sm.username,
        password: sm.password.map(SecretString::from),
        from,
        tls,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn load_with(
        flags: &Flags,
        env: &[(&str, &str)],
        file: Option<&Path>,
    ) -> Result<Config, Invalid> {
        load(flags, &env_of(env), file).map(|l| l.config)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let l = load(&vec![], &env_of(&[]), None).unwrap();
        let c = &l.config;
        assert_eq!(l.listen, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(c.database_url.expose(), "sqlite://./data/switchyard.db");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.config_dir, Some(PathBuf::from("./data/config/webhooks")));
        assert_eq!(
            c.workflows_dir,
            Some(PathBuf::from("./data/config/workflows"))
        );
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.max_api_body_bytes, 1 << 20);
        assert_eq!(c.wait_fallback, Duration::from_millis(250));
        assert!(c.admin_key.is_none() && c.secret_key.is_none());
        assert!(c.webhook_api_key.is_none());
        assert!(c.provider_secrets.is_empty());
        let d = &c.delivery;
        assert_eq!(d.retry_schedule.len(), 8);
        assert_eq!(d.retry_schedule[7], Duration::from_secs(36_000));
        assert_eq!(d.connect_timeout, Duration::from_secs(5));
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.claim_timeout, Duration::from_secs(90));
        assert_eq!(d.default_concurrency, 32);
        assert_eq!(d.max_in_flight, 512);
        assert_eq!(d.public_url, "http://127.0.0.1:8000");
        assert_eq!(d.api_bases, writeback::ApiBases::default());
        assert!(d.provider_tokens.is_empty());
    }

    #[test]
    fn the_example_file_states_the_defaults() {
        let (_dir, path) = file(include_str!("../../../switchyard.example.toml"));
        let example = load(&vec![], &env_of(&[]), Some(&path)).unwrap();
        let defaults = load(&vec![], &env_of(&[]), None).unwrap();
        assert_eq!(example.listen, defaults.listen);
        assert_eq!(
            format!("{:?}", example.config),
            format!("{:?}", defaults.config)
        );
    }

    #[test]
    fn layers_apply_in_order_file_env_flag() {
        let (_dir, path) = file(
            r#"
            port = 9001
            wait_fallback = "1s"
            max_body_bytes = 2048
            [delivery]
            concurrency = 7
            timeout = "11s"
            [providers.github]
            secret = "from-file"
            "#,
        );
        let env = [
            ("SWITCHYARD_DELIVERY_CONCURRENCY", "8"),
            ("SWITCHYARD_WAIT_FALLBACK", "2s"),
            ("GITHUB_WEBHOOK_SECRET", "from-env"),
        ];
        let flags: Flags = vec![("delivery.concurrency", Value::from(9usize))];

        // The file alone.
        let c = load_with(&vec![], &[], Some(&path)).unwrap();
        assert_eq!(c.delivery.default_concurrency, 7);
        assert_eq!(c.wait_fallback, Duration::from_secs(1));
        assert_eq!(c.max_body_bytes, 2048);
        assert_eq!(c.delivery.timeout, Duration::from_secs(11));
        assert_eq!(c.secrets_for("github")[0].expose(), b"from-file");

        // The environment over the file, key by key.
        let l = load(&vec![], &env_of(&env), Some(&path)).unwrap();
        let c = &l.config;
        assert_eq!(c.delivery.default_concurrency, 8);
        assert_eq!(c.wait_fallback, Duration::from_secs(2));
        assert_eq!(c.max_body_bytes, 2048, "keys the environment leaves stay");
        assert_eq!(l.listen.port(), 9001);
        assert_eq!(c.secrets_for("github")[0].expose(), b"from-env");

        // A flag over both.
        let c = load_with(&flags, &env, Some(&path)).unwrap();
        assert_eq!(c.delivery.default_concurrency, 9);
        assert_eq!(c.wait_fallback, Duration::from_secs(2));
    }

    #[test]
    fn every_env_name_keeps_its_meaning() {
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let env = [
            ("DATABASE_URL", "postgres://u:pw@db:5432/sy"),
            ("SWITCHYARD_DATA_DIR", "/var/sy"),
            ("SWITCHYARD_SECRET_KEY", key),
            ("WEBHOOK_SERVER_HOST", "0.0.0.0"),
            ("WEBHOOK_SERVER_PORT", "8080"),
            ("SWITCHYARD_MAX_BODY_BYTES", "4096"),
            ("SWITCHYARD_MAX_API_BODY_BYTES", "8192"),
            ("SWITCHYARD_CONFIG_DIR", "/etc/sy/webhooks"),
            ("SWITCHYARD_WORKFLOWS_DIR", "/etc/sy/workflows"),
            ("SWITCHYARD_ADMIN_KEY", "admin-key-value"),
            ("WEBHOOK_API_KEY", "feedback-key-value"),
            ("SWITCHYARD_RETRY_SCHEDULE", "0, 1s, 2m"),
            ("SWITCHYARD_DELIVERY_CONNECT_TIMEOUT", "2s"),
            ("SWITCHYARD_DELIVERY_TIMEOUT", "10s"),
            ("SWITCHYARD_DELIVERY_ALLOW", "10.0.0.0/8"),
            ("SWITCHYARD_DELIVERY_CONCURRENCY", "3"),
            ("SWITCHYARD_DELIVERY_MAX_IN_FLIGHT", "40"),
            ("SWITCHYARD_DELIVERY_CLAIM_TIMEOUT", "5m"),
            ("SWITCHYARD_PUBLIC_URL", "https://hooks.example.com"),
            ("SWITCHYARD_WAIT_FALLBACK", "100ms"),
            ("GITHUB_WEBHOOK_SECRET", "gh-new"),
            ("GITHUB_WEBHOOK_SECRET_PREVIOUS", "gh-old"),
            ("WEBHOOK_SECRET", "generic-secret"),
            ("STANDARD_WEBHOOK_SECRET", "whsec_abc"),
            ("GITHUB_API_TOKEN", "gh-token"),
            ("JIRA_API_TOKEN", "jira-token"),
            ("JIRA_API_USER", "me@example.com"),
            (
                "SWITCHYARD_GITHUB_API_URL",
                "https://ghe.example.com/api/v3/",
            ),
            ("SWITCHYARD_JIRA_API_URL", "https://acme.atlassian.net"),
        ];
        let l = load(&vec![], &env_of(&env), None).unwrap();
        let c = &l.config;
        assert_eq!(l.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.database_url.expose(), "postgres://u:pw@db:5432/sy");
        assert_eq!(c.data_dir, PathBuf::from("/var/sy"));
        assert_eq!(c.secret_key.as_ref().unwrap().expose_secret(), key);
        assert_eq!(
            c.admin_key.as_ref().unwrap().expose_secret(),
            "admin-key-value"
        );
        assert_eq!(
            c.webhook_api_key.as_ref().unwrap().expose_secret(),
            "feedback-key-value"
        );
        assert_eq!(c.max_body_bytes, 4096);
        assert_eq!(c.max_api_body_bytes, 8192);
        assert_eq!(c.config_dir, Some(PathBuf::from("/etc/sy/webhooks")));
        assert_eq!(c.workflows_dir, Some(PathBuf::from("/etc/sy/workflows")));
        assert_eq!(c.wait_fallback, Duration::from_millis(100));
        let gh: Vec<&[u8]> = c.secrets_for("github").iter().map(Secret::expose).collect();
        assert_eq!(gh, [b"gh-new".as_slice(), b"gh-old"]);
        assert_eq!(c.secrets_for("generic")[0].expose(), b"generic-secret");
        assert_eq!(c.secrets_for("crewai")[0].expose(), b"generic-secret");
        assert_eq!(c.secrets_for("standard")[0].expose(), b"whsec_abc");
        let d = &c.delivery;
        assert_eq!(
            d.retry_schedule,
            [
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(120)
            ]
        );
        assert_eq!(d.connect_timeout, Duration::from_secs(2));
        assert_eq!(d.timeout, Duration::from_secs(10));
        assert_eq!(d.claim_timeout, Duration::from_secs(300));
        assert!(d.guard.permits("10.1.2.3".parse().unwrap()));
        assert_eq!(d.default_concurrency, 3);
        assert_eq!(d.max_in_flight, 40);
        assert_eq!(d.public_url, "https://hooks.example.com");
        assert_eq!(d.provider_tokens["github"].token, "gh-token");
        assert_eq!(d.provider_tokens["jira"].token, "jira-token");
        assert_eq!(
            d.provider_tokens["jira"].user.as_deref(),
            Some("me@example.com")
        );
        assert_eq!(d.api_bases.github, "https://ghe.example.com/api/v3");
        assert_eq!(
            d.api_bases.jira.as_deref(),
            Some("https://acme.atlassian.net")
        );
    }

    #[test]
    fn smtp_and_notify_settings_come_from_env_file_and_flags() {
        let env = [
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_PORT", "2525"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD", "smtp-hunter2"),
            ("SMTP_FROM", "Switchyard <alerts@example.com>"),
            ("SMTP_TLS", "tls"),
            ("NOTIFY_EMAIL_TO", "ops@example.com, lead@example.org"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
        ];
        let c = load_with(&vec![], &env, None).unwrap();
        let smtp = c.notify.smtp.as_ref().unwrap();
        assert_eq!(smtp.host, "smtp.example.com");
        assert_eq!(smtp.port, 2525);
        assert_eq!(smtp.username.as_deref(), Some("mailer"));
        assert_eq!(
            smtp.password.as_ref().unwrap().expose_secret(),
            "smtp-hunter2"
        );
        assert_eq!(smtp.from, "Switchyard <alerts@example.com>");
        assert_eq!(smtp.tls, SmtpTls::Tls);
        assert_eq!(c.notify.email_to, ["ops@example.com", "lead@example.org"]);
        assert_eq!(
            c.notify.slack_webhook_url.as_deref(),
            Some("https://hooks.slack.com/services/T/B/x")
        );
        assert!(!format!("{c:?}").contains("smtp-hunter2"));

        // The file's tables, the port by TLS mode, and a flag over both.
        let (_dir, path) = file(
            "[smtp]\nhost = \"mail.internal\"\nfrom = \"a@example.com\"\n\n[notify]\nemail_to = [\"x@example.com\"]\n",
        );
        let c = load_with(&vec![], &[], Some(&path)).unwrap();
        let smtp = c.notify.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::Starttls));
        assert!(smtp.username.is_none() && smtp.password.is_none());
        assert_eq!(c.notify.email_to, ["x@example.com"]);
        let flags: Flags = vec![("smtp.tls", "none".into()), ("smtp.port", 1025.into())];
        let c = load_with(&flags, &[("SMTP_TLS", "tls")], Some(&path)).unwrap();
        let smtp = c.notify.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.tls), (1025, SmtpTls::None));
        let c = load_with(&vec![("smtp.tls", "none".into())], &[], Some(&path)).unwrap();
        assert_eq!(c.notify.smtp.unwrap().port, 25);

        // Nothing set: no SMTP, no defaults.
        let c = load_with(&vec![], &[], None).unwrap();
        assert!(c.notify.smtp.is_none() && c.notify.email_to.is_empty());
        assert!(c.notify.slack_webhook_url.is_none());
    }

    #[test]
    fn bad_smtp_settings_are_named() {
        let err = |env: &[(&str, &str)]| load_with(&vec![], env, None).err().unwrap().to_string();
        let base = [
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_FROM", "a@example.com"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut e = base.to_vec();
            e.push(extra);
            e
        };
        assert!(
            err(&with(("SMTP_TLS", "ssl"))).starts_with("SMTP_TLS must be starttls, tls or none")
        );
        assert!(err(&with(("SMTP_PORT", "0"))).starts_with("SMTP_PORT must be between 1 and 65535"));
        assert!(err(&with(("SMTP_PORT", "70000"))).starts_with("SMTP_PORT"));
        assert!(err(&with(("SMTP_USERNAME", "u")))
            .starts_with("SMTP_PASSWORD is not valid: must be set with SMTP_USERNAME"));
        assert!(err(&with(("NOTIFY_EMAIL_TO", "ops"))).starts_with("NOTIFY_EMAIL_TO"));
        assert!(
            err(&with(("SLACK_WEBHOOK_URL", "hooks.slack.com"))).starts_with("SLACK_WEBHOOK_URL")
        );
        assert!(err(&[("SMTP_HOST", "smtp.example.com")]).contains("needs SMTP_FROM"));
        assert!(err(&[("SMTP_FROM", "bad address")])
            .starts_with("SMTP_FROM is not used without SMTP_HOST"));
        assert!(err(&[("SMTP_HOST", "h"), ("SMTP_FROM", "nobody")])
            .starts_with("SMTP_FROM is not valid"));
        assert!(err(&[("NOTIFY_EMAIL_TO", "a@example.com")]).contains("needs an SMTP server"));
    }

    #[test]
    fn otlp_settings_come_from_the_otel_variables_file_and_flags() {
        let c = load_with(&vec![], &[], None).unwrap();
        assert!(c.otlp_endpoint.is_none() && c.otlp_traces_endpoint.is_none());
        assert!(c.otlp_service_name.is_none());
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://otel.example.com/v1/traces",
            ),
            ("OTEL_SERVICE_NAME", "hooks-prod"),
        ];
        let c = load_with(&vec![], &env, None).unwrap();
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(
            c.otlp_traces_endpoint.as_deref(),
            Some("https://otel.example.com/v1/traces")
        );
        assert_eq!(c.otlp_service_name.as_deref(), Some("hooks-prod"));

        let (_dir, path) = file("[otlp]\nendpoint = \"http://collector:4318\"\n");
        let c = load_with(&vec![], &[], Some(&path)).unwrap();
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        let flags: Flags = vec![("otlp.endpoint", "http://flag:4318".into())];
        let c = load_with(&flags, &env, Some(&path)).unwrap();
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://flag:4318"));

        let err = |env: &[(&str, &str)]| load_with(&vec![], env, None).err().unwrap().to_string();
        let e = err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")]);
        assert!(
            e.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"),
            "{e}"
        );
        let e = err(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://c:4317")]);
        assert!(
            e.starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL"),
            "{e}"
        );
        let (_dir, path) = file("[otlp]\nendpoint = \"collector\"\n");
        let e = load_with(&vec![], &[], Some(&path))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("otlp.endpoint in "), "{e}");
        let flags: Flags = vec![("otlp.endpoint", "nope".into())];
        let e = load_with(&flags, &[], None).err().unwrap().to_string();
        assert!(
            e.starts_with("--otlp-endpoint must be an http(s) URL"),
            "{e}"
        );
    }

    #[test]
    fn llm_settings_come_from_env_file_and_flags() {
        // Nothing set: no endpoint, prompts recorded.
        let c = load_with(&vec![], &[], None).unwrap();
        assert!(c.llm.default.base_url.is_none() && c.llm.default.api_key.is_none());
        assert!(c.llm.default.model.is_none() && c.llm.providers.is_empty());
        assert!(c.llm.record);

        let env = [
            ("SWITCHYARD_LLM_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("SWITCHYARD_LLM_API_KEY", "sk-hunter2"),
            ("SWITCHYARD_LLM_MODEL", "llama3.1"),
            ("SWITCHYARD_LLM_RECORD", "false"),
        ];
        let c = load_with(&vec![], &env, None).unwrap();
        let d = &c.llm.default;
        assert_eq!(d.base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(d.api_key.as_ref().unwrap().expose_secret(), "sk-hunter2");
        assert_eq!(d.model.as_deref(), Some("llama3.1"));
        assert!(!c.llm.record);
        assert!(!format!("{c:?}").contains("hunter2"));

        let (_dir, path) = file(
            r#"
            [llm]
            base_url = "https://api.openai.com/v1"
            model = "gpt-4o-mini"
            [llm.providers.google]
            base_url = "https://generativelanguage.googleapis.com/v1beta/openai"
            api_key_env = "GEMINI_API_KEY"
            model = "gemini-2.0-flash"
            [llm.providers.ollama]
            base_url = "http://127.0.0.1:11434/v1"
            "#,
        );
        let c = load_with(&vec![], &[("GEMINI_API_KEY", "gm-hunter3")], Some(&path)).unwrap();
        assert_eq!(
            c.llm.default.base_url.as_deref(),
            Some("https://api.openai.com/v1")
        );
        let google = &c.llm.providers["google"];
        assert_eq!(
            google.api_key.as_ref().unwrap().expose_secret(),
            "gm-hunter3"
        );
        assert_eq!(google.model.as_deref(), Some("gemini-2.0-flash"));
        let ollama = &c.llm.providers["ollama"];
        assert!(ollama.api_key.is_none() && ollama.model.is_none());
        assert!(!format!("{c:?}").contains("hunter3"));

        // The environment over the file, a flag over both.
        let env = [
            ("GEMINI_API_KEY", "gm"),
            ("SWITCHYARD_LLM_MODEL", "gpt-4o"),
            ("SWITCHYARD_LLM_RECORD", "false"),
        ];
        let c = load_with(&vec![], &env, Some(&path)).unwrap();
        assert_eq!(c.llm.default.model.as_deref(), Some("gpt-4o"));
        assert!(!c.llm.record);
        let flags: Flags = vec![("llm.model", "o3-mini".into()), ("llm.record", true.into())];
        let c = load_with(&flags, &env, Some(&path)).unwrap();
        assert_eq!(c.llm.default.model.as_deref(), Some("o3-mini"));
        assert!(c.llm.record);
    }

    #[test]
    fn bad_llm_settings_are_named() {
        let err = |flags: &Flags, env: &[(&str, &str)], file: Option<&Path>| {
            load_with(flags, env, file).err().unwrap().to_string()
        };
        let e = err(
            &vec![],
            &[("SWITCHYARD_LLM_BASE_URL", "localhost:11434/v1")],
            None,
        );
        assert!(
            e.starts_with("SWITCHYARD_LLM_BASE_URL must be an http(s) URL"),
            "{e}"
        );
        let flags: Flags = vec![("llm.base_url", "ftp://x".into())];
        let e = err(&flags, &[], None);
        assert!(
            e.starts_with("--llm-base-url must be an http(s) URL"),
            "{e}"
        );
        let e = err(&vec![], &[("SWITCHYARD_LLM_RECORD", "sometimes")], None);
        assert!(e.starts_with("SWITCHYARD_LLM_RECORD: "), "{e}");

        let (_dir, path) = file(
            "[llm.providers.openai]\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n",
        );
        assert_eq!(
            err(&vec![], &[], Some(&path)),
            format!(
                "llm.providers.openai.api_key_env in {} names OPENAI_API_KEY, which is not set",
                path.display()
            )
        );
        assert!(load_with(&vec![], &[("OPENAI_API_KEY", "sk")], Some(&path)).is_ok());

        let (_dir, path) = file("[llm.providers.vllm]\nmodel = \"qwen\"\n");
        assert_eq!(
            err(&vec![], &[], Some(&path)),
            format!(
                "llm.providers in {} is not valid: provider \"vllm\" has no base_url",
                path.display()
            )
        );
        // A key is never written in the file.
        let (_dir, path) = file(
            "[llm.providers.openai]\nbase_url = \"https://api.openai.com/v1\"\napi_key = \"sk-in-file\"\n",
        );
        let e = err(&vec![], &[], Some(&path));
        assert!(
            e.starts_with("llm.providers.openai.api_key in ") && e.contains("unknown field"),
            "{e}"
        );
        assert!(!e.contains("sk-in-file"), "{e}");
    }

    #[test]
    fn a_short_claim_timeout_is_raised_past_the_request_timeout() {
        let env = [
            ("SWITCHYARD_DELIVERY_TIMEOUT", "10s"),
            ("SWITCHYARD_DELIVERY_CLAIM_TIMEOUT", "2s"),
        ];
        let c = load_with(&vec![], &env, None).unwrap();
        assert_eq!(c.delivery.claim_timeout, Duration::from_secs(11));
    }

    #[test]
    fn a_bad_value_is_named_by_where_it_came_from() {
        let err = |flags: &Flags, env: &[(&str, &str)], file: Option<&Path>| {
            load_with(flags, env, file).err().unwrap().to_string()
        };
        assert_eq!(
            err(&vec![], &[("SWITCHYARD_DELIVERY_CONCURRENCY", "0")], None),
            "SWITCHYARD_DELIVERY_CONCURRENCY must be between 1 and 10000 (got 0)"
        );
        let (_dir, path) = file("[delivery]\nconcurrency = 0\n");
        assert_eq!(
            err(&vec![], &[], Some(&path)),
            format!(
                "delivery.concurrency in {} must be between 1 and 10000 (got 0)",
                path.display()
            )
        );
        let flags: Flags = vec![("delivery.concurrency", Value::from(0usize))];
        assert_eq!(
            err(&flags, &[], None),
            "--delivery-concurrency must be between 1 and 10000 (got 0)"
        );
        assert_eq!(
            err(&vec![], &[("SWITCHYARD_WAIT_FALLBACK", "5ms")], None),
            "SWITCHYARD_WAIT_FALLBACK must be between 10ms and 1m (got 5ms)"
        );
        assert_eq!(
            err(&vec![], &[("SWITCHYARD_MAX_BODY_BYTES", "0")], None),
            "SWITCHYARD_MAX_BODY_BYTES must be between 1 and 1073741824 (got 0)"
        );
        assert_eq!(
            err(&vec![], &[("SWITCHYARD_SECRET_KEY", "c2hvcnQ=")], None),
            "SWITCHYARD_SECRET_KEY must be the base64 of 32 bytes"
        );
        let e = err(&vec![], &[("SWITCHYARD_RETRY_SCHEDULE", "0,8d")], None);
        assert!(
            e.starts_with("SWITCHYARD_RETRY_SCHEDULE must be between 0s and 7days"),
            "{e}"
        );
        let e = err(&vec![], &[("SWITCHYARD_PUBLIC_URL", "not a url")], None);
        assert!(
            e.starts_with("SWITCHYARD_PUBLIC_URL must be an http(s) URL"),
            "{e}"
        );
        let e = err(&vec![], &[("SWITCHYARD_DELIVERY_TIMEOUT", "soon")], None);
        assert!(
            e.starts_with("SWITCHYARD_DELIVERY_TIMEOUT must be a duration"),
            "{e}"
        );
        let e = err(&vec![], &[("WEBHOOK_SERVER_PORT", "70000")], None);
        assert!(e.starts_with("WEBHOOK_SERVER_PORT: "), "{e}");
        let e = err(&vec![], &[("WEBHOOK_SERVER_HOST", "example.com")], None);
        assert!(
            e.starts_with("WEBHOOK_SERVER_HOST must be an IP address"),
            "{e}"
        );
        let e = err(&vec![], &[("DATABASE_URL", "mysql://u:hunter2@db/x")], None);
        assert!(e.starts_with("DATABASE_URL must be sqlite://"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let (_dir, path) = file("[delivery]\nconcurency = 3\n");
        let e = err(&vec![], &[], Some(&path));
        assert!(
            e.starts_with("delivery.concurency in ") && e.contains("unknown field"),
            "{e}"
        );
        let (_dir, path) = file("[providers.githib]\nsecret = \"x\"\n");
        let e = err(&vec![], &[], Some(&path));
        assert!(
            e.starts_with("providers.githib in ") && e.ends_with("is not a provider"),
            "{e}"
        );
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let e = config_file(Some(&missing), &env_of(&[]), dir.path()).unwrap_err();
        assert!(e.0.starts_with("--config: the file"), "{e}");
        let env = env_of(&[(CONFIG_ENV, missing.to_str().unwrap())]);
        let e = config_file(None, &env, dir.path()).unwrap_err();
        assert!(e.0.starts_with("SWITCHYARD_CONFIG: the file"), "{e}");
        // No file named and none in the working directory: defaults only.
        assert_eq!(config_file(None, &env_of(&[]), dir.path()).unwrap(), None);
        let (cwd, path) = file("port = 1\n");
        assert_eq!(
            config_file(None, &env_of(&[]), cwd.path()).unwrap(),
            Some(path)
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk="; // 32 bytes
        let mut env: Vec<(String, String)> = vec![
            (
                "DATABASE_URL".into(),
                "postgres://sy:db-pass-7f3a@db/sy".into(),
            ),
            ("SWITCHYARD_SECRET_KEY".into(), key.into()),
            ("SWITCHYARD_ADMIN_KEY".into(), "admin-key-7f3a".into()),
            ("JIRA_API_USER".into(), "jira-user@example.com".into()),
            ("SWITCHYARD_LLM_API_KEY".into(), "llm-key-7f3a".into()),
        ];
        let mut secrets = vec![
            "db-pass-7f3a".to_owned(),
            key.to_owned(),
            "admin-key-7f3a".to_owned(),
            "llm-key-7f3a".to_owned(),
        ];
        for p in providers::ALL {
            let var = env_var_for(p.name());
            for name in [var.clone(), format!("{var}_PREVIOUS")] {
                let value = format!("{}-7f3a", name.to_ascii_lowercase());
                secrets.push(value.clone());
                env.push((name, value));
            }
        }
        for p in WRITEBACK {
            let name = format!("{}_API_TOKEN", p.to_ascii_uppercase());
            let value = format!("{}-7f3a", name.to_ascii_lowercase());
            secrets.push(value.clone());
            env.push((name, value));
        }
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let c = load_with(&vec![], &pairs, None).unwrap();
        assert_eq!(c.provider_secrets.len(), providers::ALL.len());
        assert_eq!(c.delivery.provider_tokens.len(), WRITEBACK.len());
        let shown = format!("{c:?}");
        for s in &secrets {
            assert!(!shown.contains(s.as_str()), "{s} appears in {shown}");
        }
        assert!(shown.contains("postgres://sy:***@db/sy"), "{shown}");
    }
}
