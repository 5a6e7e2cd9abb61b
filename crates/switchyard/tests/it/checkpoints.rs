//! Checkpoints over HTTP on both stores: idempotent create (also concurrent), every
//! transition and each 409 (with the checkpoint as it is), quorum votes, a digest
//! bound approval, validation with field paths, the long-poll woken by a decision
//! made on another request, paging and filters, the history, and who may call what.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use crate::both_stores;
use crate::support::{Kind, TestApp};

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or_default()
}

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    app.api(Method::POST, "/api/checkpoints", Some(body)).await
}

async fn decide(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.api(
        Method::POST,
        &format!("/api/checkpoints/{id}/decision"),
        Some(body),
    )
    .await
}

async fn history_kinds(app: &TestApp, id: &str) -> Vec<String> {
    let (s, b) = app.api_get(&format!("/api/checkpoints/{id}/history")).await;
    assert_eq!(s, 200, "{b}");
    b["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_is_idempotent_by_id(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let body = json!({"checkpoint_id": "deploy-42", "name": "deploy", "kickoff_id": "k1",
                      "context": {"env": "prod"}, "question": "Ship it?",
                      "timeout_seconds": 600, "default_decision": "reject"});
    let (s, first) = create(&app, body.clone()).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["checkpoint_id"], "deploy-42");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["context"], json!({"env": "prod"}));
    assert_eq!(first["decisions"], json!(["approve", "reject"]));
    assert!(first["expires_at"].is_string(), "{first}");
    assert!(first["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with("/api/checkpoints/deploy-42"));
    assert!(first["links"]["inbox"]
        .as_str()
        .unwrap()
        .ends_with("/ui/inbox/deploy-42"));
    // Again, even with another body: 200, the stored checkpoint, nothing new.
    let (s, again) = create(&app, json!({"checkpoint_id": "deploy-42", "name": "other"})).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again, first);
    assert_eq!(
        history_kinds(&app, "deploy-42").await,
        ["created", "notified"]
    );

    // Concurrently: exactly one 201, the rest 200 with the same checkpoint.
    let calls = (0..8).map(|_| create(&app, json!({"checkpoint_id": "race", "name": "r"})));
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(answers.iter().all(|(s, b)| (*s == 201 || *s == 200)
        && b["checkpoint_id"] == "race"
        && b["created_at"] == answers[0].1["created_at"]));
    assert_eq!(history_kinds(&app, "race").await, ["created", "notified"]);
    let (_, page) = app.api_get("/api/checkpoints?name=r").await;
    assert_eq!(page["checkpoints"].as_array().unwrap().len(), 1);

    // Without an id, one is made.
    let (s, b) = create(&app, json!({"name": "anon"})).await;
    assert_eq!(s, 201);
    assert!(b["checkpoint_id"].as_str().unwrap().starts_with("cp_"));
    app.stop().await;
}

