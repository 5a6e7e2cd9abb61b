//! Reading a workflow file: YAML into JSON values, then a walk over them that knows
//! both formats, builds the model and collects every problem at its YAML path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::graph::{Edge, Graph, Next, Route, MAX_LOOP_ITERATIONS};
use super::{
    Execution, Expr, FieldType, Format, LlmConfig, Node, NodeKind, OutputField, OutputSchema,
    Outputs, Prompt, StateField, StateSchema, Workflow, WorkflowConfig,
};
use crate::checkpoint::{Channel, Decision, Spec};
use crate::routing::{at, template, FieldError};
use crate::WebhookId;

/// Largest workflow file accepted, in bytes.
pub const MAX_YAML: usize = 1 << 20;
/// Deepest nesting of YAML flow collections (`[`, `{`) accepted: libyaml scans a
/// deeply nested flow slowly before its own recursion limit stops it.
const MAX_FLOW_DEPTH: usize = 64;
/// Deepest `object` schema nesting in the state.
const MAX_SCHEMA_DEPTH: usize = 8;

/// What the schema has but Switchyard does not run, and why: each is an error
/// naming it rather than a key silently skipped.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "tools",
        "tools are not supported: a node calls no tools; use an `http` node for a request",
    ),
    ("optimize", "DSPy optimization is not supported"),
    ("optimization", "DSPy optimization is not supported"),
    (
        "memory",
        "memory is not supported: a run's state is its only memory",
    ),
    (
        "log_prompts",
        "MLflow settings are not supported: prompts and answers are kept on the run's node records",
    ),
    (
        "log_artifacts",
        "MLflow settings are not supported: prompts and answers are kept on the run's node records",
    ),
    (
        "observability",
        "observability settings are not supported: Switchyard exports OpenTelemetry traces",
    ),
    (
        "storage",
        "storage settings are not supported: runs are kept in Switchyard's store",
    ),
    (
        "api_base",
        "api_base is not supported: set the provider's base URL in Switchyard's configuration",
    ),
    ("sandbox", "code execution is not supported"),
    ("code", "code execution is not supported"),
];

const KINDS: &[&str] = &[
    "llm", "log", "template", "http", "forward", "task", "ask", "workflow",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// Names a Jinja template may read besides `state` fields: the context's other
/// entries and minijinja's global functions.
const JINJA_NAMES: &[&str] = &[
    "state",
    "env",
    "secret",
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
    "loop",
    "self",
];

struct Cx {
    errors: Vec<FieldError>,
}

impl Cx {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                self.err(path, "must be a mapping");
                None
            }
        }
    }

    /// Reports each key that is not in `allowed`, naming unsupported features.
    fn keys(&mut self, m: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in m.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            match UNSUPPORTED.iter().find(|(name, _)| name == k) {
                Some((_, why)) => self.err(at(path, k), *why),
                None => self.err(
                    at(path, k),
                    format!("unknown field; expected one of {}", allowed.join(", ")),
                ),
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.err(at(path, key), "must be a string");
                None
            }
        }
    }

    fn required_string(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        if matches!(m.get(key), None | Some(Value::Null)) {
            self.err(at(path, key), "is required");
            return None;
        }
        self.string(m, key, path)
    }

    fn uint(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|x| (min..=max).contains(&x)) => {
                n.as_u64()
            }
            Some(_) => {
                self.err(
                    at(path, key),
                    format!("must be a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<bool> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.err(at(path, key), "must be true or false");
                None
            }
        }
    }

    fn list<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'a Vec<Value>> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(a),
            Some(_) => {
                self.err(at(path, key), "must be a list");
                None
            }
        }
    }

    /// A Jinja template, checked as routing checks its templates, with `state`
    /// references checked against the declared fields.
    fn jinja(&mut self, src: &str, path: &str, state: &StateSchema) {
        let mut env = jinja_environment();
        if let Err(e) = template::add(&mut env, "t", src) {
            self.err(path, e);
            return;
        }
        let Ok(t) = env.get_template("t") else { return };
        let mut names: Vec<String> = t.undeclared_variables(true).into_iter().collect();
        names.sort();
        for name in names {
            let mut parts = name.split('.');
            let root = parts.next().unwrap_or("");
            if root == "state" {
                if let Some(field) = parts.next() {
                    if state.field(field).is_none() {
                        self.err(path, format!("`{name}` names no state field"));
                    }
                }
            } else if !JINJA_NAMES.contains(&root) {
                self.err(
                    path,
                    format!("unknown variable `{root}`; templates see `state` and `env`"),
                );
            }
        }
    }

    /// Every string inside a JSON body is a template.
    fn jinja_value(&mut self, v: &Value, path: &str, state: &StateSchema) {
        match v {
            Value::String(s) => self.jinja(s, path, state),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.jinja_value(x, &format!("{path}[{i}]"), state);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    self.jinja_value(x, &at(path, k), state);
                }
            }
            _ => {}
        }
    }
}

/// The Jinja environment workflow templates are checked in: routing's, plus a
/// `secret('NAME')` that stands for the value the engine looks up when it renders.
pub fn jinja_environment() -> minijinja::Environment<'static> {
    let mut env = template::environment();
    env.add_function(
        "secret",
        |name: String| -> Result<String, minijinja::Error> {
            if name.is_empty() {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "secret() needs a name",
                ));
            }
            Ok(String::new())
        },
    );
    env
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

fn same_type(a: &FieldType, b: &FieldType) -> bool {
    a.to_string() == b.to_string()
}

pub(super) fn load(yaml: &str, file_stem: Option<&str>) -> Result<Workflow, Vec<FieldError>> {
    if yaml.len() > MAX_YAML {
        return Err(vec![FieldError::new(
            "",
            format!("a workflow file is at most {MAX_YAML} bytes"),
        )]);
    }
    if flow_depth(yaml) > MAX_FLOW_DEPTH {
        return Err(vec![FieldError::new(
            "",
            format!("invalid YAML: brackets nested more than {MAX_FLOW_DEPTH} deep"),
        )]);
    }
    let doc: Value = serde_yaml_ng::from_str(yaml)
        .map_err(|e| vec![FieldError::new("", format!("invalid YAML: {e}"))])?;
    let mut cx = Cx { errors: Vec::new() };
    let Some(top) = cx.object(&doc, "") else {
        return Err(cx.errors);
    };
    let wf = if top.contains_key("schema_version") {
        schema1(&mut cx, top)
    } else {
        shorthand(&mut cx, top, file_stem)
    };
    match wf {
        Some(w) if cx.errors.is_empty() => Ok(w),
        _ => {
            if cx.errors.is_empty() {
                cx.err("", "invalid workflow");
            }
            Err(cx.errors)
        }
    }
}

