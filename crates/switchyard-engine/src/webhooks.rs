//! The webhook registry as a service (seed 002): create, replace, delete, enable and
//! disable webhooks and edit their commands. Each change is stored, then put in the
//! in-memory registry so the next request routes by it.
//!
//! Secrets are write-only: the call that sets one gets it back once (to show it);
//! afterwards only its presence is known. Webhooks defined by files in the config
//! folder are read-only here (409): the file is their source of truth.
//!
//! Every change names who made it (`who`, a key id) and is written with its audit
//! row ([`crate::audit`]): webhooks as a whole, commands as `WEBHOOK_ID/COMMAND_ID`.

use std::sync::Arc;

use switchyard_core::routing::{CommandConfig, FieldError, WebhookConfig};
use switchyard_core::WebhookId;
use switchyard_store::{new_id, now_micros, AuditAction, NewAudit, ResourceKind, WebhookRecord};

use crate::app::Engine;
use crate::audit;
pub use crate::delivery::engine::new_secret;
use crate::error::{Error, Result};
use crate::registry::{entry_from_record, Entry, Origin};

/// A webhook after a change, with the secret the change set (shown once).
pub struct Saved {
    pub entry: Entry,
    pub secret_once: Option<String>,
}

/// Gives every command an id: its own, else `cmd-{n}` by position, the rule
/// compilation uses, so the API shows the ids events will name.
pub fn with_command_ids(cfg: &mut WebhookConfig) {
    for (i, c) in cfg.commands.iter_mut().enumerate() {
        if c.command_id.is_none() {
            c.command_id = Some(format!("cmd-{}", i + 1));
        }
    }
}

fn not_found(id: &str) -> Error {
    Error::not_found("unknown_webhook", format!("no webhook {id:?}"))
}

fn exists(id: &str) -> Error {
    Error::conflict(
        "webhook_exists",
        format!("webhook {id:?} exists; PUT to replace it"),
    )
}

fn read_only(e: &Entry) -> Result<()> {
    match &e.origin {
        Origin::File(p) => Err(Error::conflict(
            "defined_by_file",
            format!(
                "webhook {:?} is defined by {}; edit that file instead",
                e.webhook_id,
                p.display()
            ),
        )),
        Origin::Api => Ok(()),
    }
}

/// Parses and validates a `WebhookConfig` body without storing anything: what
/// create and replace check first (422 `invalid_config` with every field problem).
pub fn parse_config(body: &[u8]) -> Result<WebhookConfig> {
    let cfg = WebhookConfig::from_json(body).map_err(Error::invalid)?;
    let errs = cfg.validate();
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(Error::invalid(errs))
    }
}

fn parse_command(body: &[u8]) -> Result<CommandConfig> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        Error::invalid(vec![FieldError::new(
            e.path().to_string(),
            e.inner().to_string(),
        )])
    })
}

fn given_secrets(cfg: &WebhookConfig) -> Vec<String> {
    cfg.secret
        .iter()
        .chain(cfg.secrets.iter())
        .cloned()
        .collect()
}

impl Engine {
    /// The webhook with this id (a file's definition first).
    pub fn webhook(&self, id: &str) -> Result<Arc<Entry>> {
        self.registry.get(id).ok_or_else(|| not_found(id))
    }

    /// Fails unless `id` is an API-defined webhook (a file's is read-only here: 409
    /// `defined_by_file`).
    pub fn editable_in_registry(&self, id: &str) -> Result<()> {
        match self.registry.get(id) {
            Some(e) => read_only(&e),
            None => Ok(()),
        }
    }

    /// Stores `cfg` (its secrets given sealed) and puts it in the registry; `audit`
    /// makes the change's audit row from the record stored.
    async fn save(
        &self,
        id: &str,
        cfg: WebhookConfig,
        sealed: Vec<String>,
        api_token: Option<String>,
        created_at: i64,
        audit: impl FnOnce(&WebhookRecord) -> NewAudit,
    ) -> Result<Entry> {
        self.store_webhook(id, cfg, sealed, api_token, created_at, false, audit)
            .await
    }

