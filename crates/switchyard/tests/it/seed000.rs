//! Seed 000's endpoints with its own payloads, on both stores: `checkpoint.required`
//! opens one checkpoint however often it is sent (also when the event was stored
//! before and the checkpoint was not), each feedback action and the 400, 401, 404
//! and 409 answers, the execution's status and timeline as task, step, crew and
//! checkpoint events arrive, and `/health`'s pending count.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{hmac_sha256, Kind, TestApp, GENERIC_SECRET};

both_stores!(
    checkpoint_required_opens_once,
    feedback_actions_and_refusals,
    status_follows_the_execution,
    health_counts_pending_checkpoints,
    human_input_opens_a_crewai_resume_checkpoint,
);

const FEEDBACK_KEY: &str = "seed-feedback-key";

async fn spawn(kind: Kind) -> TestApp {
    TestApp::spawn_with(kind, |c| c.webhook_api_key = Some(FEEDBACK_KEY.into())).await
}

/// What seed 000's `send_checkpoint_webhook` sends: the JSON and, over those very
/// bytes, `X-CrewAI-Signature: sha256=<hex>`.
async fn send(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let sig = hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), &bytes));
    let r = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-crewai-signature", format!("sha256={sig}"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn checkpoint_event(id: &str, kickoff: &str) -> Value {
    json!({
        "event_type": "checkpoint.required",
        "checkpoint_id": id,
        "checkpoint_name": "after_planning",
        "kickoff_id": kickoff,
        "context": {"plan": "three posts a week", "channels": ["instagram", "tiktok"]},
        "timestamp": "2026-11-29T12:00:00Z",
    })
}

async fn feedback(app: &TestApp, key: Option<&str>, body: Value) -> (u16, Value) {
    app.call_as(key, Method::POST, "/webhook/feedback", Some(body))
        .await
}

