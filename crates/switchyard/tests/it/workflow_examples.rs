//! Every example workflow (`../shared/examples/workflows/`, copied into
//! switchyard-core's fixtures) loads from the workflows folder unchanged and runs,
//! on both stores, against a loopback OpenAI-compatible fake: structured outputs
//! into the state, routes, a loop, type enforcement that retries and then fails,
//! seed 003's shorthand through `/webhooks/generic?wait`, a GitHub issue starting
//! `issue_digest` (http, LLM, template, forward), and `incident_handoff` chaining
//! a child run and waiting on a task and a checkpoint. A finished run's trace
//! reaches an OTLP receiver.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_stores;
use crate::llm::FakeLlm;
use crate::otlp::{int_attr, span_named, str_attr, OtlpReceiver};
use crate::receiver::{Receiver, Reply};
use crate::runs::{complete_next_task, post, start, wait_for};
use crate::support::{github_signature, hmac_sha256, Kind, TestApp, GENERIC_SECRET, GITHUB_SECRET};
use crate::workflows_api::EXAMPLES;

both_stores!(
    echo_puts_the_answer_in_the_state,
    triage_router_routes_by_severity_and_enforces_types,
    draft_until_good_loops_until_approved_or_the_limit,
    slack_notification_runs_from_seed_003s_trigger,
    issue_digest_runs_from_a_github_issue,
    incident_handoff_chains_and_waits,
    a_run_exports_its_trace,
    prompts_and_answers_are_kept_unless_turned_off,
);

/// The environment variables `issue_digest` reads are the process's: the two
/// stores' runs of that test take turns.
static ENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server whose workflows folder holds every example, with the fake as its
/// default LLM endpoint.
async fn app(kind: Kind, fake: &FakeLlm, otlp: Option<String>) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let (folder, base) = (dir.path().to_owned(), fake.base_url());
    let app = TestApp::spawn_with(kind, move |c| {
        c.workflows_dir = Some(folder);
        c.llm.default.base_url = Some(base);
        c.llm.default.model = Some("test-model".into());
        c.otlp_endpoint = otlp;
    })
    .await;
    let (status, list) = app.api_get("/api/workflows").await;
    assert_eq!(status, 200);
    assert_eq!(list["file_errors"], json!([]), "{list}");
    (app, dir)
}

fn node_ids(run: &Value) -> Vec<&str> {
    run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect()
}

