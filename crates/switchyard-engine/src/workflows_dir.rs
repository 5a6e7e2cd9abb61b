//! Loading the workflow registry ([`crate::workflows`]): the workflows folder
//! (`Config::workflows_dir`, every `*.yaml` / `*.yml` file directly in it) and the
//! registrations made through the API (the store's `workflows` rows), parsed with
//! [`switchyard_core::workflow::parse`]. Loaded at start, again when the folder
//! changes ([`watch`]), when the store's registry version moved ([`refresh`], from
//! [`crate::replicas`]) and after every change made on this replica.
//!
//! Names (issue 11): a folder file is served under the name its definition gives
//! (`flow.name` in schema 1.0, the file's stem for the shorthand). A registration is
//! served under its registered name, and the folder file it names (`config_path`)
//! is then served only under that name, not its own. Two sources serving one name:
//! the registration wins over a file, and of two files the first (by path) wins;
//! the loser is a file error naming the winner. A broken file, or a registration
//! whose file is missing, outside the folder or broken, is a file error too, and
//! never disturbs the others.
//!
//! The folder is polled once a second ([`crate::folder`]), together with every file
//! a registration names, so editing a registered file is picked up as well.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchyard_core::workflow::{self, Workflow};
use switchyard_store::{Store, WorkflowRecord};
use tokio_util::sync::CancellationToken;

use crate::folder::{self, describe};
use crate::workflows::{Loaded, Loading, Origin, Workflows};

/// The files the folder loads.
pub const EXTENSIONS: &[&str] = &["yaml", "yml"];

/// Where `config_path` leads inside `dir`, canonical: a relative path that never
/// leaves the folder (no `..` past its top, no link leading out, checked on the
/// canonical path) and names an existing `.yaml` / `.yml` file. The error is the
/// message for the `config_path` field.
pub fn resolve(dir: &Path, config_path: &str) -> Result<PathBuf, String> {
    let outside = || {
        format!(
            "must be a path inside the workflows folder ({}), relative to it",
            dir.display()
        )
    };
    if config_path.trim().is_empty() {
        return Err("must name a file of the workflows folder".to_owned());
    }
    let rel = Path::new(config_path);
    // Checked on the text first, so `../x.yaml` is refused as outside whether or
    // not such a file exists.
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(outside)?,
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    if !folder::has_extension(rel, EXTENSIONS) {
        return Err("must name a .yaml or .yml file".to_owned());
    }
    let root = dir.canonicalize().map_err(|e| {
        format!(
            "the workflows folder ({}) cannot be read: {e}",
            dir.display()
        )
    })?;
    let full = root.join(rel).canonicalize().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no file {config_path:?} in the workflows folder ({})",
                dir.display()
            )
        } else {
            format!("cannot read {config_path:?}: {e}")
        }
    })?;
    if !full.starts_with(&root) {
        return Err(outside());
    }
    if !full.is_file() {
        return Err(format!("{config_path:?} is not a file"));
    }
    Ok(full)
}

/// Parses `yaml` as the workflow served under `name`: the shorthand takes it as
/// its name, and it overrides a schema-1.0 `flow.name`.
pub fn parse_as(yaml: &str, name: &str) -> Result<Workflow, Vec<workflow::FieldError>> {
    let mut w = workflow::parse(yaml, Some(name))?;
    w.name = name.to_owned();
    Ok(w)
}

/// Reads a file of the folder for a registration.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))
}

/// Loads everything `dir` and the registrations `rows` define.
pub fn load(dir: Option<&Path>, rows: &[WorkflowRecord]) -> Loading {
    let mut out = Loading::default();
    // Folder files a registration serves under its own name.
    let mut claimed: HashSet<PathBuf> = HashSet::new();
    for r in rows {
        match stored(dir, r, &mut claimed) {
            Ok(l) => {
                out.stored.insert(r.name.clone(), Arc::new(l));
            }
            Err((key, why)) => {
                out.errors.insert(key, why);
            }
        }
    }
    let Some(dir) = dir else {
        return out;
    };
    let mut owners: HashMap<String, PathBuf> = HashMap::new();
    for path in folder::fingerprint(dir, EXTENSIONS).into_keys() {
        if path.canonicalize().is_ok_and(|c| claimed.contains(&c)) {
            continue;
        }
        match file(&path, &out.stored, &owners) {
            Ok(l) => {
                let name = l.workflow.name.clone();
                owners.insert(name.clone(), path);
                out.files.insert(name, Arc::new(l));
            }
            Err(why) => {
                out.errors.insert(path, why);
            }
        }
    }
    tracing::debug!(
        dir = %dir.display(),
        files = out.files.len(),
        registered = out.stored.len(),
        broken = out.errors.len(),
        "workflows loaded"
    );
    out
}

