//! API keys with scopes and the audit log, over HTTP on both stores: what each
//! scope may and may not call (401 versus 403 `insufficient_scope`), keys shown
//! once and revoked at once, `read` never seeing a secret, agent keys confined to
//! their agent, the task push's own token, `WEBHOOK_API_KEY` as a feedback key,
//! the audit row of every kind of change (secrets redacted) with its filters and
//! paging, and `switchyard keys` through the real binary.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use crate::both_stores;
use crate::receiver::Receiver;
use crate::support::{db_url_for, issue_body, Kind, Server, TestApp, ADMIN_KEY};

const SECRET: &str = "gh-hook-secret-7f3a";

impl TestApp {
    /// A call with `key` as the bearer (none when `None`): status and JSON.
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.client, &self.base, key, method, path, body).await
    }

    /// Makes a key with `scopes` through the API; returns (key_id, key).
    pub async fn make_key(&self, scopes: &[&str]) -> (String, String) {
        let (s, b) = self
            .api(
                Method::POST,
                "/api/keys",
                Some(json!({"name": "test", "scopes": scopes})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        (
            b["key_id"].as_str().unwrap().to_owned(),
            b["key"].as_str().unwrap().to_owned(),
        )
    }
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client.request(method, format!("{base}{path}"));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or_default()
}

/// Registers webhook `hooks`: `issues.opened` makes a task for `agent`.
async fn task_webhook(app: &TestApp, id: &str, agent: &str) {
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": id, "name": id, "provider": "github", "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "create_task",
                              "agent": agent, "template": "Plan {{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// Posts a signed `issues.opened` to webhook `id`; returns the 202 answer.
async fn post_issue(app: &TestApp, id: &str, n: u64) -> Value {
    app.post_issue_to(id, SECRET, "d", n).await
}

async fn make_agent(app: &TestApp, name: &str) {
    let (s, b) = app
        .api(Method::POST, "/api/agents", Some(json!({"name": name})))
        .await;
    assert_eq!(s, 201, "{b}");
}

both_stores!(
    each_scope_is_allowed_its_routes_and_refused_the_rest,
    keys_are_shown_once_validated_and_revoked_at_once,
    a_read_key_never_sees_a_secret,
    an_agent_key_is_confined_to_its_agent,
    a_task_push_carries_a_token_for_that_task_only,
    webhook_api_key_is_a_feedback_key,
    every_change_is_audited_with_secrets_redacted,
    the_audit_log_pages_and_filters,
    cli_keys_create_list_revoke,
);

async fn each_scope_is_allowed_its_routes_and_refused_the_rest(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    make_agent(&app, "planning").await;
    let (_, read) = app.make_key(&["read"]).await;
    let (_, agent) = app.make_key(&["agent:planning"]).await;
    let (_, feedback) = app.make_key(&["feedback"]).await;
    let (_, admin) = app.make_key(&["admin"]).await;

    // No key, or one nobody issued: 401.
    let (s, b) = app.call_as(None, Method::GET, "/api/events", None).await;
    assert_eq!((s, code(&b)), (401, "missing_api_key"), "{b}");
    let (s, b) = app
        .call_as(Some("sy_key_00"), Method::GET, "/api/events", None)
        .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key"), "{b}");

    let hook = json!({"webhook_id": "w1", "name": "w1", "provider": "github", "secret": "s"});
    let lease = "/api/agents/planning/tasks/lease";
    // (key, method, path, body, expected status)
    let cases: Vec<(&str, Method, &str, Option<Value>, u16)> = vec![
        (&read, Method::GET, "/api/events", None, 200),
        (&read, Method::HEAD, "/api/events", None, 200),
        (&read, Method::HEAD, "/api/destinations/x/secret", None, 403),
        (&read, Method::GET, "/api/webhooks", None, 200),
        (&read, Method::GET, "/api/agents/planning", None, 200),
        (&read, Method::GET, "/api/tasks", None, 200),
        (&read, Method::GET, "/api/deliveries", None, 200),
        (&read, Method::GET, "/api/audit", None, 200),
        (&read, Method::GET, "/api/keys", None, 200),
        (
            &read,
            Method::POST,
            "/api/webhooks",
            Some(hook.clone()),
            403,
        ),
        (&read, Method::POST, lease, Some(json!({})), 403),
        (&read, Method::DELETE, "/api/agents/planning", None, 403),
        (
            &read,
            Method::POST,
            "/api/keys",
            Some(json!({"scopes": ["admin"]})),
            403,
        ),
        (&agent, Method::POST, lease, Some(json!({})), 200),
        (&agent, Method::GET, "/api/events", None, 403),
        (&agent, Method::GET, "/api/tasks", None, 403),
        (
            &agent,
            Method::POST,
            "/api/webhooks",
            Some(hook.clone()),
            403,
        ),
        (
            &agent,
            Method::PUT,
            "/api/agents/planning",
            Some(json!({})),
            403,
        ),
        (&feedback, Method::GET, "/api/events", None, 403),
        (&feedback, Method::POST, lease, Some(json!({})), 403),
        (
            &feedback,
            Method::POST,
            "/api/webhooks",
            Some(hook.clone()),
            403,
        ),
        (
            &admin,
            Method::POST,
            "/api/webhooks",
            Some(hook.clone()),
            201,
        ),
        (&admin, Method::POST, lease, Some(json!({})), 200),
        (&admin, Method::GET, "/api/keys", None, 200),
    ];
    for (key, method, path, body, want) in cases {
        let (s, b) = app.call_as(Some(key), method.clone(), path, body).await;
        assert_eq!(s, want, "{method} {path}: {b}");
        if want == 403 && method != Method::HEAD {
            assert_eq!(code(&b), "insufficient_scope", "{b}");
        }
    }
    // The refused changes changed nothing: the agent is there, w1 made once (by
    // the admin key), and the only keys are the four made here.
    let (s, _) = app.api_get("/api/agents/planning").await;
    assert_eq!(s, 200);
    let (_, audit) = app.api_get("/api/audit?resource_kind=webhook").await;
    assert_eq!(audit["audit"].as_array().unwrap().len(), 1, "{audit}");
    let (_, keys) = app.api_get("/api/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 4, "{keys}");
    app.stop().await;
}

async fn keys_are_shown_once_validated_and_revoked_at_once(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/keys",
            Some(json!({"name": "ci", "scopes": ["read", "agent:planning"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let key = b["key"].as_str().unwrap().to_owned();
    let key_id = b["key_id"].as_str().unwrap().to_owned();
    assert_eq!(b["scopes"], json!(["read", "agent:planning"]));
    assert_eq!(b["name"], "ci");
    assert_ne!(key, ADMIN_KEY);

    // Listed without the key or its hash, by anyone who may list.
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    for who in [ADMIN_KEY, key.as_str()] {
        let r = app
            .client
            .get(app.url("/api/keys"))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(text.contains(&key_id), "{text}");
        assert!(!text.contains(&key) && !text.contains(&hash), "{text}");
    }

    // Bad requests make no key, and say which field is wrong.
    for (body, field) in [
        (json!({"name": "x", "scopes": ["write"]}), "scopes[0]"),
        (
            json!({"name": "x", "scopes": ["read", "agent:bad name"]}),
            "scopes[1]",
        ),
        (json!({"name": "x", "scopes": ["agent:"]}), "scopes[0]"),
        (json!({"name": "x", "scopes": []}), "scopes"),
    ] {
        let (s, b) = app.api(Method::POST, "/api/keys", Some(body)).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["error"]["fields"][0]["path"], field, "{b}");
    }
    let (_, keys) = app.api_get("/api/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");

    // The key works until it is revoked, and not a request longer.
    let (s, _) = app
        .call_as(Some(&key), Method::GET, "/api/events", None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .api(Method::DELETE, &format!("/api/keys/{key_id}"), None)
        .await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = app
        .call_as(Some(&key), Method::GET, "/api/events", None)
        .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key"), "{b}");
    let (s, b) = app
        .api(Method::DELETE, &format!("/api/keys/{key_id}"), None)
        .await;
    assert_eq!((s, code(&b)), (404, "unknown_key"), "{b}");
    let (_, keys) = app.api_get("/api/keys").await;
    assert!(keys["keys"][0]["revoked_at"].is_string(), "{keys}");

    // Another replica, with its own store, refuses the revoked key too.
    let replica = TestApp::replica_of(&app).await;
    let (s, _) = replica
        .call_as(Some(&key), Method::GET, "/api/events", None)
        .await;
    assert_eq!(s, 401);
    replica.stop().await;
    app.stop().await;
}

async fn a_read_key_never_sees_a_secret(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let agent_secret = "whsec_QWdlbnRTZWNyZXRWYWx1ZTEyMzQ1Ng==";
    let api_token = "ghp_tokenvalue_9d8c7b";
    let (s, b) = app
        .api(
            Method::POST,
            "/api/agents",
            Some(
                json!({"name": "pusher", "mode": "push", "url": format!("{}/t", rx.url),
                        "secret": agent_secret}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": "hooks", "name": "hooks", "provider": "github", "secret": SECRET,
                "api_token": api_token,
                "commands": [{"trigger": "issues.opened", "action": "create_task", "agent": "pusher"},
                             {"trigger": "issues.opened", "action": "forward",
                              "url": format!("{}/f", rx.url)}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    post_issue(&app, "hooks", 1).await;
    app.settle().await;
    let (_, dests) = app.api_get("/api/destinations").await;
    let mut secrets = vec![
        SECRET.to_owned(),
        agent_secret.to_owned(),
        api_token.to_owned(),
    ];
    let mut paths = vec![
        "/api/webhooks".to_owned(),
        "/api/webhooks/hooks".to_owned(),
        "/api/webhooks/hooks/commands".to_owned(),
        "/api/agents".to_owned(),
        "/api/agents/pusher".to_owned(),
        "/api/destinations".to_owned(),
        "/api/deliveries".to_owned(),
        "/api/outbox".to_owned(),
        "/api/tasks".to_owned(),
        "/api/events".to_owned(),
        "/api/audit".to_owned(),
        "/api/keys".to_owned(),
    ];
    let (_, deliveries) = app.api_get("/api/deliveries").await;
    for d in deliveries["deliveries"].as_array().unwrap() {
        paths.push(format!("/api/deliveries/{}", d["id"].as_str().unwrap()));
    }
    let (_, tasks) = app.api_get("/api/tasks").await;
    let task_id = tasks["tasks"][0]["task_id"].as_str().unwrap().to_owned();
    paths.push(format!("/api/tasks/{task_id}"));
    // The task's push token is a credential too.
    let push = rx
        .requests()
        .into_iter()
        .find(|r| r.path == "/t")
        .expect("the task was pushed");
    secrets.push(push.json()["data"]["api_key"].as_str().unwrap().to_owned());
    let (_, read) = app.make_key(&["read"]).await;
    for d in dests["destinations"].as_array().unwrap() {
        let id = d["destination_id"].as_str().unwrap();
        paths.push(format!("/api/destinations/{id}"));
        let (s, b) = app.api_get(&format!("/api/destinations/{id}/secret")).await;
        assert_eq!(s, 200, "{b}");
        if let Some(sec) = b["secret"].as_str() {
            secrets.push(sec.to_owned());
        }
        let (s, b) = app
            .call_as(
                Some(&read),
                Method::GET,
                &format!("/api/destinations/{id}/secret"),
                None,
            )
            .await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{b}");
    }
    assert!(secrets.len() >= 5, "{secrets:?}");
    for path in &paths {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{path} shows a secret: {text}");
        }
    }
    app.stop().await;
}

async fn an_agent_key_is_confined_to_its_agent(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    make_agent(&app, "a1").await;
    make_agent(&app, "a2").await;
    task_webhook(&app, "h1", "a1").await;
    task_webhook(&app, "h2", "a2").await;
    let e1 = post_issue(&app, "h1", 1).await;
    post_issue(&app, "h2", 2).await;
    let (_, k1) = app.make_key(&["agent:a1"]).await;
    let (_, k2) = app.make_key(&["agent:a2"]).await;

    // a1's key leases a1's task, not a2's.
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            "/api/agents/a2/tasks/lease",
            Some(json!({})),
        )
        .await;
    assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{b}");
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            "/api/agents/a1/tasks/lease",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let t1 = b["tasks"][0]["task_id"].as_str().unwrap().to_owned();
    let l1 = b["tasks"][0]["lease_id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call_as(
            Some(&k2),
            Method::POST,
            "/api/agents/a2/tasks/lease",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let t2 = b["tasks"][0]["task_id"].as_str().unwrap().to_owned();
    let l2 = b["tasks"][0]["lease_id"].as_str().unwrap().to_owned();

    // a1's key cannot heartbeat, complete or fail a2's task, even with its lease.
    for verb in ["heartbeat", "complete", "fail"] {
        let (s, b) = app
            .call_as(
                Some(&k1),
                Method::POST,
                &format!("/api/tasks/{t2}/{verb}"),
                Some(json!({"lease_id": l2})),
            )
            .await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{verb}: {b}");
    }
    let (_, t) = app.api_get(&format!("/api/tasks/{t2}")).await;
    assert_eq!(t["status"], "leased", "{t}");
    // Its own task, yes.
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            &format!("/api/tasks/{t1}/heartbeat"),
            Some(json!({"lease_id": l1})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            &format!("/api/tasks/{t1}/complete"),
            Some(json!({"lease_id": l1, "result": {"ok": true}})),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("completed")), "{b}");

    // Questions: a1 may open one and read and wait for it; a2 may not see it.
    let event_id = e1["event_id"].as_str().unwrap();
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            "/api/webhooks/h1/ask",
            Some(json!({"event_id": event_id, "question": "Which release?"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let q = b["question_id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call_as(Some(&k1), Method::GET, &format!("/api/questions/{q}"), None)
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("open")), "{b}");
    let (s, _) = app
        .call_as(
            Some(&k1),
            Method::GET,
            &format!("/api/questions/{q}/wait?timeout=0"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for path in [
        format!("/api/questions/{q}"),
        format!("/api/questions/{q}/wait?timeout=0"),
    ] {
        let (s, b) = app.call_as(Some(&k2), Method::GET, &path, None).await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{path}: {b}");
    }
    // Nothing else: no comment, no respond.
    let (s, b) = app
        .call_as(
            Some(&k1),
            Method::POST,
            "/api/webhooks/h1/comment",
            Some(json!({"event_id": event_id, "message": "hi"})),
        )
        .await;
    assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{b}");
    app.stop().await;
}

async fn a_task_push_carries_a_token_for_that_task_only(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/agents",
            Some(json!({"name": "pusher", "mode": "push", "url": format!("{}/tasks", rx.url)})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    task_webhook(&app, "push", "pusher").await;
    post_issue(&app, "push", 1).await;
    post_issue(&app, "push", 2).await;
    app.settle().await;
    let pushes: Vec<Value> = rx.requests().iter().map(|r| r.json()).collect();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    let field = |p: &Value, f: &str| p["data"]["task"][f].as_str().unwrap().to_owned();
    let (t1, l1) = (field(&pushes[0], "id"), field(&pushes[0], "lease_id"));
    let (t2, l2) = (field(&pushes[1], "id"), field(&pushes[1], "lease_id"));
    let token1 = pushes[0]["data"]["api_key"].as_str().unwrap().to_owned();
    let token2 = pushes[1]["data"]["api_key"].as_str().unwrap().to_owned();
    assert_ne!(token1, ADMIN_KEY);
    assert_ne!(token1, token2);
    assert!(token1.contains(&t1), "{token1}");

    // Nothing but its own task's heartbeat, complete and fail.
    for (method, path, body) in [
        (Method::GET, "/api/tasks".to_owned(), None),
        (Method::GET, format!("/api/tasks/{t1}"), None),
        (
            Method::POST,
            "/api/agents/pusher/tasks/lease".to_owned(),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/tasks/{t2}/complete"),
            Some(json!({"lease_id": l2})),
        ),
        (
            Method::POST,
            format!("/api/tasks/{t2}/heartbeat"),
            Some(json!({"lease_id": l2})),
        ),
    ] {
        let (s, b) = app.call_as(Some(&token1), method, &path, body).await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{path}: {b}");
    }
    // A token altered by one character is no key at all.
    let mut forged = token1.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let (s, b) = app
        .call_as(
            Some(&forged),
            Method::POST,
            &format!("/api/tasks/{t1}/heartbeat"),
            Some(json!({"lease_id": l1})),
        )
        .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key"), "{b}");
    let (_, t) = app.api_get(&format!("/api/tasks/{t2}")).await;
    assert_eq!(t["status"], "leased", "task 2 untouched: {t}");

    let (s, b) = app
        .call_as(
            Some(&token1),
            Method::POST,
            &format!("/api/tasks/{t1}/heartbeat"),
            Some(json!({"lease_id": l1})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call_as(
            Some(&token1),
            Method::POST,
            &format!("/api/tasks/{t1}/complete"),
            Some(json!({"lease_id": l1, "result": "done"})),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("completed")), "{b}");
    let (s, b) = app
        .call_as(
            Some(&token2),
            Method::POST,
            &format!("/api/tasks/{t2}/fail"),
            Some(json!({"lease_id": l2, "error": "no", "retry": false})),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("failed")), "{b}");
    app.stop().await;
}

async fn webhook_api_key_is_a_feedback_key(kind: Kind) {
    const FEEDBACK: &str = "seed-000-feedback-key";
    let app = TestApp::spawn_with(kind, |c| c.webhook_api_key = Some(FEEDBACK.into())).await;
    let (s, b) = app
        .post_github("issues", "d-fb-1", &issue_body(3, "opened", &[]))
        .await;
    assert_eq!(s, 202, "{b}");
    let event_id = b["event_id"].as_str().unwrap();
    let (s, asked) = app
        .api(
            Method::POST,
            "/api/webhooks/github/ask",
            Some(json!({"event_id": event_id, "question": "Ship it?"})),
        )
        .await;
    assert_eq!(s, 202, "{asked}");
    let q = asked["question_id"].as_str().unwrap();

    // Accepted as a key (a question to answer can be read) ...
    let (s, b) = app
        .call_as(
            Some(FEEDBACK),
            Method::GET,
            &format!("/api/questions/{q}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // ... and refused everything admin: 403, not 401.
    for (method, path, body) in [
        (Method::GET, "/api/events", None),
        (Method::GET, "/api/webhooks", None),
        (
            Method::POST,
            "/api/keys",
            Some(json!({"scopes": ["admin"]})),
        ),
        (
            Method::POST,
            "/api/webhooks",
            Some(json!({"webhook_id": "x", "name": "x", "provider": "github", "secret": "s"})),
        ),
    ] {
        let (s, b) = app.call_as(Some(FEEDBACK), method, path, body).await;
        assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{path}: {b}");
    }
    // Without it configured, the same key is nobody's.
    let other = TestApp::spawn(kind).await;
    let (s, b) = other
        .call_as(Some(FEEDBACK), Method::GET, "/api/events", None)
        .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key"), "{b}");
    other.stop().await;
    app.stop().await;
}

/// Every audit row, newest first, as the admin sees it.
async fn audit_rows(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, b) = app.api_get(&format!("/api/audit?limit=500{query}")).await;
    assert_eq!(s, 200, "{b}");
    b["audit"].as_array().unwrap().clone()
}

async fn every_change_is_audited_with_secrets_redacted(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (admin_id, admin) = app.make_key(&["admin"]).await;
    let as_admin = |m: Method, p: String, b: Option<Value>| {
        let app = &app;
        let admin = admin.clone();
        async move { app.call_as(Some(&admin), m, &p, b).await }
    };
    let hook_token = "ghp_audit_token_5e4d";
    let new_secret = "rotated-hook-secret-1b2c";
    let agent_secret = "agent-secret-9a8b";
    let ok = |r: (u16, Value), want: u16| assert_eq!(r.0, want, "{}", r.1);

    ok(
        as_admin(
            Method::POST,
            "/api/webhooks".into(),
            Some(
                json!({"webhook_id": "aud", "name": "aud", "provider": "github",
                        "secret": SECRET, "api_token": hook_token}),
            ),
        )
        .await,
        201,
    );
    ok(
        as_admin(
            Method::PUT,
            "/api/webhooks/aud".into(),
            Some(json!({"name": "aud2", "provider": "github", "secret": new_secret})),
        )
        .await,
        200,
    );
    ok(
        as_admin(Method::POST, "/api/webhooks/aud/disable".into(), None).await,
        200,
    );
    ok(
        as_admin(Method::POST, "/api/webhooks/aud/enable".into(), None).await,
        200,
    );
    ok(
        as_admin(
            Method::POST,
            "/api/webhooks/aud/commands".into(),
            Some(
                json!({"command_id": "c1", "trigger": "issues.*", "action": "create_task",
                        "agent": "bot"}),
            ),
        )
        .await,
        201,
    );
    ok(
        as_admin(
            Method::PUT,
            "/api/webhooks/aud/commands/c1".into(),
            Some(json!({"trigger": "issues.opened", "action": "create_task", "agent": "bot"})),
        )
        .await,
        200,
    );
    ok(
        as_admin(Method::DELETE, "/api/webhooks/aud/commands/c1".into(), None).await,
        204,
    );
    ok(
        as_admin(
            Method::POST,
            "/api/agents".into(),
            Some(json!({"name": "bot", "secret": agent_secret})),
        )
        .await,
        201,
    );
    ok(
        as_admin(
            Method::PUT,
            "/api/agents/bot".into(),
            Some(json!({"description": "the bot"})),
        )
        .await,
        200,
    );
    ok(
        as_admin(Method::DELETE, "/api/agents/bot".into(), None).await,
        204,
    );
    let (s, d) = as_admin(
        Method::POST,
        "/api/destinations".into(),
        Some(json!({"url": "https://example.com/audit-hook"})),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let dst = d["destination_id"].as_str().unwrap().to_owned();
    ok(
        as_admin(
            Method::PUT,
            format!("/api/destinations/{dst}"),
            Some(json!({"max_concurrency": 3})),
        )
        .await,
        200,
    );
    ok(
        as_admin(
            Method::POST,
            format!("/api/destinations/{dst}/disable"),
            None,
        )
        .await,
        200,
    );
    ok(
        as_admin(
            Method::POST,
            format!("/api/destinations/{dst}/enable"),
            None,
        )
        .await,
        200,
    );
    let (s, rotated) = as_admin(
        Method::POST,
        format!("/api/destinations/{dst}/secret/rotate"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{rotated}");
    let (s, k) = as_admin(
        Method::POST,
        "/api/keys".into(),
        Some(json!({"scopes": ["read"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let made_key = k["key"].as_str().unwrap().to_owned();
    let made_id = k["key_id"].as_str().unwrap().to_owned();
    ok(
        as_admin(Method::DELETE, format!("/api/keys/{made_id}"), None).await,
        204,
    );
    ok(
        as_admin(Method::DELETE, "/api/webhooks/aud".into(), None).await,
        204,
    );

    // Refused changes write no row.
    let before = audit_rows(&app, "").await.len();
    ok(
        as_admin(
            Method::PUT,
            format!("/api/destinations/{dst}"),
            Some(json!({"rate_per_second": 1e-300})),
        )
        .await,
        422,
    );
    ok(
        as_admin(Method::DELETE, "/api/agents/nobody".into(), None).await,
        404,
    );
    ok(
        as_admin(
            Method::POST,
            "/api/keys".into(),
            Some(json!({"scopes": ["root"]})),
        )
        .await,
        422,
    );
    assert_eq!(audit_rows(&app, "").await.len(), before);

    let rows = audit_rows(&app, &format!("&key_id={admin_id}")).await;
    let has = |kind: &str, id: &str, action: &str| {
        rows.iter()
            .find(|r| r["resource_kind"] == kind && r["resource_id"] == id && r["action"] == action)
            .unwrap_or_else(|| panic!("no {action} of {kind} {id} in {rows:#?}"))
            .clone()
    };
    let created = has("webhook", "aud", "create");
    assert!(created["before"].is_null());
    assert_eq!(created["after"]["secret"], "********");
    assert_eq!(created["after"]["api_token"], "********");
    let updated = has("webhook", "aud", "update");
    assert_eq!(updated["before"]["name"], "aud");
    assert_eq!(updated["after"]["name"], "aud2");
    assert_eq!(has("webhook", "aud", "disable")["after"]["enabled"], false);
    assert_eq!(has("webhook", "aud", "enable")["after"]["enabled"], true);
    assert!(has("webhook", "aud", "delete")["after"].is_null());
    assert_eq!(
        has("command", "aud/c1", "create")["after"]["trigger"],
        "issues.*"
    );
    let cmd = has("command", "aud/c1", "update");
    assert_eq!(
        (
            cmd["before"]["trigger"].as_str(),
            cmd["after"]["trigger"].as_str()
        ),
        (Some("issues.*"), Some("issues.opened"))
    );
    assert!(has("command", "aud/c1", "delete")["after"].is_null());
    assert_eq!(has("agent", "bot", "create")["after"]["secret"], "********");
    assert_eq!(
        has("agent", "bot", "update")["after"]["description"],
        "the bot"
    );
    has("agent", "bot", "delete");
    has("destination", &dst, "create");
    assert_eq!(
        has("destination", &dst, "update")["after"]["max_concurrency"],
        3
    );
    assert_eq!(
        has("destination", &dst, "disable")["after"]["enabled"],
        false
    );
    assert_eq!(has("destination", &dst, "enable")["after"]["enabled"], true);
    let rot = has("destination", &dst, "rotate");
    assert_eq!(rot["after"]["previous_secret"], "********");
    assert_eq!(
        has("key", &made_id, "create")["after"]["scopes"],
        json!(["read"])
    );
    assert_eq!(has("key", &made_id, "delete")["after"]["revoked"], true);
    for r in &rows {
        assert_eq!(r["key_id"], admin_id.as_str());
        assert!(r["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    // The whole log, as text: no secret anywhere.
    let text = serde_json::to_string(&audit_rows(&app, "").await).unwrap();
    let rotated_secret = rotated["secret"].as_str().unwrap();
    for s in [
        SECRET,
        hook_token,
        new_secret,
        agent_secret,
        made_key.as_str(),
        rotated_secret,
    ] {
        assert!(!text.contains(s), "{s} in the audit log: {text}");
    }
    app.stop().await;
}

async fn the_audit_log_pages_and_filters(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for i in 0..5 {
        make_agent(&app, &format!("p{i}")).await;
    }
    let (s, _) = app.api(Method::DELETE, "/api/agents/p3", None).await;
    assert_eq!(s, 204);
    let (read_id, read) = app.make_key(&["read"]).await;

    // Pages of two, newest first, each row once; a read key may page too.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/audit?limit=2&cursor={c}"),
            None => "/api/audit?limit=2".to_owned(),
        };
        let (s, b) = app.call_as(Some(&read), Method::GET, &path, None).await;
        assert_eq!(s, 200, "{b}");
        for r in b["audit"].as_array().unwrap() {
            seen.push(r["audit_id"].as_str().unwrap().to_owned());
        }
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // 5 creates, 1 delete, the read key's creation.
    assert_eq!(seen.len(), 7, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no repeats");

    let count = |q: &'static str| {
        let app = &app;
        async move {
            let (s, b) = app.api_get(&format!("/api/audit?{q}")).await;
            assert_eq!(s, 200, "{q}: {b}");
            b["audit"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("resource_kind=agent").await, 6);
    assert_eq!(count("resource_kind=key").await, 1);
    assert_eq!(count("resource_kind=agent&resource_id=p3").await, 2);
    assert_eq!(count("action=delete").await, 1);
    assert_eq!(count("action=create&resource_kind=agent").await, 5);
    assert_eq!(count("key_id=admin").await, 7);
    assert_eq!(count("key_id=nobody").await, 0);
    assert_eq!(
        count("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").await,
        7
    );
    assert_eq!(count("since=2999-01-01T00:00:00Z").await, 0);
    assert_eq!(count("until=2000-01-01T00:00:00Z").await, 0);
    let (_, b) = app.api_get("/api/audit?resource_kind=key").await;
    assert_eq!(b["audit"][0]["resource_id"], read_id.as_str());

    for (q, want) in [
        ("cursor=garbage", "invalid_cursor"),
        ("cursor=evt_0190", "invalid_cursor"),
        ("resource_kind=secret", "invalid_query"),
        ("action=read", "invalid_query"),
        ("since=yesterday", "invalid_query"),
        ("limit=0", "invalid_limit"),
        ("colour=blue", "invalid_query"),
    ] {
        let (s, b) = app.api_get(&format!("/api/audit?{q}")).await;
        assert_eq!((s, code(&b)), (400, want), "{q}: {b}");
    }
    app.stop().await;
}

/// Runs `switchyard ARGS` on the database at `url`; (success, stdout, stderr).
fn cli(url: &str, data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .env("SWITCHYARD_DATA_DIR", data_dir)
        .output()
        .expect("run switchyard");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn cli_keys_create_list_revoke(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = db_url_for(kind, dir.path()).await;
    let data = dir.path();

    let (ok, out, err) = cli(
        &url,
        data,
        &["keys", "create", "--scope", "read", "--name", "ci"],
    );
    assert!(ok, "{err}");
    let (key_id, key) = out.trim().split_once('\t').expect("KEY_ID\\tKEY");
    let (key_id, key) = (key_id.to_owned(), key.to_owned());
    assert!(
        key_id.starts_with("key_") && key.starts_with("sy_key_"),
        "{out}"
    );
    let (ok, _, err) = cli(&url, data, &["keys", "create", "--scope", "write"]);
    assert!(!ok && err.contains("scopes[0]"), "{err}");
    let (ok, _, err) = cli(
        &url,
        data,
        &[
            "webhooks",
            "create",
            "--provider",
            "github",
            "--id",
            "from-cli",
            "--secret",
            "cli-s3cret",
        ],
    );
    assert!(ok, "{err}");

    let (ok, listed, err) = cli(&url, data, &["keys", "list"]);
    assert!(ok, "{err}");
    assert_eq!(
        listed.lines().count(),
        1,
        "the refused scope made no key: {listed}"
    );
    assert!(listed.contains(&key_id) && listed.contains("read") && listed.contains("live"));
    assert!(!listed.contains(&key), "{listed}");

    // The key works against a server on that database, as a read key; so does
    // WEBHOOK_API_KEY, as a feedback key, through the environment.
    let server = Server::start_with(&url, data, &[("WEBHOOK_API_KEY", "fb-env-key")]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let hook = json!({"webhook_id": "x", "name": "x", "provider": "github", "secret": "s"});
    let (s, _) = call(
        &client,
        &server.base,
        Some(&key),
        Method::GET,
        "/api/events",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = call(
        &client,
        &server.base,
        Some(&key),
        Method::POST,
        "/api/webhooks",
        Some(hook.clone()),
    )
    .await;
    assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{b}");
    let (s, b) = call(
        &client,
        &server.base,
        Some("fb-env-key"),
        Method::GET,
        "/api/events",
        None,
    )
    .await;
    assert_eq!((s, code(&b)), (403, "insufficient_scope"), "{b}");

    let (ok, out, err) = cli(&url, data, &["keys", "revoke", &key_id]);
    assert!(ok && out.contains("revoked"), "{err}");
    let (s, b) = call(
        &client,
        &server.base,
        Some(&key),
        Method::GET,
        "/api/events",
        None,
    )
    .await;
    assert_eq!((s, code(&b)), (401, "invalid_api_key"), "{b}");
    let (ok, _, err) = cli(&url, data, &["keys", "revoke", &key_id]);
    assert!(!ok && err.contains(&key_id), "{err}");
    let (_, listed, _) = cli(&url, data, &["keys", "list"]);
    assert!(listed.contains("revoked"), "{listed}");

    // The command line's changes are in the audit log, as `cli`.
    let (s, b) = call(
        &client,
        &server.base,
        Some(ADMIN_KEY),
        Method::GET,
        "/api/audit?key_id=cli",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let rows: Vec<(String, String, String)> = b["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource_kind"].as_str().unwrap().to_owned(),
                r["resource_id"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("key", key_id.as_str(), "delete"),
        ("webhook", "from-cli", "create"),
        ("key", key_id.as_str(), "create"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(rows, want);
    assert!(!b.to_string().contains("cli-s3cret"), "{b}");
    drop(server);
    if let Some(db) = pg {
        db.drop_now().await;
    }
}
