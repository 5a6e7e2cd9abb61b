//! Executions (seed 000) and their timelines: the statements both databases share.
//! Recording an event is three statements in one transaction: the execution if
//! new, the timeline entry if new (keyed by the event's id), and the status.

use super::Stmt;
use crate::model::{ExecutionEnd, ExecutionEvent};
use crate::state::{CheckpointStatus, DbText, ExecutionStatus};

pub(crate) const EXECUTION_COLUMNS: &str =
    "kickoff_id, status, result, error, created_at, updated_at";
pub(crate) const EVENT_COLUMNS: &str = "event_id, kickoff_id, at, kind, event_type, detail";

/// The execution, `running`, unless it exists.
pub(crate) fn insert(kickoff_id: &str, at: i64) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES ("
    ));
    s.push_list::<super::Arg<'_>>([
        kickoff_id.into(),
        ExecutionStatus::Running.to_db().into(),
        None::<&str>.into(),
        None::<&str>.into(),
        at.into(),
        at.into(),
    ])
    .push(") ON CONFLICT (kickoff_id) DO NOTHING");
    s
}

/// The timeline entry, unless its event is there already.
pub(crate) fn insert_event(e: &ExecutionEvent) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "INSERT INTO execution_events ({EVENT_COLUMNS}) VALUES ("
    ));
    s.push_list::<super::Arg<'_>>([
        e.event_id.as_str().into(),
        e.kickoff_id.as_str().into(),
        e.at.into(),
        e.kind.as_str().into(),
        e.event_type.as_str().into(),
        e.detail.as_str().into(),
    ])
    .push(") ON CONFLICT (event_id) DO NOTHING");
    s
}

/// Marks the execution updated, and ended when `end` says so.
pub(crate) fn update<'a>(kickoff_id: &'a str, at: i64, end: Option<&'a ExecutionEnd>) -> Stmt<'a> {
    let mut s = Stmt::new("UPDATE executions SET updated_at = ");
    s.push_bind(at);
    if let Some(end) = end {
        s.push(", status = ")
            .push_bind(end.status.to_db())
            .push(", result = ")
            .push_bind(end.result.as_deref())
            .push(", error = ")
            .push_bind(end.error.as_deref());
    }
    s.push(" WHERE kickoff_id = ").push_bind(kickoff_id);
    s
}

pub(crate) fn get(kickoff_id: &str) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EXECUTION_COLUMNS} FROM executions WHERE kickoff_id = "
    ));
    s.push_bind(kickoff_id);
    s
}

/// The first `limit` timeline entries, oldest first (event ids are time-ordered).
pub(crate) fn events(kickoff_id: &str, limit: i64) -> Stmt<'_> {
    let mut s = Stmt::new(format!(
        "SELECT {EVENT_COLUMNS} FROM execution_events WHERE kickoff_id = "
    ));
    s.push_bind(kickoff_id)
        .push(" ORDER BY event_id LIMIT ")
        .push_bind(limit);
    s
}

pub(crate) fn count_checkpoints(status: CheckpointStatus) -> Stmt<'static> {
    let mut s = Stmt::new("SELECT COUNT(*) FROM checkpoints WHERE status = ");
    s.push_bind(status.to_db());
    s
}