/// One folder file, served under its own name unless another source has it.
fn file(
    path: &Path,
    stored: &HashMap<String, Arc<Loaded>>,
    owners: &HashMap<String, PathBuf>,
) -> Result<Loaded, String> {
    let yaml = read(path)?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    let w = workflow::parse(&yaml, stem).map_err(|e| describe(&e))?;
    if stored.contains_key(&w.name) {
        return Err(format!(
            "workflow {:?} is registered through the API, which wins; rename one of them",
            w.name
        ));
    }
    if let Some(other) = owners.get(&w.name) {
        return Err(format!(
            "workflow {:?} is also defined in {}",
            w.name,
            other.display()
        ));
    }
    Ok(Loaded {
        workflow: Arc::new(w),
        yaml,
        origin: Origin::File(path.to_owned()),
        updated_at: folder::modified_micros(path),
    })
}

/// One registration: inline YAML, or the folder file it names (read now, so an
/// edit to the file is picked up by the next load). The error is keyed as
/// [`Loading::errors`] says.
fn stored(
    dir: Option<&Path>,
    r: &WorkflowRecord,
    claimed: &mut HashSet<PathBuf>,
) -> Result<Loaded, (PathBuf, String)> {
    let registered = |why: String| format!("registered as {:?}: {why}", r.name);
    match (&r.yaml, &r.config_path) {
        (Some(yaml), None) => {
            let w = parse_as(yaml, &r.name).map_err(|e| {
                (
                    PathBuf::from(format!("api:{}", r.name)),
                    registered(describe(&e)),
                )
            })?;
            Ok(Loaded {
                workflow: Arc::new(w),
                yaml: yaml.clone(),
                origin: Origin::Api { config_path: None },
                updated_at: r.updated_at,
            })
        }
        (None, Some(config_path)) => {
            let Some(dir) = dir else {
                return Err((
                    PathBuf::from(config_path),
                    registered("no workflows folder is configured".to_owned()),
                ));
            };
            let key = dir.join(config_path);
            let path = resolve(dir, config_path).map_err(|why| (key.clone(), registered(why)))?;
            claimed.insert(path.clone());
            let yaml = read(&path).map_err(|why| (key.clone(), registered(why)))?;
            let w =
                parse_as(&yaml, &r.name).map_err(|e| (key.clone(), registered(describe(&e))))?;
            Ok(Loaded {
                workflow: Arc::new(w),
                yaml,
                origin: Origin::Api {
                    config_path: Some(config_path.clone()),
                },
                updated_at: r.updated_at.max(folder::modified_micros(&path)),
            })
        }
        _ => Err((
            PathBuf::from(format!("api:{}", r.name)),
            registered("the row holds neither yaml nor config_path".to_owned()),
        )),
    }
}

/// Loads the folder again, with the registrations last read from the store
/// (their files read again too).
pub fn reload(workflows: &Workflows) {
    workflows.load_with(None, load);
}

/// Reads the registrations again and reloads when the store's registry version
/// moved (another replica or the CLI changed something, or this replica did):
/// one cheap read otherwise. True when it reloaded.
pub async fn refresh(workflows: &Workflows, store: &dyn Store) -> switchyard_store::Result<bool> {
    refresh_from(workflows, store, false).await
}

/// Reads the registrations again and reloads, whatever the version says (at start,
/// and after a change made on this replica, so it serves the change at once).
pub async fn reload_stored(
    workflows: &Workflows,
    store: &dyn Store,
) -> switchyard_store::Result<()> {
    refresh_from(workflows, store, true).await.map(|_| ())
}

async fn refresh_from(
    workflows: &Workflows,
    store: &dyn Store,
    force: bool,
) -> switchyard_store::Result<bool> {
    // Read before the rows: a change committed in between moves it again, so the
    // next look reloads.
    let version = store.registry_version().await?;
    if !force && workflows.version() == Some(version) {
        return Ok(false);
    }
    let rows = store.list_workflows().await?;
    Ok(workflows.load_with(Some((version, rows)), load))
}

/// What the watch compares: the folder's files and every file a registration names.
fn fingerprint(dir: &Path, workflows: &Workflows) -> folder::Fingerprint {
    let mut fp = folder::fingerprint(dir, EXTENSIONS);
    for p in workflows.registered_paths() {
        folder::add(&mut fp, dir.join(p));
    }
    fp
}

/// Reloads on change until `stop`; the caller has loaded once already.
pub async fn watch(dir: PathBuf, workflows: Workflows, stop: CancellationToken, every: Duration) {
    folder::poll(
        stop,
        every,
        || fingerprint(&dir, &workflows),
        || reload(&workflows),
    )
    .await
}
