//! The example workflows (tests/fixtures/workflows, copied unchanged from the shared
//! examples) load and validate; their graphs walk the routes and loops as written;
//! broken variants are refused at the expected YAML paths.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use switchyard_core::workflow::{self, Edge, Format, Next, NodeKind, Outputs, Workflow};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/workflows/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap()
}

fn load(name: &str) -> Workflow {
    match workflow::parse(&fixture(name), Some(name)) {
        Ok(w) => w,
        Err(e) => panic!("{name}: {e:#?}"),
    }
}

/// The paths of the errors `yaml` gets.
fn error_paths(yaml: &str) -> Vec<String> {
    match workflow::parse(yaml, Some("broken")) {
        Ok(_) => panic!("loaded:\n{yaml}"),
        Err(errors) => errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect(),
    }
}

/// Runs the graph from START with `produce` standing in for each node (it gets the
/// node id, its run count and the state to change); returns the nodes in run order.
fn walk(
    w: &Workflow,
    mut state: Value,
    mut produce: impl FnMut(&str, u32, &mut Value),
) -> Vec<String> {
    let mut runs: BTreeMap<String, u32> = BTreeMap::new();
    let mut order = Vec::new();
    let mut next = w.graph.first(&state).unwrap();
    while let Next::Node(id) = next {
        assert!(order.len() < 1000, "runaway walk: {order:?}");
        let n = runs.entry(id.clone()).or_default();
        *n += 1;
        let n = *n;
        produce(&id, n, &mut state);
        order.push(id.clone());
        next = w.graph.next(&id, &state, n).unwrap();
    }
    order
}

fn initial(w: &Workflow, inputs: Value) -> Value {
    Value::Object(w.state.initial(inputs.as_object().unwrap()).unwrap())
}

#[test]
fn every_example_loads() {
    for (name, served, format, nodes) in [
        ("echo", "echo", Format::Schema1, 1),
        ("triage_router", "triage_router", Format::Schema1, 3),
        ("draft_until_good", "draft_until_good", Format::Schema1, 1),
        ("issue_digest", "issue_digest", Format::Schema1, 5),
        ("incident_handoff", "incident_handoff", Format::Schema1, 3),
        (
            "slack_notification",
            "slack_notification",
            Format::Shorthand,
            2,
        ),
    ] {
        let w = load(name);
        assert_eq!(w.name, served);
        assert_eq!(w.format, format);
        assert_eq!(w.nodes.len(), nodes, "{name}");
    }
    // A schema-1.0 file is served under flow.name whatever the file is called.
    let w = workflow::parse(&fixture("echo"), Some("other_file")).unwrap();
    assert_eq!(w.name, "echo");
}

#[test]
fn echo_asks_for_structured_output() {
    let w = load("echo");
    let node = &w.nodes[0];
    assert_eq!(node.id, "repeat");
    assert_eq!(node.outputs, Outputs::List(vec!["reply".into()]));
    assert_eq!(
        node.output_json_schema(&w.state).unwrap(),
        json!({
            "type": "object",
            "properties": {"reply": {"type": "string", "description": "The message, unchanged"}},
            "required": ["reply"],
            "additionalProperties": false,
        })
    );
    let NodeKind::Llm {
        prompt, structured, ..
    } = &node.kind
    else {
        panic!()
    };
    assert!(structured);
    let state = w
        .state
        .initial(json!({"message": "hi there"}).as_object().unwrap())
        .unwrap();
    assert_eq!(
        prompt.render(&state, &Map::new()),
        "Repeat this message exactly, nothing else: hi there"
    );
    assert_eq!(walk(&w, Value::Object(state), |_, _, _| {}), ["repeat"]);
    // No config: configurable-agents' defaults.
    assert_eq!(
        (w.config.execution.timeout, w.config.execution.max_retries),
        (120, 3)
    );
    // A required input missing, and one of the wrong type, are named.
    let e = w
        .state
        .initial(json!({"message": 5, "x": 1}).as_object().unwrap())
        .unwrap_err();
    assert_eq!(e.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["x"]);
    let e = w.state.initial(&Map::new()).unwrap_err();
    assert_eq!(e[0].to_string(), "message: is required");
}