/// How deep `[` and `{` nest outside quoted strings, at the deepest. An estimate
/// (a bracket inside plain text counts too) that only a file no one writes by hand
/// takes past [`MAX_FLOW_DEPTH`].
fn flow_depth(yaml: &str) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None);
    for c in yaml.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') => quote = Some('"'),
            (None, '[' | '{') => {
                depth += 1;
                max = max.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn workflow_name(cx: &mut Cx, name: &str, path: &str) -> bool {
    match WebhookId::parse(name) {
        Ok(_) => true,
        Err(e) => {
            cx.err(path, e.to_string());
            false
        }
    }
}

// ---- schema 1.0 ----

fn schema1(cx: &mut Cx, top: &Map<String, Value>) -> Option<Workflow> {
    cx.keys(
        top,
        "",
        &[
            "schema_version",
            "flow",
            "state",
            "nodes",
            "edges",
            "config",
        ],
    );
    match top.get("schema_version") {
        Some(Value::String(s)) if s == "1.0" => {}
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => {}
        _ => cx.err("schema_version", "must be \"1.0\""),
    }
    let (name, description, version) = match top.get("flow") {
        None => {
            cx.err("flow", "is required");
            (None, None, None)
        }
        Some(v) => match cx.object(v, "flow") {
            None => (None, None, None),
            Some(flow) => {
                cx.keys(flow, "flow", &["name", "description", "version"]);
                let name = cx
                    .required_string(flow, "name", "flow")
                    .map(|s| s.trim().to_owned());
                let name = name.filter(|n| workflow_name(cx, n, "flow.name"));
                let version = version_of(cx, flow, "flow");
                (name, cx.string(flow, "description", "flow"), version)
            }
        },
    };
    let state = match top.get("state") {
        None => {
            cx.err("state", "is required");
            StateSchema::default()
        }
        Some(v) => state1(cx, v),
    };
    let nodes = nodes1(cx, top.get("nodes"), &state, name.as_deref());
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let graph = edges1(cx, top.get("edges"), &ids, &state);
    let config = config1(cx, top.get("config"));
    Some(Workflow {
        title: name.clone()?,
        name: name?,
        description,
        version,
        format: Format::Schema1,
        state,
        nodes,
        graph: graph?,
        config,
    })
}

fn version_of(cx: &mut Cx, m: &Map<String, Value>, path: &str) -> Option<String> {
    match m.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            cx.err(at(path, "version"), "must be a string");
            None
        }
    }
}

fn state1(cx: &mut Cx, v: &Value) -> StateSchema {
    let mut schema = StateSchema::default();
    let Some(m) = cx.object(v, "state") else {
        return schema;
    };
    cx.keys(m, "state", &["fields"]);
    let Some(fields) = m.get("fields") else {
        cx.err("state.fields", "is required");
        return schema;
    };
    let Some(fields) = cx.object(fields, "state.fields") else {
        return schema;
    };
    if fields.is_empty() {
        cx.err("state.fields", "must declare at least one field");
    }
    schema.fields = field_map(cx, fields, "state.fields", 0);
    schema
}

fn field_map(
    cx: &mut Cx,
    fields: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> BTreeMap<String, StateField> {
    let mut out = BTreeMap::new();
    for (name, spec) in fields {
        let here = at(path, name);
        if !is_ident(name) {
            cx.err(
                &here,
                "a field name is letters, digits and `_`, not starting with a digit",
            );
        }
        if let Some(f) = state_field(cx, spec, &here, depth) {
            out.insert(name.clone(), f);
        }
    }
    out
}

fn state_field(cx: &mut Cx, v: &Value, path: &str, depth: usize) -> Option<StateField> {
    let m = cx.object(v, path)?;
    cx.keys(
        m,
        path,
        &["type", "required", "default", "description", "schema"],
    );
    let ty_text = cx.required_string(m, "type", path)?;
    let mut ty = match FieldType::parse(&ty_text) {
        Ok(t) => t,
        Err(e) => {
            cx.err(at(path, "type"), e);
            return None;
        }
    };
    if let Some(s) = m.get("schema") {
        let spath = at(path, "schema");
        if ty != FieldType::Object(None) {
            cx.err(&spath, "only a field of type object has a schema");
        } else if depth >= MAX_SCHEMA_DEPTH {
            cx.err(&spath, "object schemas are nested too deeply");
        } else if let Some(sm) = cx.object(s, &spath) {
            ty = FieldType::Object(Some(field_map(cx, sm, &spath, depth + 1)));
        }
    }
    let required = cx.boolean(m, "required", path).unwrap_or(false);
    let default = m.get("default").filter(|d| !d.is_null()).cloned();
    if let Some(d) = &default {
        if required {
            cx.err(at(path, "default"), "a required field takes no default");
        } else if let Err(e) = ty.check(d) {
            cx.err(
                at(path, "default"),
                format!("does not match type {ty_text}: {e}"),
            );
        }
    }
    Some(StateField {
        ty,
        required,
        default,
        description: cx.string(m, "description", path),
    })
}

fn nodes1(
    cx: &mut Cx,
    v: Option<&Value>,
    state: &StateSchema,
    own_name: Option<&str>,
) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    let list = match v {
        None | Some(Value::Null) => {
            cx.err("nodes", "is required");
            return out;
        }
        Some(Value::Array(a)) => a,
        Some(_) => {
            cx.err("nodes", "must be a list");
            return out;
        }
    };
    if list.is_empty() {
        cx.err("nodes", "must list at least one node");
    }
    for (i, nv) in list.iter().enumerate() {
        let path = format!("nodes[{i}]");
        if let Some(node) = node1(cx, nv, &path, state, own_name) {
            if matches!(node.id.as_str(), "START" | "END") {
                cx.err(at(&path, "id"), "START and END are reserved");
            } else if out.iter().any(|n| n.id == node.id) {
                cx.err(at(&path, "id"), format!("duplicate node id {:?}", node.id));
            }
            out.push(node);
        }
    }
    out
}