async fn echo_puts_the_answer_in_the_state(kind: Kind) {
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    fake.push_json(json!({"reply": "hello there"}));
    let id = start(&app, "echo", json!({"message": "hello there"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(run["state"]["reply"], "hello there");
    let req = &fake.requests()[0];
    assert_eq!(
        req.prompt(),
        "Repeat this message exactly, nothing else: hello there"
    );
    assert_eq!(req.body["model"], "test-model");
    assert_eq!(req.schema().unwrap()["required"], json!(["reply"]));
    assert_eq!(
        req.header("idempotency-key"),
        Some(format!("{id}:repeat:1").as_str())
    );
    let step = &run["nodes"][0];
    assert_eq!(step["inputs"]["prompt"], req.prompt());
    assert_eq!(step["detail"]["model"], "test-model");
    assert!(
        step["detail"]["input_tokens"].as_u64().unwrap() > 0,
        "{step}"
    );
    app.stop().await;
}

async fn triage_router_routes_by_severity_and_enforces_types(kind: Kind) {
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    fake.push_json(json!({"severity": 0.95, "labels": ["db", "outage"]}));
    fake.push_json(json!({"page_text": "DB down"}));
    let id = start(
        &app,
        "triage_router",
        json!({"title": "DB down", "body": "all 500s"}),
    )
    .await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(node_ids(&run), ["score", "page"]);
    assert_eq!(run["state"]["labels"], json!(["db", "outage"]));
    assert_eq!(run["state"]["page_text"], "DB down");
    assert_eq!(
        fake.requests()[0].body["temperature"],
        0.0,
        "the node's llm override"
    );

    fake.push_json(json!({"severity": 0.1, "labels": []}));
    fake.push_json(json!({"summary": "a typo"}));
    let id = start(&app, "triage_router", json!({"title": "typo"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(node_ids(&run), ["score", "summarize"]);
    assert_eq!(run["state"]["summary"], "a typo");

    // A wrong type is retried (config.execution.max_retries: 2), then fails the
    // node with the answer it got.
    for _ in 0..3 {
        fake.push_json(json!({"severity": "high", "labels": []}));
    }
    let id = start(&app, "triage_router", json!({"title": "?"})).await;
    let run = wait_for(&app, &id, "failed").await;
    let attempts: Vec<i64> = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("severity") && error.contains("high"),
        "{error}"
    );
    app.stop().await;
}

async fn draft_until_good_loops_until_approved_or_the_limit(kind: Kind) {
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    fake.push_json(json!({"draft": "d1", "approved": false, "rounds": 1}));
    fake.push_json(json!({"draft": "d2", "approved": true, "rounds": 2}));
    let id = start(&app, "draft_until_good", json!({"question": "refund?"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(node_ids(&run), ["draft", "draft"]);
    assert_eq!(run["state"]["draft"], "d2");
    // The second prompt carried the first draft.
    assert!(fake.requests()[1].prompt().contains("d1"));

    for i in 1..=4 {
        fake.push_json(json!({"draft": format!("n{i}"), "approved": false, "rounds": i}));
    }
    let id = start(&app, "draft_until_good", json!({"question": "hard one"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(node_ids(&run), ["draft"; 4], "max_iterations: 4");
    assert_eq!(run["state"]["approved"], false);
    assert_eq!(run["state"]["draft"], "n4");
    app.stop().await;
}

async fn slack_notification_runs_from_seed_003s_trigger(kind: Kind) {
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    // Seed 003's registration of the example file, under its name.
    let (status, w) = post(
        &app,
        "/api/workflows",
        json!({"name": "slack_notification", "config_path": "slack_notification.yaml"}),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {w}");
    fake.push_text("Deployment finished.");
    fake.push_text("Heads up #alerts: new version deployed (deployment)");
    let body = json!({
        "workflow_name": "slack_notification",
        "inputs": {"event_type": "deployment", "message": "New version deployed to production", "slack_channel": "#alerts"}
    })
    .to_string();
    let r = app
        .client
        .post(app.url("/webhooks/generic?wait=30"))
        .header("content-type", "application/json")
        .header(
            "x-webhook-signature",
            hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), body.as_bytes())),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["workflow_name"], "slack_notification");
    assert_eq!(answer["result"]["log_event"], "Deployment finished.");
    assert_eq!(
        answer["result"]["format_notification"],
        "Heads up #alerts: new version deployed (deployment)"
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body["model"], "gemini-1.5-flash");
    assert!(
        reqs[0].schema().is_none(),
        "shorthand nodes ask for plain text"
    );
    assert!(
        reqs[1].prompt().contains("for #alerts"),
        "{}",
        reqs[1].prompt()
    );
    app.stop().await;
}

async fn issue_digest_runs_from_a_github_issue(kind: Kind) {
    let _env = ENV_LOCK.lock().await;
    let github = Receiver::start().await;
    github.set_default(Reply::json(
        json!([{"body": "it fails"}, {"body": "fixed in #9"}]),
    ));
    let chat = Receiver::start().await;
    std::env::set_var("GITHUB_API_URL", &github.url);
    std::env::set_var("GITHUB_API_TOKEN", "ghp-digest-secret");
    std::env::set_var("DIGEST_WEBHOOK_URL", format!("{}/digest", chat.url));
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    let (status, body) = post(
        &app,
        "/api/webhooks",
        json!({
            "webhook_id": "repo", "provider": "github", "name": "repo", "secret": GITHUB_SECRET,
            "commands": [{"trigger": "issues.opened", "action": "run_workflow", "workflow": "issue_digest",
                "inputs": {"repo": "{{ repository.full_name }}", "number": "{{ issue.number }}"}}]
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    fake.push_json(json!({"digest": "- fails\n- fixed"}));
    let payload = json!({"action": "opened", "issue": {"number": 42, "title": "t"}, "repository": {"full_name": "acme/api"}}).to_string();
    let r = app
        .client
        .post(app.url("/webhooks/github/repo"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "dig-1")
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
    let id = answer["matched"][0]["run_id"].as_str().unwrap().to_owned();
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(
        node_ids(&run),
        ["announce", "fetch_comments", "summarize", "format", "post"]
    );
    assert_eq!(run["state"]["number"], 42);
    assert_eq!(run["state"]["comments"][1]["body"], "fixed in #9");
    assert_eq!(run["state"]["message"], "*acme/api#42*\n- fails\n- fixed");
    let fetched = &github.requests()[0];
    assert_eq!(fetched.path, "/repos/acme/api/issues/42/comments");
    assert_eq!(
        fetched.header("authorization"),
        Some("Bearer ghp-digest-secret")
    );
    assert!(
        !run.to_string().contains("ghp-digest-secret"),
        "the secret is redacted"
    );
    assert!(fake.requests()[0].prompt().contains("fixed in #9"));
    // The forward is a signed delivery through the outbox.
    let got = chat.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].path, "/digest");
    assert_eq!(got[0].json()["text"], "*acme/api#42*\n- fails\n- fixed");
    assert!(got[0].header("webhook-signature").is_some());
    app.stop().await;
    for var in ["GITHUB_API_URL", "GITHUB_API_TOKEN", "DIGEST_WEBHOOK_URL"] {
        std::env::remove_var(var);
    }
}

async fn incident_handoff_chains_and_waits(kind: Kind) {
    let fake = FakeLlm::start().await;
    let (app, _dir) = app(kind, &fake, None).await;
    fake.push_json(json!({"reply": "Acknowledged: disk full"}));
    let id = start(&app, "incident_handoff", json!({"incident": "disk full"})).await;
    let run = wait_for(&app, &id, "waiting").await;
    assert_eq!(
        run["state"]["reply"], "Acknowledged: disk full",
        "the child's final state"
    );
    assert_eq!(run["children"][0]["workflow"], "echo");
    complete_next_task(
        &app,
        "fixer",
        json!({"proposal": "rotate logs", "risk": "low"}),
    )
    .await;
    // Now the ask node: a checkpoint waiting for on-call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let cp = loop {
        let (_, run) = app.api_get(&format!("/api/runs/{id}")).await;
        if let Some(cp) = run["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node_id"] == "approve_fix")
            .and_then(|n| n["inputs"]["checkpoint_id"].as_str())
        {
            break cp.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint: {run:#}"
        );
        app.api_get(&format!("/api/runs/{id}/wait?timeout=1")).await;
    };
    let (_, c) = app.api_get(&format!("/api/checkpoints/{cp}")).await;
    assert_eq!(c["question"], "Apply this fix? rotate logs (risk: low)");
    let (status, _) = post(
        &app,
        &format!("/api/checkpoints/{cp}/decision"),
        json!({"decision": "approve", "comment": "ship it", "by": "oncall"}),
    )
    .await;
    assert_eq!(status, 200);
    let run = wait_for(&app, &id, "succeeded").await;
    assert_eq!(
        node_ids(&run),
        ["acknowledge", "propose_fix", "approve_fix"]
    );
    assert_eq!(run["state"]["decision"], "approve");
    assert_eq!(run["state"]["comment"], "ship it");
    assert_eq!(run["state"]["proposal"], "rotate logs");
    app.stop().await;
}

async fn a_run_exports_its_trace(kind: Kind) {
    let fake = FakeLlm::start().await;
    let collector = OtlpReceiver::start().await;
    let (app, _dir) = app(kind, &fake, Some(collector.endpoint())).await;
    fake.push_json(json!({"reply": "hi"}));
    let id = start(&app, "echo", json!({"message": "hi"})).await;
    wait_for(&app, &id, "succeeded").await;
    let spans = collector.wait_for_spans(2, Duration::from_secs(20)).await;
    let root = span_named(&spans, "workflow echo");
    let node = span_named(&spans, "node repeat");
    assert_eq!(node.parent_span_id, root.span_id);
    assert_eq!(node.trace_id, root.trace_id);
    assert_eq!(str_attr(root, "switchyard.run_id"), Some(id.as_str()));
    assert_eq!(str_attr(node, "switchyard.workflow"), Some("echo"));
    assert_eq!(str_attr(node, "switchyard.node"), Some("repeat"));
    assert_eq!(str_attr(node, "gen_ai.request.model"), Some("test-model"));
    assert!(int_attr(node, "gen_ai.usage.input_tokens").unwrap() > 0);
    assert!(int_attr(node, "gen_ai.usage.output_tokens").unwrap() > 0);
    app.stop().await;
}

/// `SWITCHYARD_LLM_RECORD=false`: an LLM step keeps its model, tokens and timing,
/// not the prompt or the answer.
async fn prompts_and_answers_are_kept_unless_turned_off(kind: Kind) {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{EXAMPLES}/echo.yaml"),
        dir.path().join("echo.yaml"),
    )
    .unwrap();
    let (folder, base) = (dir.path().to_owned(), fake.base_url());
    let app = TestApp::spawn_with(kind, move |c| {
        c.workflows_dir = Some(folder);
        c.llm.default.base_url = Some(base);
        c.llm.default.model = Some("test-model".into());
        c.llm.record = false;
    })
    .await;
    fake.push_json(json!({"reply": "a private reply"}));
    let id = start(&app, "echo", json!({"message": "a private message"})).await;
    let run = wait_for(&app, &id, "succeeded").await;
    let step = &run["nodes"][0];
    assert_eq!(step["detail"]["model"], "test-model", "{step}");
    assert!(step["detail"]["output_tokens"].as_u64().is_some(), "{step}");
    assert!(step["inputs"].get("prompt").is_none(), "{step}");
    assert!(step["detail"].get("answer").is_none(), "{step}");
    assert!(!step["inputs"].to_string().contains("a private"), "{step}");
    assert!(!step["detail"].to_string().contains("a private"), "{step}");
    // The state itself is the run's result: it still holds the answer.
    assert_eq!(run["state"]["reply"], "a private reply");
    app.stop().await;
}
