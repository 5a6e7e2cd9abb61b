//! Workflow registrations as a service (issue 11): register, replace and delete
//! the workflows served through the API, by seed 003's `{"name", "config_path"}`
//! (a file inside the workflows folder) or `{"name", "yaml"}`.
//!
//! A name a folder file serves is that file's (409), as webhooks' files are, unless
//! the registration names that very file; a definition is checked whole before
//! anything is stored (422 with every problem at its YAML path). Every change is
//! written with its audit row, then the registry reloads from the store so this
//! replica serves it before answering; other replicas follow the registry version.

use std::path::Path;
use std::sync::Arc;

use switchyard_core::workflow::FieldError;
use switchyard_core::WebhookId;
use switchyard_store::{now_micros, AuditAction, ResourceKind, WorkflowRecord};

use crate::app::Engine;
use crate::audit;
use crate::error::{Error, Result};
use crate::workflows::{Loaded, Origin, WorkflowInput};
use crate::workflows_dir;

fn not_found(name: &str) -> Error {
    Error::not_found("unknown_workflow", format!("no workflow {name:?}"))
}

fn exists(name: &str) -> Error {
    Error::conflict(
        "workflow_exists",
        format!("workflow {name:?} is registered; PUT to replace it"),
    )
}

fn defined_by_file(name: &str, file: &Path) -> Error {
    Error::conflict(
        "defined_by_file",
        format!(
            "workflow {name:?} is defined by {}; edit that file instead, or register another name",
            file.display()
        ),
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl Engine {
    /// Every workflow the engine serves, by name (the folder's problems are
    /// [`crate::workflows::Workflows::file_errors`]).
    pub fn list_workflows(&self) -> Vec<Arc<Loaded>> {
        self.workflows.list()
    }

    /// The workflow served under `name`.
    pub fn workflow(&self, name: &str) -> Result<Arc<Loaded>> {
        self.workflows.get(name).ok_or_else(|| not_found(name))
    }

    /// Registers a workflow: 409 when the name is registered or a folder file
    /// serves it (unless that file is the one `config_path` names).
    pub async fn register_workflow(&self, who: &str, input: WorkflowInput) -> Result<Arc<Loaded>> {
        let name = input
            .name
            .clone()
            .ok_or_else(|| Error::field("name", "is required"))?;
        let (record, loaded) = self.check_workflow(&name, &input)?;
        let row = audit::record(
            who,
            AuditAction::Create,
            ResourceKind::Workflow,
            &name,
            None,
            Some(audit::workflow(&record)),
        );
        if !self.store.insert_workflow(&record, &row).await? {
            return Err(exists(&name));
        }
        tracing::info!(workflow = %name, "workflow registered");
        Ok(self.after_change(&name, loaded).await)
    }

    /// Registers or replaces the workflow `name` (409 when a folder file serves it).
    pub async fn replace_workflow(
        &self,
        who: &str,
        name: &str,
        input: WorkflowInput,
    ) -> Result<Arc<Loaded>> {
        if input.name.as_deref().is_some_and(|n| n != name) {
            return Err(Error::field("name", "must match the name in the path"));
        }
        let (mut record, loaded) = self.check_workflow(name, &input)?;
        let before = self.store.get_workflow(name).await?;
        if let Some(b) = &before {
            record.created_at = b.created_at;
        }
        let action = if before.is_some() {
            AuditAction::Update
        } else {
            AuditAction::Create
        };
        let row = audit::record(
            who,
            action,
            ResourceKind::Workflow,
            name,
            before.as_ref().map(audit::workflow),
            Some(audit::workflow(&record)),
        );
        self.store.put_workflow(&record, &row).await?;
        tracing::info!(workflow = %name, "workflow replaced");
        Ok(self.after_change(name, loaded).await)
    }

    /// Deletes a registration: 409 for a workflow a folder file defines, 404 for
    /// an unknown one.
    pub async fn delete_workflow(&self, who: &str, name: &str) -> Result<()> {
        let Some(before) = self.store.get_workflow(name).await? else {
            return Err(match self.workflows.file_serving(name) {
                Some(file) => defined_by_file(name, &file),
                None => not_found(name),
            });
        };
        let row = audit::record(
            who,
            AuditAction::Delete,
            ResourceKind::Workflow,
            name,
            Some(audit::workflow(&before)),
            None,
        );
        if !self.store.delete_workflow(name, &row).await? {
            return Err(not_found(name));
        }
        tracing::info!(workflow = %name, "workflow deleted");
        self.reload_workflows().await;
        Ok(())
    }

    /// Checks a registration of `name`: the name, exactly one source, a
    /// `config_path` inside the folder, the definition (422 with every problem at
    /// its YAML path) and that no other folder file serves the name (409). Returns
    /// the row to store and the workflow it serves.
    fn check_workflow(
        &self,
        name: &str,
        input: &WorkflowInput,
    ) -> Result<(WorkflowRecord, Loaded)> {
        if let Err(e) = WebhookId::parse(name) {
            return Err(Error::field("name", e.to_string()));
        }
        let (yaml, file) = match (&input.config_path, &input.yaml) {
            (Some(config_path), None) => {
                let dir = self.workflows.dir().ok_or_else(|| {
                    Error::field(
                        "config_path",
                        "no workflows folder is configured (workflows_dir); send the definition as yaml",
                    )
                })?;
                let path = workflows_dir::resolve(dir, config_path)
                    .map_err(|why| Error::field("config_path", why))?;
                let yaml = std::fs::read_to_string(&path)
                    .map_err(|e| Error::field("config_path", format!("cannot read: {e}")))?;
                (yaml, Some(path))
            }
            (None, Some(yaml)) => (yaml.clone(), None),
            (Some(_), Some(_)) => {
                let why = "give either config_path or yaml, not both";
                return Err(Error::invalid(vec![
                    FieldError::new("config_path", why),
                    FieldError::new("yaml", why),
                ]));
            }
            (None, None) => {
                let why = "one of config_path (a file of the workflows folder) or yaml is required";
                return Err(Error::invalid(vec![
                    FieldError::new("config_path", why),
                    FieldError::new("yaml", why),
                ]));
            }
        };
        let workflow = workflows_dir::parse_as(&yaml, name)
            .map_err(|errs| Error::invalid_with("invalid_workflow", errs))?;
        if let Some(served) = self.workflows.file_serving(name) {
            if !file.as_deref().is_some_and(|f| same_file(f, &served)) {
                return Err(defined_by_file(name, &served));
            }
        }
        let now = now_micros();
        let record = WorkflowRecord {
            name: name.to_owned(),
            yaml: input.yaml.clone(),
            config_path: input.config_path.clone(),
            created_at: now,
            updated_at: now,
        };
        let loaded = Loaded {
            workflow: Arc::new(workflow),
            yaml,
            origin: Origin::Api {
                config_path: input.config_path.clone(),
            },
            updated_at: now,
        };
        Ok((record, loaded))
    }

    /// Reloads the registry from the store after a change made here, so this
    /// replica serves it before answering. The change is committed either way: a
    /// failed read is logged and the replica exchange catches up.
    async fn reload_workflows(&self) {
        if let Err(e) = workflows_dir::reload_stored(&self.workflows, self.store.as_ref()).await {
            tracing::warn!(error = %e, "could not reload workflows after a change; the next poll will");
        }
    }

    /// What a change answers: the workflow as the registry now serves it.
    async fn after_change(&self, name: &str, checked: Loaded) -> Arc<Loaded> {
        self.reload_workflows().await;
        match self.workflows.get(name) {
            Some(l) if matches!(l.origin, Origin::Api { .. }) => l,
            _ => Arc::new(checked),
        }
    }
}
