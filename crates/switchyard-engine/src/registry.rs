//! The webhook registry: every registered webhook, compiled and held in memory so
//! ingest never waits on a database read to route an event.
//!
//! Two sources feed it. Webhooks created through the API are rows in the store; the
//! registry reloads them when another replica (or the CLI) changed them: the store's
//! registry version, a counter the database bumps with every change to a webhook or
//! an agent, has moved ([`crate::replicas`] decides when to look). Webhooks defined by files in the config folder are read by
//! [`crate::config_dir`]; a file-defined id shadows a stored one with the same id and
//! is read-only through the API (edit the file instead). A broken file is kept as an
//! error beside the webhooks and never disturbs the others.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use switchyard_core::routing::{CompiledWebhook, WebhookConfig};
use switchyard_core::Secret;
use switchyard_store::AgentMode;
use switchyard_store::{Agent, Sealer, Store, WebhookRecord};

use switchyard_core::writeback::Credentials;

/// Where a webhook's definition lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Api,
    File(PathBuf),
}

/// One registered webhook, ready to serve.
pub struct Entry {
    pub webhook_id: String,
    /// The definition without its secrets.
    pub config: WebhookConfig,
    pub compiled: CompiledWebhook,
    /// The webhook's own secrets, opened. Empty means "the provider's default secret".
    pub secrets: Vec<Secret>,
    /// The credentials write-backs post with, opened.
    pub api: Option<Credentials>,
    pub origin: Origin,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("webhook_id", &self.webhook_id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    stored: HashMap<String, Arc<Entry>>,
    files: HashMap<String, Arc<Entry>>,
    /// Files that could not be loaded, with why.
    file_errors: BTreeMap<PathBuf, String>,
    /// The store's registry version the stored webhooks were loaded at.
    stored_version: Option<i64>,
    /// Changes this replica made itself ([`Registry::put_stored`],
    /// [`Registry::remove_stored`]), counted, so a reload that read the store
    /// before one of them committed does not put the old rows back.
    local_changes: u64,
    /// Push agents by name, so routing knows which tasks to push.
    push_agents: HashMap<String, ()>,
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<Inner>>,
}

impl Registry {
    /// The webhook with this id: a file's definition first, then the store's.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .files
            .get(id)
            .or_else(|| inner.stored.get(id))
            .cloned()
    }

    /// Every webhook, by id.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut by_id: BTreeMap<&str, Arc<Entry>> = BTreeMap::new();
        for (id, e) in &inner.stored {
            by_id.insert(id, e.clone());
        }
        for (id, e) in &inner.files {
            by_id.insert(id, e.clone());
        }
        by_id.into_values().collect()
    }

    pub fn file_errors(&self) -> Vec<(PathBuf, String)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .file_errors
            .iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }

    /// Replaces everything the config folder defines.
    pub fn set_files(&self, files: HashMap<String, Arc<Entry>>, errors: BTreeMap<PathBuf, String>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.files = files;
        inner.file_errors = errors;
    }

    /// Puts one stored webhook (after an API change on this replica).
    pub fn put_stored(&self, e: Entry) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.stored.insert(e.webhook_id.clone(), Arc::new(e));
        inner.local_changes += 1;
    }

    /// Whether tasks for `agent` are pushed (a registered agent in `push` mode).
    pub fn is_push_agent(&self, agent: &str) -> bool {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.push_agents.contains_key(agent)
    }

    /// Replaces the set of push agents from the registered agents.
    pub fn set_agents(&self, agents: &[Agent]) {
        let push = agents
            .iter()
            .filter(|a| a.mode == AgentMode::Push && a.url.is_some())
            .map(|a| (a.name.clone(), ()))
            .collect();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.push_agents = push;
    }

    pub fn remove_stored(&self, id: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.stored.remove(id);
        inner.local_changes += 1;
    }

    /// Reloads the stored webhooks and the agents when the store's registry version
    /// moved (another replica, or the CLI, changed them): one cheap read otherwise.
    /// Rows that no longer compile are logged and skipped. True when it reloaded.
    pub async fn refresh_stored(
        &self,
        store: &dyn Store,
        sealer: &Sealer,
    ) -> switchyard_store::Result<bool> {
        match self.read_stored(store, sealer).await? {
            Some(read) => Ok(self.install(read)),
            None => Ok(false),
        }
    }

    /// The first half of [`Registry::refresh_stored`]: the stored webhooks as the
    /// store has them now, or `None` when the version has not moved.
    pub async fn read_stored(
        &self,
        store: &dyn Store,
        sealer: &Sealer,
    ) -> switchyard_store::Result<Option<StoredRead>> {
        // Read before the rows: a change committed in between moves it again, so
        // the next look reloads.
        let version = store.registry_version().await?;
        let local_changes = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if inner.stored_version == Some(version) {
                return Ok(None);
            }
            inner.local_changes
        };
        let agents = store.list_agents().await?;
        let records = store.list_webhooks().await?;
        let mut stored = HashMap::new();
        for r in records {
            match entry_from_record(&r, sealer) {
                Ok(e) => {
                    stored.insert(e.webhook_id.clone(), Arc::new(e));
                }
                Err(why) => {
                    tracing::error!(webhook = %r.webhook_id, %why, "stored webhook skipped")
                }
            }
        }
        Ok(Some(StoredRead {
            version,
            local_changes,
            agents,
            stored,
        }))
    }

    /// The second half of [`Registry::refresh_stored`]: serves what `read` found,
    /// unless this replica changed a webhook itself since — then the rows may
    /// predate that change, and what is here is kept (the change moved the
    /// version, so the next look reloads). True when installed.
    pub fn install(&self, read: StoredRead) -> bool {
        self.set_agents(&read.agents);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.local_changes != read.local_changes {
            return false;
        }
        inner.stored = read.stored;
        inner.stored_version = Some(read.version);
        true
    }
}

/// The stored webhooks as [`Registry::read_stored`] found them.
pub struct StoredRead {
    version: i64,
    local_changes: u64,
    agents: Vec<Agent>,
    stored: HashMap<String, Arc<Entry>>,
}

/// Builds a registry entry from a stored row.
pub fn entry_from_record(r: &WebhookRecord, sealer: &Sealer) -> Result<Entry, String> {
    let mut config: WebhookConfig =
        if r.config_json.trim().is_empty() || r.config_json.trim() == "{}" {
            // Rows made by `switchyard webhooks create` carry no config: no commands.
            WebhookConfig::from_value(serde_json::json!({"name": r.name, "provider": r.provider}))
                .map_err(|e| format!("{e:?}"))?
        } else {
            WebhookConfig::from_json(r.config_json.as_bytes()).map_err(|e| format!("{e:?}"))?
        };
    config.webhook_id = Some(r.webhook_id.clone());
    config.enabled = r.enabled;
    config.secret = None;
    config.secrets = Vec::new();
    config.api_token = None;
    let compiled = CompiledWebhook::compile(&config).map_err(|e| format!("{e:?}"))?;
    let mut secrets = Vec::new();
    for sealed in r.sealed_secrets() {
        secrets.push(Secret::new(
            sealer.open(&sealed).map_err(|e| e.to_string())?,
        ));
    }
    let api = match &r.api_token {
        Some(sealed) => Some(Credentials {
            token: String::from_utf8(sealer.open(sealed).map_err(|e| e.to_string())?)
                .map_err(|_| "api token is not UTF-8".to_owned())?,
            user: config.api_user.clone(),
        }),
        None => None,
    };
    Ok(Entry {
        webhook_id: r.webhook_id.clone(),
        config,
        compiled,
        secrets,
        api,
        origin: Origin::Api,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}
