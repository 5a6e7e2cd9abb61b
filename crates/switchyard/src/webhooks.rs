//! `switchyard webhooks ...`: create and inspect webhooks kept in the store, for
//! `POST /webhooks/{provider}/{webhook_id}`. Secrets are sealed before they are stored
//! and never printed back. Changes are written with their audit row, as `cli`.

use clap::Subcommand;
use secrecy::ExposeSecret;
use switchyard_core::{providers, ProviderName, WebhookId};
use switchyard_engine::access::CLI;
use switchyard_engine::{audit, Config};
use switchyard_store::{now_micros, AuditAction, ResourceKind, WebhookRecord};

use crate::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// List webhooks.
    List(StoreArgs),
    /// Create a webhook (an existing id is refused: use `update`).
    Create {
        /// Provider scheme: github, stripe, slack, standard, generic, ...
        #[arg(long)]
        provider: String,
        /// Webhook id in /webhooks/{provider}/{id}.
        #[arg(long)]
        id: String,
        /// Human-readable name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// Signing secret; repeat during rotation (each one is valid).
        #[arg(
            long = "secret",
            env = "SWITCHYARD_NEW_WEBHOOK_SECRET",
            hide_env_values = true
        )]
        secrets: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a webhook's secrets, name or state; what is not given is kept (its
    /// commands and write-back token always are).
    Update {
        id: String,
        /// Replace the signing secrets; repeat to keep several valid (rotation).
        #[arg(
            long = "secret",
            env = "SWITCHYARD_NEW_WEBHOOK_SECRET",
            hide_env_values = true
        )]
        secrets: Vec<String>,
        /// A new human-readable name.
        #[arg(long)]
        name: Option<String>,
        /// Enable it.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable it: its endpoint answers 404 and stores nothing.
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable a webhook.
    Enable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a webhook: its endpoint answers 404 and stores nothing.
    Disable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl WebhooksCmd {
    /// The store flags every verb takes.
    pub fn store(&self) -> &StoreArgs {
        match self {
            WebhooksCmd::List(store)
            | WebhooksCmd::Create { store, .. }
            | WebhooksCmd::Update { store, .. }
            | WebhooksCmd::Enable { store, .. }
            | WebhooksCmd::Disable { store, .. } => store,
        }
    }
}