fn node1(
    cx: &mut Cx,
    v: &Value,
    path: &str,
    state: &StateSchema,
    own_name: Option<&str>,
) -> Option<Node> {
    let m = cx.object(v, path)?;
    let id = cx.required_string(m, "id", path);
    if let Some(id) = &id {
        if !is_ident(id) {
            cx.err(
                at(path, "id"),
                "a node id is letters, digits and `_`, not starting with a digit",
            );
        }
    }
    let kind_name = cx.string(m, "kind", path).unwrap_or_else(|| "llm".into());
    let common = ["id", "description", "kind", "outputs", "timeout", "retries"];
    let extra: &[&str] = match kind_name.as_str() {
        "llm" => &["prompt", "inputs", "output_schema", "llm"],
        "log" => &["text", "message"],
        "template" => &["template"],
        "http" => &["request"],
        "forward" => &["url", "body"],
        "task" => &["agent", "template", "wait"],
        "ask" => &[
            "question",
            "decisions",
            "timeout_seconds",
            "default_decision",
            "notify",
        ],
        "workflow" => &["workflow", "inputs"],
        _ => {
            cx.err(
                at(path, "kind"),
                format!("unknown node kind; expected one of {}", KINDS.join(", ")),
            );
            return None;
        }
    };
    let allowed: Vec<&str> = common.iter().chain(extra).copied().collect();
    cx.keys(m, path, &allowed);
    let outputs = outputs_of(cx, m, path, state);
    let mut inputs = BTreeMap::new();
    let kind = match kind_name.as_str() {
        "llm" => {
            if let Some(iv) = m.get("inputs") {
                inputs = node_inputs(cx, iv, &at(path, "inputs"), state);
            }
            llm_node(cx, m, path, state, &inputs, outputs.as_ref())?
        }
        "log" => {
            let message = match (m.get("text"), m.get("message")) {
                (Some(_), Some(_)) => {
                    cx.err(at(path, "message"), "give either text or message, not both");
                    None
                }
                (Some(_), None) => cx.string(m, "text", path).map(|s| (s, "text")),
                (None, _) => cx
                    .required_string(m, "message", path)
                    .map(|s| (s, "message")),
            };
            let (message, key) = message?;
            cx.jinja(&message, &at(path, key), state);
            NodeKind::Log { message }
        }
        "template" => {
            let template = cx.required_string(m, "template", path)?;
            cx.jinja(&template, &at(path, "template"), state);
            NodeKind::Template { template }
        }
        "http" => http_node(cx, m, path, state)?,
        "forward" => {
            let url = cx.required_string(m, "url", path)?;
            cx.jinja(&url, &at(path, "url"), state);
            let body = m.get("body").filter(|b| !b.is_null()).cloned();
            if let Some(b) = &body {
                cx.jinja_value(b, &at(path, "body"), state);
            }
            NodeKind::Forward { url, body }
        }
        "task" => {
            let agent = cx.required_string(m, "agent", path)?;
            if let Err(e) = WebhookId::parse(&agent) {
                cx.err(at(path, "agent"), e.to_string());
            }
            let template = cx.required_string(m, "template", path)?;
            cx.jinja(&template, &at(path, "template"), state);
            let wait = cx.boolean(m, "wait", path).unwrap_or(false);
            if !wait && outputs.is_some() {
                cx.err(
                    at(path, "outputs"),
                    "a task node has a result only with wait: true",
                );
            }
            NodeKind::Task {
                agent,
                template,
                wait,
            }
        }
        "ask" => ask_node(cx, m, path, state)?,
        "workflow" => {
            let workflow = cx.required_string(m, "workflow", path)?;
            if workflow_name(cx, &workflow, &at(path, "workflow"))
                && Some(workflow.as_str()) == own_name
            {
                cx.err(at(path, "workflow"), "a workflow cannot run itself");
            }
            let mut child = BTreeMap::new();
            if let Some(iv) = m.get("inputs") {
                let ipath = at(path, "inputs");
                if let Some(im) = cx.object(iv, &ipath) {
                    for (k, x) in im {
                        let kpath = at(&ipath, k);
                        match x {
                            Value::String(s) => {
                                cx.jinja(s, &kpath, state);
                                child.insert(k.clone(), s.clone());
                            }
                            Value::Number(_) | Value::Bool(_) => {
                                child.insert(k.clone(), x.to_string());
                            }
                            _ => cx.err(
                                kpath,
                                "must be a string (a Jinja template), a number or a bool",
                            ),
                        }
                    }
                }
            }
            NodeKind::Workflow {
                workflow,
                inputs: child,
            }
        }
        _ => return None,
    };
    let outputs = match (&kind, outputs) {
        (NodeKind::Log { .. } | NodeKind::Forward { .. }, Some(_)) => {
            cx.err(
                at(path, "outputs"),
                format!("a {kind_name} node writes no state"),
            );
            Outputs::List(Vec::new())
        }
        (NodeKind::Template { .. }, Some(Outputs::List(l))) if l.len() != 1 => {
            cx.err(
                at(path, "outputs"),
                "a template node's text goes into exactly one field",
            );
            Outputs::List(l)
        }
        (NodeKind::Template { .. }, Some(Outputs::Map(m))) => {
            cx.err(
                at(path, "outputs"),
                "a template node's result is its text: list the one field it goes into",
            );
            Outputs::Map(m)
        }
        (_, Some(o)) => {
            result_paths(cx, &kind, &o, &at(path, "outputs"));
            o
        }
        (_, None) => Outputs::List(Vec::new()),
    };
    let timeout = cx.uint(m, "timeout", path, 1, 86_400);
    let retries = cx.uint(m, "retries", path, 0, 100).map(|r| r as u32);
    Some(Node {
        id: id?,
        description: cx.string(m, "description", path),
        kind,
        inputs,
        outputs,
        timeout,
        retries,
    })
}

/// Checks what `outputs` takes from a result whose shape is known: an `http`
/// node's `{status, headers, body}` and an `ask` node's decision. Map paths are
/// dotted names (`body.issue.title`), or empty for the whole result.
fn result_paths(cx: &mut Cx, kind: &NodeKind, outputs: &Outputs, opath: &str) {
    let keys: &[&str] = match kind {
        NodeKind::Http { .. } => &["status", "headers", "body"],
        NodeKind::Ask { .. } => &["decision", "comment", "response", "edited_context", "by"],
        _ => &[],
    };
    let known = |first: &str| keys.is_empty() || keys.contains(&first);
    let expected = || format!("the {} node's result has {}", kind.name(), keys.join(", "));
    match outputs {
        Outputs::List(l) => {
            for (j, f) in l.iter().enumerate() {
                if !known(f) {
                    cx.err(
                        format!("{opath}[{j}]"),
                        format!(
                            "{f:?} is not in the result: {}; map a field to a path instead",
                            expected()
                        ),
                    );
                }
            }
        }
        Outputs::Map(m) => {
            for (field, p) in m {
                let here = at(opath, field);
                if p.is_empty() {
                    continue;
                }
                if p.split('.').any(str::is_empty) {
                    cx.err(here, "must be a dotted path such as body.issue.title");
                } else if !known(p.split('.').next().unwrap_or("")) {
                    cx.err(here, format!("{p:?} is not in the result: {}", expected()));
                }
            }
        }
    }
}

