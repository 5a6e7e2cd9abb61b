//! The config folder: every `*.json`, `*.yaml` and `*.yml` file in it is a webhook
//! config (seed 002's format). It is read at start and re-read when any file's
//! modification time, size or presence changes, checked once a second
//! ([`crate::folder`] says why by polling).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchyard_core::routing::{CompiledWebhook, WebhookConfig};
use switchyard_core::Secret;
use tokio_util::sync::CancellationToken;

use crate::folder::{self, describe};
use crate::registry::{Entry, Origin, Registry};
use switchyard_core::writeback::Credentials;

/// The files the folder loads.
const EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

/// Parses one file into a config.
pub fn parse_file(path: &Path) -> Result<WebhookConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?,
        _ => serde_yaml_ng::from_slice(&bytes).map_err(|e| format!("invalid YAML: {e}"))?,
    };
    WebhookConfig::from_value(value).map_err(|e| describe(&e))
}

/// Loads every config file in `dir` into `registry`.
pub fn load(dir: &Path, registry: &Registry) {
    let mut files = HashMap::new();
    let mut errors = BTreeMap::new();
    let mut owners: HashMap<String, PathBuf> = HashMap::new();
    for path in folder::fingerprint(dir, EXTENSIONS).into_keys() {
        let result = parse_file(&path).and_then(|cfg| {
            let errs = cfg.validate();
            if !errs.is_empty() {
                return Err(describe(&errs));
            }
            let id = cfg.effective_id();
            if let Some(other) = owners.get(&id) {
                return Err(format!(
                    "webhook id {id:?} is also defined in {}",
                    other.display()
                ));
            }
            let compiled = CompiledWebhook::compile(&cfg).map_err(|e| describe(&e))?;
            let secrets: Vec<Secret> = cfg
                .secret
                .iter()
                .chain(cfg.secrets.iter())
                .map(|s| Secret::new(s.as_bytes().to_vec()))
                .collect();
            let api = cfg.api_token.clone().map(|token| Credentials {
                token,
                user: cfg.api_user.clone(),
            });
            let mut config = cfg;
            config.webhook_id = Some(id.clone());
            config.secret = None;
            config.secrets = Vec::new();
            config.api_token = None;
            let modified = folder::modified_micros(&path);
            Ok(Entry {
                webhook_id: id,
                config,
                compiled,
                secrets,
                api,
                origin: Origin::File(path.clone()),
                created_at: modified,
                updated_at: modified,
            })
        });
        match result {
            Ok(e) => {
                owners.insert(e.webhook_id.clone(), path.clone());
                files.insert(e.webhook_id.clone(), Arc::new(e));
            }
            Err(why) => {
                tracing::error!(file = %path.display(), error = %why, "webhook config file not loaded");
                errors.insert(path, why);
            }
        }
    }
    tracing::info!(dir = %dir.display(), loaded = files.len(), broken = errors.len(), "config folder loaded");
    registry.set_files(files, errors);
}

/// Reloads on change until `stop`; the caller has loaded the folder once already
/// (so the first requests route by it), and is told again only of changes.
pub async fn watch(dir: PathBuf, registry: Registry, stop: CancellationToken, every: Duration) {
    folder::poll(
        stop,
        every,
        || folder::fingerprint(&dir, EXTENSIONS),
        || load(&dir, &registry),
    )
    .await
}