async fn status(app: &TestApp, kickoff: &str) -> Value {
    let (s, b) = app
        .call_as(
            Some(FEEDBACK_KEY),
            Method::GET,
            &format!("/webhook/status/{kickoff}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or_default()
}

async fn checkpoint_required_opens_once(kind: Kind) {
    let app = spawn(kind).await;
    let event = checkpoint_event("cp-plan-1", "kick-1");
    let (s, first) = send(&app, "/webhook/crewai", &event).await;
    assert_eq!(s, 202, "{first}");
    assert_eq!(first["status"], "received");
    assert_eq!(first["checkpoint_id"], "cp-plan-1");
    // The event is stored as every event is.
    let (s, e) = app
        .api_get(&format!(
            "/api/events/{}",
            first["event_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(e["event_type"], "crewai.crew.checkpoint");

    let (s, c) = app
        .call_as(
            Some(FEEDBACK_KEY),
            Method::GET,
            "/webhook/checkpoint/cp-plan-1",
            None,
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["checkpoint_id"], "cp-plan-1");
    assert_eq!(c["checkpoint_name"], "after_planning");
    assert_eq!(c["name"], "after_planning");
    assert_eq!(c["kickoff_id"], "kick-1");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["context"], event["context"]);
    assert_eq!(
        c["decisions"],
        json!(["approve", "reject", "edit", "respond"])
    );
    assert_eq!(c["feedback"], Value::Null);

    // Sent again (a new delivery of the same checkpoint): the same checkpoint.
    let (s, again) = send(&app, "/webhook/crewai", &event).await;
    assert!(s == 200 || s == 202, "{again}");
    assert_eq!(again["checkpoint_id"], "cp-plan-1");
    let (_, page) = app.api_get("/api/checkpoints?kickoff_id=kick-1").await;
    assert_eq!(page["checkpoints"].as_array().unwrap().len(), 1, "{page}");
    let (_, h) = app.api_get("/api/checkpoints/cp-plan-1/history").await;
    let created = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "created")
        .count();
    assert_eq!(created, 1, "{h}");

    // Without event_type, a checkpoint_id is enough (seed 000's first version).
    let bare = json!({"checkpoint_id": "cp-bare", "checkpoint_name": "review",
                      "kickoff_id": "kick-1", "context": {"draft": "v1"}});
    let (s, b) = send(&app, "/webhook/crewai", &bare).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["checkpoint_id"], "cp-bare");

    // checkpoint.required without its id cannot be opened idempotently: 422,
    // and a context that is not an object is 422 too.
    let (s, b) = send(
        &app,
        "/webhook/crewai",
        &json!({"event_type": "checkpoint.required", "kickoff_id": "kick-1"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let mut bad = checkpoint_event("cp-bad", "kick-1");
    bad["context"] = json!("not an object");
    let (s, b) = send(&app, "/webhook/crewai", &bad).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(code(&b), "invalid_checkpoint");

    // An event stored with no checkpoint (here through the plain provider
    // endpoint, as a crash between the two commits would leave it): its retry to
    // /webhook/crewai is a duplicate and still opens the checkpoint.
    let mut stored = checkpoint_event("cp-retry", "kick-2");
    stored["event_id"] = json!("delivery-77");
    let (s, plain) = send(&app, "/webhooks/crewai", &stored).await;
    assert_eq!(s, 202, "{plain}");
    let (s, _) = app.api_get("/api/checkpoints/cp-retry").await;
    assert_eq!(s, 404);
    let (s, retry) = send(&app, "/webhook/crewai", &stored).await;
    assert_eq!(s, 200, "{retry}");
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["event_id"], plain["event_id"]);
    assert_eq!(retry["checkpoint_id"], "cp-retry");
    let (s, c) = app.api_get("/api/checkpoints/cp-retry").await;
    assert_eq!(s, 200);
    assert_eq!(c["status"], "pending");
    // Its execution has the event once.
    let x = status(&app, "kick-2").await;
    assert_eq!(x["timeline"].as_array().unwrap().len(), 1, "{x}");

    // An unsigned checkpoint event is refused and opens nothing.
    let r = app
        .client
        .post(app.url("/webhook/crewai"))
        .json(&checkpoint_event("cp-forged", "kick-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, _) = app.api_get("/api/checkpoints/cp-forged").await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn feedback_actions_and_refusals(kind: Kind) {
    let app = spawn(kind).await;
    for (i, action) in ["continue", "stop", "revise", "skip"].iter().enumerate() {
        let id = format!("cp-{action}");
        let (s, _) = send(
            &app,
            "/webhook/crewai",
            &checkpoint_event(&id, &format!("kick-{i}")),
        )
        .await;
        assert_eq!(s, 202);
    }
    for (action, state, decision, kickoff, execution) in [
        ("continue", "approved", "approve", "kick-0", "running"),
        ("stop", "rejected", "reject", "kick-1", "stopped"),
        ("revise", "edited", "edit", "kick-2", "running"),
        ("skip", "approved", "approve", "kick-3", "running"),
    ] {
        let id = format!("cp-{action}");
        let (s, b) = feedback(
            &app,
            Some(FEEDBACK_KEY),
            json!({"checkpoint_id": id, "action": action, "feedback": "make it shorter"}),
        )
        .await;
        assert_eq!(s, 200, "{action}: {b}");
        assert_eq!(b["status"], "feedback_received");
        assert_eq!(b["checkpoint_id"], id.as_str());
        let (_, c) = app.api_get(&format!("/api/checkpoints/{id}")).await;
        assert_eq!(c["status"], state, "{action}");
        assert_eq!(c["decision"], decision);
        assert_eq!(c["feedback_action"], action);
        assert_eq!(c["comment"], "make it shorter");
        if action == "revise" {
            assert_eq!(c["edited_context"], json!({"feedback": "make it shorter"}));
        }
        let x = status(&app, kickoff).await;
        assert_eq!(x["status"], execution, "{action}: {x}");
        assert_eq!(x["current_checkpoint"], Value::Null);
        assert_eq!(x["checkpoints"][0]["feedback_action"], action);

        // Decided already: 409 with the checkpoint as it is.
        let (s, late) = feedback(
            &app,
            Some(FEEDBACK_KEY),
            json!({"checkpoint_id": id, "action": "continue"}),
        )
        .await;
        assert_eq!(s, 409, "{late}");
        assert_eq!(code(&late), "checkpoint_decided");
        assert_eq!(late["checkpoint"]["status"], state);
        assert_eq!(late["checkpoint"]["feedback_action"], action);
    }

    send(
        &app,
        "/webhook/crewai",
        &checkpoint_event("cp-open", "kick-9"),
    )
    .await;
    let good = json!({"checkpoint_id": "cp-open", "action": "continue"});
    // 401 without a key, or with a wrong one; 403 for a key that may only read.
    let (s, b) = feedback(&app, None, good.clone()).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(code(&b), "missing_api_key");
    let (s, _) = feedback(&app, Some("wrong-key"), good.clone()).await;
    assert_eq!(s, 401);
    let (_, read_key) = app.make_key(&["read"]).await;
    let (s, b) = feedback(&app, Some(&read_key), good.clone()).await;
    assert_eq!(s, 403, "{b}");
    // 400 for a missing or wrong field.
    for body in [
        json!({"action": "continue"}),
        json!({"checkpoint_id": "cp-open"}),
        json!({"checkpoint_id": "cp-open", "action": "approve"}),
        json!({"checkpoint_id": "cp-open", "action": "revise"}),
        json!({"checkpoint_id": 7, "action": "continue"}),
    ] {
        let (s, b) = feedback(&app, Some(FEEDBACK_KEY), body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
        assert!(b["error"]["message"].is_string());
    }
    let r = app
        .client
        .post(app.url("/webhook/feedback"))
        .bearer_auth(FEEDBACK_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // 404 for an unknown checkpoint.
    let (s, b) = feedback(
        &app,
        Some(FEEDBACK_KEY),
        json!({"checkpoint_id": "nope", "action": "stop"}),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(code(&b), "unknown_checkpoint");
    // Nothing refused changed it; the admin key may give feedback too.
    let (_, c) = app.api_get("/api/checkpoints/cp-open").await;
    assert_eq!(c["status"], "pending");
    let (s, b) = app
        .api(Method::POST, "/webhook/feedback", Some(good.clone()))
        .await;
    assert_eq!(s, 200, "{b}");

    // The reads take a read or feedback key, not none.
    for path in ["/webhook/checkpoint/cp-open", "/webhook/status/kick-9"] {
        let (s, _) = app.call_as(None, Method::GET, path, None).await;
        assert_eq!(s, 401, "{path}");
        let (s, _) = app.call_as(Some(&read_key), Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}");
    }
    let (s, b) = app
        .call_as(
            Some(&read_key),
            Method::GET,
            "/webhook/checkpoint/nope",
            None,
        )
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = app
        .call_as(Some(&read_key), Method::GET, "/webhook/status/nope", None)
        .await;
    assert_eq!(s, 404, "{b}");
    app.stop().await;
}

async fn status_follows_the_execution(kind: Kind) {
    let app = spawn(kind).await;
    let k = "4f2a9d1e-7b3c-4e8a-9c1d-2b5e6f7a8b9c";
    let (s, _) = send(
        &app,
        "/webhook/crewai?event=crew",
        &json!({"event_type": "crew_started", "kickoff_id": k}),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = send(
        &app,
        "/webhook/crewai?event=task",
        &json!({"event_type": "task_completed", "kickoff_id": k, "task_id": "t-1",
                "task_name": "plan", "agent": "Planner", "output": "a plan"}),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = send(
        &app,
        "/webhook/crewai?event=step",
        &json!({"kickoff_id": k, "step": "thinking", "agent": "Writer"}),
    )
    .await;
    assert_eq!(s, 202);
    let x = status(&app, k).await;
    assert_eq!(x["status"], "running", "{x}");
    assert_eq!(x["current_checkpoint"], Value::Null);

    send(&app, "/webhook/crewai", &checkpoint_event("cp-draft", k)).await;
    let x = status(&app, k).await;
    assert_eq!(x["status"], "waiting_feedback", "{x}");
    assert_eq!(x["current_checkpoint"], "cp-draft");
    assert_eq!(x["checkpoints"][0]["checkpoint_id"], "cp-draft");
    assert_eq!(x["checkpoints"][0]["status"], "pending");

    let (s, _) = feedback(
        &app,
        Some(FEEDBACK_KEY),
        json!({"checkpoint_id": "cp-draft", "action": "revise", "feedback": "more video"}),
    )
    .await;
    assert_eq!(s, 200);
    let x = status(&app, k).await;
    assert_eq!(x["status"], "running", "revise runs again: {x}");

    let (s, _) = send(
        &app,
        "/webhook/crewai?event=crew",
        &json!({"event_type": "crew_completed", "kickoff_id": k,
                "result": {"posts": 12}}),
    )
    .await;
    assert_eq!(s, 202);
    let x = status(&app, k).await;
    assert_eq!(x["status"], "completed", "{x}");
    assert_eq!(x["result"], json!({"posts": 12}));
    assert_eq!(x["error"], Value::Null);
    let types: Vec<&str> = x["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "crew_started",
            "task_completed",
            "step",
            "checkpoint.required",
            "checkpoint.decided",
            "crew_completed"
        ],
        "{x}"
    );
    let t = &x["timeline"][1];
    assert_eq!(t["kind"], "task");
    assert_eq!(t["detail"]["task_id"], "t-1");
    assert_eq!(t["detail"]["agent"], "Planner");
    assert!(t["event_id"].as_str().unwrap().starts_with("evt_"));
    let decided = &x["timeline"][4];
    assert_eq!(decided["detail"]["feedback_action"], "revise");
    assert_eq!(decided["detail"]["feedback"], "more video");

    // A crew that fails: error, with its message.
    let (s, _) = send(
        &app,
        "/webhook/crewai?event=crew",
        &json!({"kickoff_id": "k-err", "error": "rate limit from the LLM"}),
    )
    .await;
    assert_eq!(s, 202);
    let x = status(&app, "k-err").await;
    assert_eq!(x["status"], "error");
    assert_eq!(x["error"], "rate limit from the LLM");

    // A checkpoint opened on the native API names its kickoff too; stop → stopped.
    let (s, _) = app
        .api(
            Method::POST,
            "/api/checkpoints",
            Some(json!({"checkpoint_id": "native", "name": "n", "kickoff_id": "k-native"})),
        )
        .await;
    assert_eq!(s, 201);
    let x = status(&app, "k-native").await;
    assert_eq!(x["status"], "waiting_feedback");
    assert_eq!(x["timeline"][0]["event_type"], "checkpoint.created");
    let (s, _) = feedback(
        &app,
        Some(FEEDBACK_KEY),
        json!({"checkpoint_id": "native", "action": "stop"}),
    )
    .await;
    assert_eq!(s, 200);
    let x = status(&app, "k-native").await;
    assert_eq!(x["status"], "stopped");
    app.stop().await;
}

async fn health_counts_pending_checkpoints(kind: Kind) {
    let app = spawn(kind).await;
    let health = || async {
        let r = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let h = health().await;
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["pending_checkpoints"], 0);
    for id in ["h-1", "h-2", "h-3"] {
        send(&app, "/webhook/crewai", &checkpoint_event(id, "kick-h")).await;
    }
    assert_eq!(health().await["pending_checkpoints"], 3);
    feedback(
        &app,
        Some(FEEDBACK_KEY),
        json!({"checkpoint_id": "h-2", "action": "skip"}),
    )
    .await;
    let (s, _) = app
        .api(Method::POST, "/api/checkpoints/h-3/cancel", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(health().await["pending_checkpoints"], 1);
    app.stop().await;
}

async fn human_input_opens_a_crewai_resume_checkpoint(kind: Kind) {
    let app = spawn(kind).await;
    let exec = "abcd1234-5678-90ef-1234-567890abcdef";
    let payload = json!({"execution_id": exec, "task_id": "research_task",
                         "task_name": "Research", "output": "Ten sources on the topic",
                         "agent": "Researcher"});
    let post = |token: &'static str, body: Value| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/webhook/crewai/human-input"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = post(GENERIC_SECRET, payload.clone()).await;
    assert_eq!(s, 201, "{b}");
    let id = b["checkpoint_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("crewai-hi-"), "{id}");
    let (s, c) = app.api_get(&format!("/api/checkpoints/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(c["status"], "pending");
    assert_eq!(c["name"], "Research");
    assert_eq!(c["kickoff_id"], exec);
    assert_eq!(c["context"], payload);
    // The resume spec the lead's resume call reads.
    let stored = app.store.get_checkpoint(&id).await.unwrap().unwrap();
    let spec: Value = serde_json::from_str(&stored.spec).unwrap();
    assert_eq!(
        spec["resume"],
        json!({"kind": "crewai", "execution_id": exec, "task_id": "research_task"})
    );
    // The same request again: the same checkpoint (200).
    let (s, again) = post(GENERIC_SECRET, payload.clone()).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["checkpoint_id"], id.as_str());
    // The execution waits for it.
    let x = status(&app, exec).await;
    assert_eq!(x["status"], "waiting_feedback", "{x}");
    assert_eq!(x["current_checkpoint"], id.as_str());
    // Refused: a wrong token (nothing opened), and a body without its ids.
    let mut other = payload.clone();
    other["output"] = json!("forged");
    let (s, _) = post("wrong-token", other).await;
    assert_eq!(s, 401);
    let (_, page) = app
        .api_get(&format!("/api/checkpoints?kickoff_id={exec}"))
        .await;
    assert_eq!(page["checkpoints"].as_array().unwrap().len(), 1);
    let (s, b) = post(GENERIC_SECRET, json!({"execution_id": exec})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["fields"][0]["path"], "task_id");
    app.stop().await;
}
