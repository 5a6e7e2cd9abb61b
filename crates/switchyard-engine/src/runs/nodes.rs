//! What each kind of node does. A node gets the run's state and answers an
//! [`Outcome`]: a result (and the work to commit with it), a wait, or a failure
//! (retryable or not), plus what to record as its inputs and detail. Nothing here
//! writes: the runner commits the outcome in one guarded write.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use switchyard_core::workflow::render::{self, Renderer};
use switchyard_core::workflow::{Node, NodeKind, Outputs, StateSchema, Workflow};
use switchyard_store::{new_id, Effect, NewTask, OutboxKind, Run};

use super::{Trigger, WaitOn};
use crate::outbox::Cause;
use crate::Engine;

/// How a node ended.
pub(crate) enum Outcome {
    /// Its result, and the work committed with it.
    Done {
        result: Value,
        effects: Vec<Effect>,
    },
    /// It waits for a task, a checkpoint or a child run.
    Wait {
        on: WaitOn,
        id: String,
        /// Unix micros after which the node fails.
        until: Option<i64>,
        effects: Vec<Effect>,
    },
    Failed {
        error: String,
        retryable: bool,
    },
}

/// A node's outcome and what to record about it.
pub(crate) struct Executed {
    pub outcome: Outcome,
    /// What the node was given, rendered (secrets redacted by the runner).
    pub inputs: Value,
    /// Log lines, prompt and answer, model and tokens.
    pub detail: Value,
    /// Secret values the node's templates read: redacted from what is recorded.
    pub secrets: Vec<String>,
}

/// What a node runs with.
pub(crate) struct Ctx<'a> {
    pub engine: &'a Engine,
    pub run: &'a Run,
    pub wf: &'a Workflow,
    pub node: &'a Node,
    pub iteration: u32,
    pub state: &'a Value,
}

/// Environment variables no workflow may read: Switchyard's own credentials and
/// settings. Workflows are registered at run time through the API; a credential
/// goes only where the operator configured it.
fn readable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !(upper.starts_with("SWITCHYARD_")
        || upper == "DATABASE_URL"
        || upper.starts_with("WEBHOOK_")
        || upper.contains("_WEBHOOK_SECRET")
        || upper.starts_with("SMTP_")
        || upper.starts_with("OTEL_")
        || matches!(
            upper.as_str(),
            "SLACK_SIGNING_SECRET" | "SLACK_API_TOKEN" | "CREWAI_API_TOKEN"
        ))
}

/// The renderer workflow templates use: `env.NAME` and `secret('NAME')` read the
/// process environment, except Switchyard's own variables.
pub(crate) fn renderer() -> Renderer {
    Renderer::new(Arc::new(|name: &str| {
        if readable(name) {
            std::env::var(name).ok()
        } else {
            None
        }
    }))
}

impl Ctx<'_> {
    /// `Idempotency-Key` of this node run: the same on every attempt.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.run.run_id, self.node.id, self.iteration)
    }

    fn cause(&self, kind: OutboxKind) -> Cause {
        Cause {
            webhook_id: None,
            event_id: self.run.event_id.clone(),
            command_id: None,
            idempotency_key: format!("run:{}:{}", self.idempotency_key(), kind.as_str()),
            created_at: switchyard_store::now_micros(),
        }
    }
}

fn failed(error: impl Into<String>, retryable: bool) -> Outcome {
    Outcome::Failed {
        error: error.into(),
        retryable,
    }
}

/// Runs `ctx.node`.
pub(crate) async fn execute(ctx: &Ctx<'_>) -> Executed {
    let r = renderer();
    let mut inputs = Value::Null;
    let mut detail = Value::Null;
    let outcome = match run_kind(ctx, &r, &mut inputs, &mut detail).await {
        Ok(o) => o,
        Err(o) => o,
    };
    Executed {
        outcome,
        inputs,
        detail,
        secrets: r.secrets(),
    }
}

