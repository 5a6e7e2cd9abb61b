//! The `switchyard` binary: `serve`, `migrate`, admin verbs over the store, and
//! client commands that talk to a running server (`send`, `events`, `replay`,
//! `deliveries`, `checkpoints`, `workflows`; see `client`). anyhow lives here, at
//! the edge; the libraries return typed errors.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use figment::value::Value;
use settings::Flags;
use switchyard_server::App;

mod client;
mod keys;
mod logging;
mod send;
mod settings;
mod startup;
mod webhooks;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A self-hosted webhook gateway for AI-agent systems",
    long_about = "A self-hosted webhook gateway for AI-agent systems.\n\n\
        Settings come from built-in defaults, then a TOML file (./switchyard.toml, or \
        --config / SWITCHYARD_CONFIG), then environment variables, then flags; \
        switchyard.example.toml lists them all."
)]
pub struct Cli {
    /// A TOML configuration file; it must exist [env: SWITCHYARD_CONFIG; default:
    /// ./switchyard.toml when present].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    server: client::ServerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrations run first).
    #[command(after_long_help = startup::serve_help())]
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations and exit.
    Migrate(StoreArgs),
    /// Send a webhook signed exactly as a provider signs it to a running server, and
    /// print the answer (exit 0 on 2xx, 1 otherwise, 2 usage, 3 unreachable).
    Send(send::SendArgs),
    /// Manage webhooks kept in the store.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCmd),
    /// Manage API keys for /api (scopes: admin, read, agent:NAME, feedback).
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    #[command(flatten)]
    Client(client::ClientCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

// The flags carry no `env` and no defaults: the environment and the defaults are
// layers of their own (settings.rs), so a flag is only what was typed.

/// Where the store is.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// `sqlite://PATH` or `postgres://...` [env: DATABASE_URL; default:
    /// sqlite://./data/switchyard.db].
    #[arg(long)]
    database_url: Option<String>,
    /// Folder for generated keys [env: SWITCHYARD_DATA_DIR; default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Master key sealing stored secrets (base64 of 32 bytes) [env:
    /// SWITCHYARD_SECRET_KEY; default: DATA_DIR/secret.key].
    #[arg(long)]
    secret_key: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on, an IP address [env: WEBHOOK_SERVER_HOST; default: 127.0.0.1].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one [env: WEBHOOK_SERVER_PORT; default: 8000].
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    store: StoreArgs,
    /// Largest accepted webhook body in bytes, 1..=1 GiB; larger ones get 413 [env:
    /// SWITCHYARD_MAX_BODY_BYTES; default: 1048576].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Largest accepted admin API body in bytes, 1..=1 GiB [env:
    /// SWITCHYARD_MAX_API_BODY_BYTES; default: 1048576].
    #[arg(long)]
    max_api_body_bytes: Option<usize>,
    /// Folder of webhook config files (*.json, *.yaml), reloaded on change [env:
    /// SWITCHYARD_CONFIG_DIR; default: ./data/config/webhooks].
    #[arg(long)]
    config_dir: Option<PathBuf>,
    /// Folder of workflow files (*.yaml, *.yml), reloaded on change; a registered
    /// workflow's config_path is relative to it [env: SWITCHYARD_WORKFLOWS_DIR;
    /// default: ./data/config/workflows].
    #[arg(long)]
    workflows_dir: Option<PathBuf>,
    /// Admin API key; when unset, one is generated on first start and printed once
    /// [env: SWITCHYARD_ADMIN_KEY].
    #[arg(long)]
    admin_key: Option<String>,
    /// Seed 000's feedback key: accepted on /api with the `feedback` scope [env:
    /// WEBHOOK_API_KEY].
    #[arg(long)]
    webhook_api_key: Option<String>,
    /// How often long-polls look for work other replicas committed, 10ms..=60s [env:
    /// SWITCHYARD_WAIT_FALLBACK; default: 250ms].
    #[arg(long)]
    wait_fallback: Option<humantime::Duration>,
    /// A connection that has not sent a whole request head this long is closed,
    /// 100ms..=1h [env: SWITCHYARD_HEADER_READ_TIMEOUT; default: 10s].
    #[arg(long)]
    header_read_timeout: Option<humantime::Duration>,
    /// A request body that stalls this long is answered 408, 100ms..=1h [env:
    /// SWITCHYARD_BODY_READ_TIMEOUT; default: 30s].
    #[arg(long)]
    body_read_timeout: Option<humantime::Duration>,
    /// Connections served at once (a small reserve above it still answers health
    /// and admin requests), 1..=100000 [env: SWITCHYARD_MAX_CONNECTIONS; default:
    /// 1024].
    #[arg(long)]
    max_connections: Option<usize>,
    #[command(flatten)]
    protections: ProtectionArgs,
    #[command(flatten)]
    delivery: DeliveryArgs,
    #[command(flatten)]
    notify: NotifyArgs,
    #[command(flatten)]
    otlp: OtlpArgs,
    #[command(flatten)]
    llm: LlmArgs,
    #[command(flatten)]
    runs: RunArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Log lines as text or json (one object a line, each carrying the request's
    /// request_id); the filter is SWITCHYARD_LOG [env: SWITCHYARD_LOG_FORMAT;
    /// default: text].
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

/// How long old rows are kept before the retention job deletes them: a duration
/// (30d, 12h) within 1m..=10y, or 0 to keep forever.
#[derive(Debug, Clone, clap::Args)]
struct RetentionArgs {
    /// Received events (never one with work still pending) [env:
    /// SWITCHYARD_RETENTION_EVENTS; default: 30days].
    #[arg(long, value_name = "AGE")]
    retention_events: Option<String>,
    /// Delivery attempts [env: SWITCHYARD_RETENTION_ATTEMPTS; default: 30days].
    #[arg(long, value_name = "AGE")]
    retention_attempts: Option<String>,
    /// Refused requests [env: SWITCHYARD_RETENTION_REJECTIONS; default: 7days].
    #[arg(long, value_name = "AGE")]
    retention_rejections: Option<String>,
    /// Finished workflow runs and their steps [env: SWITCHYARD_RETENTION_RUNS;
    /// default: 30days].
    #[arg(long, value_name = "AGE")]
    retention_runs: Option<String>,
}

/// How workflow runs are carried out.
#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// How long a run may take from its creation, waits included (1s..=30d) [env:
    /// SWITCHYARD_RUN_TIMEOUT; default: 1day].
    #[arg(long)]
    run_timeout: Option<String>,
    /// How long a runner's claim on a run lasts beyond the node's own timeout: after
    /// a crash another process takes the run once it runs out (1s..=10m) [env:
    /// SWITCHYARD_RUN_CLAIM_LEASE; default: 30s].
    #[arg(long)]
    run_claim_lease: Option<String>,
    /// The most runs one process moves at once (1..=1024) [env:
    /// SWITCHYARD_RUN_CONCURRENCY; default: 32].
    #[arg(long)]
    run_concurrency: Option<usize>,
}

/// Where workflow runs' traces are exported (OpenTelemetry, OTLP/HTTP with protobuf).
#[derive(Debug, Clone, clap::Args)]
struct OtlpArgs {
    /// OTLP/HTTP collector each workflow run's trace is sent to, at
    /// ENDPOINT/v1/traces; none are sent without it [env: OTEL_EXPORTER_OTLP_ENDPOINT].
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// The full URL traces are sent to, used as it is and over --otlp-endpoint
    /// [env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].
    #[arg(long)]
    otlp_traces_endpoint: Option<String>,
    /// The traces' service.name [env: OTEL_SERVICE_NAME; default: switchyard].
    #[arg(long)]
    otel_service_name: Option<String>,
}

/// The OpenAI-compatible endpoint workflow `llm` nodes call when their provider
/// has no `[llm.providers.NAME]` table in the config file.
#[derive(Debug, Clone, clap::Args)]
struct LlmArgs {
    /// Base URL of the chat-completions API, the part before /chat/completions
    /// (https://api.openai.com/v1, http://127.0.0.1:11434/v1 for Ollama) [env:
    /// SWITCHYARD_LLM_BASE_URL].
    #[arg(long)]
    llm_base_url: Option<String>,
    /// Its API key, sent as a bearer token; none for Ollama or vLLM [env:
    /// SWITCHYARD_LLM_API_KEY].
    #[arg(long)]
    llm_api_key: Option<String>,
    /// The model of nodes that name none [env: SWITCHYARD_LLM_MODEL].
    #[arg(long)]
    llm_model: Option<String>,
    /// Keep prompts and answers on each node's record, true or false [env:
    /// SWITCHYARD_LLM_RECORD; default: true].
    #[arg(long, value_name = "BOOL")]
    llm_record: Option<bool>,
}

/// Where checkpoint notifications go, and the SMTP server e-mail goes through.
#[derive(Debug, Clone, clap::Args)]
struct NotifyArgs {
    /// SMTP server for e-mail notifications; none are sent without it [env: SMTP_HOST].
    #[arg(long)]
    smtp_host: Option<String>,
    /// SMTP port, 1..=65535 [env: SMTP_PORT; default: 587, 465 with tls, 25 with none].
    #[arg(long)]
    smtp_port: Option<u16>,
    /// SMTP username, with --smtp-password [env: SMTP_USERNAME].
    #[arg(long)]
    smtp_username: Option<String>,
    /// SMTP password [env: SMTP_PASSWORD].
    #[arg(long)]
    smtp_password: Option<String>,
    /// The From address, `alerts@example.com` or `Name <alerts@example.com>`;
    /// required with --smtp-host [env: SMTP_FROM].
    #[arg(long)]
    smtp_from: Option<String>,
    /// starttls (required STARTTLS), tls (TLS from the start) or none [env:
    /// SMTP_TLS; default: starttls].
    #[arg(long)]
    smtp_tls: Option<String>,
    /// Who checkpoints are e-mailed to by default, comma-separated [env:
    /// NOTIFY_EMAIL_TO].
    #[arg(long)]
    notify_email_to: Option<String>,
    /// Slack incoming-webhook URL checkpoints are posted to by default [env:
    /// SLACK_WEBHOOK_URL].
    #[arg(long)]
    slack_webhook_url: Option<String>,
    /// CrewAI Enterprise API base a CrewAI checkpoint's `POST /resume` goes to
    /// [env: CREWAI_API_URL].
    #[arg(long)]
    crewai_api_url: Option<String>,
    /// Bearer token of that call [env: CREWAI_API_TOKEN].
    #[arg(long)]
    crewai_api_token: Option<String>,
}

/// Who may post and how often; what the refusal log keeps.
#[derive(Debug, Clone, clap::Args)]
struct ProtectionArgs {
    /// Proxies (IPs and CIDRs, comma-separated) whose X-Forwarded-For is believed
    /// when telling a client's address [env: SWITCHYARD_TRUSTED_PROXIES].
    #[arg(long)]
    trusted_proxies: Option<String>,
    /// Requests a second every webhook without its own rate_limit accepts,
    /// 0.001..=1000000 [env: SWITCHYARD_RATE_LIMIT_PER_SECOND; default: none].
    #[arg(long)]
    rate_limit_per_second: Option<f64>,
    /// The default rate limit's burst, 1..=1000000 [env: SWITCHYARD_RATE_LIMIT_BURST;
    /// default: the rate rounded up].
    #[arg(long)]
    rate_limit_burst: Option<u32>,
    /// Refused requests recorded per client address a minute, 0..=100000 [env:
    /// SWITCHYARD_REJECTIONS_PER_MINUTE; default: 60]; how long they are kept is
    /// --retention-rejections.
    #[arg(long)]
    rejections_per_minute: Option<u32>,
}

/// How outbound messages are delivered.
#[derive(Debug, Clone, clap::Args)]
struct DeliveryArgs {
    /// Delays before each attempt, comma-separated (1..=50, each at most 7 days);
    /// its length is the number of attempts before a message is dead-lettered [env:
    /// SWITCHYARD_RETRY_SCHEDULE; default: 0,5s,5m,30m,2h,5h,10h,10h].
    #[arg(long)]
    retry_schedule: Option<String>,
    /// Connect timeout for outbound requests, up to 1h [env:
    /// SWITCHYARD_DELIVERY_CONNECT_TIMEOUT; default: 5s].
    #[arg(long)]
    delivery_connect_timeout: Option<humantime::Duration>,
    /// Total timeout for one outbound request, up to 1h [env:
    /// SWITCHYARD_DELIVERY_TIMEOUT; default: 30s].
    #[arg(long)]
    delivery_timeout: Option<humantime::Duration>,
    /// Private addresses (IPs and CIDRs, comma-separated) deliveries may reach;
    /// everything non-public is refused otherwise [env: SWITCHYARD_DELIVERY_ALLOW].
    #[arg(long)]
    delivery_allow: Option<String>,
    /// Concurrent requests per destination unless the destination sets its own,
    /// 1..=10000 [env: SWITCHYARD_DELIVERY_CONCURRENCY; default: 32].
    #[arg(long)]
    delivery_concurrency: Option<usize>,
    /// Messages in hand (claimed, queued or being sent) at once, 1..=100000 [env:
    /// SWITCHYARD_DELIVERY_MAX_IN_FLIGHT; default: 512].
    #[arg(long)]
    delivery_max_in_flight: Option<usize>,
    /// How long a claimed message is held before another process may send it, up
    /// to 3h [env: SWITCHYARD_DELIVERY_CLAIM_TIMEOUT; default: twice the timeout
    /// plus 30s].
    #[arg(long)]
    delivery_claim_timeout: Option<humantime::Duration>,
    /// The URL agents reach this server at (task pushes carry links to complete)
    /// [env: SWITCHYARD_PUBLIC_URL; default: http://HOST:PORT].
    #[arg(long)]
    public_url: Option<String>,
}

/// Adds `(key, value)` to `flags` when the flag was given.
fn flag<T: Into<Value>>(flags: &mut Flags, key: &'static str, value: Option<T>) {
    if let Some(v) = value {
        flags.push((key, v.into()));
    }
}

impl StoreArgs {
    fn flags(&self) -> Flags {
        let mut f = Flags::new();
        flag(&mut f, "database_url", self.database_url.clone());
        let data_dir = self.data_dir.as_ref().map(|p| p.display().to_string());
        flag(&mut f, "data_dir", data_dir);
        flag(&mut f, "secret_key", self.secret_key.clone());
        f
    }
}

impl ServeArgs {
    fn flags(&self) -> Flags {
        let text = |d: &Option<humantime::Duration>| d.as_ref().map(ToString::to_string);
        let mut f = self.store.flags();
        flag(&mut f, "host", self.host.clone());
        flag(&mut f, "port", self.port);
        flag(&mut f, "max_body_bytes", self.max_body_bytes);
        flag(&mut f, "max_api_body_bytes", self.max_api_body_bytes);
        let config_dir = self.config_dir.as_ref().map(|p| p.display().to_string());
        flag(&mut f, "config_dir", config_dir);
        let workflows_dir = self.workflows_dir.as_ref().map(|p| p.display().to_string());
        flag(&mut f, "workflows_dir", workflows_dir);
        flag(&mut f, "admin_key", self.admin_key.clone());
        flag(&mut f, "webhook_api_key", self.webhook_api_key.clone());
        flag(&mut f, "wait_fallback", text(&self.wait_fallback));
        flag(
            &mut f,
            "header_read_timeout",
            text(&self.header_read_timeout),
        );
        flag(&mut f, "body_read_timeout", text(&self.body_read_timeout));
        flag(&mut f, "max_connections", self.max_connections);
        let p = &self.protections;
        flag(&mut f, "trusted_proxies", p.trusted_proxies.clone());
        flag(&mut f, "rate_limit.per_second", p.rate_limit_per_second);
        flag(&mut f, "rate_limit.burst", p.rate_limit_burst);
        flag(&mut f, "rejections.per_minute", p.rejections_per_minute);
        let k = &self.retention;
        flag(&mut f, "retention.events", k.retention_events.clone());
        flag(&mut f, "retention.attempts", k.retention_attempts.clone());
        flag(
            &mut f,
            "retention.rejections",
            k.retention_rejections.clone(),
        );
        flag(&mut f, "retention.runs", k.retention_runs.clone());
        flag(&mut f, "log_format", self.log_format.clone());
        let d = &self.delivery;
        flag(&mut f, "delivery.retry_schedule", d.retry_schedule.clone());
        let connect = text(&d.delivery_connect_timeout);
        flag(&mut f, "delivery.connect_timeout", connect);
        flag(&mut f, "delivery.timeout", text(&d.delivery_timeout));
        flag(&mut f, "delivery.allow", d.delivery_allow.clone());
        flag(&mut f, "delivery.concurrency", d.delivery_concurrency);
        flag(&mut f, "delivery.max_in_flight", d.delivery_max_in_flight);
        let claim = text(&d.delivery_claim_timeout);
        flag(&mut f, "delivery.claim_timeout", claim);
        flag(&mut f, "public_url", d.public_url.clone());
        let n = &self.notify;
        flag(&mut f, "smtp.host", n.smtp_host.clone());
        flag(&mut f, "smtp.port", n.smtp_port);
        flag(&mut f, "smtp.username", n.smtp_username.clone());
        flag(&mut f, "smtp.password", n.smtp_password.clone());
        flag(&mut f, "smtp.from", n.smtp_from.clone());
        flag(&mut f, "smtp.tls", n.smtp_tls.clone());
        flag(&mut f, "notify.email_to", n.notify_email_to.clone());
        let slack = n.slack_webhook_url.clone();
        flag(&mut f, "notify.slack_webhook_url", slack);
        flag(&mut f, "notify.crewai_api_url", n.crewai_api_url.clone());
        flag(
            &mut f,
            "notify.crewai_api_token",
            n.crewai_api_token.clone(),
        );
        let o = &self.otlp;
        flag(&mut f, "otlp.endpoint", o.otlp_endpoint.clone());
        flag(
            &mut f,
            "otlp.traces_endpoint",
            o.otlp_traces_endpoint.clone(),
        );
        flag(&mut f, "otlp.service_name", o.otel_service_name.clone());
        let l = &self.llm;
        flag(&mut f, "llm.base_url", l.llm_base_url.clone());
        flag(&mut f, "llm.api_key", l.llm_api_key.clone());
        flag(&mut f, "llm.model", l.llm_model.clone());
        flag(&mut f, "llm.record", l.llm_record);
        let r = &self.runs;
        flag(&mut f, "runs.timeout", r.run_timeout.clone());
        flag(&mut f, "runs.claim_lease", r.run_claim_lease.clone());
        flag(&mut f, "runs.concurrency", r.run_concurrency);
        f
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Clients of a running server: no store, no server settings.
    match &cli.command {
        Command::Send(args) => std::process::exit(send::run(args, cli.server.server.as_deref())),
        Command::Client(cmd) => std::process::exit(client::run(cmd, &cli.server)),
        Command::Completions { shell } => {
            std::process::exit(client::completions(*shell, Cli::command()))
        }
        _ => {}
    }
    let flags = match &cli.command {
        Command::Send(_) | Command::Client(_) | Command::Completions { .. } => {
            unreachable!("handled above")
        }
        Command::Serve(args) => args.flags(),
        Command::Migrate(args) => args.flags(),
        Command::Webhooks(cmd) => cmd.store().flags(),
        Command::Keys(cmd) => cmd.store().flags(),
    };
    // A bad setting is the user's to fix: one line naming it, no backtrace.
    let loaded = match load_config(cli.config.as_deref(), &flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("switchyard: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    logging::init(loaded.log_format);
    if let Err(e) = apply_test_clock_skew(std::env::var(TEST_CLOCK_SKEW_ENV).ok().as_deref()) {
        eprintln!("switchyard: invalid configuration: {e}");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(_) => serve(loaded).await,
            Command::Migrate(_) => {
                let url = &loaded.config.database_url;
                let store = switchyard_store::open(url.expose()).await?;
                store.migrate().await?;
                eprintln!("switchyard: migrations applied to {url}");
                Ok(())
            }
            Command::Webhooks(cmd) => webhooks::run(cmd, &loaded.config).await,
            Command::Keys(cmd) => keys::run(cmd, &loaded.config).await,
            Command::Send(_) | Command::Client(_) | Command::Completions { .. } => {
                unreachable!("handled before the configuration is read")
            }
        }
    })
}

/// Test only, and deliberately not a documented setting: shifts this process's
/// clock by this many seconds (see `switchyard_store::set_test_clock_skew`), so a
/// test can run a replica whose clock is wrong. Ignored unless set.
const TEST_CLOCK_SKEW_ENV: &str = "SWITCHYARD_TEST_CLOCK_SKEW_SECONDS";

fn apply_test_clock_skew(value: Option<&str>) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    let secs: i64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &i64| s.abs() <= 86_400)
        .ok_or_else(|| {
            format!("{TEST_CLOCK_SKEW_ENV}: {v:?} is not a whole number of seconds within a day")
        })?;
    tracing::warn!(
        seconds = secs,
        "test setting: this process's clock is skewed"
    );
    switchyard_store::set_test_clock_skew(secs);
    Ok(())
}

/// Finds the file and loads every layer from the process's environment.
fn load_config(flag: Option<&Path>, flags: &Flags) -> Result<settings::Loaded, settings::Invalid> {
    let env = |k: &str| std::env::var(k).ok();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let file = settings::config_file(flag, &env, &cwd)?;
    settings::load(flags, &env, file.as_deref())
}

async fn serve(loaded: settings::Loaded) -> anyhow::Result<()> {
    let text_logs = loaded.log_format == logging::LogFormat::Text;
    let settings::Loaded { config, listen, .. } = loaded;
    let configured: Vec<String> = config.provider_secrets.keys().cloned().collect();
    let store = config.database_url.to_string();
    // Bind first: a port in use fails before anything is generated or printed (the
    // admin key is shown only once).
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let providers = startup::providers_served(&config);
    let app = App::build(config).await.context("starting the store")?;
    tracing::info!(
        addr = %listener.local_addr()?,
        store = %store,
        secrets_for = ?configured,
        "switchyard listening"
    );
    // The start-up block is for a person at a terminal; JSON logs stay one object per
    // line (the "switchyard listening" event above carries the same facts).
    if text_logs {
        eprintln!(
            "{}",
            startup::banner(listener.local_addr()?, &store, &providers)
        );
    }
    app.run(listener, shutdown_signal()).await?;
    tracing::info!("switchyard stopped cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