#[test]
fn triage_router_routes_by_severity() {
    let w = load("triage_router");
    assert_eq!(
        (w.config.execution.timeout, w.config.execution.max_retries),
        (60, 2)
    );
    assert_eq!(w.version.as_deref(), Some("1.0.0"));
    let score = w.node("score").unwrap();
    assert_eq!(w.retries_of(score), 2);
    let NodeKind::Llm { llm, .. } = &score.kind else {
        panic!()
    };
    assert_eq!(llm.temperature, Some(0.0));
    let schema = score.output_json_schema(&w.state).unwrap();
    assert_eq!(
        schema["properties"]["labels"],
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(schema["properties"]["severity"], json!({"type": "number"}));

    let start = initial(&w, json!({"title": "Disk full"}));
    for (severity, path) in [
        (0.95, ["score", "page"]),
        (0.8, ["score", "page"]),
        (0.3, ["score", "summarize"]),
    ] {
        let order = walk(&w, start.clone(), |id, _, s| {
            if id == "score" {
                s["severity"] = json!(severity);
            }
        });
        assert_eq!(order, path, "severity {severity}");
    }
    // A severity the model wrote as text is converted on the way into the state.
    assert_eq!(
        w.state.convert("severity", json!("0.9")).unwrap(),
        json!(0.9)
    );
    assert_eq!(
        w.state.convert("severity", json!("high")).unwrap_err().path,
        "severity"
    );
    // A state that breaks the condition's types is an evaluation error, not a panic.
    let bad = json!({"severity": "high"});
    assert!(w.graph.next("score", &bad, 1).is_err());
}

#[test]
fn draft_until_good_loops() {
    let w = load("draft_until_good");
    let Edge::Loop {
        condition_field,
        max_iterations,
        exit_to,
    } = &w.graph.edges["draft"]
    else {
        panic!()
    };
    assert_eq!(
        (condition_field.as_str(), *max_iterations, exit_to),
        ("approved", 4, &Next::End)
    );
    let start = initial(&w, json!({"question": "Where is my order?"}));
    // Approved on the second round: two runs.
    let order = walk(&w, start.clone(), |_, n, s| {
        s["rounds"] = json!(n);
        s["approved"] = json!(n == 2);
    });
    assert_eq!(order, ["draft", "draft"]);
    // Never approved: max_iterations runs, then exit_to.
    let order = walk(&w, start.clone(), |_, _, _| {});
    assert_eq!(order, ["draft"; 4]);
    // Approved at once: one run.
    let order = walk(&w, start, |_, _, s| s["approved"] = json!(true));
    assert_eq!(order, ["draft"]);
}

#[test]
fn issue_digest_has_switchyard_kinds() {
    let w = load("issue_digest");
    let kinds: Vec<&str> = w.nodes.iter().map(|n| n.kind.name()).collect();
    assert_eq!(kinds, ["log", "http", "llm", "template", "forward"]);
    let NodeKind::Log { message } = &w.nodes[0].kind else {
        panic!()
    };
    assert_eq!(message, "digest for {{ state.repo }}#{{ state.number }}");
    let NodeKind::Http {
        method,
        url,
        headers,
        body,
    } = &w.nodes[1].kind
    else {
        panic!()
    };
    assert_eq!(method, "GET");
    assert!(url.ends_with("/repos/{{ state.repo }}/issues/{{ state.number }}/comments"));
    assert_eq!(
        headers["Authorization"],
        "Bearer {{ secret('GITHUB_API_TOKEN') }}"
    );
    assert_eq!(body, &None);
    assert_eq!(
        w.nodes[1].outputs,
        Outputs::Map([("comments".to_owned(), "body".to_owned())].into())
    );
    assert_eq!(w.nodes[3].outputs, Outputs::List(vec!["message".into()]));
    let NodeKind::Forward { body, .. } = &w.nodes[4].kind else {
        panic!()
    };
    assert_eq!(body, &Some(json!({"text": "{{ state.message }}"})));
    // A number rendered as text goes into the int field.
    let s = initial(&w, json!({"repo": "octo/repo", "number": "1347"}));
    assert_eq!(s["number"], json!(1347));
    assert_eq!(
        walk(&w, s, |_, _, _| {}),
        ["announce", "fetch_comments", "summarize", "format", "post"]
    );
}

#[test]
fn incident_handoff_waits() {
    let w = load("incident_handoff");
    let NodeKind::Workflow { workflow, inputs } = &w.nodes[0].kind else {
        panic!()
    };
    assert_eq!(workflow, "echo");
    assert_eq!(inputs["message"], "Acknowledged: {{ state.incident }}");
    assert!(w.nodes[0].inputs.is_empty());
    let NodeKind::Task { agent, wait, .. } = &w.nodes[1].kind else {
        panic!()
    };
    assert_eq!((agent.as_str(), *wait), ("fixer", true));
    let NodeKind::Ask {
        decisions,
        timeout_seconds,
        default_decision,
        notify,
        ..
    } = &w.nodes[2].kind
    else {
        panic!()
    };
    assert_eq!(
        decisions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        ["approve", "reject"]
    );
    assert_eq!(
        (*timeout_seconds, default_decision.map(|d| d.as_str())),
        (Some(3600), Some("reject"))
    );
    assert_eq!(notify, &None);
    assert_eq!(w.nodes[2].outputs.fields(), ["decision", "comment"]);
}

#[test]
fn slack_notification_shorthand() {
    let w = load("slack_notification");
    assert_eq!(w.name, "slack_notification");
    assert_eq!(w.title, "Slack Notification Workflow");
    assert_eq!(w.version.as_deref(), Some("1.0"));
    let ids: Vec<&str> = w.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["log_event", "format_notification"]);
    for n in &w.nodes {
        let NodeKind::Llm {
            structured, llm, ..
        } = &n.kind
        else {
            panic!()
        };
        assert!(!structured);
        assert_eq!(llm.provider.as_deref(), Some("google"));
        assert_eq!(llm.model.as_deref(), Some("gemini-1.5-flash"));
        assert_eq!(n.outputs, Outputs::List(vec![n.id.clone()]));
        assert_eq!(n.output_json_schema(&w.state), None);
    }
    // Each answer has a text field named after its node.
    assert_eq!(
        w.state.fields.keys().collect::<Vec<_>>(),
        [
            "event_type",
            "format_notification",
            "log_event",
            "message",
            "slack_channel"
        ]
    );
    let inputs = json!({"event_type": "deployment", "message": "New version deployed to production", "slack_channel": "#alerts"});
    let s = initial(&w, inputs);
    assert_eq!(
        walk(&w, s.clone(), |_, _, _| {}),
        ["log_event", "format_notification"]
    );
    let NodeKind::Llm { prompt, .. } = &w.nodes[1].kind else {
        panic!()
    };
    assert_eq!(
        prompt.render(s.as_object().unwrap(), &Map::new()),
        "Write a friendly Slack notification (under 200 characters) for #alerts:\n\
         New version deployed to production (deployment)\n"
    );
    // Without a file name or a registered name there is nothing to serve it under.
    let e = workflow::parse(&fixture("slack_notification"), None).unwrap_err();
    assert_eq!(e[0].path, "");
}

