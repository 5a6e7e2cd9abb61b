//! Workflow runs on the engine (issue 11), on both stores: node kinds that need no
//! LLM (log, template, http, forward, task, ask, workflow), routes and cycles,
//! retries, the triggers (`POST /api/workflows/{name}/runs`, seed 003's
//! `/webhooks/generic` with `?wait`, a `run_workflow` command), waiting nodes,
//! cancel and restart.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_stores;
use crate::receiver::{Receiver, Reply};
use crate::support::{github_signature, Kind, TestApp, ADMIN_KEY, GENERIC_SECRET, GITHUB_SECRET};

both_stores!(
    a_chain_of_log_http_and_template_nodes_runs,
    seed_003_generic_trigger_waits_for_the_result,
    generic_trigger_refusals_store_nothing,
    a_failing_node_is_retried_then_fails_the_run,
    routes_take_the_right_branch_and_cycles_end,
    task_node_waits_for_the_agent,
    ask_node_waits_for_the_decision,
    workflow_node_chains_a_child_run,
    cancel_and_restart,
    run_workflow_command_starts_a_run_from_github,
    runs_are_announced_on_the_stream,
    another_replica_finishes_a_run,
    node_and_run_timeouts_fail_the_run,
);

/// Serves `yamls` as registered workflows.
pub async fn serve(app: &TestApp, yamls: &[&str]) {
    for yaml in yamls {
        let wf = switchyard_core::workflow::parse(yaml, None).expect("a valid workflow");
        let (status, body) = post(
            app,
            "/api/workflows",
            json!({"name": wf.name, "yaml": yaml}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Leases `agent`'s next task and completes it with `result`; the task as leased.
pub async fn complete_next_task(app: &TestApp, agent: &str, result: Value) -> Value {
    let (status, leased) = post(
        app,
        &format!("/api/agents/{agent}/tasks/lease"),
        json!({"max": 1, "wait_seconds": 10}),
    )
    .await;
    assert_eq!(status, 200, "{leased}");
    let task = leased["tasks"][0].clone();
    let (status, done) = post(
        app,
        &format!("/api/tasks/{}/complete", task["task_id"].as_str().unwrap()),
        json!({"lease_id": task["lease_id"], "result": result}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    task
}

/// Starts a run through the API; its id.
pub async fn start(app: &TestApp, workflow: &str, inputs: Value) -> String {
    let (status, body) = post(
        app,
        &format!("/api/workflows/{workflow}/runs"),
        json!({"inputs": inputs}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["run_id"].as_str().expect("run_id").to_owned()
}

/// Waits (the API's long-poll, at most 60 s a call) until the run is `status`.
pub async fn wait_for(app: &TestApp, run_id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (code, run) = app
            .api_get(&format!("/api/runs/{run_id}/wait?timeout=5"))
            .await;
        assert_eq!(code, 200, "{run}");
        if run["status"] == status {
            return run;
        }
        let s = run["status"].as_str().unwrap_or_default();
        if ["succeeded", "failed", "cancelled"].contains(&s)
            || tokio::time::Instant::now() > deadline
        {
            panic!("run {run_id} is {s}, not {status}: {run:#}");
        }
    }
}

/// Posts seed 003's body to `/webhooks/generic`, signed with `WEBHOOK_SECRET`.
async fn generic(app: &TestApp, query: &str, body: &Value) -> (u16, Value) {
    let raw = body.to_string();
    let sig = hex_hmac(GENERIC_SECRET, raw.as_bytes());
    let r = app
        .client
        .post(app.url(&format!("/webhooks/generic{query}")))
        .header("content-type", "application/json")
        .header("x-webhook-signature", sig)
        .body(raw)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn hex_hmac(key: &str, msg: &[u8]) -> String {
    hex::encode(crate::support::hmac_sha256(key.as_bytes(), msg))
}

const HTTP_CHAIN: &str = r##"
schema_version: "1.0"
flow: {name: fetch_and_format}
state:
  fields:
    repo: {type: str, required: true}
    number: {type: int, required: true}
    title: {type: str, default: ""}
    line: {type: str, default: ""}
nodes:
  - id: announce
    kind: log
    text: "looking at {{ state.repo }}#{{ state.number }}"
  - id: fetch
    kind: http
    request:
      method: GET
      url: "{{ env.SY_TEST_ISSUES_URL_KIND }}/repos/{{ state.repo }}/issues/{{ state.number }}"
      headers:
        Authorization: "Bearer {{ secret('SY_TEST_ISSUES_TOKEN') }}"
    outputs:
      title: body.title
  - id: format
    kind: template
    template: "#{{ state.number }}: {{ state.title }}"
    outputs: [line]
edges:
  - {from: START, to: announce}
  - {from: announce, to: fetch}
  - {from: fetch, to: format}
  - {from: format, to: END}
"##;

async fn a_chain_of_log_http_and_template_nodes_runs(kind: Kind) {
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::json(json!({"title": "Disk full"})));
    // Both stores' runs of this test share the process environment: the URL's
    // variable carries the store's name.
    let url_var = format!("SY_TEST_ISSUES_URL_{kind:?}").to_uppercase();
    std::env::set_var(&url_var, receiver.url.clone());
    std::env::set_var("SY_TEST_ISSUES_TOKEN", "tok-very-secret");
    let app = TestApp::spawn(kind).await;
    serve(
        &app,
        &[&HTTP_CHAIN.replace("SY_TEST_ISSUES_URL_KIND", &url_var)],
    )
    .await;
    let id = start(
        &app,
        "fetch_and_format",
        json!({"repo": "acme/api", "number": "7"}),
    )
    .await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["line"], "#7: Disk full");
    assert_eq!(run["state"]["number"], 7, "the text input became an int");
    let nodes = run["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["announce", "fetch", "format"]);
    for n in nodes {
        assert_eq!(n["status"], "succeeded", "{n}");
        assert!(n["duration_ms"].is_i64(), "{n}");
    }
    assert_eq!(nodes[0]["detail"]["log"][0], "looking at acme/api#7");
    // The request carried the secret; the record shows it redacted.
    let got = receiver.requests();
    let req = got
        .iter()
        .find(|r| r.path.contains("/repos/acme/api/issues/7"))
        .expect("the http node's request");
    assert_eq!(req.header("authorization"), Some("Bearer tok-very-secret"));
    assert_eq!(
        req.header("idempotency-key"),
        Some(format!("{id}:fetch:1").as_str())
    );
    assert_eq!(
        nodes[1]["inputs"]["headers"]["Authorization"],
        "Bearer [redacted]"
    );
    assert!(!run.to_string().contains("tok-very-secret"));
    assert_eq!(nodes[1]["outputs"]["title"], "Disk full");
    app.stop().await;
}

const SHOUT: &str = r#"
schema_version: "1.0"
flow: {name: shout}
state:
  fields:
    message: {type: str, required: true}
    loud: {type: str, default: ""}
nodes:
  - id: upper
    kind: template
    template: "{{ state.message | upper }}!"
    outputs: [loud]
edges:
  - {from: START, to: upper}
  - {from: upper, to: END}
"#;

const BROKEN: &str = r#"
schema_version: "1.0"
flow: {name: broken}
state:
  fields:
    out: {type: str, default: ""}
nodes:
  - id: leak
    kind: template
    template: "{{ secret('SY_NEVER_SET') }}"
    outputs: [out]
edges:
  - {from: START, to: leak}
  - {from: leak, to: END}
"#;

async fn seed_003_generic_trigger_waits_for_the_result(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[SHOUT, BROKEN]).await;
    let body = json!({"workflow_name": "shout", "inputs": {"message": "deployed"}, "webhook_id": "hook-1"});
    let (status, answer) = generic(&app, "?wait=20", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["workflow_name"], "shout");
    assert_eq!(answer["result"]["loud"], "DEPLOYED!");
    let run_id = answer["run_id"].as_str().unwrap().to_owned();
    let event_id = answer["event_id"].as_str().unwrap().to_owned();
    let (_, run) = app.api_get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(run["event_id"], event_id.as_str());
    // The same webhook_id again: the first run, nothing new.
    let (status, again) = generic(&app, "", &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["matched"][0]["run_id"], run_id.as_str());
    let (_, runs) = app.api_get("/api/runs?workflow=shout").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    // A run that fails: ?wait answers 200 with the failure (the event was accepted).
    let (status, failed) = generic(
        &app,
        "?wait=20",
        &json!({"workflow_name": "broken", "inputs": {}}),
    )
    .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("SY_NEVER_SET"),
        "{failed}"
    );
    // Without ?wait: 202 with the run queued.
    let (status, queued) = generic(
        &app,
        "",
        &json!({"workflow_name": "shout", "inputs": {"message": "x"}}),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["matched"][0]["action"], "run_workflow");
    let id = queued["matched"][0]["run_id"].as_str().unwrap().to_owned();
    wait_for(&app, &id, "succeeded").await;
    app.stop().await;
}

async fn generic_trigger_refusals_store_nothing(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[SHOUT, COUNTER]).await;
    // A value that does not convert to its field's type.
    let (status, e) = generic(
        &app,
        "",
        &json!({"workflow_name": "counter", "inputs": {"n": "many"}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("inputs.n"), "{e}");
    let (status, e) = generic(&app, "", &json!({"workflow_name": "nope", "inputs": {}})).await;
    assert_eq!(status, 404, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("nope"),
        "{e}"
    );
    let (status, e) = generic(&app, "", &json!({"workflow_name": "shout"})).await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("inputs"), "{e}");
    let (status, e) = generic(&app, "", &json!({"workflow_name": "shout", "inputs": {}})).await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("inputs.message"), "{e}");
    let (status, e) = generic(
        &app,
        "?wait=soon",
        &json!({"workflow_name": "shout", "inputs": {"message": "x"}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let (_, events) = app.api_get("/api/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 0, "{events}");
    let (_, runs) = app.api_get("/api/runs").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0, "{runs}");
    app.stop().await;
}

async fn a_failing_node_is_retried_then_fails_the_run(kind: Kind) {
    let receiver = Receiver::start().await;
    receiver.script(vec![
        Reply::status(500),
        Reply::status(503),
        Reply::json(json!({"ok": true})),
    ]);
    receiver.set_default(Reply::status(500));
    let yaml = format!(
        r#"
schema_version: "1.0"
flow: {{name: flaky}}
state:
  fields:
    n: {{type: int, default: 0}}
    status: {{type: int, default: 0}}
nodes:
  - id: call
    kind: http
    request: {{method: POST, url: "{}/hook", body: {{n: "{{{{ state.n }}}}"}}}}
    outputs: {{status: status}}
    retries: 2
edges:
  - {{from: START, to: call}}
  - {{from: call, to: END}}
"#,
        receiver.url.clone()
    );
    let app = TestApp::spawn(kind).await;
    serve(&app, &[&yaml]).await;
    let id = start(&app, "flaky", json!({})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    let nodes = run["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{run:#}");
    assert_eq!(nodes[0]["status"], "failed");
    assert_eq!(nodes[0]["attempt"], 1);
    assert!(nodes[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(nodes[2]["attempt"], 3);
    assert_eq!(run["state"]["status"], 200);
    // Every attempt of one node run carries the same key.
    let keys: Vec<String> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(keys, vec![format!("{id}:call:1"); 3]);
    // Out of retries: the run fails with the node's error.
    let id = start(&app, "flaky", json!({})).await;
    let run = wait_for(&app, &id, "failed").await;
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("node call: HTTP 500"),
        "{run:#}"
    );
    assert_eq!(run["nodes"].as_array().unwrap().len(), 3);
    app.stop().await;
}

const COUNTER: &str = r#"
schema_version: "1.0"
flow: {name: counter}
state:
  fields:
    n: {type: int, default: 0}
    label: {type: str, default: ""}
nodes:
  - id: inc
    kind: template
    template: "{{ state.n + 1 }}"
    outputs: [n]
  - id: big
    kind: template
    template: "big {{ state.n }}"
    outputs: [label]
  - id: small
    kind: template
    template: "small {{ state.n }}"
    outputs: [label]
edges:
  - {from: START, to: inc}
  - from: inc
    routes:
      - condition: {logic: "state.n < 3"}
        to: inc
      - condition: {logic: "state.n >= 10"}
        to: big
      - condition: {logic: "default"}
        to: small
  - {from: big, to: END}
  - {from: small, to: END}
"#;

async fn routes_take_the_right_branch_and_cycles_end(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[COUNTER]).await;
    let id = start(&app, "counter", json!({})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["n"], 3);
    assert_eq!(run["state"]["label"], "small 3");
    let ids: Vec<&str> = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["inc", "inc", "inc", "small"]);
    let iterations: Vec<i64> = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["iteration"].as_i64().unwrap())
        .collect();
    assert_eq!(iterations, [1, 2, 3, 1]);
    let id = start(&app, "counter", json!({"n": 12})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["label"], "big 13");
    app.stop().await;
}

pub const HANDOFF: &str = r#"
schema_version: "1.0"
flow: {name: handoff}
state:
  fields:
    incident: {type: str, required: true}
    proposal: {type: str, default: ""}
    risk: {type: str, default: ""}
nodes:
  - id: propose
    kind: task
    agent: fixer
    template: "Propose a fix for: {{ state.incident }}"
    wait: true
    outputs: [proposal, risk]
edges:
  - {from: START, to: propose}
  - {from: propose, to: END}
"#;

async fn task_node_waits_for_the_agent(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[HANDOFF]).await;
    let id = start(&app, "handoff", json!({"incident": "disk full"})).await;
    let run = wait_for(&app, &id, "waiting").await;
    assert_eq!(run["nodes"][0]["status"], "waiting");
    let task = complete_next_task(
        &app,
        "fixer",
        json!({"proposal": "rotate logs", "risk": "low"}),
    )
    .await;
    assert_eq!(task["message"], "Propose a fix for: disk full");
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["proposal"], "rotate logs");
    assert_eq!(run["state"]["risk"], "low");
    assert_eq!(run["nodes"][0]["status"], "succeeded");
    assert_eq!(run["nodes"].as_array().unwrap().len(), 1);
    app.stop().await;
}

const APPROVE: &str = r#"
schema_version: "1.0"
flow: {name: approve}
state:
  fields:
    change: {type: str, required: true}
    decision: {type: str, default: ""}
    comment: {type: str, default: ""}
nodes:
  - id: ask
    kind: ask
    question: "Apply {{ state.change }}?"
    decisions: [approve, reject]
    outputs: [decision, comment]
edges:
  - {from: START, to: ask}
  - {from: ask, to: END}
"#;

async fn ask_node_waits_for_the_decision(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[APPROVE]).await;
    let id = start(&app, "approve", json!({"change": "v2"})).await;
    let run = wait_for(&app, &id, "waiting").await;
    let cp = run["nodes"][0]["inputs"]["checkpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, c) = app.api_get(&format!("/api/checkpoints/{cp}")).await;
    assert_eq!(c["question"], "Apply v2?");
    assert_eq!(c["status"], "pending");
    let (status, d) = post(
        &app,
        &format!("/api/checkpoints/{cp}/decision"),
        json!({"decision": "approve", "comment": "go", "by": "ana"}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["decision"], "approve");
    assert_eq!(run["state"]["comment"], "go");
    app.stop().await;
}

const PARENT: &str = r#"
schema_version: "1.0"
flow: {name: parent}
state:
  fields:
    text: {type: str, required: true}
    loud: {type: str, default: ""}
nodes:
  - id: child
    kind: workflow
    workflow: shout
    inputs:
      message: "from parent: {{ state.text }}"
    outputs: [loud]
edges:
  - {from: START, to: child}
  - {from: child, to: END}
"#;

async fn workflow_node_chains_a_child_run(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[SHOUT, PARENT]).await;
    let id = start(&app, "parent", json!({"text": "hi"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["loud"], "FROM PARENT: HI!");
    let children = run["children"].as_array().unwrap();
    assert_eq!(children.len(), 1, "{run:#}");
    assert_eq!(children[0]["workflow"], "shout");
    let (_, child) = app
        .api_get(&format!(
            "/api/runs/{}",
            children[0]["run_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(child["parent_run_id"], id.as_str());
    assert_eq!(child["status"], "succeeded");
    app.stop().await;
}

async fn cancel_and_restart(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[HANDOFF, APPROVE]).await;
    // Cancelling a run that waits on a checkpoint cancels the checkpoint.
    let asking = start(&app, "approve", json!({"change": "v3"})).await;
    let run = wait_for(&app, &asking, "waiting").await;
    let cp = run["nodes"][0]["inputs"]["checkpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post(&app, &format!("/api/runs/{asking}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    let (_, c) = app.api_get(&format!("/api/checkpoints/{cp}")).await;
    assert_eq!(c["status"], "cancelled", "{c}");
    let id = start(&app, "handoff", json!({"incident": "x"})).await;
    wait_for(&app, &id, "waiting").await;
    let (status, run) = post(&app, &format!("/api/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["nodes"][0]["status"], "cancelled");
    // The open task went with it.
    let (_, tasks) = app.api_get("/api/tasks?agent=fixer").await;
    assert_eq!(tasks["tasks"][0]["status"], "failed", "{tasks}");
    let (status, again) = post(&app, &format!("/api/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 409, "{again}");
    let (status, restarted) = post(&app, &format!("/api/runs/{id}/restart"), json!({})).await;
    assert_eq!(status, 202, "{restarted}");
    assert_eq!(restarted["restarted_from"], id.as_str());
    let new_id = restarted["run_id"].as_str().unwrap();
    let run = wait_for(&app, new_id, "waiting").await;
    assert_eq!(run["inputs"]["incident"], "x");
    assert_eq!(run["restarted_from"], id.as_str());
    app.stop().await;
}

async fn run_workflow_command_starts_a_run_from_github(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[SHOUT]).await;
    let (status, body) = post(
        &app,
        "/api/webhooks",
        json!({
            "webhook_id": "gh", "provider": "github", "name": "gh", "secret": GITHUB_SECRET,
            "commands": [
                {"trigger": "issues.opened", "action": "run_workflow", "workflow": "shout",
                 "inputs": {"message": "{{ issue.title }}"}},
                {"trigger": "issues.opened", "action": "run_workflow", "workflow": "missing"}
            ]
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let payload = json!({"action": "opened", "issue": {"number": 3, "title": "flaky test"}, "repository": {"full_name": "acme/api"}}).to_string();
    let r = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "d-1")
        .header(
            "x-hub-signature-256",
            github_signature(GITHUB_SECRET, payload.as_bytes()),
        )
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let answer: Value = r.json().await.unwrap();
    let matched = answer["matched"].as_array().unwrap();
    assert_eq!(matched.len(), 2, "{answer}");
    let ok = matched[0]["run_id"].as_str().unwrap();
    let run = wait_for(&app, ok, "succeeded").await;
    assert_eq!(run["state"]["loud"], "FLAKY TEST!");
    assert_eq!(run["event_id"], answer["event_id"]);
    // A workflow no one serves: a failed run saying why, the event still accepted.
    let (_, bad) = app
        .api_get(&format!(
            "/api/runs/{}",
            matched[1]["run_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(bad["status"], "failed");
    assert!(bad["error"].as_str().unwrap().contains("missing"), "{bad}");

    // Replay: both runs exist (by trigger key), so nothing is new; a run_workflow
    // command added since starts exactly one run, once.
    let event = answer["event_id"].as_str().unwrap();
    let replay = format!("/api/events/{event}/replay");
    let (s, r) = post(&app, &replay, json!({})).await;
    assert_eq!((s, &r["created"]), (200, &json!([])), "{r}");
    let (s, b) = post(
        &app,
        "/api/webhooks/gh/commands",
        json!({"trigger": "issues.*", "action": "run_workflow", "workflow": "shout",
               "inputs": {"message": "again: {{ issue.title }}"}}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, r) = post(&app, &replay, json!({})).await;
    assert_eq!(s, 200, "{r}");
    let created = r["created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{r}");
    assert_eq!(created[0]["kind"], "run", "{r}");
    let run = wait_for(&app, created[0]["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(run["state"]["loud"], "AGAIN: FLAKY TEST!");
    assert_eq!(run["event_id"], event);
    let (s, r) = post(&app, &replay, json!({})).await;
    assert_eq!((s, &r["created"]), (200, &json!([])), "{r}");
    app.stop().await;
}

/// Any replica takes a run: a run waiting on a task, left by a replica that
/// stopped, is woken by the task's completion on another and finished there.
async fn another_replica_finishes_a_run(kind: Kind) {
    let b = TestApp::spawn(kind).await;
    // `a` is the replica that leaves: the database lives in `b`'s folder.
    let a = TestApp::replica_of(&b).await;
    serve(&a, &[HANDOFF]).await;
    let id = start(&a, "handoff", json!({"incident": "split brain"})).await;
    wait_for(&a, &id, "waiting").await;
    a.stop().await;
    // The workflow registered on `a` is served by `b` (the store's registrations).
    complete_next_task(&b, "fixer", json!({"proposal": "fence", "risk": "high"})).await;
    let run = wait_for(&b, &id, "succeeded").await;
    assert_eq!(run["state"]["proposal"], "fence");
    // Counted (the process's one recorder: other tests add to it, never take away).
    let metrics = b
        .client
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The finished family has a zero series for each workflow from the start: it
    // must have counted.
    let finished = crate::support::metric(
        &metrics,
        "switchyard_workflow_runs_total",
        &[("workflow", "handoff"), ("status", "succeeded")],
    );
    assert!(finished.is_some_and(|n| n >= 1.0), "{metrics}");
    for family in [
        "switchyard_runs_started_total{",
        "switchyard_node_duration_seconds",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(family) && l.contains("handoff")),
            "{family} missing: {metrics}"
        );
    }
    b.stop().await;
}

async fn runs_are_announced_on_the_stream(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    serve(&app, &[COUNTER]).await;
    let mut sse = crate::stream::Sse::open(&app, None).await;
    let id = start(&app, "counter", json!({"n": 5})).await;
    let mut seen = Vec::new();
    loop {
        let e = sse.next().await;
        if e.data["payload"]["run_id"] != id.as_str() {
            continue;
        }
        let node = e.data["payload"]["node"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(format!("{} {node}", e.event).trim().to_owned());
        if e.event == "run.finished" {
            assert_eq!(e.data["payload"]["status"], "succeeded");
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "run.started",
            "run.node_finished inc",
            "run.node_finished small",
            "run.finished"
        ]
    );
    app.stop().await;
}

/// A node that outlasts its `timeout` fails (here with no retries left), and a run
/// waiting past the run timeout fails and ends what it waited for.
async fn node_and_run_timeouts_fail_the_run(kind: Kind) {
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::json(json!({"ok": true})).delay(Duration::from_secs(30)));
    let slow = format!(
        r#"
schema_version: "1.0"
flow: {{name: slow}}
state:
  fields:
    ok: {{type: bool, default: false}}
nodes:
  - id: call
    kind: http
    request: {{method: GET, url: "{}/slow"}}
    outputs: {{ok: body.ok}}
    timeout: 1
    retries: 0
edges:
  - {{from: START, to: call}}
  - {{from: call, to: END}}
"#,
        receiver.url
    );
    let app = TestApp::spawn_with(kind, |c| c.runs.run_timeout = Duration::from_secs(3)).await;
    serve(&app, &[&slow, HANDOFF]).await;
    let id = start(&app, "slow", json!({})).await;
    let run = wait_for(&app, &id, "failed").await;
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1 s"),
        "{run:#}"
    );
    // The run timeout (3 s here) ends a run waiting on a task, and the task with it.
    let id = start(&app, "handoff", json!({"incident": "slow agent"})).await;
    let run = wait_for(&app, &id, "failed").await;
    assert!(
        run["error"].as_str().unwrap().contains("the run timed out"),
        "{run:#}"
    );
    let (_, tasks) = app.api_get("/api/tasks?agent=fixer").await;
    assert_eq!(tasks["tasks"][0]["status"], "failed", "{tasks}");
    app.stop().await;
}