fn outputs_of(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    state: &StateSchema,
) -> Option<Outputs> {
    let opath = at(path, "outputs");
    let check = |cx: &mut Cx, field: &str, here: String| {
        if state.field(field).is_none() {
            cx.err(here, format!("{field:?} is not a declared state field"));
        }
    };
    match m.get("outputs")? {
        Value::Null => None,
        Value::Array(a) => {
            let mut out = Vec::new();
            for (j, x) in a.iter().enumerate() {
                let here = format!("{opath}[{j}]");
                match x {
                    Value::String(s) => {
                        check(cx, s, here.clone());
                        if out.contains(s) {
                            cx.err(here, format!("{s:?} is listed twice"));
                        }
                        out.push(s.clone());
                    }
                    _ => cx.err(here, "must be a state field's name"),
                }
            }
            Some(Outputs::List(out))
        }
        Value::Object(o) => {
            let mut out = BTreeMap::new();
            for (field, p) in o {
                let here = at(&opath, field);
                check(cx, field, here.clone());
                match p {
                    Value::String(s) => {
                        out.insert(field.clone(), s.clone());
                    }
                    _ => cx.err(here, "must be a dotted path into the node's result"),
                }
            }
            Some(Outputs::Map(out))
        }
        _ => {
            cx.err(
                opath,
                "must be a list of state fields or a mapping of state field to path",
            );
            None
        }
    }
}

fn node_inputs(
    cx: &mut Cx,
    v: &Value,
    path: &str,
    state: &StateSchema,
) -> BTreeMap<String, Prompt> {
    let mut out = BTreeMap::new();
    let Some(m) = cx.object(v, path) else {
        return out;
    };
    for (k, x) in m {
        let here = at(path, k);
        if !is_ident(k) {
            cx.err(&here, "an input name is letters, digits and `_`");
        }
        let Some(s) = x.as_str() else {
            cx.err(here, "must be a string such as \"{state.field}\"");
            continue;
        };
        match Prompt::parse(s) {
            Ok(p) => {
                for (_, first, written) in p.placeholders() {
                    if state.field(first).is_none() {
                        cx.err(
                            &here,
                            format!("placeholder {{{written}}} names no state field"),
                        );
                    }
                }
                out.insert(k.clone(), p);
            }
            Err(e) => cx.err(here, e),
        }
    }
    out
}

fn check_prompt(
    cx: &mut Cx,
    src: &str,
    path: &str,
    state: &StateSchema,
    inputs: &BTreeMap<String, Prompt>,
) -> Option<Prompt> {
    match Prompt::parse(src) {
        Ok(p) => {
            for (qualified, first, written) in p.placeholders() {
                let known =
                    state.field(first).is_some() || (!qualified && inputs.contains_key(first));
                if !known {
                    let what = if qualified {
                        "state field"
                    } else {
                        "state field or node input"
                    };
                    cx.err(path, format!("placeholder {{{written}}} names no {what}"));
                }
            }
            Some(p)
        }
        Err(e) => {
            cx.err(path, e);
            None
        }
    }
}

fn llm_config(cx: &mut Cx, v: Option<&Value>, path: &str) -> LlmConfig {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return LlmConfig::default();
    };
    let Some(m) = cx.object(v, path) else {
        return LlmConfig::default();
    };
    cx.keys(m, path, &["provider", "model", "temperature", "max_tokens"]);
    let provider = cx.string(m, "provider", path);
    if provider.as_deref().is_some_and(|p| p.trim().is_empty()) {
        cx.err(at(path, "provider"), "must not be empty");
    }
    let temperature = match m.get("temperature") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => {
            n.as_f64()
        }
        Some(_) => {
            cx.err(at(path, "temperature"), "must be a number from 0 to 2");
            None
        }
    };
    LlmConfig {
        provider,
        model: cx.string(m, "model", path),
        temperature,
        max_tokens: cx.uint(m, "max_tokens", path, 1, 1_000_000),
    }
}

fn llm_node(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    state: &StateSchema,
    inputs: &BTreeMap<String, Prompt>,
    outputs: Option<&Outputs>,
) -> Option<NodeKind> {
    let src = cx.required_string(m, "prompt", path)?;
    let prompt = check_prompt(cx, &src, &at(path, "prompt"), state, inputs)?;
    let llm = llm_config(cx, m.get("llm"), &at(path, "llm"));
    let outs: Vec<String> = match outputs {
        Some(Outputs::List(l)) if !l.is_empty() => l.clone(),
        Some(Outputs::Map(_)) => {
            cx.err(
                at(path, "outputs"),
                "an llm node's outputs are a list of the answer's fields",
            );
            Vec::new()
        }
        _ => {
            cx.err(
                at(path, "outputs"),
                "an llm node must name at least one output",
            );
            Vec::new()
        }
    };
    let output_schema = match m.get("output_schema").filter(|v| !v.is_null()) {
        None => {
            // Without a schema each output takes its state field's type.
            None
        }
        Some(v) => output_schema(cx, v, &at(path, "output_schema"), &outs, state, path),
    };
    Some(NodeKind::Llm {
        prompt,
        llm,
        output_schema,
        structured: true,
    })
}

