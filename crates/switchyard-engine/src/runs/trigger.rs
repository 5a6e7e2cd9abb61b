//! The runs events start, planned before the event is written so they commit in
//! its transaction: seed 003's `POST /webhooks/generic` body, and a webhook's
//! `run_workflow` command.

use serde_json::{json, Map, Value};
use switchyard_core::routing::Match;
use switchyard_store::{Effect, NewEvent};

use super::{bad_inputs, failed_run, inputs_object, new_run, Trigger};
use crate::error::{Error, Result};
use crate::workflows::Workflows;
use crate::Engine;

/// The matched entry of a run an event started.
fn matched(run_id: &str, workflow: &str, command_id: Option<&str>) -> Value {
    let mut m = json!({"action": "run_workflow", "run_id": run_id, "workflow": workflow});
    if let Some(c) = command_id {
        m["command_id"] = json!(c);
    }
    m
}

/// Appends `entry` to the event's `matched` list.
fn push_matched(event: &mut NewEvent, entry: Value) {
    let mut list: Vec<Value> = serde_json::from_str(&event.matched).unwrap_or_default();
    list.push(entry);
    event.matched = Value::Array(list).to_string();
}

impl Engine {
    /// Seed 003's body (`{"workflow_name", "inputs"}`) at `/webhooks/generic`: the
    /// run it starts, added to the event. Checked before anything is stored: an
    /// unknown workflow is 404 naming it; missing `inputs`, or inputs that do not
    /// fit the workflow's state, 400 naming each.
    pub fn plan_generic_run(&self, event: &mut NewEvent, payload: &Value) -> Result<()> {
        let name = payload
            .get("workflow_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let loaded = self.runnable(name)?;
        let inputs = inputs_object(payload.get("inputs")).map_err(bad_inputs)?;
        let run = self
            .new_run(
                &loaded,
                &inputs,
                Trigger {
                    event_id: Some(event.event_id.clone()),
                    key: Some(format!("{}:generic", event.event_id)),
                    ..Trigger::default()
                },
            )
            .map_err(bad_inputs)?;
        push_matched(event, matched(&run.run_id, &run.workflow, None));
        event.effects.push(Effect::Run(run));
        Ok(())
    }
}

/// A `run_workflow` command's run, written with the event; the match's entry.
/// A run that cannot start (no such workflow, inputs that do not render or fit)
/// is recorded as a failed run saying why, so the sender's event is still
/// accepted and the failure is visible.
pub(crate) fn plan_command_run(
    workflows: &Workflows,
    run_timeout: std::time::Duration,
    event: &mut NewEvent,
    payload: &Value,
    m: &Match,
) -> Value {
    let name = m.workflow.clone().unwrap_or_default();
    let trigger = Trigger {
        event_id: Some(event.event_id.clone()),
        key: Some(format!("{}:{}", event.event_id, m.command_id)),
        ..Trigger::default()
    };
    let inputs: std::result::Result<Map<String, Value>, String> = match &m.inputs {
        Some(rendered) => rendered.clone(),
        None => match payload.get("inputs") {
            Some(Value::Object(i)) => Ok(i.clone()),
            _ => match payload {
                Value::Object(all) => Ok(all.clone()),
                _ => Err("the payload is not an object and the command lists no inputs".into()),
            },
        },
    };
    let shown = match &inputs {
        Ok(i) => Value::Object(i.clone()),
        Err(_) => json!({}),
    };
    let run = match (workflows.get(&name), inputs) {
        (None, _) => failed_run(
            &name,
            &shown,
            format!("no workflow named {name:?} is registered"),
            trigger,
        ),
        (_, Err(why)) => failed_run(&name, &shown, why, trigger),
        (Some(loaded), Ok(inputs)) => {
            match new_run(&loaded, &inputs, trigger.clone(), run_timeout) {
                Ok(run) => run,
                Err(errs) => failed_run(
                    &name,
                    &shown,
                    errs.iter()
                        .map(|e| format!("{}: {}", e.path, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    trigger,
                ),
            }
        }
    };
    if let Some(e) = &run.error {
        tracing::warn!(event_id = %event.event_id, command = %m.command_id, workflow = %name, error = %e, "run_workflow: the run could not start");
        super::record_finished(&name, switchyard_store::RunStatus::Failed);
    }
    let entry = matched(&run.run_id, &run.workflow, Some(&m.command_id));
    event.effects.push(Effect::Run(run));
    entry
}

/// 404 for a workflow name no one serves (the seed-003 trigger).
pub fn unknown_workflow(name: &str) -> Error {
    Error::not_found(
        "unknown_workflow",
        format!("no workflow named {name:?} is registered"),
    )
}