    /// Stores `cfg` as a new webhook: 409 when its id exists (also when another
    /// request created it a moment ago).
    async fn save_new(
        &self,
        who: &str,
        id: &str,
        cfg: WebhookConfig,
        sealed: Vec<String>,
        api_token: Option<String>,
    ) -> Result<Entry> {
        let audit = |r: &WebhookRecord| {
            audit::record(
                who,
                AuditAction::Create,
                ResourceKind::Webhook,
                id,
                None,
                Some(audit::webhook(r)),
            )
        };
        self.store_webhook(id, cfg, sealed, api_token, now_micros(), true, audit)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_webhook(
        &self,
        id: &str,
        mut cfg: WebhookConfig,
        sealed: Vec<String>,
        api_token: Option<String>,
        created_at: i64,
        new: bool,
        audit: impl FnOnce(&WebhookRecord) -> NewAudit,
    ) -> Result<Entry> {
        cfg.webhook_id = Some(id.to_owned());
        cfg.endpoint = None;
        cfg.secret = None;
        cfg.secrets = Vec::new();
        cfg.api_token = None;
        cfg.created_at = None;
        with_command_ids(&mut cfg);
        let record = WebhookRecord {
            webhook_id: id.to_owned(),
            name: cfg.name.clone(),
            provider: cfg.provider.clone(),
            enabled: cfg.enabled,
            secrets: serde_json::to_string(&sealed).map_err(Error::internal)?,
            config_json: serde_json::to_string(&cfg).map_err(Error::internal)?,
            created_at,
            created_by: cfg.created_by.clone().unwrap_or_else(|| "api".to_owned()),
            updated_at: now_micros(),
            api_token,
        };
        let row = audit(&record);
        if new {
            if !self.store.insert_webhook(&record, &row).await? {
                return Err(exists(id));
            }
        } else {
            self.store.put_webhook(&record, &row).await?;
        }
        self.registry
            .put_stored(entry_from_record(&record, &self.sealer).map_err(Error::internal)?);
        entry_from_record(&record, &self.sealer).map_err(Error::internal)
    }

    /// What an operator should know about how a webhook is protected: a signing
    /// provider with no secret anywhere (its endpoint answers 404 until one is
    /// set), or a webhook that accepts unsigned requests from any address.
    pub fn webhook_warnings(&self, e: &Entry) -> Vec<String> {
        let provider = e.config.provider.as_str();
        let Some(p) = switchyard_core::providers::by_name(provider) else {
            return Vec::new();
        };
        if !e.secrets.is_empty() || !self.config.secrets_for(provider).is_empty() {
            return Vec::new();
        }
        let var = crate::config::env_var_for(provider);
        let id = &e.webhook_id;
        if p.requires_secret() {
            vec![format!(
                "{provider} signs its webhooks and this one has no secret: /webhooks/{provider}/{id} answers 404 until you set one (\"secret\") or set {var}"
            )]
        } else if e.compiled.allowed_ips().is_empty() {
            vec![format!(
                "no secret and no allowed_ips: /webhooks/{provider}/{id} accepts unsigned requests from any address; set a secret (or {var}) or allowed_ips"
            )]
        } else {
            Vec::new()
        }
    }

    /// Creates a webhook from seed 002's `WebhookConfig` JSON.
    pub async fn create_webhook(&self, who: &str, body: &[u8]) -> Result<Saved> {
        let cfg = parse_config(body)?;
        let id = cfg.effective_id();
        if WebhookId::parse(&id).is_err() {
            return Err(Error::field(
                "name",
                "gives no usable webhook id; set webhook_id",
            ));
        }
        if self.registry.get(&id).is_some() {
            return Err(exists(&id));
        }
        let secrets = given_secrets(&cfg);
        let sealed = secrets
            .iter()
            .map(|s| self.sealer.seal(s.as_bytes()))
            .collect();
        let api_token = cfg
            .api_token
            .as_ref()
            .map(|t| self.sealer.seal(t.as_bytes()));
        let entry = self.save_new(who, &id, cfg, sealed, api_token).await?;
        tracing::info!(webhook = %id, "webhook created");
        Ok(Saved {
            entry,
            secret_once: secrets.into_iter().next(),
        })
    }

    /// Replaces a webhook's definition; without a secret in the body the stored
    /// secrets are kept.
    pub async fn replace_webhook(&self, who: &str, id: &str, body: &[u8]) -> Result<Saved> {
        let existing = self
            .store
            .get_webhook(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        self.editable_in_registry(id)?;
        let cfg = parse_config(body)?;
        if cfg.webhook_id.as_deref().is_some_and(|w| w != id) {
            return Err(Error::field("webhook_id", "must match the id in the path"));
        }
        let secrets = given_secrets(&cfg);
        let sealed = if secrets.is_empty() {
            existing.sealed_secrets()
        } else {
            secrets
                .iter()
                .map(|s| self.sealer.seal(s.as_bytes()))
                .collect()
        };
        let api_token = match &cfg.api_token {
            Some(t) => Some(self.sealer.seal(t.as_bytes())),
            None => existing.api_token.clone(),
        };
        let before = audit::webhook(&existing);
        let entry = self
            .save(id, cfg, sealed, api_token, existing.created_at, |r| {
                audit::record(
                    who,
                    AuditAction::Update,
                    ResourceKind::Webhook,
                    id,
                    Some(before),
                    Some(audit::webhook(r)),
                )
            })
            .await?;
        Ok(Saved {
            entry,
            secret_once: secrets.into_iter().next(),
        })
    }

    pub async fn delete_webhook(&self, who: &str, id: &str) -> Result<()> {
        self.editable_in_registry(id)?;
        let before = self
            .store
            .get_webhook(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let row = audit::record(
            who,
            AuditAction::Delete,
            ResourceKind::Webhook,
            id,
            Some(audit::webhook(&before)),
            None,
        );
        if self.store.delete_webhook(id, &row).await? {
            self.registry.remove_stored(id);
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    pub async fn set_webhook_enabled(&self, who: &str, id: &str, enabled: bool) -> Result<Entry> {
        let (record, mut cfg) = self.editable(id).await?;
        cfg.enabled = enabled;
        let action = if enabled {
            AuditAction::Enable
        } else {
            AuditAction::Disable
        };
        let before = audit::webhook(&record);
        self.save(
            id,
            cfg,
            record.sealed_secrets(),
            record.api_token.clone(),
            record.created_at,
            |r| {
                audit::record(
                    who,
                    action,
                    ResourceKind::Webhook,
                    id,
                    Some(before),
                    Some(audit::webhook(r)),
                )
            },
        )
        .await
    }

    /// Replaces a webhook's secrets with one new secret — `secret`, or a generated
    /// `whsec_` one — returned once. The old secrets stop verifying at once: a
    /// sender still signing with one is refused (401) until it is given the new one.
    pub async fn rotate_webhook_secret(
        &self,
        who: &str,
        id: &str,
        secret: Option<String>,
    ) -> Result<Saved> {
        let secret = match secret {
            Some(s) if s.is_empty() => {
                return Err(Error::field(
                    "secret",
                    "must not be empty; leave it out to generate one",
                ))
            }
            Some(s) => s,
            None => new_secret(),
        };
        let (record, cfg) = self.editable(id).await?;
        let before = audit::webhook(&record);
        let entry = self
            .save(
                id,
                cfg,
                vec![self.sealer.seal(secret.as_bytes())],
                record.api_token.clone(),
                record.created_at,
                |r| {
                    audit::record(
                        who,
                        AuditAction::Rotate,
                        ResourceKind::Webhook,
                        id,
                        Some(before),
                        Some(audit::webhook(r)),
                    )
                },
            )
            .await?;
        tracing::info!(webhook = %id, "webhook secret rotated");
        Ok(Saved {
            entry,
            secret_once: Some(secret),
        })
    }

    /// A webhook's commands, with their ids.
    pub fn commands(&self, id: &str) -> Result<Vec<CommandConfig>> {
        let e = self.webhook(id)?;
        let mut cfg = e.config.clone();
        with_command_ids(&mut cfg);
        Ok(cfg.commands)
    }

    /// Loads an API-defined webhook for a change.
    async fn editable(&self, id: &str) -> Result<(WebhookRecord, WebhookConfig)> {
        self.editable_in_registry(id)?;
        let record = self
            .store
            .get_webhook(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let mut cfg = entry_from_record(&record, &self.sealer)
            .map_err(Error::internal)?
            .config;
        with_command_ids(&mut cfg);
        Ok((record, cfg))
    }

    /// Validates `cfg` after a change to one command and saves it, with the
    /// command's audit row.
    async fn save_commands(
        &self,
        record: WebhookRecord,
        cfg: WebhookConfig,
        row: NewAudit,
    ) -> Result<Entry> {
        let errs = cfg.validate();
        if !errs.is_empty() {
            return Err(Error::invalid(errs));
        }
        self.save(
            &record.webhook_id,
            cfg,
            record.sealed_secrets(),
            record.api_token.clone(),
            record.created_at,
            |_| row,
        )
        .await
    }

    /// Adds a command (its id given, or a new one).
    pub async fn add_command(&self, who: &str, id: &str, body: &[u8]) -> Result<CommandConfig> {
        let (record, mut cfg) = self.editable(id).await?;
        let mut cmd = parse_command(body)?;
        let cmd_id = cmd.command_id.clone().unwrap_or_else(|| new_id("cmd"));
        if cfg
            .commands
            .iter()
            .any(|c| c.command_id.as_deref() == Some(cmd_id.as_str()))
        {
            return Err(Error::conflict(
                "command_exists",
                format!("command {cmd_id:?} exists"),
            ));
        }
        cmd.command_id = Some(cmd_id.clone());
        let row = audit::record(
            who,
            AuditAction::Create,
            ResourceKind::Command,
            &audit::command_id(id, &cmd_id),
            None,
            Some(audit::command(&cmd)),
        );
        cfg.commands.push(cmd.clone());
        self.save_commands(record, cfg, row).await?;
        Ok(cmd)
    }

    pub async fn replace_command(
        &self,
        who: &str,
        id: &str,
        cmd_id: &str,
        body: &[u8],
    ) -> Result<CommandConfig> {
        let (record, mut cfg) = self.editable(id).await?;
        let mut cmd = parse_command(body)?;
        cmd.command_id = Some(cmd_id.to_owned());
        let slot = cfg
            .commands
            .iter_mut()
            .find(|c| c.command_id.as_deref() == Some(cmd_id))
            .ok_or_else(|| Error::not_found("unknown_command", format!("no command {cmd_id:?}")))?;
        let row = audit::record(
            who,
            AuditAction::Update,
            ResourceKind::Command,
            &audit::command_id(id, cmd_id),
            Some(audit::command(slot)),
            Some(audit::command(&cmd)),
        );
        *slot = cmd.clone();
        self.save_commands(record, cfg, row).await?;
        Ok(cmd)
    }

    pub async fn delete_command(&self, who: &str, id: &str, cmd_id: &str) -> Result<()> {
        let (record, mut cfg) = self.editable(id).await?;
        let Some(gone) = cfg
            .commands
            .iter()
            .find(|c| c.command_id.as_deref() == Some(cmd_id))
        else {
            return Err(Error::not_found(
                "unknown_command",
                format!("no command {cmd_id:?}"),
            ));
        };
        let row = audit::record(
            who,
            AuditAction::Delete,
            ResourceKind::Command,
            &audit::command_id(id, cmd_id),
            Some(audit::command(gone)),
            None,
        );
        cfg.commands
            .retain(|c| c.command_id.as_deref() != Some(cmd_id));
        self.save_commands(record, cfg, row).await?;
        Ok(())
    }
}