/// `fixture` with `from` replaced by `to` (which must occur).
fn variant(name: &str, from: &str, to: &str) -> String {
    let text = fixture(name);
    assert!(text.contains(from), "{name} has no {from:?}");
    text.replacen(from, to, 1)
}

#[test]
fn broken_variants_name_their_paths() {
    let cases: Vec<(String, &str)> = vec![
        (
            variant("echo", "{from: repeat, to: END}", "{from: repaet, to: END}"),
            "edges[1].from: unknown node \"repaet\"",
        ),
        (
            variant(
                "echo",
                "{from: START, to: repeat}",
                "{from: START, to: nowhere}",
            ),
            "edges[0].to: unknown node \"nowhere\"",
        ),
        (
            variant("echo", "outputs: [reply]", "outputs: [answer]"),
            "nodes[0].outputs[0]: \"answer\" is not a declared state field",
        ),
        (
            variant("echo", "{state.message}", "{state.mesage}"),
            "nodes[0].prompt: placeholder {state.mesage} names no state field",
        ),
        (
            variant("echo", "{state.message}", "{msg}"),
            "nodes[0].prompt: placeholder {msg} names no state field or node input",
        ),
        (
            variant(
                "echo",
                "type: str\n      required: true",
                "type: string\n      required: true",
            ),
            "state.fields.message.type: unknown type \"string\"",
        ),
        (
            variant("echo", "default: \"\"", "default: 3"),
            "state.fields.reply.default: does not match type str",
        ),
        (
            variant(
                "echo",
                "  - id: repeat\n",
                "  - id: repeat\n    tools: [serper_search]\n",
            ),
            "nodes[0].tools: tools are not supported",
        ),
        (
            variant(
                "echo",
                "  - id: repeat\n",
                "  - id: repeat\n    memory: {enabled: true}\n",
            ),
            "nodes[0].memory: memory is not supported",
        ),
        (
            variant("echo", "flow:\n", "optimization: {enabled: true}\nflow:\n"),
            "optimization: DSPy optimization is not supported",
        ),
        (
            variant(
                "echo",
                "{from: repeat, to: END}",
                "{from: repeat, to: END}\n  - {from: repeat, to: END}",
            ),
            "edges[2].from: repeat already has an outgoing edge (edges[1])",
        ),
        (
            variant(
                "echo",
                "{from: repeat, to: END}",
                "{from: repeat, to: END, routes: []}",
            ),
            "edges[1]: has both to and routes",
        ),
        (
            variant(
                "echo",
                "{from: repeat, to: END}",
                "{from: repeat, to: [END]}",
            ),
            "edges[1].to: fork-join",
        ),
        (
            variant("echo", "  - {from: repeat, to: END}\n", ""),
            "nodes[0]: node \"repeat\" has no path to END",
        ),
        (
            variant("echo", "schema_version: \"1.0\"", "schema_version: \"2.0\""),
            "schema_version: must be \"1.0\"",
        ),
        (
            variant(
                "draft_until_good",
                "max_iterations: 4",
                "max_iterations: 101",
            ),
            "edges[1].loop.max_iterations: must be a whole number from 1 to 100",
        ),
        (
            variant("draft_until_good", "max_iterations: 4", "max_iterations: 0"),
            "edges[1].loop.max_iterations",
        ),
        (
            variant(
                "draft_until_good",
                "condition_field: approved",
                "condition_field: rounds",
            ),
            "edges[1].loop.condition_field: \"rounds\" is int, not bool",
        ),
        (
            variant("draft_until_good", "exit_to: END", "exit_to: draft"),
            "edges[1].loop.exit_to",
        ),
        (
            variant(
                "triage_router",
                "state.severity >= 0.8",
                "state.severity >=> 0.8",
            ),
            "edges[1].routes[0].condition.logic",
        ),
        (
            variant(
                "triage_router",
                "state.severity >= 0.8",
                "state.sevrity >= 0.8",
            ),
            "edges[1].routes[0].condition.logic: \"sevrity\" is not a state field",
        ),
        (
            variant("triage_router", "        to: page", "        to: pager"),
            "edges[1].routes[0].to: unknown node \"pager\"",
        ),
        (
            variant("triage_router", "{logic: \"default\"}", "{logic: \"true\"}"),
            "edges[1].routes: needs a default route",
        ),
        (
            variant("triage_router", "  - {from: page, to: END}\n", ""),
            "nodes[1]: node \"page\" has no path to END",
        ),
        (
            variant("triage_router", "        to: page", "        to: summarize"),
            "nodes[1]: node \"page\" is not reachable from START",
        ),
        (
            variant(
                "triage_router",
                "        - name: severity\n          type: float",
                "        - name: severity\n          type: int",
            ),
            "nodes[0].output_schema.fields[0].type: is int but state field \"severity\" is float",
        ),
        (
            variant("triage_router", "timeout: 60", "timeout_seconds: 60"),
            "config.execution.timeout_seconds: unknown field",
        ),
        (
            variant(
                "triage_router",
                "config:\n",
                "config:\n  observability: {}\n",
            ),
            "config.observability: observability settings are not supported",
        ),
        (
            variant(
                "issue_digest",
                "outputs:\n      comments: body",
                "outputs:\n      commentz: body",
            ),
            "nodes[1].outputs.commentz: \"commentz\" is not a declared state field",
        ),
        (
            variant("issue_digest", "{{ state.message }}", "{{ state.mesage }}"),
            "nodes[4].body.text: `state.mesage` names no state field",
        ),
        (
            variant(
                "issue_digest",
                "{{ state.repo }}#",
                "{{ state.repo | shout }}#",
            ),
            "nodes[0].text: unknown filter `shout`",
        ),
        (
            variant("issue_digest", "{{ state.repo }}#", "{{ issue.repo }}#"),
            "nodes[0].text: unknown variable `issue`",
        ),
        (
            variant("issue_digest", "method: GET", "method: FETCH"),
            "nodes[1].request.method: must be one of",
        ),
        (
            variant("issue_digest", "kind: log", "kind: shell"),
            "nodes[0].kind: unknown node kind",
        ),
        (
            variant(
                "issue_digest",
                "    outputs: [message]\n",
                "    outputs: [message, digest]\n",
            ),
            "nodes[3].outputs: a template node's text goes into exactly one field",
        ),
        (
            variant(
                "incident_handoff",
                "default_decision: reject",
                "default_decision: maybe",
            ),
            "nodes[2].default_decision: must be one of",
        ),
        (
            variant("incident_handoff", "    default_decision: reject\n", ""),
            "nodes[2].default_decision: is required with timeout_seconds"),
        (variant("incident_handoff", "timeout_seconds: 3600", "timeout_seconds: 0"), "nodes[2].timeout_seconds: must be from 1"),
        (variant("incident_handoff", "decisions: [approve, reject]", "decisions: [approve, reject, approve]"), "nodes[2].decisions[2]: is listed twice",
        ),
        (
            variant("incident_handoff", "wait: true", "wait: false"),
            "nodes[1].outputs: a task node has a result only with wait: true",
        ),
        (
            variant(
                "incident_handoff",
                "workflow: echo",
                "workflow: incident_handoff",
            ),
            "nodes[0].workflow: a workflow cannot run itself",
        ),
        (
            variant(
                "incident_handoff",
                "    decisions: [approve, reject]\n",
                "    decisions: [approve, reject]\n    notify: [{channel: pager}]\n",
            ),
            "nodes[2].notify: must be a list of channels"),
        (variant("incident_handoff", "    decisions: [approve, reject]\n", "    decisions: [approve, reject]\n    notify: [{channel: webhook, url: \"ftp://x\"}]\n"), "nodes[2].notify[0]",
        ),
        (
            variant(
                "slack_notification",
                "  - from: log_event\n    to: format_notification",
                "  - from: START\n    to: format_notification",
            ),
            "edges[0].from: unknown node \"START\"",
        ),
        (
            variant("slack_notification", "{slack_channel}", "{channel}"),
            "nodes[1].prompt: placeholder {channel} names no state field or node input",
        ),
        (
            variant(
                "slack_notification",
                "  - name: log_event\n",
                "  - name: log_event\n    tools: [serper_search]\n",
            ),
            "nodes[0].tools: tools are not supported",
        ),
        (
            variant(
                "slack_notification",
                "type: string\n      description: Target",
                "type: text\n      description: Target",
            ),
            "state.properties.slack_channel.type: must be one of",
        ),
        (
            variant(
                "slack_notification",
                "name: format_notification",
                "name: message",
            ),
            "nodes[1].name: \"message\" is a state property",
        ),
        (variant("issue_digest", "comments: body", "comments: payload.items"), "nodes[1].outputs.comments: \"payload.items\" is not in the result: the http node's result has status, headers, body"),
        (variant("issue_digest", "comments: body", "comments: body..x"), "nodes[1].outputs.comments: must be a dotted path"),
        (variant("issue_digest", "outputs:\n      comments: body", "outputs: [comments]"), "nodes[1].outputs[0]: \"comments\" is not in the result"),
        (variant("incident_handoff", "outputs: [decision, comment]", "outputs: [decision, risk]"), "nodes[2].outputs[1]: \"risk\" is not in the result"),
        ("just text".to_owned(), ": must be a mapping"),
        ("a: [unclosed".to_owned(), ": invalid YAML"),
    ];
    for (yaml, want) in &cases {
        let got = error_paths(yaml);
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "want {want:?}, got {got:#?}"
        );
    }
}

