//! A run as every answer shows it: the run API, `?wait` at `/webhooks/generic`
//! and the dashboard serialize this one view.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::{Run, RunStatus, RunStep, StepStatus};

use crate::time::rfc3339;

fn json_of(s: &str) -> Value {
    serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// One node step: an attempt of a node (a loop's iterations are steps each).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepView {
    pub node_id: String,
    pub kind: String,
    pub status: StepStatus,
    pub iteration: i64,
    pub attempt: i64,
    pub inputs: Value,
    pub outputs: Value,
    /// Log lines, the prompt and answer, model and tokens, what it waits for.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A child run, as its parent lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChildView {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
}

/// A run: what started it, where it stands, and each node step.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunView {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    pub inputs: Value,
    /// The state as it stands (the final state once finished).
    pub state: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_from: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub nodes: Vec<StepView>,
    pub children: Vec<ChildView>,
}

impl StepView {
    pub fn of(s: &RunStep) -> Self {
        StepView {
            node_id: s.node_id.clone(),
            kind: s.kind.clone(),
            status: s.status,
            iteration: s.iteration,
            attempt: s.attempt,
            inputs: json_of(&s.inputs),
            outputs: s.outputs.as_deref().map_or(Value::Null, json_of),
            detail: s.detail.as_deref().map_or(Value::Null, json_of),
            started_at: rfc3339(s.started_at),
            finished_at: s.finished_at.map(rfc3339),
            duration_ms: s.finished_at.map(|f| (f - s.started_at) / 1000),
            error: s.error.clone(),
        }
    }
}

impl RunView {
    /// The run without its steps (lists).
    pub fn summary(r: &Run) -> Self {
        RunView {
            run_id: r.run_id.clone(),
            workflow: r.workflow.clone(),
            status: r.status,
            inputs: json_of(&r.inputs),
            state: json_of(&r.state),
            error: r.error.clone(),
            event_id: r.event_id.clone(),
            parent_run_id: r.parent_run_id.clone(),
            restarted_from: r.restarted_from.clone(),
            created_at: rfc3339(r.created_at),
            started_at: r.started_at.map(rfc3339),
            finished_at: r.finished_at.map(rfc3339),
            duration_ms: r
                .finished_at
                .map(|f| (f - r.started_at.unwrap_or(r.created_at)) / 1000),
            nodes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The whole run: its steps in order and its child runs.
    pub fn of(r: &Run, steps: &[RunStep], children: &[Run]) -> Self {
        RunView {
            nodes: steps.iter().map(StepView::of).collect(),
            children: children
                .iter()
                .map(|c| ChildView {
                    run_id: c.run_id.clone(),
                    workflow: c.workflow.clone(),
                    status: c.status,
                })
                .collect(),
            ..Self::summary(r)
        }
    }
}
