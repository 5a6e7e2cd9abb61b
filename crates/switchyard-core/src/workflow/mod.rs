//! Workflows (seed 003, issue 11): YAML definitions parsed, validated and compiled
//! into one model, with no I/O.
//!
//! Two formats load: configurable-agents' schema `"1.0"` (`schema_version` present)
//! and the shorthand seed 003's document shows (named nodes with `llm` and `prompt`,
//! edges in a straight line, JSON-schema state). Both become a [`Workflow`]: a
//! [`StateSchema`], [`Node`]s of the kinds Switchyard runs, a [`Graph`] and the
//! defaults in [`WorkflowConfig`]. [`parse`] reports every problem at once, each at
//! its YAML path (`nodes[2].outputs[0]`, `edges[1].routes[0].to`); anything the
//! schema has but Switchyard does not run (`tools`, `optimize`, memory, ...) is an
//! error naming it, never silently skipped. docs/workflows.md is the user's reference.

pub mod answer;
pub mod expr;
pub mod graph;
mod load;
pub mod prompt;
pub mod render;
pub mod types;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::checkpoint::{Channel, Decision};
pub use crate::routing::FieldError;
pub use answer::{read_answer, AnswerError, AnswerProblem};
pub use expr::{EvalError, Expr};
pub use graph::{Edge, Graph, Next, Route, MAX_LOOP_ITERATIONS};
pub use prompt::Prompt;
pub use types::{FieldType, StateField, StateSchema};

/// configurable-agents' default per-node timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 120;
/// configurable-agents' default retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Which format a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// configurable-agents' schema 1.0.
    Schema1,
    /// Seed 003's shorthand.
    Shorthand,
}

/// A loaded, validated workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The name it is served under: `flow.name`, or the shorthand file's stem.
    pub name: String,
    /// The shorthand's `name` (a human title); `flow.name` in schema 1.0.
    pub title: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub format: Format,
    pub state: StateSchema,
    pub nodes: Vec<Node>,
    pub graph: Graph,
    pub config: WorkflowConfig,
}

/// `config`: LLM defaults and execution limits.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowConfig {
    pub llm: LlmConfig,
    pub execution: Execution,
}

/// `config.execution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// Seconds a node may take.
    pub timeout: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            timeout: DEFAULT_TIMEOUT_SECONDS,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

/// `llm`: at the workflow (`config.llm`) or on a node, which overrides it field by field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmConfig {
    /// A provider name from Switchyard's configuration, else the default endpoint.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
}

impl LlmConfig {
    /// `self` with the unset fields taken from `defaults`.
    pub fn or(&self, defaults: &LlmConfig) -> LlmConfig {
        LlmConfig {
            provider: self.provider.clone().or_else(|| defaults.provider.clone()),
            model: self.model.clone().or_else(|| defaults.model.clone()),
            temperature: self.temperature.or(defaults.temperature),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
        }
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub description: Option<String>,
    pub kind: NodeKind,
    /// configurable-agents' `inputs`: local names for prompt placeholders, each a
    /// placeholder template over the state (`query: "{state.topic}"`).
    pub inputs: BTreeMap<String, Prompt>,
    pub outputs: Outputs,
    /// Seconds; `config.execution.timeout` when absent.
    pub timeout: Option<u64>,
    /// Retries after the first attempt; `config.execution.max_retries` when absent.
    pub retries: Option<u32>,
}

/// What the node does. Text fields of the Switchyard kinds are Jinja templates over
/// `state` and `env` (plus `secret('NAME')`), checked when the workflow loads.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A chat completion. `structured` asks for JSON matching
    /// [`Node::output_json_schema`]; a shorthand node asks for plain text.
    Llm {
        prompt: Prompt,
        llm: LlmConfig,
        output_schema: Option<OutputSchema>,
        structured: bool,
    },
    /// A line in the run's record.
    Log { message: String },
    /// Text rendered with Jinja; the node's result.
    Template { template: String },
    /// A request through the SSRF-guarded client; the result is `{status, headers, body}`.
    Http {
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        body: Option<Value>,
    },
    /// A signed delivery through the outbox.
    Forward { url: String, body: Option<Value> },
    /// A task for an agent; with `wait` the result is the task's completion `result`.
    Task {
        agent: String,
        template: String,
        wait: bool,
    },
    /// A checkpoint; the result is `{decision, comment, response, edited_context, by}`.
    Ask {
        question: String,
        decisions: Vec<Decision>,
        timeout_seconds: Option<u64>,
        default_decision: Option<Decision>,
        notify: Option<Vec<Channel>>,
    },
    /// Another workflow run with these inputs (Jinja values); the result is its final state.
    Workflow {
        workflow: String,
        inputs: BTreeMap<String, String>,
    },
}