/// Runs a verb on the store `config` names (its flags are already in `config`).
pub async fn run(cmd: WebhooksCmd, config: &Config) -> anyhow::Result<()> {
    match cmd {
        WebhooksCmd::List(_) => {
            let store = open(config).await?;
            for w in store.list_webhooks().await? {
                println!(
                    "{}\t{}\t{}\t/webhooks/{}/{}\t{} secret(s)",
                    w.webhook_id,
                    w.provider,
                    if w.enabled { "enabled" } else { "disabled" },
                    w.provider,
                    w.webhook_id,
                    w.sealed_secrets().len()
                );
            }
            Ok(())
        }
        WebhooksCmd::Create {
            provider,
            id,
            name,
            secrets,
            store: _,
        } => {
            let provider =
                ProviderName::parse(&provider).map_err(|e| anyhow::anyhow!("provider: {e}"))?;
            if providers::by_name(provider.as_str()).is_none() {
                anyhow::bail!("unknown provider {provider}");
            }
            let id = WebhookId::parse(&id).map_err(|e| anyhow::anyhow!("id: {e}"))?;
            let store = open(config).await?;
            let sealer = switchyard_engine::keys::load_sealer(
                config.secret_key.as_ref().map(ExposeSecret::expose_secret),
                &config.data_dir,
            )?;
            let sealed: Vec<String> = secrets.iter().map(|s| sealer.seal(s.as_bytes())).collect();
            let now = now_micros();
            let record = WebhookRecord {
                webhook_id: id.to_string(),
                name: name.unwrap_or_else(|| id.to_string()),
                provider: provider.to_string(),
                enabled: true,
                secrets: serde_json::to_string(&sealed)?,
                config_json: "{}".into(),
                created_at: now,
                created_by: "cli".into(),
                updated_at: now,
                api_token: None,
            };
            // Create never replaces: an existing webhook keeps its commands and
            // write-back token (`switchyard webhooks enable|disable` and the API
            // change one).
            let row = audit::record(
                CLI,
                AuditAction::Create,
                ResourceKind::Webhook,
                &record.webhook_id,
                None,
                Some(audit::webhook(&record)),
            );
            if !store.insert_webhook(&record, &row).await? {
                anyhow::bail!(
                    "webhook {id} exists; change it through the API (PUT /api/webhooks/{id})"
                );
            }
            println!("created /webhooks/{provider}/{id}");
            let p = providers::by_name(provider.as_str());
            let default_secret = switchyard_engine::config::env_var_for(provider.as_str());
            if secrets.is_empty()
                && p.is_some_and(|p| p.requires_secret())
                && config.secrets_for(provider.as_str()).is_empty()
            {
                eprintln!(
                    "warning: {provider} signs its webhooks and this one has no secret: /webhooks/{provider}/{id} answers 404 until you give it one (switchyard webhooks update {id} --secret S) or set {default_secret}"
                );
            }
            Ok(())
        }
        WebhooksCmd::Update {
            id,
            secrets,
            name,
            enable,
            disable,
            store: _,
        } => {
            if secrets.is_empty() && name.is_none() && !enable && !disable {
                anyhow::bail!("nothing to change: give --secret, --name, --enable or --disable");
            }
            let store = open(config).await?;
            let mut w = store
                .get_webhook(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no webhook {id}"))?;
            let before = audit::webhook(&w);
            if !secrets.is_empty() {
                let sealer = switchyard_engine::keys::load_sealer(
                    config.secret_key.as_ref().map(ExposeSecret::expose_secret),
                    &config.data_dir,
                )?;
                let sealed: Vec<String> =
                    secrets.iter().map(|s| sealer.seal(s.as_bytes())).collect();
                w.secrets = serde_json::to_string(&sealed)?;
            }
            if let Some(n) = name.clone() {
                if n.trim().is_empty() {
                    anyhow::bail!("--name must not be empty");
                }
                // An API-made webhook keeps its name in its config too.
                if let Ok(serde_json::Value::Object(mut cfg)) =
                    serde_json::from_str::<serde_json::Value>(&w.config_json)
                {
                    cfg.insert("name".into(), n.clone().into());
                    w.config_json = serde_json::Value::Object(cfg).to_string();
                }
                w.name = n;
            }
            if enable || disable {
                w.enabled = enable;
            }
            w.updated_at = now_micros();
            // Secrets alone are a rotation; a state change alone an enable or a
            // disable; anything else an update.
            let action = match (!secrets.is_empty(), name.is_some(), enable || disable) {
                (true, false, false) => AuditAction::Rotate,
                (false, false, true) if enable => AuditAction::Enable,
                (false, false, true) => AuditAction::Disable,
                _ => AuditAction::Update,
            };
            let row = audit::record(
                CLI,
                action,
                ResourceKind::Webhook,
                &id,
                Some(before),
                Some(audit::webhook(&w)),
            );
            store.put_webhook(&w, &row).await?;
            println!("updated {id}");
            Ok(())
        }
        WebhooksCmd::Enable { id, .. } => set_enabled(config, &id, true).await,
        WebhooksCmd::Disable { id, .. } => set_enabled(config, &id, false).await,
    }
}

pub async fn open(config: &Config) -> anyhow::Result<std::sync::Arc<dyn switchyard_store::Store>> {
    let store = switchyard_store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    Ok(store)
}

async fn set_enabled(config: &Config, id: &str, enabled: bool) -> anyhow::Result<()> {
    let store = open(config).await?;
    let mut w = store
        .get_webhook(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no webhook {id}"))?;
    let before = audit::webhook(&w);
    w.enabled = enabled;
    w.updated_at = now_micros();
    let action = if enabled {
        AuditAction::Enable
    } else {
        AuditAction::Disable
    };
    let row = audit::record(
        CLI,
        action,
        ResourceKind::Webhook,
        id,
        Some(before),
        Some(audit::webhook(&w)),
    );
    store.put_webhook(&w, &row).await?;
    println!("{id} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}