async fn every_transition_and_each_409(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let all = json!(["approve", "reject", "edit", "respond"]);
    for (id, decision, extra, status) in [
        ("a", "approve", json!({}), "approved"),
        ("r", "reject", json!({"comment": "no"}), "rejected"),
        (
            "e",
            "edit",
            json!({"edited_context": {"env": "staging"}}),
            "edited",
        ),
        ("s", "respond", json!({"response": "use blue"}), "responded"),
    ] {
        let (s, _) = create(
            &app,
            json!({"checkpoint_id": id, "name": "n", "decisions": all}),
        )
        .await;
        assert_eq!(s, 201);
        let mut body = extra.clone();
        body["decision"] = json!(decision);
        body["by"] = json!("ann");
        let (s, b) = decide(&app, id, body).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["status"], status);
        assert_eq!(b["decision"], decision);
        assert_eq!(b["decided_by"], "ann");
        assert!(b["decided_at"].is_string());
        if decision == "edit" {
            assert_eq!(b["edited_context"], json!({"env": "staging"}));
        }
        if decision == "respond" {
            assert_eq!(b["response"], "use blue");
        }
        // A second decision: 409 with the current checkpoint; nothing changes.
        let (s, late) = decide(&app, id, json!({"decision": "reject", "by": "bob"})).await;
        assert_eq!(s, 409, "{late}");
        assert_eq!(code(&late), "checkpoint_decided");
        assert_eq!(late["checkpoint"]["status"], status);
        assert_eq!(late["checkpoint"]["decided_by"], "ann");
        let (s, cancel) = app
            .api(Method::POST, &format!("/api/checkpoints/{id}/cancel"), None)
            .await;
        assert_eq!(s, 409, "{cancel}");
        assert_eq!(cancel["checkpoint"]["status"], status);
        assert_eq!(
            history_kinds(&app, id).await,
            ["created", "notified", "decided"]
        );
    }

    // A decision the checkpoint does not allow: 422, still pending.
    create(&app, json!({"checkpoint_id": "narrow", "name": "n"})).await;
    let (s, b) = decide(
        &app,
        "narrow",
        json!({"decision": "edit", "edited_context": {}}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["fields"][0]["path"], "decision");
    let (s, b) = decide(&app, "narrow", json!({"decision": "maybe"})).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = decide(&app, "narrow", json!({"decision": "approve", "colour": 1})).await;
    assert_eq!(s, 422, "{b}");
    let (_, b) = app.api_get("/api/checkpoints/narrow").await;
    assert_eq!(b["status"], "pending");

    // Cancel: 200 cancelled, then a decision is 409.
    let (s, b) = app
        .api(Method::POST, "/api/checkpoints/narrow/cancel", None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "cancelled");
    let (s, b) = decide(&app, "narrow", json!({"decision": "approve"})).await;
    assert_eq!(s, 409);
    assert_eq!(b["checkpoint"]["status"], "cancelled");
    assert_eq!(
        history_kinds(&app, "narrow").await,
        ["created", "notified", "cancelled"]
    );

    // Unknown checkpoints are 404 everywhere.
    for (m, p) in [
        (Method::GET, "/api/checkpoints/nope"),
        (Method::GET, "/api/checkpoints/nope/history"),
        (Method::GET, "/api/checkpoints/nope/wait?timeout=1"),
        (Method::POST, "/api/checkpoints/nope/cancel"),
    ] {
        let (s, b) = app.api(m, p, None).await;
        assert_eq!((s, code(&b)), (404, "unknown_checkpoint"), "{p}");
    }
    let (s, _) = decide(&app, "nope", json!({"decision": "approve"})).await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn concurrent_decisions_decide_once(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    create(&app, json!({"checkpoint_id": "c", "name": "n"})).await;
    let calls = (0..6).map(|i| {
        let d = if i % 2 == 0 { "approve" } else { "reject" };
        decide(&app, "c", json!({"decision": d, "by": format!("p{i}")}))
    });
    let answers = futures::future::join_all(calls).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (s, b) in &answers {
        if *s != 200 {
            assert_eq!(*s, 409);
            assert_eq!(b["checkpoint"]["decided_by"], won[0]["decided_by"]);
        }
    }
    assert_eq!(
        history_kinds(&app, "c").await,
        ["created", "notified", "decided"]
    );
    app.stop().await;
}

async fn a_quorum_counts_distinct_people(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    create(
        &app,
        json!({"checkpoint_id": "q", "name": "n", "approvals_required": 3}),
    )
    .await;
    let (s, b) = decide(&app, "q", json!({"decision": "approve", "by": "ann"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "pending");
    assert_eq!(b["approvals_required"], 3);
    assert_eq!(b["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(b["approvals"][0]["by"], "ann");
    // The same person again is counted once.
    let (s, b) = decide(&app, "q", json!({"decision": "approve", "by": "ann"})).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "pending");
    assert_eq!(b["approvals"].as_array().unwrap().len(), 1);
    let (s, b) = decide(&app, "q", json!({"decision": "approve", "by": "bob"})).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("pending")));
    let (s, b) = decide(&app, "q", json!({"decision": "approve", "by": "cat"})).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "approved");
    assert_eq!(b["approvals"].as_array().unwrap().len(), 3);
    assert_eq!(
        history_kinds(&app, "q").await,
        ["created", "notified", "approval", "approval", "approval", "decided"]
    );
    // Any reject decides.
    create(
        &app,
        json!({"checkpoint_id": "q2", "name": "n", "approvals_required": 2}),
    )
    .await;
    decide(&app, "q2", json!({"decision": "approve", "by": "ann"})).await;
    let (s, b) = decide(&app, "q2", json!({"decision": "reject", "by": "bob"})).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("rejected")));
    // A vote needs a person.
    create(
        &app,
        json!({"checkpoint_id": "q3", "name": "n", "approvals_required": 2}),
    )
    .await;
    let (s, b) = app
        .call_as(
            Some(crate::support::ADMIN_KEY),
            Method::POST,
            "/api/checkpoints/q3/decision",
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["fields"][0]["path"], "by");
    let (_, b) = app.api_get("/api/checkpoints/q3").await;
    assert_eq!(b["approvals"], json!([]));
    app.stop().await;
}