#[test]
fn several_problems_come_back_together() {
    let yaml = variant(
        "echo",
        "outputs: [reply]",
        "outputs: [answer]\n    tools: [x]",
    )
    .replace("{from: START, to: repeat}", "{from: START, to: rpeat}");
    let got = error_paths(&yaml);
    assert!(got.len() >= 3, "{got:#?}");
}

#[test]
fn shorthand_edges_form_a_line() {
    let base = fixture("slack_notification");
    // No edges: the nodes in the order listed.
    let no_edges = base.split("\nedges:").next().unwrap().to_owned();
    let w = workflow::parse(&no_edges, Some("s")).unwrap();
    assert_eq!(
        w.graph.first(&json!({})).unwrap(),
        Next::Node("log_event".into())
    );
    assert_eq!(
        w.graph.next("log_event", &json!({}), 1).unwrap(),
        Next::Node("format_notification".into())
    );
    // A cycle is no line.
    let cycle = format!("{base}  - from: format_notification\n    to: log_event\n");
    let got = error_paths(&cycle);
    assert_eq!(got, ["edges: must join all the nodes in one straight line"]);
    // Two edges into one node.
    let fork = base.replace(
        "  - from: log_event\n",
        "  - from: format_notification\n    to: log_event\n  - from: log_event\n",
    );
    let got = error_paths(&fork.replace("to: format_notification", "to: log_event"));
    assert!(
        got.iter()
            .any(|g| g.starts_with("edges[1].to: log_event already has an incoming edge")),
        "{got:#?}"
    );
}