fn output_schema(
    cx: &mut Cx,
    v: &Value,
    spath: &str,
    outs: &[String],
    state: &StateSchema,
    node_path: &str,
) -> Option<OutputSchema> {
    let m = cx.object(v, spath)?;
    cx.keys(m, spath, &["type", "fields", "description"]);
    let ty = cx.required_string(m, "type", spath)?;
    let description = cx.string(m, "description", spath);
    if ty.trim() == "object" {
        let Some(list) = cx.list(m, "fields", spath) else {
            cx.err(at(spath, "fields"), "an object output_schema needs fields");
            return None;
        };
        let mut fields = Vec::new();
        for (k, f) in list.iter().enumerate() {
            let fpath = format!("{spath}.fields[{k}]");
            let Some(fm) = cx.object(f, &fpath) else {
                continue;
            };
            cx.keys(fm, &fpath, &["name", "type", "description"]);
            let (Some(name), Some(t)) = (
                cx.required_string(fm, "name", &fpath),
                cx.required_string(fm, "type", &fpath),
            ) else {
                continue;
            };
            let ty = match FieldType::parse(&t) {
                Ok(ty) => ty,
                Err(e) => {
                    cx.err(at(&fpath, "type"), e);
                    continue;
                }
            };
            if !outs.contains(&name) {
                cx.err(
                    at(&fpath, "name"),
                    format!("{name:?} is not in the node's outputs"),
                );
            } else if let Some(sf) = state.field(&name) {
                if !same_type(&sf.ty, &ty) {
                    cx.err(
                        at(&fpath, "type"),
                        format!("is {ty} but state field {name:?} is {}", sf.ty),
                    );
                }
            }
            if fields.iter().any(|x: &OutputField| x.name == name) {
                cx.err(at(&fpath, "name"), format!("{name:?} is listed twice"));
            }
            fields.push(OutputField {
                name,
                ty,
                description: cx.string(fm, "description", &fpath),
            });
        }
        for (j, o) in outs.iter().enumerate() {
            if !fields.iter().any(|f| &f.name == o) {
                cx.err(
                    format!("{node_path}.outputs[{j}]"),
                    format!("{o:?} is not in output_schema.fields"),
                );
            }
        }
        Some(OutputSchema::Object(fields))
    } else {
        let t = match FieldType::parse(&ty) {
            Ok(t) => t,
            Err(e) => {
                cx.err(at(spath, "type"), e);
                return None;
            }
        };
        if outs.len() != 1 {
            cx.err(
                at(node_path, "outputs"),
                format!("an output_schema of type {ty} fills exactly one output"),
            );
        } else if let Some(sf) = state.field(&outs[0]) {
            if !same_type(&sf.ty, &t) {
                cx.err(
                    at(spath, "type"),
                    format!("is {t} but state field {:?} is {}", outs[0], sf.ty),
                );
            }
        }
        Some(OutputSchema::Single { ty: t, description })
    }
}

fn http_node(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    state: &StateSchema,
) -> Option<NodeKind> {
    let rpath = at(path, "request");
    let Some(r) = m.get("request") else {
        cx.err(&rpath, "is required");
        return None;
    };
    let r = cx.object(r, &rpath)?;
    cx.keys(r, &rpath, &["method", "url", "headers", "body"]);
    let method = cx
        .string(r, "method", &rpath)
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        cx.err(
            at(&rpath, "method"),
            format!("must be one of {}", METHODS.join(", ")),
        );
    }
    let url = cx.required_string(r, "url", &rpath)?;
    cx.jinja(&url, &at(&rpath, "url"), state);
    let mut headers = BTreeMap::new();
    if let Some(h) = r.get("headers").filter(|h| !h.is_null()) {
        let hpath = at(&rpath, "headers");
        if let Some(hm) = cx.object(h, &hpath) {
            for (k, x) in hm {
                let here = at(&hpath, k);
                if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    cx.err(&here, "is not a valid header name");
                }
                match x {
                    Value::String(s) => {
                        cx.jinja(s, &here, state);
                        headers.insert(k.clone(), s.clone());
                    }
                    Value::Number(_) | Value::Bool(_) => {
                        headers.insert(k.clone(), x.to_string());
                    }
                    _ => cx.err(here, "must be a string"),
                }
            }
        }
    }
    let body = r.get("body").filter(|b| !b.is_null()).cloned();
    if let Some(b) = &body {
        cx.jinja_value(b, &at(&rpath, "body"), state);
    }
    Some(NodeKind::Http {
        method,
        url,
        headers,
        body,
    })
}

fn ask_node(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    state: &StateSchema,
) -> Option<NodeKind> {
    let question = cx.required_string(m, "question", path)?;
    cx.jinja(&question, &at(path, "question"), state);
    let decision = |cx: &mut Cx, v: &Value, here: &str| -> Option<Decision> {
        let d = v.as_str().and_then(Decision::parse);
        if d.is_none() {
            let all: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
            cx.err(here, format!("must be one of {}", all.join(", ")));
        }
        d
    };
    let decisions = cx.list(m, "decisions", path).map(|list| {
        let mut out = Vec::new();
        for (k, d) in list.iter().enumerate() {
            out.extend(decision(cx, d, &format!("{path}.decisions[{k}]")));
        }
        out
    });
    let timeout_seconds = cx.uint(m, "timeout_seconds", path, 0, u64::MAX);
    let default_decision = match m.get("default_decision").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => decision(cx, v, &at(path, "default_decision")),
    };
    let notify = match m.get("notify").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match serde_json::from_value::<Vec<Channel>>(v.clone()) {
            Ok(n) => Some(n),
            Err(e) => {
                cx.err(
                    at(path, "notify"),
                    format!("must be a list of channels: {e}"),
                );
                None
            }
        },
    };
    // The node opens this checkpoint, so the checkpoint API's rules are its rules
    // (decisions, the timeout and what it decides, the channels).
    let spec = Spec {
        checkpoint_id: None,
        name: "ask".into(),
        kickoff_id: None,
        context: Value::Object(Map::new()),
        question: Some(question.clone()),
        decisions,
        timeout_seconds,
        default_decision,
        notify,
        callback_url: None,
        remind_after_seconds: None,
        escalate: Vec::new(),
        approvals_required: None,
        action: None,
        resume: None,
    };
    for e in spec.validate() {
        cx.err(at(path, &e.path), e.message);
    }
    Some(NodeKind::Ask {
        decisions: spec.allowed(),
        question,
        timeout_seconds,
        default_decision,
        notify: spec.notify,
    })
}

/// Where an edge goes, or an error at `path`.
fn target(cx: &mut Cx, name: &str, path: &str, ids: &[&str]) -> Option<Next> {
    match name {
        "END" => Some(Next::End),
        "START" => {
            cx.err(path, "START cannot be a target");
            None
        }
        n if ids.contains(&n) => Some(Next::Node(n.to_owned())),
        n => {
            cx.err(path, format!("unknown node {n:?}"));
            None
        }
    }
}