/// A render failure is the node's (not retryable: the same state renders the
/// same way).
fn render(r: &Renderer, src: &str, state: &Value, what: &str) -> Result<String, Outcome> {
    r.render(src, state)
        .map_err(|e| failed(format!("{what}: {e}"), false))
}

async fn run_kind(
    ctx: &Ctx<'_>,
    r: &Renderer,
    inputs: &mut Value,
    detail: &mut Value,
) -> Result<Outcome, Outcome> {
    let state = ctx.state;
    match &ctx.node.kind {
        NodeKind::Log { message } => {
            let line = render(r, message, state, "message")?;
            tracing::info!(run_id = %ctx.run.run_id, workflow = %ctx.run.workflow, node = %ctx.node.id, "{}", render::redact_str(&line, &r.secrets()));
            *detail = json!({"log": [line]});
            Ok(Outcome::Done {
                result: json!({}),
                effects: Vec::new(),
            })
        }
        NodeKind::Template { template } => {
            let text = render(r, template, state, "template")?;
            Ok(Outcome::Done {
                result: Value::String(text),
                effects: Vec::new(),
            })
        }
        NodeKind::Http {
            method,
            url,
            headers,
            body,
        } => http(ctx, r, method, url, headers, body.as_ref(), inputs).await,
        NodeKind::Forward { url, body } => {
            let url = render(r, url, state, "url")?;
            let body = match body {
                Some(b) => r
                    .render_value(b, state)
                    .map_err(|e| failed(format!("body: {e}"), false))?,
                None => state.clone(),
            };
            if let Err(e) = reqwest::Url::parse(&url) {
                return Err(failed(format!("url {url:?}: {e}"), false));
            }
            *inputs = json!({"url": url, "body": body});
            let built =
                ctx.engine
                    .outbox
                    .forward(ctx.cause(OutboxKind::Forward), &url, "", body, None);
            Ok(Outcome::Done {
                result: json!({"delivery_id": built.delivery_id}),
                effects: built.effects,
            })
        }
        NodeKind::Task {
            agent,
            template,
            wait,
        } => {
            let message = render(r, template, state, "template")?;
            *inputs = json!({"agent": agent, "message": message});
            let task_id = new_id("task");
            let effects = task_effects(ctx, &task_id, agent, message);
            if *wait {
                Ok(Outcome::Wait {
                    on: WaitOn::Task,
                    id: task_id,
                    until: Some(
                        switchyard_store::now_micros().saturating_add(
                            i64::try_from(ctx.wf.timeout_of(ctx.node))
                                .unwrap_or(i64::MAX / 2_000_000)
                                .saturating_mul(1_000_000),
                        ),
                    ),
                    effects,
                })
            } else {
                Ok(Outcome::Done {
                    result: json!({"task_id": task_id}),
                    effects,
                })
            }
        }
        NodeKind::Ask {
            question,
            decisions,
            timeout_seconds,
            default_decision,
            notify,
        } => {
            let question = render(r, question, state, "question")?;
            let checkpoint_id = format!("{}-{}-{}", ctx.run.run_id, ctx.node.id, ctx.iteration);
            let mut spec = json!({
                "checkpoint_id": checkpoint_id,
                "name": format!("{}.{}", ctx.run.workflow, ctx.node.id),
                "question": question,
                "context": {"workflow": ctx.run.workflow, "run_id": ctx.run.run_id, "node": ctx.node.id, "state": state},
                "decisions": decisions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            });
            if let Some(t) = timeout_seconds {
                spec["timeout_seconds"] = json!(t);
            }
            if let Some(d) = default_decision {
                spec["default_decision"] = json!(d.as_str());
            }
            if let Some(n) = notify {
                spec["notify"] = json!(n);
            }
            *inputs = json!({"question": spec["question"], "decisions": spec["decisions"], "checkpoint_id": checkpoint_id});
            let body = spec.to_string();
            let by = format!("workflow:{}", ctx.run.workflow);
            match ctx
                .engine
                .create_checkpoint(body.as_bytes(), &by, None)
                .await
            {
                Ok((c, _)) => Ok(Outcome::Wait {
                    on: WaitOn::Checkpoint,
                    id: c.checkpoint_id,
                    until: None,
                    effects: Vec::new(),
                }),
                Err(e)
                    if e.kind == crate::ErrorKind::Internal
                        || e.kind == crate::ErrorKind::Unavailable =>
                {
                    Err(failed(
                        format!("opening the checkpoint: {}", e.message),
                        true,
                    ))
                }
                Err(e) => Err(failed(
                    format!(
                        "opening the checkpoint: {}{}",
                        e.message,
                        e.fields
                            .iter()
                            .map(|f| format!("; {}: {}", f.path, f.message))
                            .collect::<String>()
                    ),
                    false,
                )),
            }
        }
        NodeKind::Workflow {
            workflow,
            inputs: mapped,
        } => {
            let mut child_inputs = Map::new();
            for (k, src) in mapped {
                child_inputs.insert(
                    k.clone(),
                    Value::String(render(r, src, state, &format!("inputs.{k}"))?),
                );
            }
            *inputs = json!({"workflow": workflow, "inputs": child_inputs});
            let key = format!("child:{}", ctx.idempotency_key());
            // A retry after a crash finds the child its first attempt made.
            match ctx.engine.store.get_run_by_trigger(&key).await {
                Ok(Some(child)) => {
                    return Ok(Outcome::Wait {
                        on: WaitOn::Run,
                        id: child.run_id,
                        until: None,
                        effects: Vec::new(),
                    })
                }
                Ok(None) => {}
                Err(e) => return Err(failed(format!("looking for the child run: {e}"), true)),
            }
            let loaded = ctx
                .engine
                .runnable(workflow)
                .map_err(|e| failed(e.message, false))?;
            let child = ctx
                .engine
                .new_run(
                    &loaded,
                    &child_inputs,
                    Trigger {
                        event_id: ctx.run.event_id.clone(),
                        parent_run_id: Some(ctx.run.run_id.clone()),
                        restarted_from: None,
                        key: Some(key),
                    },
                )
                .map_err(|errs| {
                    failed(
                        format!(
                            "the child's inputs: {}",
                            errs.iter()
                                .map(|e| format!("{}: {}", e.path, e.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        false,
                    )
                })?;
            Ok(Outcome::Wait {
                on: WaitOn::Run,
                id: child.run_id.clone(),
                until: None,
                effects: vec![Effect::Run(child)],
            })
        }
        NodeKind::Llm { .. } => super::llm_node::run(ctx, inputs, detail).await,
    }
}

/// A task for `agent` made by a run: pushed when the agent is a push agent, as
/// routing's tasks are.
fn task_effects(ctx: &Ctx<'_>, task_id: &str, agent: &str, message: String) -> Vec<Effect> {
    let mut effects = Vec::new();
    let pushed_lease = ctx
        .engine
        .registry
        .is_push_agent(agent)
        .then(|| new_id("lease"));
    if pushed_lease.is_some() {
        let b = ctx
            .engine
            .outbox
            .task_push(ctx.cause(OutboxKind::TaskPush), task_id, agent);
        effects.extend(b.effects);
    }
    effects.push(crate::notices::notice(
        "task.created",
        &json!({"task_id": task_id, "agent": agent, "run_id": ctx.run.run_id, "node": ctx.node.id}),
    ));
    effects.push(Effect::Task(NewTask {
        task_id: task_id.to_owned(),
        agent: agent.to_owned(),
        message,
        event_id: None,
        command_id: None,
        webhook_id: None,
        created_at: switchyard_store::now_micros(),
        pushed_lease,
    }));
    effects
}

/// An `http` node: the request through the SSRF-guarded client; the result is
/// `{status, headers, body}` (the body parsed as JSON when it is JSON). 5xx, 429
/// and transport errors are retryable; another 4xx is not.
async fn http(
    ctx: &Ctx<'_>,
    r: &Renderer,
    method: &str,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: Option<&Value>,
    inputs: &mut Value,
) -> Result<Outcome, Outcome> {
    let state = ctx.state;
    let url = render(r, url, state, "url")?;
    let mut hs = Map::new();
    for (k, v) in headers {
        hs.insert(
            k.clone(),
            Value::String(render(r, v, state, &format!("headers.{k}"))?),
        );
    }
    let body = match body {
        Some(b) => Some(
            r.render_value(b, state)
                .map_err(|e| failed(format!("body: {e}"), false))?,
        ),
        None => None,
    };
    *inputs = json!({"method": method, "url": url, "headers": hs, "body": body});
    let parsed =
        reqwest::Url::parse(&url).map_err(|e| failed(format!("url {url:?}: {e}"), false))?;
    let client = &ctx.engine.runs_http;
    if let Err(e) = client.guard.check_url(&parsed) {
        return Err(failed(format!("url {url:?}: {e}"), false));
    }
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| failed(format!("method {method:?}: {e}"), false))?;
    let mut req = client
        .client
        .request(m, parsed)
        .timeout(Duration::from_secs(ctx.wf.timeout_of(ctx.node)))
        .header("Idempotency-Key", ctx.idempotency_key());
    for (k, v) in &hs {
        if let Value::String(v) = v {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    if let Some(b) = &body {
        req = match b {
            Value::String(s) => req.body(s.clone()),
            other => req.json(other),
        };
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            if let Some(refused) = crate::delivery::ssrf::refusal(&e) {
                return Err(failed(format!("refused: {refused}"), false));
            }
            // The node's own timeout, as the runner words it when it cuts a node short.
            if e.is_timeout() {
                let secs = ctx.wf.timeout_of(ctx.node);
                return Err(failed(format!("timed out after {secs} s"), true));
            }
            return Err(failed(format!("request failed: {e}"), true));
        }
    };
    let status = resp.status().as_u16();
    let mut rh = Map::new();
    for (k, v) in resp.headers() {
        if let Ok(v) = v.to_str() {
            rh.insert(k.as_str().to_owned(), Value::String(v.to_owned()));
        }
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| failed(format!("reading the answer: {e}"), true))?;
    let text = String::from_utf8_lossy(&bytes);
    let body =
        serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|_| Value::String(text.to_string()));
    if status >= 400 {
        let excerpt: String = text.chars().take(300).collect();
        return Err(failed(
            format!("HTTP {status}: {excerpt}"),
            status >= 500 || status == 429,
        ));
    }
    Ok(Outcome::Done {
        result: json!({"status": status, "headers": rh, "body": body}),
        effects: Vec::new(),
    })
}

/// The state fields a node's result writes, converted to their declared types:
/// a list takes the same-named fields of an object result (or the whole result
/// for a node with one output and a result that is no object: a template's text);
/// a map takes a dotted path into the result (`""` for all of it).
pub(crate) fn outputs_of(
    node: &Node,
    schema: &StateSchema,
    result: &Value,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut put = |field: &str, v: Value| -> Result<(), String> {
        let v = schema
            .convert(field, v)
            .map_err(|e| format!("{}: {}", e.path, e.message))?;
        out.insert(field.to_owned(), v);
        Ok(())
    };
    match &node.outputs {
        Outputs::List(fields) => {
            for f in fields {
                let v = match result {
                    Value::Object(m) => m
                        .get(f)
                        .cloned()
                        .ok_or_else(|| format!("the result has no field {f:?}"))?,
                    // A template's text, a single answer: all of it into the one field.
                    other if fields.len() == 1 => other.clone(),
                    _ => return Err(format!("the result is not an object with {f:?}")),
                };
                put(f, v)?;
            }
        }
        Outputs::Map(map) => {
            for (field, path) in map {
                let mut v = result;
                for part in path.split('.').filter(|p| !p.is_empty()) {
                    v = match v {
                        Value::Object(m) => m.get(part),
                        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                        _ => None,
                    }
                    .ok_or_else(|| format!("the result has nothing at {path:?}"))?;
                }
                put(field, v.clone())?;
            }
        }
    }
    Ok(out)
}