async fn an_approval_is_bound_to_its_action(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let action = json!({"name": "deploy", "args": {"env": "prod", "replicas": 3}});
    let (s, b) = create(
        &app,
        json!({"checkpoint_id": "d", "name": "n", "action": action}),
    )
    .await;
    assert_eq!(s, 201);
    // Lowercase hex SHA-256 of the JCS form, computed here independently.
    let canonical = br#"{"args":{"env":"prod","replicas":3},"name":"deploy"}"#;
    let digest = hex::encode(sha2::Sha256::digest(canonical));
    assert_eq!(b["action_digest"], digest);
    assert_eq!(b["action"], action);
    let other = hex::encode(sha2::Sha256::digest(b"something else"));
    let (s, b) = decide(
        &app,
        "d",
        json!({"decision": "approve", "action_digest": other}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(code(&b), "action_digest_mismatch");
    assert_eq!(b["checkpoint"]["status"], "pending");
    let (s, b) = decide(
        &app,
        "d",
        json!({"decision": "approve", "action_digest": digest}),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("approved")), "{b}");
    app.stop().await;
}

async fn invalid_specs_are_422_with_paths(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for (body, path) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "n", "timeout_seconds": 60}),
            "default_decision",
        ),
        (json!({"name": "n", "context": [1]}), "context"),
        (
            json!({"name": "n", "approvals_required": 0}),
            "approvals_required",
        ),
        (
            json!({"name": "n", "notify": [{"channel": "email", "to": ["x"]}]}),
            "notify[0].to[0]",
        ),
        (
            json!({"name": "n", "timeout_seconds": "soon"}),
            "timeout_seconds",
        ),
        (
            json!({"checkpoint_id": "a b", "name": "n"}),
            "checkpoint_id",
        ),
    ] {
        let (s, b) = create(&app, body.clone()).await;
        assert_eq!(s, 422, "{body} -> {b}");
        assert_eq!(code(&b), "invalid_checkpoint");
        assert!(
            b["error"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == path),
            "{body} -> {b}"
        );
    }
    let r = app
        .client
        .post(app.url("/api/checkpoints"))
        .bearer_auth(crate::support::ADMIN_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was stored.
    let (_, page) = app.api_get("/api/checkpoints").await;
    assert_eq!(page["checkpoints"], json!([]));
    app.stop().await;
}

async fn wait_wakes_on_a_decision(kind: Kind) {
    // A fallback far beyond the test: only the hub can wake the wait in time.
    let app = TestApp::spawn_with(kind, |c| c.wait_fallback = Duration::from_secs(50)).await;
    create(&app, json!({"checkpoint_id": "w", "name": "n"})).await;
    let waiter = {
        let client = app.client.clone();
        let url = app.url("/api/checkpoints/w/wait?timeout=40");
        tokio::spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(crate::support::ADMIN_KEY)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body, Instant::now())
        })
    };
    // Give the wait time to look and park (it would return at once if decided).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the wait returned before a decision");
    let (s, _) = decide(&app, "w", json!({"decision": "approve", "by": "ann"})).await;
    let decided = Instant::now();
    assert_eq!(s, 200);
    let (s, b, returned) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait returned within 10 s of the decision")
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(b["status"], "approved");
    let lag = returned.saturating_duration_since(decided);
    assert!(
        lag < Duration::from_secs(2),
        "woke {lag:?} after the decision"
    );

    // Terminal: returns at once, whatever the timeout (above 60 is taken as 60).
    let t = Instant::now();
    let (s, b) = app.api_get("/api/checkpoints/w/wait?timeout=3600").await;
    assert_eq!((s, b["status"].as_str()), (200, Some("approved")));
    assert!(t.elapsed() < Duration::from_secs(5));

    // Pending at the timeout: 200 with the checkpoint as it is.
    create(&app, json!({"checkpoint_id": "w2", "name": "n"})).await;
    let t = Instant::now();
    let (s, b) = app.api_get("/api/checkpoints/w2/wait?timeout=1").await;
    assert_eq!((s, b["status"].as_str()), (200, Some("pending")));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    app.stop().await;
}