impl NodeKind {
    /// The kind's name as written in `kind:`.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Llm { .. } => "llm",
            NodeKind::Log { .. } => "log",
            NodeKind::Template { .. } => "template",
            NodeKind::Http { .. } => "http",
            NodeKind::Forward { .. } => "forward",
            NodeKind::Task { .. } => "task",
            NodeKind::Ask { .. } => "ask",
            NodeKind::Workflow { .. } => "workflow",
        }
    }
}

/// `output_schema`: what an LLM node must answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputSchema {
    /// `type: object` with named, typed fields.
    Object(Vec<OutputField>),
    /// A single value of this type (its node has exactly one output).
    Single {
        ty: FieldType,
        description: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputField {
    pub name: String,
    pub ty: FieldType,
    pub description: Option<String>,
}

/// The state fields a node writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Outputs {
    /// The same-named fields of the node's result (an LLM node's answer fields; a
    /// `template` node's one field takes its text).
    List(Vec<String>),
    /// `state_field: dotted.path` into the node's result (`""` for all of it).
    Map(BTreeMap<String, String>),
}

impl Outputs {
    /// The state fields written.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Outputs::List(v) => v.iter().map(String::as_str).collect(),
            Outputs::Map(m) => m.keys().map(String::as_str).collect(),
        }
    }
}

/// One field a structured LLM node's answer must have: its name (an output), its
/// type (from `output_schema`, else the state field's) and the description the
/// model is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AnswerField<'a> {
    pub name: &'a str,
    pub ty: &'a FieldType,
    pub description: Option<&'a String>,
}

impl Node {
    /// The fields a structured LLM node's answer must have, in output order; `None`
    /// for other nodes and for plain-text LLM nodes. The one place both the schema
    /// sent to the model and the reading of its answer ([`answer::read_answer`])
    /// take them from, so the two cannot disagree.
    pub(crate) fn answer_fields<'a>(
        &'a self,
        state: &'a StateSchema,
    ) -> Option<Vec<AnswerField<'a>>> {
        let NodeKind::Llm {
            output_schema,
            structured: true,
            ..
        } = &self.kind
        else {
            return None;
        };
        let field = |name, ty, description| AnswerField {
            name,
            ty,
            description,
        };
        Some(match output_schema {
            Some(OutputSchema::Object(fields)) => fields
                .iter()
                .map(|f| field(f.name.as_str(), &f.ty, f.description.as_ref()))
                .collect(),
            Some(OutputSchema::Single { ty, description }) => self
                .outputs
                .fields()
                .into_iter()
                .map(|name| field(name, ty, description.as_ref()))
                .collect(),
            None => {
                let mut out = Vec::new();
                for name in self.outputs.fields() {
                    let f = state.field(name)?;
                    out.push(field(name, &f.ty, f.description.as_ref()));
                }
                out
            }
        })
    }

    /// The JSON schema a structured LLM node asks the model for: an object with one
    /// property per output (from `output_schema`, else from the output fields'
    /// state types), all required, nothing else. `None` for other nodes and for
    /// plain-text LLM nodes.
    pub fn output_json_schema(&self, state: &StateSchema) -> Option<Value> {
        let mut props = serde_json::Map::new();
        for f in self.answer_fields(state)? {
            let mut s = f.ty.json_schema();
            if let (Some(d), Value::Object(o)) = (f.description, &mut s) {
                o.insert("description".into(), Value::String(d.clone()));
            }
            props.insert(f.name.to_owned(), s);
        }
        let required: Vec<Value> = props.keys().cloned().map(Value::String).collect();
        Some(serde_json::json!({
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        }))
    }
}

impl Workflow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// A node's timeout in seconds (its own, else the workflow's).
    pub fn timeout_of(&self, node: &Node) -> u64 {
        node.timeout.unwrap_or(self.config.execution.timeout)
    }

    /// A node's retries after the first attempt (its own, else the workflow's).
    pub fn retries_of(&self, node: &Node) -> u32 {
        node.retries.unwrap_or(self.config.execution.max_retries)
    }
}

/// Parses and validates a workflow file. `file_stem` is the file name without
/// `.yaml`: the name a shorthand workflow is served under (the caller passes the
/// name registered for it instead, when there is one). Every problem comes back at
/// once, each at its YAML path.
pub fn parse(yaml: &str, file_stem: Option<&str>) -> Result<Workflow, Vec<FieldError>> {
    load::load(yaml, file_stem)
}
