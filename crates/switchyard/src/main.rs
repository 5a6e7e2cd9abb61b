//! The `switchyard` binary: `serve`, `migrate`, and admin verbs over the store.
//! anyhow lives here, at the edge; the libraries return typed errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use switchyard_server::{App, Config};

mod webhooks;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A self-hosted webhook gateway for AI-agent systems"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrations run first).
    Serve(ServeArgs),
    /// Apply the store's migrations and exit.
    Migrate(StoreArgs),
    /// Manage webhooks kept in the store.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCmd),
}

/// Where the store is.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// `sqlite://PATH` (the default, folder created) or `postgres://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/switchyard.db",
        hide_env_values = true
    )]
    database_url: String,
    /// Folder for generated keys.
    #[arg(long, env = "SWITCHYARD_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Master key sealing stored secrets (base64 of 32 bytes); default: DATA_DIR/secret.key.
    #[arg(long, env = "SWITCHYARD_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long, env = "WEBHOOK_SERVER_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "WEBHOOK_SERVER_PORT", default_value_t = 8000)]
    port: u16,
    #[command(flatten)]
    store: StoreArgs,
    /// Largest accepted body in bytes; larger ones get 413.
    #[arg(long, env = "SWITCHYARD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Folder of webhook config files (*.json, *.yaml), reloaded on change.
    #[arg(
        long,
        env = "SWITCHYARD_CONFIG_DIR",
        default_value = "./data/config/webhooks"
    )]
    config_dir: PathBuf,
    /// Admin API key; when unset, one is generated on first start and printed once.
    #[arg(long, env = "SWITCHYARD_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

/// How outbound messages are delivered.
#[derive(Debug, Clone, clap::Args)]
struct DeliveryArgs {
    /// Delays before each attempt, comma-separated; its length is the number of
    /// attempts before a message is dead-lettered.
    #[arg(
        long,
        env = "SWITCHYARD_RETRY_SCHEDULE",
        default_value = "0,5s,5m,30m,2h,5h,10h,10h"
    )]
    retry_schedule: String,
    /// Connect timeout for outbound requests.
    #[arg(
        long,
        env = "SWITCHYARD_DELIVERY_CONNECT_TIMEOUT",
        default_value = "5s"
    )]
    delivery_connect_timeout: humantime::Duration,
    /// Total timeout for one outbound request.
    #[arg(long, env = "SWITCHYARD_DELIVERY_TIMEOUT", default_value = "30s")]
    delivery_timeout: humantime::Duration,
    /// Private addresses (IPs and CIDRs, comma-separated) deliveries may reach;
    /// everything non-public is refused otherwise.
    #[arg(long, env = "SWITCHYARD_DELIVERY_ALLOW", default_value = "")]
    delivery_allow: String,
    /// Concurrent requests per destination unless the destination sets its own.
    #[arg(long, env = "SWITCHYARD_DELIVERY_CONCURRENCY", default_value_t = 32)]
    delivery_concurrency: usize,
    /// Messages in hand (claimed, queued or being sent) at once.
    #[arg(long, env = "SWITCHYARD_DELIVERY_MAX_IN_FLIGHT", default_value_t = 512)]
    delivery_max_in_flight: usize,
    /// How long a claimed message is held before another process may send it
    /// (default: twice the timeout plus 30 s).
    #[arg(long, env = "SWITCHYARD_DELIVERY_CLAIM_TIMEOUT")]
    delivery_claim_timeout: Option<humantime::Duration>,
    /// The URL agents reach this server at (task pushes carry links to complete).
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL")]
    public_url: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => {
                let store = switchyard_store::open(&args.database_url).await?;
                store.migrate().await?;
                eprintln!(
                    "switchyard: migrations applied to {}",
                    switchyard_store::redact_url(&args.database_url)
                );
                Ok(())
            }
            Command::Webhooks(cmd) => webhooks::run(cmd).await,
        }
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::new(args.store.database_url.clone(), args.store.data_dir.clone());
    config.max_body_bytes = args.max_body_bytes;
    config.admin_key = args.admin_key;
    config.secret_key = args.store.secret_key;
    config.secrets_from_env(|k| std::env::var(k).ok());
    config.config_dir = Some(args.config_dir);
    let d = &mut config.delivery;
    d.retry_schedule = switchyard_engine::delivery::parse_schedule(&args.delivery.retry_schedule)
        .map_err(|e| anyhow::anyhow!("SWITCHYARD_RETRY_SCHEDULE: {e}"))?;
    d.connect_timeout = args.delivery.delivery_connect_timeout.into();
    d.timeout = args.delivery.delivery_timeout.into();
    d.claim_timeout = match args.delivery.delivery_claim_timeout {
        Some(t) => std::time::Duration::from(t).max(d.timeout + std::time::Duration::from_secs(1)),
        None => d.timeout * 2 + std::time::Duration::from_secs(30),
    };
    d.guard = std::sync::Arc::new(
        switchyard_engine::delivery::ssrf::Guard::from_allow_list(&args.delivery.delivery_allow)
            .map_err(|e| anyhow::anyhow!("SWITCHYARD_DELIVERY_ALLOW: {e}"))?,
    );
    d.default_concurrency = args.delivery.delivery_concurrency.max(1);
    d.max_in_flight = args.delivery.delivery_max_in_flight.max(1);
    d.api_bases =
        switchyard_engine::delivery::writeback::ApiBases::from_lookup(|k| std::env::var(k).ok());
    d.tokens_from_env(|k| std::env::var(k).ok());
    d.public_url = args
        .delivery
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", args.host, args.port));
    let configured: Vec<&str> = config.provider_secrets.keys().map(String::as_str).collect();

    let app = App::build(config.clone())
        .await
        .context("starting the store")?;
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .or_else(|_| format!("[{}]:{}", args.host, args.port).parse())
        .with_context(|| format!("invalid listen address {}:{}", args.host, args.port))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        store = %switchyard_store::redact_url(&args.store.database_url),
        secrets_for = ?configured,
        "switchyard listening"
    );
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