const FIXTURES: [&str; 6] = [
    "echo",
    "triage_router",
    "draft_until_good",
    "issue_digest",
    "incident_handoff",
    "slack_notification",
];

mod mutated {
    //! Fixtures with a line dropped, duplicated or a word swapped for another from
    //! the schema's vocabulary: loading never panics, and what loads is consistent.
    use super::*;
    use proptest::prelude::*;

    const WORDS: [&str; 14] = [
        "START",
        "END",
        "to",
        "routes",
        "loop",
        "default",
        "true",
        "0",
        "101",
        "[]",
        "{}",
        "list[int]",
        "object",
        "x",
    ];

    fn consistent(w: &Workflow) {
        for n in &w.nodes {
            assert!(w.graph.edges.contains_key(&n.id));
            for f in n.outputs.fields() {
                assert!(w.state.field(f).is_some());
            }
        }
        let state = Value::Object(
            w.state
                .fields
                .iter()
                .map(|(k, f)| (k.clone(), f.default.clone().unwrap_or(Value::Null)))
                .collect(),
        );
        let mut next = w.graph.first(&state);
        for i in 1..=300 {
            match next {
                Ok(Next::Node(id)) => next = w.graph.next(&id, &state, i),
                _ => break,
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics(f in 0..FIXTURES.len(), line in 0..80usize, op in 0..3u8, word in 0..WORDS.len(), tok in 0..20usize) {
            let text = fixture(FIXTURES[f]);
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let i = line % lines.len();
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                _ => {
                    let parts: Vec<&str> = lines[i].split(' ').collect();
                    let k = tok % parts.len();
                    let mut parts: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
                    parts[k] = WORDS[word].to_owned();
                    lines[i] = parts.join(" ");
                }
            }
            if let Ok(w) = workflow::parse(&lines.join("\n"), Some("m")) {
                consistent(&w);
            }
        }
    }
}

/// Every complete workflow in docs/workflows.md loads, and its error example has
/// the shape `parse` answers.
#[test]
fn docs_examples_load() {
    let doc = include_str!("../../../../docs/workflows.md");
    let mut loaded = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        if block.contains("nodes:") && block.contains("edges:") {
            if let Err(e) = workflow::parse(block, Some("slack_notification")) {
                panic!("{e:#?}\n{block}");
            }
            loaded += 1;
        }
    }
    assert_eq!(loaded, 2);
    let errors = error_paths(&variant(
        "triage_router",
        "        to: page",
        "        to: pager",
    ));
    assert!(
        errors.contains(&"edges[1].routes[0].to: unknown node \"pager\"".to_owned()),
        "{errors:#?}"
    );
}

/// Hostile shapes are refused, not a crash: deep nesting, aliases that multiply, a
/// huge file.
#[test]
fn hostile_yaml_is_refused() {
    let deep_list = "[".repeat(1_000_000);
    let deep_map = format!("{}1{}", "{a: ".repeat(20_000), "}".repeat(20_000));
    let deep_block: String = (0..1_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                  g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let huge = format!("name: x\ndescription: \"{}\"\n", "y".repeat(2 << 20));
    let big = format!("name: x\ndescription: \"{}\"\n", "y y".repeat(300_000));
    for yaml in [
        big.as_str(),
        deep_list.as_str(),
        &deep_map,
        &deep_block,
        laughs,
        &huge,
        "",
        "~",
        "---\n---\n",
    ] {
        let t = std::time::Instant::now();
        assert!(workflow::parse(yaml, Some("x")).is_err());
        // Generous for a debug build on a busy machine; a deep flow took 18 s
        // per MB before the depth check.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{}",
            yaml.len()
        );
    }
}
