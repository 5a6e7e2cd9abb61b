//! The workflow registry: every workflow the engine can run, parsed and validated
//! once, by the name it is served under. Two sources feed it: the workflows folder
//! (`Config::workflows_dir`) and the workflows registered through the API (the
//! store's `workflows` rows: inline YAML, or a file of the folder under a name).
//! A run copies the YAML it starts with (`runs.definition`), so changing or
//! removing a workflow never changes a run under way.
//!
//! This module holds what is served; [`crate::workflows_dir`] loads it (and says
//! which source wins a name) when the folder changes, when the store's registry
//! version moved and after each change [`crate::workflow_registrations`] makes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;
use switchyard_core::workflow::Workflow;
use switchyard_store::WorkflowRecord;

/// A loaded, valid workflow.
#[derive(Debug)]
pub struct Loaded {
    pub workflow: Arc<Workflow>,
    /// The text it was parsed from (what a run keeps).
    pub yaml: String,
    pub origin: Origin,
    /// Unix micros.
    pub updated_at: i64,
}

/// Where a workflow comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file of the workflows folder, served under its own name.
    File(PathBuf),
    /// Registered through the API: inline YAML, or a file of the folder
    /// (`config_path`, relative to the folder) under the registered name.
    Api { config_path: Option<String> },
}

#[derive(Default)]
struct Inner {
    files: HashMap<String, Arc<Loaded>>,
    stored: HashMap<String, Arc<Loaded>>,
    file_errors: BTreeMap<PathBuf, String>,
}

/// What the registry is loaded from. Loads run one at a time under its lock, so a
/// slow one cannot overwrite a newer one.
#[derive(Default)]
struct Sources {
    /// The registrations as last read from the store, by name.
    rows: Vec<WorkflowRecord>,
    /// The store's registry version `rows` were read at.
    version: Option<i64>,
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Workflows {
    inner: Arc<RwLock<Inner>>,
    sources: Arc<Mutex<Sources>>,
    /// The workflows folder.
    dir: Option<Arc<Path>>,
}

impl Workflows {
    /// An empty registry over the workflows folder `dir` (none: registrations of
    /// inline YAML only).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir: dir.map(Arc::from),
            ..Self::default()
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The workflows folder.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The workflow served under `name`: a registered one first, then a file's.
    pub fn get(&self, name: &str) -> Option<Arc<Loaded>> {
        let inner = self.read();
        inner
            .stored
            .get(name)
            .or_else(|| inner.files.get(name))
            .cloned()
    }

    /// Every workflow, by name.
    pub fn list(&self) -> Vec<Arc<Loaded>> {
        let inner = self.read();
        let mut all: BTreeMap<&str, Arc<Loaded>> = BTreeMap::new();
        for (name, w) in inner.files.iter().chain(inner.stored.iter()) {
            all.insert(name, w.clone());
        }
        all.into_values().collect()
    }

    /// The name of every workflow served, sorted.
    pub fn names(&self) -> Vec<String> {
        let inner = self.read();
        let all: std::collections::BTreeSet<&String> =
            inner.files.keys().chain(inner.stored.keys()).collect();
        all.into_iter().cloned().collect()
    }

    /// Files of the folder (and registrations) that did not load, with why.
    pub fn file_errors(&self) -> Vec<(PathBuf, String)> {
        self.read()
            .file_errors
            .iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }

    /// The folder file serving `name` under its own name, if one does.
    pub fn file_serving(&self, name: &str) -> Option<PathBuf> {
        match &self.read().files.get(name)?.origin {
            Origin::File(p) => Some(p.clone()),
            Origin::Api { .. } => None,
        }
    }

    /// Replaces what the folder holds (until the next load).
    pub fn set_files(
        &self,
        files: HashMap<String, Arc<Loaded>>,
        errors: BTreeMap<PathBuf, String>,
    ) {
        let mut inner = self.write();
        inner.files = files;
        inner.file_errors = errors;
    }

    /// Replaces what the API registered (until the next load).
    pub fn set_stored(&self, stored: HashMap<String, Arc<Loaded>>) {
        self.write().stored = stored;
    }

    /// The `config_path` of every registration, for the folder watch.
    pub fn registered_paths(&self) -> Vec<String> {
        self.lock_sources()
            .rows
            .iter()
            .filter_map(|r| r.config_path.clone())
            .collect()
    }

    /// The store's registry version the registrations were last read at.
    pub fn version(&self) -> Option<i64> {
        self.lock_sources().version
    }

    /// Replaces everything served with what `load` makes of the registrations:
    /// `rows`, read at registry version `version`, or without them the ones held.
    /// Loads run one at a time, and rows older than those held are not taken (a
    /// slow read never undoes a newer one): false then.
    pub fn load_with(
        &self,
        rows: Option<(i64, Vec<WorkflowRecord>)>,
        load: impl FnOnce(Option<&Path>, &[WorkflowRecord]) -> Loading,
    ) -> bool {
        let mut sources = self.lock_sources();
        if let Some((version, rows)) = rows {
            if sources.version.is_some_and(|v| v > version) {
                return false;
            }
            sources.rows = rows;
            sources.version = Some(version);
        }
        let l = load(self.dir(), &sources.rows);
        let mut inner = self.write();
        // Logged once, not at every load (the registry version moves with every
        // webhook change too).
        for (file, why) in &l.errors {
            if inner.file_errors.get(file) != Some(why) {
                tracing::error!(file = %file.display(), error = %why, "workflow not loaded");
            }
        }
        inner.files = l.files;
        inner.stored = l.stored;
        inner.file_errors = l.errors;
        true
    }
}

/// What the folder and the registrations define, ready to serve.
#[derive(Debug, Default)]
pub struct Loading {
    /// Served by folder files, by name.
    pub files: HashMap<String, Arc<Loaded>>,
    /// Registered through the API, by name.
    pub stored: HashMap<String, Arc<Loaded>>,
    /// What did not load, with why: a folder file by its path, a registration by
    /// the path its `config_path` names, or `api:NAME` for inline YAML.
    pub errors: BTreeMap<PathBuf, String>,
}

/// A workflow as registered (`POST /api/workflows`, `PUT /api/workflows/{name}`):
/// seed 003's `{"name", "config_path"}` or `{"name", "yaml"}`, exactly one of the
/// two sources. `name` is required when registering; on a replace it may be left
/// out, and must otherwise match the path's.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    pub name: Option<String>,
    /// A file of the workflows folder, relative to it.
    pub config_path: Option<String>,
    /// The definition itself.
    pub yaml: Option<String>,
}