fn edges1(cx: &mut Cx, v: Option<&Value>, ids: &[&str], state: &StateSchema) -> Option<Graph> {
    let before = cx.errors.len();
    let list = match v {
        None | Some(Value::Null) => {
            cx.err("edges", "is required");
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(_) => {
            cx.err("edges", "must be a list");
            return None;
        }
    };
    let mut start: Option<Edge> = None;
    let mut edges: BTreeMap<String, Edge> = BTreeMap::new();
    let mut from_at: BTreeMap<String, usize> = BTreeMap::new();
    for (i, ev) in list.iter().enumerate() {
        let path = format!("edges[{i}]");
        let Some(m) = cx.object(ev, &path) else {
            continue;
        };
        cx.keys(m, &path, &["from", "to", "routes", "loop"]);
        let Some(from) = cx.required_string(m, "from", &path) else {
            continue;
        };
        let fpath = at(&path, "from");
        let from_ok = match from.as_str() {
            "START" => true,
            "END" => {
                cx.err(&fpath, "no edge leaves END");
                false
            }
            n if ids.contains(&n) => true,
            n => {
                cx.err(&fpath, format!("unknown node {n:?}"));
                false
            }
        };
        if let Some(first) = from_at.get(&from) {
            cx.err(
                &fpath,
                format!("{from} already has an outgoing edge (edges[{first}]); branch with routes"),
            );
            continue;
        }
        from_at.insert(from.clone(), i);
        let present: Vec<&str> = ["to", "routes", "loop"]
            .into_iter()
            .filter(|k| m.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        let edge = match present.as_slice() {
            ["to"] => match m.get("to") {
                Some(Value::String(t)) => target(cx, t, &at(&path, "to"), ids).map(Edge::To),
                Some(Value::Array(_)) => {
                    cx.err(
                        at(&path, "to"),
                        "fork-join (a list of targets) is not supported",
                    );
                    None
                }
                _ => {
                    cx.err(at(&path, "to"), "must be a node id or END");
                    None
                }
            },
            ["routes"] => routes(cx, m, &path, ids, state),
            ["loop"] => {
                if from == "START" {
                    cx.err(at(&path, "loop"), "START cannot loop");
                    None
                } else {
                    loop_edge(cx, m, &path, &from, ids, state)
                }
            }
            [] => {
                cx.err(&path, "needs one of to, routes or loop");
                None
            }
            several => {
                cx.err(
                    &path,
                    format!(
                        "has both {}; give exactly one of to, routes or loop",
                        several.join(" and ")
                    ),
                );
                None
            }
        };
        if let (Some(e), true) = (edge, from_ok) {
            if from == "START" {
                start = Some(e);
            } else {
                edges.insert(from, e);
            }
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let Some(start) = start else {
        cx.err("edges", "no edge from START");
        return None;
    };
    let graph = Graph { start, edges };
    let (unreachable, stuck) = graph.dead_ends(ids);
    for (i, id) in ids.iter().enumerate() {
        if unreachable.contains(id) {
            cx.err(
                format!("nodes[{i}]"),
                format!("node {id:?} is not reachable from START"),
            );
        } else if stuck.contains(id) {
            cx.err(
                format!("nodes[{i}]"),
                format!("node {id:?} has no path to END"),
            );
        }
    }
    Some(graph)
}

fn routes(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    ids: &[&str],
    state: &StateSchema,
) -> Option<Edge> {
    let rpath = at(path, "routes");
    let list = cx.list(m, "routes", path)?;
    if list.is_empty() {
        cx.err(&rpath, "must list at least one route");
        return None;
    }
    let mut out = Vec::new();
    let mut default: Option<Next> = None;
    let mut ok = true;
    for (j, r) in list.iter().enumerate() {
        let here = format!("{rpath}[{j}]");
        let Some(rm) = cx.object(r, &here) else {
            ok = false;
            continue;
        };
        cx.keys(rm, &here, &["condition", "to"]);
        let to = cx
            .required_string(rm, "to", &here)
            .and_then(|t| target(cx, &t, &at(&here, "to"), ids));
        let cpath = at(&here, "condition");
        let logic = match rm.get("condition") {
            None => {
                cx.err(&cpath, "is required");
                None
            }
            Some(c) => cx.object(c, &cpath).and_then(|cm| {
                cx.keys(cm, &cpath, &["logic"]);
                cx.required_string(cm, "logic", &cpath)
            }),
        };
        let (Some(to), Some(logic)) = (to, logic) else {
            ok = false;
            continue;
        };
        let lpath = at(&cpath, "logic");
        if logic.trim() == "default" {
            if default.is_some() {
                cx.err(&lpath, "only one route may be the default");
            } else if j + 1 != list.len() {
                cx.err(&lpath, "the default route must come last");
            }
            default = Some(to);
            continue;
        }
        match Expr::parse(&logic) {
            Ok(e) => {
                for f in e.fields() {
                    if state.field(f).is_none() {
                        cx.err(&lpath, format!("{f:?} is not a state field"));
                    }
                }
                out.push(Route {
                    logic,
                    condition: e,
                    to,
                });
            }
            Err(e) => {
                cx.err(&lpath, e);
                ok = false;
            }
        }
    }
    let Some(default) = default else {
        cx.err(
            &rpath,
            "needs a default route (condition: {logic: default}) so every state has a next node",
        );
        return None;
    };
    ok.then_some(Edge::Routes {
        routes: out,
        default,
    })
}

fn loop_edge(
    cx: &mut Cx,
    m: &Map<String, Value>,
    path: &str,
    from: &str,
    ids: &[&str],
    state: &StateSchema,
) -> Option<Edge> {
    let lpath = at(path, "loop");
    let lm = cx.object(m.get("loop")?, &lpath)?;
    cx.keys(
        lm,
        &lpath,
        &["condition_field", "max_iterations", "exit_to"],
    );
    let field = cx.required_string(lm, "condition_field", &lpath);
    if let Some(f) = &field {
        match state.field(f) {
            None => cx.err(
                at(&lpath, "condition_field"),
                format!("{f:?} is not a state field"),
            ),
            Some(sf) if sf.ty != FieldType::Bool => cx.err(
                at(&lpath, "condition_field"),
                format!("{f:?} is {}, not bool", sf.ty),
            ),
            Some(_) => {}
        }
    }
    let max = match lm.get("max_iterations") {
        None => {
            cx.err(at(&lpath, "max_iterations"), "is required");
            None
        }
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => Some(n as u32),
            _ => {
                cx.err(
                    at(&lpath, "max_iterations"),
                    format!("must be a whole number from 1 to {MAX_LOOP_ITERATIONS}"),
                );
                None
            }
        },
    };
    let exit = cx.required_string(lm, "exit_to", &lpath).and_then(|t| {
        if t == from {
            cx.err(
                at(&lpath, "exit_to"),
                "must leave the loop: it names the looping node itself",
            );
            return None;
        }
        target(cx, &t, &at(&lpath, "exit_to"), ids)
    });
    Some(Edge::Loop {
        condition_field: field?,
        max_iterations: max?,
        exit_to: exit?,
    })
}

fn config1(cx: &mut Cx, v: Option<&Value>) -> WorkflowConfig {
    let mut cfg = WorkflowConfig {
        llm: LlmConfig::default(),
        execution: Execution::default(),
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return cfg;
    };
    let Some(m) = cx.object(v, "config") else {
        return cfg;
    };
    cx.keys(m, "config", &["llm", "execution"]);
    cfg.llm = llm_config(cx, m.get("llm"), "config.llm");
    if let Some(e) = m.get("execution").filter(|v| !v.is_null()) {
        if let Some(em) = cx.object(e, "config.execution") {
            cx.keys(em, "config.execution", &["timeout", "max_retries"]);
            if let Some(t) = cx.uint(em, "timeout", "config.execution", 1, 86_400) {
                cfg.execution.timeout = t;
            }
            if let Some(r) = cx.uint(em, "max_retries", "config.execution", 0, 100) {
                cfg.execution.max_retries = r as u32;
            }
        }
    }
    cfg
}

// ---- seed 003's shorthand ----

fn shorthand(cx: &mut Cx, top: &Map<String, Value>, file_stem: Option<&str>) -> Option<Workflow> {
    cx.keys(
        top,
        "",
        &["name", "description", "version", "state", "nodes", "edges"],
    );
    let title = cx.required_string(top, "name", "");
    let name = match file_stem {
        Some(stem) => workflow_name(cx, stem, "").then(|| stem.to_owned()),
        None => {
            cx.err("", "a shorthand workflow is served under its file name (or a registered name); none was given");
            None
        }
    };
    let description = cx.string(top, "description", "");
    let version = version_of(cx, top, "");
    let mut state = match top.get("state").filter(|v| !v.is_null()) {
        None => StateSchema::default(),
        Some(v) => json_schema_state(cx, v),
    };
    let list = match top.get("nodes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            cx.err("nodes", "must list at least one node");
            return None;
        }
        None | Some(Value::Null) => {
            cx.err("nodes", "is required");
            return None;
        }
        Some(_) => {
            cx.err("nodes", "must be a list");
            return None;
        }
    };
    // Each node's answer goes into a text field named after it; declared before the
    // prompts are checked, so a later prompt may read an earlier answer.
    let mut names: Vec<Option<String>> = Vec::new();
    for (i, nv) in list.iter().enumerate() {
        let path = format!("nodes[{i}]");
        let name = cx
            .object(nv, &path)
            .and_then(|m| cx.required_string(m, "name", &path));
        if let Some(n) = &name {
            let npath = at(&path, "name");
            if !is_ident(n) {
                cx.err(
                    &npath,
                    "a node name is letters, digits and `_`, not starting with a digit",
                );
            } else if names.iter().flatten().any(|x| x == n) {
                cx.err(&npath, format!("duplicate node name {n:?}"));
            } else if state.fields.contains_key(n) {
                cx.err(
                    &npath,
                    format!("{n:?} is a state property; a node's answer is stored under its name"),
                );
            } else {
                state.fields.insert(
                    n.clone(),
                    StateField {
                        ty: FieldType::Str,
                        required: false,
                        default: None,
                        description: Some(format!("The answer of node {n}")),
                    },
                );
            }
        }
        names.push(name);
    }
    let mut nodes = Vec::new();
    for (i, (nv, name)) in list.iter().zip(&names).enumerate() {
        let path = format!("nodes[{i}]");
        let Some(m) = nv.as_object() else { continue };
        cx.keys(m, &path, &["name", "description", "llm", "prompt"]);
        let llm = llm_config(cx, m.get("llm"), &at(&path, "llm"));
        let prompt = cx
            .required_string(m, "prompt", &path)
            .and_then(|src| check_prompt(cx, &src, &at(&path, "prompt"), &state, &BTreeMap::new()));
        if let (Some(name), Some(prompt)) = (name, prompt) {
            nodes.push(Node {
                id: name.clone(),
                description: cx.string(m, "description", &path),
                kind: NodeKind::Llm {
                    prompt,
                    llm,
                    output_schema: None,
                    structured: false,
                },
                inputs: BTreeMap::new(),
                outputs: Outputs::List(vec![name.clone()]),
                timeout: None,
                retries: None,
            });
        }
    }
    let ids: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
    let graph = straight_line(cx, top.get("edges"), &ids);
    Some(Workflow {
        name: name?,
        title: title?,
        description,
        version,
        format: Format::Shorthand,
        state,
        nodes,
        graph: graph?,
        config: WorkflowConfig {
            llm: LlmConfig::default(),
            execution: Execution::default(),
        },
    })
}

fn json_schema_state(cx: &mut Cx, v: &Value) -> StateSchema {
    let mut schema = StateSchema::default();
    let Some(m) = cx.object(v, "state") else {
        return schema;
    };
    cx.keys(m, "state", &["type", "properties", "required"]);
    if let Some(t) = m.get("type") {
        if t.as_str() != Some("object") {
            cx.err("state.type", "must be object");
        }
    }
    let required: Vec<String> = match cx.list(m, "required", "state") {
        None => Vec::new(),
        Some(l) => l
            .iter()
            .enumerate()
            .filter_map(|(k, r)| {
                let s = r.as_str().map(str::to_owned);
                if s.is_none() {
                    cx.err(format!("state.required[{k}]"), "must be a property name");
                }
                s
            })
            .collect(),
    };
    let props = match m.get("properties") {
        None => Map::new(),
        Some(p) => cx
            .object(p, "state.properties")
            .cloned()
            .unwrap_or_default(),
    };
    for (name, spec) in &props {
        let path = at("state.properties", name);
        if !is_ident(name) {
            cx.err(
                &path,
                "a property name is letters, digits and `_`, not starting with a digit",
            );
        }
        let Some(ty) = json_type(cx, spec, &path, 0) else {
            continue;
        };
        let Some(sm) = spec.as_object() else { continue };
        let default = sm.get("default").filter(|d| !d.is_null()).cloned();
        if let Some(d) = &default {
            if let Err(e) = ty.check(d) {
                cx.err(
                    at(&path, "default"),
                    format!("does not match the type: {e}"),
                );
            }
        }
        schema.fields.insert(
            name.clone(),
            StateField {
                ty,
                required: required.contains(name),
                default,
                description: cx.string(sm, "description", &path),
            },
        );
    }
    for (k, r) in required.iter().enumerate() {
        if !props.contains_key(r) {
            cx.err(
                format!("state.required[{k}]"),
                format!("{r:?} is not a property"),
            );
        }
    }
    schema
}

fn json_type(cx: &mut Cx, v: &Value, path: &str, depth: usize) -> Option<FieldType> {
    let m = cx.object(v, path)?;
    cx.keys(m, path, &["type", "description", "default", "items"]);
    let t = cx.required_string(m, "type", path)?;
    let items = m.get("items").filter(|v| !v.is_null());
    if items.is_some() && t != "array" {
        cx.err(at(path, "items"), "only an array has items");
    }
    Some(match t.as_str() {
        "string" => FieldType::Str,
        "integer" => FieldType::Int,
        "number" => FieldType::Float,
        "boolean" => FieldType::Bool,
        "object" => FieldType::Object(None),
        "array" => match items {
            None => FieldType::List(None),
            Some(_) if depth >= MAX_SCHEMA_DEPTH => {
                cx.err(at(path, "items"), "is nested too deeply");
                return None;
            }
            Some(i) => FieldType::List(Some(Box::new(json_type(
                cx,
                i,
                &at(path, "items"),
                depth + 1,
            )?))),
        },
        _ => {
            cx.err(
                at(path, "type"),
                "must be one of string, integer, number, boolean, array, object",
            );
            return None;
        }
    })
}

/// Shorthand edges: pairs of node names forming one straight line, which runs from
/// the node nothing points to until the node that points nowhere. No edges at all
/// means the nodes in the order listed.
fn straight_line(cx: &mut Cx, v: Option<&Value>, ids: &[&str]) -> Option<Graph> {
    let before = cx.errors.len();
    let mut next: BTreeMap<String, String> = BTreeMap::new();
    let mut prev: BTreeSet<String> = BTreeSet::new();
    let list = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            cx.err("edges", "must be a list");
            return None;
        }
    };
    if list.is_empty() {
        for w in ids.windows(2) {
            next.insert(w[0].to_owned(), w[1].to_owned());
            prev.insert(w[1].to_owned());
        }
    }
    for (i, ev) in list.iter().enumerate() {
        let path = format!("edges[{i}]");
        let Some(m) = cx.object(ev, &path) else {
            continue;
        };
        cx.keys(m, &path, &["from", "to"]);
        let (Some(from), Some(to)) = (
            cx.required_string(m, "from", &path),
            cx.required_string(m, "to", &path),
        ) else {
            continue;
        };
        let mut ok = true;
        for (name, key) in [(&from, "from"), (&to, "to")] {
            if !ids.contains(&name.as_str()) {
                cx.err(at(&path, key), format!("unknown node {name:?} (shorthand edges name nodes only, without START or END)"));
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        if prev.contains(&to) && !next.contains_key(&from) {
            cx.err(
                at(&path, "to"),
                format!("{to} already has an incoming edge; shorthand edges form a straight line"),
            );
            continue;
        }
        match next.entry(from) {
            std::collections::btree_map::Entry::Occupied(e) => cx.err(
                at(&path, "from"),
                format!(
                    "{} already has an outgoing edge; shorthand edges form a straight line",
                    e.key()
                ),
            ),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(to.clone());
                prev.insert(to);
            }
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let heads: Vec<&str> = ids.iter().copied().filter(|n| !prev.contains(*n)).collect();
    let mut seen = BTreeSet::new();
    if let [head] = heads.as_slice() {
        let mut cur = Some((*head).to_owned());
        while let Some(c) = cur {
            if !seen.insert(c.clone()) {
                break;
            }
            cur = next.get(&c).cloned();
        }
    }
    if heads.len() != 1 || seen.len() != ids.len() {
        cx.err("edges", "must join all the nodes in one straight line");
        return None;
    }
    let start = Edge::To(Next::Node(heads[0].to_owned()));
    let edges = ids
        .iter()
        .map(|id| {
            let to = next.get(*id).map_or(Next::End, |n| Next::Node(n.clone()));
            ((*id).to_owned(), Edge::To(to))
        })
        .collect();
    Some(Graph { start, edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_depth_counts_brackets_outside_quotes() {
        assert_eq!(flow_depth("a: [1, {b: [2]}]\nc: \"[[[[\"\n"), 3);
        assert_eq!(flow_depth("p: |\n  {{ state.x }} ] ] ]\n"), 2);
        assert_eq!(flow_depth(&"[".repeat(65)), 65);
    }

    #[test]
    fn every_unsupported_feature_is_named() {
        let base = "schema_version: \"1.0\"\nflow: {name: f}\nstate: {fields: {x: {type: str}}}\n\
                    nodes:\n  - id: n\n    prompt: p\n    outputs: [x]\n";
        let edges = "edges:\n  - {from: START, to: n}\n  - {from: n, to: END}\n";
        assert!(load(&format!("{base}{edges}"), None).is_ok());
        for (extra, path) in [
            ("    tools: [serper_search]\n", "nodes[0].tools"),
            ("    optimize: {enabled: true}\n", "nodes[0].optimize"),
            ("    memory: {}\n", "nodes[0].memory"),
            ("    log_prompts: true\n", "nodes[0].log_prompts"),
            (
                "    llm: {api_base: \"http://x\"}\n",
                "nodes[0].llm.api_base",
            ),
        ] {
            let errors = load(&format!("{base}{extra}{edges}"), None).unwrap_err();
            let e = errors.iter().find(|e| e.path == path).unwrap();
            assert!(e.message.contains("not supported"), "{e}");
        }
        for (extra, path) in [
            ("optimization: {enabled: false}\n", "optimization"),
            ("config: {storage: {backend: sqlite}}\n", "config.storage"),
            ("config: {observability: {}}\n", "config.observability"),
        ] {
            let errors = load(&format!("{base}{edges}{extra}"), None).unwrap_err();
            let e = errors.iter().find(|e| e.path == path).unwrap();
            assert!(e.message.contains("not supported"), "{e}");
        }
    }
}
