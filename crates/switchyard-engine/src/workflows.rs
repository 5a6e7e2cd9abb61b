//! The workflow registry: every workflow the engine can run, parsed and validated
//! once, by the name it is served under. Two sources feed it: the workflows folder
//! (`Config::workflows_dir`) and the workflows registered through the API (the
//! store's `workflows` rows: inline YAML, or a file of the folder under a name).
//! A run copies the YAML it starts with (`runs.definition`), so changing or
//! removing a workflow never changes a run under way.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use switchyard_core::workflow::Workflow;

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

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Workflows {
    inner: Arc<RwLock<Inner>>,
}

impl Workflows {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
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

    /// Files of the folder that did not load, with why.
    pub fn file_errors(&self) -> Vec<(PathBuf, String)> {
        self.read()
            .file_errors
            .iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }

    /// Replaces what the folder holds.
    pub fn set_files(
        &self,
        files: HashMap<String, Arc<Loaded>>,
        errors: BTreeMap<PathBuf, String>,
    ) {
        let mut inner = self.write();
        inner.files = files;
        inner.file_errors = errors;
    }

    /// Replaces what the API registered.
    pub fn set_stored(&self, stored: HashMap<String, Arc<Loaded>>) {
        self.write().stored = stored;
    }
}
