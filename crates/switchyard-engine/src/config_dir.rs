//! The config folder: every `*.json`, `*.yaml` and `*.yml` file in it is a webhook
//! config (seed 002's format). It is read at start and re-read when any file's
//! modification time, size or presence changes, checked once a second.
//!
//! Polling rather than inotify: editors save by rename, folders may be mounted from
//! a network or a container volume where change events are lost, and one `stat` per
//! file per second on a small folder costs nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchyard_core::routing::{CompiledWebhook, WebhookConfig};
use switchyard_core::Secret;
use tokio_util::sync::CancellationToken;

use crate::registry::{Entry, Origin, Registry};
use switchyard_core::writeback::Credentials;

type Fingerprint = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

fn is_config(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("json" | "yaml" | "yml")
    )
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd.flatten() {
            let p = entry.path();
            if is_config(&p) {
                if let Ok(m) = entry.metadata() {
                    if m.is_file() {
                        out.insert(p, (m.modified().ok(), m.len()));
                    }
                }
            }
        }
    }
    out
}

/// Parses one file into a config.
pub fn parse_file(path: &Path) -> Result<WebhookConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?,
        _ => serde_yaml_ng::from_slice(&bytes).map_err(|e| format!("invalid YAML: {e}"))?,
    };
    WebhookConfig::from_value(value).map_err(describe)
}

fn describe(errs: Vec<switchyard_core::routing::FieldError>) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads every config file in `dir` into `registry`.
pub fn load(dir: &Path, registry: &Registry) {
    let mut files = HashMap::new();
    let mut errors = BTreeMap::new();
    let mut owners: HashMap<String, PathBuf> = HashMap::new();
    for path in fingerprint(dir).into_keys() {
        let result = parse_file(&path).and_then(|cfg| {
            let errs = cfg.validate();
            if !errs.is_empty() {
                return Err(describe(errs));
            }
            let id = cfg.effective_id();
            if let Some(other) = owners.get(&id) {
                return Err(format!(
                    "webhook id {id:?} is also defined in {}",
                    other.display()
                ));
            }
            let compiled = CompiledWebhook::compile(&cfg).map_err(describe)?;
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
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_micros() as i64);
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
    let mut seen = fingerprint(&dir);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = fingerprint(&dir);
        if now != seen {
            seen = now;
            load(&dir, &registry);
        }
    }
}
