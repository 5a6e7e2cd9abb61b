//! A watched folder of definition files, shared by the config folder (webhooks,
//! [`crate::config_dir`]) and the workflows folder ([`crate::workflows_dir`]): which
//! files it holds, a poll that reloads when they change, and how a file's problems
//! read in `file_errors`.
//!
//! Polling rather than inotify: editors save by rename, folders may be mounted from
//! a network or a container volume where change events are lost, and one `stat` per
//! file per second on a small folder costs nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use switchyard_core::routing::FieldError;
use tokio_util::sync::CancellationToken;

/// Each file with its modification time and size: what the poll compares.
pub type Fingerprint = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

/// Whether `p` ends in one of `extensions` (without the dot).
pub fn has_extension(p: &Path, extensions: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.contains(&e))
}

/// The regular files directly in `dir` whose extension is one of `extensions`.
/// A folder that cannot be read holds nothing (it may not exist yet).
pub fn fingerprint(dir: &Path, extensions: &[&str]) -> Fingerprint {
    let mut out = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd.flatten() {
            let p = entry.path();
            if has_extension(&p, extensions) {
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

/// Adds `path` (following links) to `fp`, or notes it missing, so a change to a
/// file outside the folder's top level is seen too.
pub fn add(fp: &mut Fingerprint, path: PathBuf) {
    let seen = std::fs::metadata(&path).map_or((None, u64::MAX), |m| (m.modified().ok(), m.len()));
    fp.insert(path, seen);
}

/// A file's modification time in Unix micros (0 when unknown).
pub fn modified_micros(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A file's problems as `file_errors` shows them: `path: message`, joined.
pub fn describe(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| {
            if e.path.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.path, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Calls `reload` whenever `look` answers differently from the time before,
/// looking every `every`, until `stop`. The caller has loaded once already (so the
/// first requests are served by it) and is told again only of changes.
pub async fn poll<F: PartialEq>(
    stop: CancellationToken,
    every: Duration,
    mut look: impl FnMut() -> F,
    mut reload: impl FnMut(),
) {
    let mut seen = look();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = look();
        if now != seen {
            seen = now;
            reload();
        }
    }
}