async fn lists_page_and_filter(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for i in 0..5 {
        let kickoff = if i < 3 { "k1" } else { "k2" };
        create(
            &app,
            json!({"checkpoint_id": format!("c{i}"), "name": format!("n{}", i % 2), "kickoff_id": kickoff}),
        )
        .await;
    }
    decide(&app, "c0", json!({"decision": "approve"})).await;
    let ids = |b: &Value| -> Vec<String> {
        b["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["checkpoint_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (s, b) = app.api_get("/api/checkpoints?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&b), ["c4", "c3"]);
    let cursor = b["next_cursor"].as_str().unwrap().to_owned();
    let (_, b) = app
        .api_get(&format!("/api/checkpoints?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&b), ["c2", "c1"]);
    let cursor = b["next_cursor"].as_str().unwrap().to_owned();
    let (_, b) = app
        .api_get(&format!("/api/checkpoints?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&b), ["c0"]);
    assert!(b["next_cursor"].is_null());
    let (_, b) = app.api_get("/api/checkpoints?kickoff_id=k1").await;
    assert_eq!(ids(&b), ["c2", "c1", "c0"]);
    let (_, b) = app.api_get("/api/checkpoints?status=approved").await;
    assert_eq!(ids(&b), ["c0"]);
    let (_, b) = app
        .api_get("/api/checkpoints?status=pending&name=n0&kickoff_id=k1")
        .await;
    assert_eq!(ids(&b), ["c2"]);
    let (s, b) = app.api_get("/api/checkpoints?cursor=c3").await;
    assert_eq!((s, code(&b)), (400, "invalid_cursor"));
    let (s, b) = app.api_get("/api/checkpoints?status=done").await;
    assert_eq!((s, code(&b)), (400, "invalid_status"));
    app.stop().await;
}

async fn scopes_decide_who_may_call(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (_, planner) = app.make_key(&["agent:planner"]).await;
    let (_, other) = app.make_key(&["agent:other"]).await;
    let (_, feedback) = app.make_key(&["feedback"]).await;
    let (_, read) = app.make_key(&["read"]).await;
    let call = |key: &str, m: Method, p: &str, body: Option<Value>| {
        let key = key.to_owned();
        let p = p.to_owned();
        let app = &app;
        async move { app.call_as(Some(&key), m, &p, body).await.0 }
    };
    let body = json!({"checkpoint_id": "s", "name": "n"});
    assert_eq!(
        call(&read, Method::POST, "/api/checkpoints", Some(body.clone())).await,
        403
    );
    assert_eq!(
        call(
            &feedback,
            Method::POST,
            "/api/checkpoints",
            Some(body.clone())
        )
        .await,
        403
    );
    assert_eq!(
        call(&planner, Method::POST, "/api/checkpoints", Some(body)).await,
        201
    );
    for p in [
        "/api/checkpoints/s",
        "/api/checkpoints/s/history",
        "/api/checkpoints/s/wait?timeout=0",
    ] {
        assert_eq!(call(&planner, Method::GET, p, None).await, 200, "{p}");
        assert_eq!(call(&read, Method::GET, p, None).await, 200, "{p}");
        assert_eq!(call(&feedback, Method::GET, p, None).await, 200, "{p}");
        assert_eq!(call(&other, Method::GET, p, None).await, 403, "{p}");
    }
    assert_eq!(
        call(&read, Method::GET, "/api/checkpoints", None).await,
        200
    );
    assert_eq!(
        call(&feedback, Method::GET, "/api/checkpoints", None).await,
        200
    );
    assert_eq!(
        call(&planner, Method::GET, "/api/checkpoints", None).await,
        403
    );
    let approve = Some(json!({"decision": "approve"}));
    for k in [&planner, &read, &other] {
        assert_eq!(
            call(
                k,
                Method::POST,
                "/api/checkpoints/s/decision",
                approve.clone()
            )
            .await,
            403
        );
    }
    // Cancel: the agent that opened it, or an admin; nobody else.
    for k in [&other, &feedback, &read] {
        assert_eq!(
            call(k, Method::POST, "/api/checkpoints/s/cancel", None).await,
            403
        );
    }
    assert_eq!(
        call(&planner, Method::POST, "/api/checkpoints/s/cancel", None).await,
        200
    );
    // Feedback decides (here a 409: cancelled), and is recorded as the decider.
    let (_, b) = app
        .api(
            Method::POST,
            "/api/checkpoints",
            Some(json!({"checkpoint_id": "s2", "name": "n"})),
        )
        .await;
    assert_eq!(b["status"], "pending");
    assert_eq!(
        call(
            &feedback,
            Method::POST,
            "/api/checkpoints/s/decision",
            approve.clone()
        )
        .await,
        409
    );
    assert_eq!(
        call(
            &feedback,
            Method::POST,
            "/api/checkpoints/s2/decision",
            approve
        )
        .await,
        200
    );
    // Created by an admin: only an admin cancels it.
    assert_eq!(
        call(&planner, Method::POST, "/api/checkpoints/s2/cancel", None).await,
        403
    );
    let (s, _) = app
        .call_as(None, Method::GET, "/api/checkpoints", None)
        .await;
    assert_eq!(s, 401);
    app.stop().await;
}

async fn a_timeout_decides_the_default(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (s, b) = create(
        &app,
        json!({"checkpoint_id": "t", "name": "n", "timeout_seconds": 1, "default_decision": "approve"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let t = Instant::now();
    let (s, b) = app.api_get("/api/checkpoints/t/wait?timeout=20").await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "expired", "{b}");
    assert_eq!(b["decision"], "approve");
    assert!(b["decided_at"].is_string());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(
        history_kinds(&app, "t").await,
        ["created", "notified", "expired"]
    );
    // Expired is terminal.
    let (s, b) = decide(&app, "t", json!({"decision": "reject"})).await;
    assert_eq!(
        (s, b["checkpoint"]["status"].as_str()),
        (409, Some("expired"))
    );
    // A decision before the timeout wins, and the timer then changes nothing.
    create(
        &app,
        json!({"checkpoint_id": "t2", "name": "n", "timeout_seconds": 1, "default_decision": "reject"}),
    )
    .await;
    let (s, _) = decide(&app, "t2", json!({"decision": "approve"})).await;
    assert_eq!(s, 200);
    // Wait out the timer (by another checkpoint expiring after it).
    create(
        &app,
        json!({"checkpoint_id": "t3", "name": "n", "timeout_seconds": 2, "default_decision": "reject"}),
    )
    .await;
    let (_, b) = app.api_get("/api/checkpoints/t3/wait?timeout=20").await;
    assert_eq!(b["status"], "expired");
    let (_, b) = app.api_get("/api/checkpoints/t2").await;
    assert_eq!(b["status"], "approved");
    assert_eq!(
        history_kinds(&app, "t2").await,
        ["created", "notified", "decided"]
    );
    app.stop().await;
}

async fn expiry_survives_a_restart(kind: Kind) {
    // The database outlives both servers.
    let dir = tempfile::tempdir().unwrap();
    let (_, at) = crate::support::fresh_store_at(kind, dir.path()).await;
    let app = TestApp::spawn_at(at.clone(), |_| {}).await;
    let (s, _) = create(
        &app,
        json!({"checkpoint_id": "r", "name": "n", "timeout_seconds": 2, "default_decision": "reject"}),
    )
    .await;
    assert_eq!(s, 201);
    app.stop().await;
    // The time passes while no server runs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, still) = {
        let store = at.open().await;
        let c = store.get_checkpoint("r").await.unwrap().unwrap();
        (store, c)
    };
    assert_eq!(still.status, switchyard_store::CheckpointStatus::Pending);
    let app = TestApp::spawn_at(at, |_| {}).await;
    let t = Instant::now();
    let (s, b) = app.api_get("/api/checkpoints/r/wait?timeout=20").await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "expired", "{b}");
    assert_eq!(b["decision"], "reject");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    app.stop().await;
}

async fn reminders_and_escalation_come_before_expiry(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (s, b) = create(
        &app,
        json!({"checkpoint_id": "e", "name": "n", "timeout_seconds": 3, "default_decision": "reject",
               "remind_after_seconds": 1,
               "escalate": [{"after_seconds": 2, "notify": [{"channel": "websocket"}]}]}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (_, b) = app.api_get("/api/checkpoints/e/wait?timeout=20").await;
    assert_eq!(b["status"], "expired");
    let (_, h) = app.api_get("/api/checkpoints/e/history").await;
    let kinds: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "notified",
            "reminded",
            "notified",
            "escalated",
            "notified",
            "expired"
        ],
        "{h}"
    );
    assert_eq!(
        h["history"][4]["detail"],
        json!({"step": 0, "notify": [{"channel": "websocket"}]})
    );
    app.stop().await;
}

both_stores!(
    create_is_idempotent_by_id,
    every_transition_and_each_409,
    concurrent_decisions_decide_once,
    a_quorum_counts_distinct_people,
    an_approval_is_bound_to_its_action,
    invalid_specs_are_422_with_paths,
    wait_wakes_on_a_decision,
    lists_page_and_filter,
    scopes_decide_who_may_call,
    a_timeout_decides_the_default,
    expiry_survives_a_restart,
    reminders_and_escalation_come_before_expiry,
);
