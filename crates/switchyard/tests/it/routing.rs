//! Routing end to end, on both stores: seed 002's examples registered through the API
//! and from files, matching and its work committed with the event, the config folder
//! reloaded without restart, and the agents' pull queue.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{
    github_signature, hmac_sha256, issue_body, Kind, TestApp, ADMIN_KEY, GENERIC_SECRET,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

impl TestApp {
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_KEY);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn github_to(
        &self,
        path: &str,
        secret: &str,
        event: &str,
        delivery: &str,
        body: &str,
    ) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn comment_body(number: u64, user: &str, text: &str) -> String {
    json!({
        "action": "created",
        "issue": {"number": number, "title": "Crash", "html_url": format!("https://github.com/acme/app/issues/{number}"), "labels": []},
        "comment": {"body": text, "user": {"login": user}},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": user}
    })
    .to_string()
}

const SEED_FIXTURES: [&str; 4] = [
    "github-issues-001.json",
    "jira-automation-001.json",
    "slack-alerts-001.json",
    "github-urgent-issues.json",
];

/// The fixture files are seed 002's documents verbatim: the core crate keeps the
/// seed's text, and each file must be found in it whole.
#[test]
fn fixtures_are_the_seed_verbatim() {
    let seed = include_str!("../../../switchyard-core/src/routing/fixtures/seed_002_examples.md");
    for f in SEED_FIXTURES {
        assert!(seed.contains(&fixture(f)), "{f} is not seed 002's text");
    }
}

/// Long-polls look again this often in the tests that show a wake-up: far longer
/// than the few seconds they allow, so only the wake-up can answer in time.
const NO_FALLBACK: Duration = Duration::from_secs(60);
/// How soon a woken long-poll must answer (generous for a loaded machine).
const PROMPT: Duration = Duration::from_secs(5);

pub(crate) async fn seed_app(kind: Kind) -> TestApp {
    seed_app_with(kind, |_| {}).await
}

async fn seed_app_with(
    kind: Kind,
    configure: impl FnOnce(&mut switchyard_server::Config),
) -> TestApp {
    let app = TestApp::spawn_with(kind, |c| {
        c.provider_secrets.insert(
            "slack".into(),
            vec![switchyard_core::Secret::new("slack-signing")],
        );
        configure(c);
    })
    .await;
    for f in SEED_FIXTURES {
        let (s, v) = app.post_raw("/api/webhooks", &fixture(f)).await;
        assert_eq!(s, 201, "{f}: {v}");
    }
    app
}

both_stores!(
    seed_002_examples_end_to_end,
    redelivery_creates_nothing_new,
    registry_api_validates_and_hides_secrets,
    commands_api,
    config_folder_reloads_without_restart,
    lease_complete_fail_expire,
    concurrent_consumers_never_share_a_task,
    two_replicas_share_one_queue,
    lease_long_poll_wakes_on_new_task,
    interactive_endpoints_record_work,
    every_ask_opens_one_question,
    questions_are_listed_and_replies_need_a_channel,
    agents_api,
);

async fn seed_002_examples_end_to_end(kind: Kind) {
    // The question wait below must be answered by its wake-up, not a fallback look.
    let app = seed_app_with(kind, |c| c.wait_fallback = NO_FALLBACK).await;
    let hook = "/webhooks/github/github-issues-001";

    // issues.opened with label "bug": a planning task with the rendered template.
    let (s, v) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issues",
            "d-1",
            &issue_body(7, "opened", &["bug"]),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let matched = v["matched"].as_array().unwrap();
    assert_eq!(matched.len(), 1, "{v}");
    assert_eq!(matched[0]["action"], "create_task");
    assert_eq!(matched[0]["command_id"], "cmd-1");
    let task_id = matched[0]["task_id"].as_str().unwrap();
    let (_, t) = app.api_get(&format!("/api/tasks/{task_id}")).await;
    assert_eq!(t["agent"], "planning");
    assert_eq!(t["status"], "queued");
    assert_eq!(t["message"], "Analyze issue: Issue 7\n\nIt crashes.");
    // The event log keeps seed 002's columns.
    let (_, e) = app
        .api_get(&format!("/api/events/{}", v["event_id"].as_str().unwrap()))
        .await;
    assert_eq!(e["matched_command"], "cmd-1");
    assert_eq!(e["task_id"], task_id);

    // No matching label: nothing.
    let (s, v) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issues",
            "d-2",
            &issue_body(8, "opened", &["question"]),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["matched"], json!([]));

    // A comment mentioning @agent opens a question on the issue's thread.
    let (s, v) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issue_comment",
            "d-3",
            &comment_body(7, "alice", "@agent which release?"),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["matched"][0]["action"], "ask", "{v}");
    let qid = v["matched"][0]["question_id"].as_str().unwrap().to_owned();
    let (_, q) = app.api_get(&format!("/api/questions/{qid}")).await;
    assert_eq!(q["status"], "open");
    assert_eq!(q["question"], "User asked: @agent which release?");
    assert_eq!(q["thread_key"], "github:acme/app#7");
    let (_, outbox) = app.api_get("/api/outbox").await;
    assert!(outbox["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["kind"] == "ask"));

    // A reply on that thread answers it; the long-poll returns at once.
    let waiter = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/api/questions/{qid}/wait?timeout=30")),
        );
        tokio::spawn(async move {
            let v = client
                .get(url)
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            (v, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (s, _) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issue_comment",
            "d-4",
            &comment_body(7, "bob", "The 2.3 release."),
        )
        .await;
    assert_eq!(s, 202);
    let (answered, returned) = waiter.await.unwrap();
    let took = returned.saturating_duration_since(started);
    assert!(took < PROMPT, "the wait returned {took:?} after the answer");
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["answer"], "The 2.3 release.");
    assert_eq!(answered["answered_by"], "bob");

    // Jira: {{issue.key}} and {{issue.summary}} render (summary lives in issue.fields).
    let r = app
        .client
        .post(app.url("/webhooks/jira/jira-automation-001"))
        .json(&json!({"webhookEvent": "jira:issue_created", "issue": {"key": "PROJ-7", "fields": {"summary": "Fix login", "project": {"key": "PROJ"}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    let (_, t) = app
        .api_get(&format!(
            "/api/tasks/{}",
            v["matched"][0]["task_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(t["message"], "New Jira ticket: PROJ-7 - Fix login");
    // jira:issue_updated records a pending comment.
    let r = app
        .client
        .post(app.url("/webhooks/jira/jira-automation-001"))
        .json(&json!({"webhookEvent": "jira:issue_updated", "issue": {"key": "PROJ-7", "fields": {"summary": "Fix login"}}}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["matched"][0]["action"], "comment");
    let (_, outbox) = app.api_get("/api/outbox").await;
    let c = outbox["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "comment")
        .unwrap()
        .clone();
    assert_eq!(c["payload"]["message"], "Acknowledged update to PROJ-7");

    // Slack: a message in #engineering (an outgoing-webhook post, which carries the
    // channel name and `text`) is answered with the rendered template.
    let slack_post = |body: String| {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let sig = format!(
            "v0={}",
            hex::encode(hmac_sha256(
                b"slack-signing",
                format!("v0:{ts}:{body}").as_bytes()
            ))
        );
        app.client
            .post(app.url("/webhooks/slack/slack-alerts-001"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    let r = slack_post(
        "token=t&team_id=T1&channel_id=C0ENG&channel_name=engineering&timestamp=1700000000.000100&user_id=U1&user_name=alice&text=deploy+staging&trigger_word=deploy".into(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Processing your request: deploy staging"
    );
    // Another channel: no match, the ordinary acknowledgement.
    let r = slack_post(
        "token=t&team_id=T1&channel_id=C0RND&channel_name=random&timestamp=1700000000.000200&user_id=U1&user_name=alice&text=hi&trigger_word=hi".into(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);

    // The brain's "urgent" webhook: no secret of its own, so GITHUB_WEBHOOK_SECRET.
    let labeled = json!({"action": "labeled", "label": {"name": "urgent"},
        "issue": {"number": 9, "title": "Down", "html_url": "https://github.com/acme/app/issues/9", "labels": [{"name": "urgent"}]},
        "repository": {"full_name": "acme/app"}, "sender": {"login": "alice"}})
    .to_string();
    let (s, v) = app
        .github_to(
            "/webhooks/github/github-urgent-issues",
            crate::support::GITHUB_SECRET,
            "issues",
            "u-1",
            &labeled,
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["matched"][0]["action"], "create_task");
    assert_eq!(v["matched"][0]["agent"], "planning");
    app.stop().await;
}

async fn redelivery_creates_nothing_new(kind: Kind) {
    let app = seed_app(kind).await;
    let hook = "/webhooks/github/github-issues-001";
    let body = issue_body(7, "opened", &["bug"]);
    let (s1, v1) = app
        .github_to(hook, "your-webhook-secret", "issues", "same", &body)
        .await;
    let (s2, v2) = app
        .github_to(hook, "your-webhook-secret", "issues", "same", &body)
        .await;
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(v2["duplicate"], true);
    assert_eq!(
        v1["matched"], v2["matched"],
        "a redelivery repeats the original answer"
    );
    let (_, tasks) = app.api_get("/api/tasks?agent=planning").await;
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn registry_api_validates_and_hides_secrets(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (s, v) = app
        .post_raw("/api/webhooks", &fixture("github-issues-001.json"))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["secret"], "your-webhook-secret", "shown once, on create");
    assert_eq!(v["endpoint"], "/webhooks/github/github-issues-001");
    let (_, v) = app.api_get("/api/webhooks/github-issues-001").await;
    assert_eq!(v["secret"], "********");
    let (_, list) = app.api_get("/api/webhooks").await;
    assert!(!list.to_string().contains("your-webhook-secret"));
    // The same id again: 409.
    let (s, v) = app
        .post_raw("/api/webhooks", &fixture("github-issues-001.json"))
        .await;
    assert_eq!(s, 409, "{v}");
    // No webhook_id: one is made from the name.
    let (s, v) = app
        .post_raw("/api/webhooks", &fixture("github-urgent-issues.json"))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["webhook_id"], "github-urgent-issues");

    // Every problem at once, each with its field path.
    let bad = json!({"name": "Bad", "provider": "nosuch", "commands": [
        {"trigger": "issues.opened", "action": "create_task"},
        {"trigger": "x", "action": "comment", "template": "{{ unclosed"},
        {"trigger": "x", "action": "forward", "url": "ftp://nope"},
        {"trigger": "x", "action": "comment", "conditions": {"path": "a", "op": "regex", "value": "("}},
        {"trigger": "x", "action": "comment", "conditions": {"colour": "red"}}
    ]});
    let (s, v) = app
        .api(reqwest::Method::POST, "/api/webhooks", Some(bad))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_config");
    let paths: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for expected in [
        "provider",
        "commands[0].agent",
        "commands[1].template",
        "commands[2].url",
        "commands[3].conditions",
        "commands[4].conditions.colour",
    ] {
        assert!(
            paths.iter().any(|p| p.starts_with(expected)),
            "{expected} not in {paths:?}"
        );
    }
    let (s, v) = app.api(reqwest::Method::POST, "/api/webhooks", Some(json!({"name": "x", "provider": "github", "commands": [{"trigger": "a", "action": "explode"}]}))).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["fields"][0]["path"]
            .as_str()
            .unwrap()
            .contains("commands[0].action"),
        "{v}"
    );
    let (s, _) = app.post_raw("/api/webhooks", "{not json").await;
    assert_eq!(s, 422);

    // Disabled: 404 at the endpoint, nothing stored.
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks/github-issues-001/disable",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "z",
            &issue_body(1, "opened", &["bug"]),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks/github-issues-001/enable",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "z",
            &issue_body(1, "opened", &["bug"]),
        )
        .await;
    assert_eq!(s, 202);

    // PUT without a secret keeps it; DELETE removes the endpoint.
    let mut cfg: Value = serde_json::from_str(&fixture("github-issues-001.json")).unwrap();
    cfg.as_object_mut().unwrap().remove("secret");
    cfg["name"] = json!("Renamed");
    let (s, v) = app
        .api(
            reqwest::Method::PUT,
            "/api/webhooks/github-issues-001",
            Some(cfg),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "Renamed");
    let (s, _) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "y",
            &issue_body(1, "opened", &[]),
        )
        .await;
    assert_eq!(s, 202, "the old secret still verifies");
    let (s, _) = app
        .api(
            reqwest::Method::DELETE,
            "/api/webhooks/github-issues-001",
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "x",
            &issue_body(1, "opened", &[]),
        )
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn commands_api(kind: Kind) {
    let app = seed_app(kind).await;
    let (_, v) = app
        .api_get("/api/webhooks/github-issues-001/commands")
        .await;
    assert_eq!(v["commands"].as_array().unwrap().len(), 2);
    let (s, cmd) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks/github-issues-001/commands",
            Some(json!({"trigger": "pull_request.*", "action": "create_task", "agent": "executor", "template": "Review {{pull_request.title}}", "priority": 5})),
        )
        .await;
    assert_eq!(s, 201, "{cmd}");
    let cmd_id = cmd["command_id"].as_str().unwrap().to_owned();
    let pr = json!({"action": "opened", "pull_request": {"number": 3, "title": "Add cache", "html_url": "https://github.com/acme/app/pull/3"},
        "repository": {"full_name": "acme/app"}, "sender": {"login": "alice"}})
    .to_string();
    let (_, v) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "pull_request",
            "pr-1",
            &pr,
        )
        .await;
    assert_eq!(v["matched"][0]["command_id"], cmd_id.as_str());
    let (s, _) = app
        .api(reqwest::Method::PUT, &format!("/api/webhooks/github-issues-001/commands/{cmd_id}"), Some(json!({"trigger": "pull_request.closed", "action": "create_task", "agent": "executor"})))
        .await;
    assert_eq!(s, 200);
    let (_, v) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "pull_request",
            "pr-2",
            &pr,
        )
        .await;
    assert_eq!(
        v["matched"],
        json!([]),
        "the command now wants pull_request.closed"
    );
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks/github-issues-001/commands",
            Some(json!({"trigger": "x", "action": "create_task"})),
        )
        .await;
    assert_eq!(s, 422, "create_task without an agent: {v}");
    let (s, _) = app
        .api(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/github-issues-001/commands/{cmd_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .api(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/github-issues-001/commands/{cmd_id}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}

/// Polls `check` until it holds, failing the test after 15 s.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    mut check: impl FnMut() -> F,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn config_folder_reloads_without_restart(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "github-issues-001.json",
        "jira-automation-001.json",
        "slack-alerts-001.json",
        "github-urgent-issues.json",
    ] {
        std::fs::copy(format!("{FIXTURES}/{f}"), dir.path().join(f)).unwrap();
    }
    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(kind, move |c| c.config_dir = Some(path)).await;
    let (_, v) = app.api_get("/api/webhooks").await;
    let ids: Vec<&str> = v["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "github-issues-001",
            "github-urgent-issues",
            "jira-automation-001",
            "slack-alerts-001"
        ]
    );
    assert!(v["webhooks"][0]["source"]
        .as_str()
        .unwrap()
        .starts_with("file:"));
    // File-defined webhooks are read-only through the API.
    let (s, _) = app
        .api(
            reqwest::Method::DELETE,
            "/api/webhooks/github-issues-001",
            None,
        )
        .await;
    assert_eq!(s, 409);

    let hook = "/webhooks/github/github-issues-001";
    let (_, v) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issues",
            "f-1",
            &issue_body(1, "opened", &["bug"]),
        )
        .await;
    assert_eq!(v["matched"][0]["action"], "create_task");

    // Changed: the new template applies without restart.
    let changed = fixture("github-issues-001.json")
        .replace("Analyze issue: {{issue.title}}", "Triage: {{issue.title}}");
    std::fs::write(dir.path().join("github-issues-001.json"), changed).unwrap();
    let mut n = 0;
    wait_until(
        || {
            n += 1;
            let delivery = format!("f-2-{n}");
            let app = &app;
            async move {
                let (_, v) = app
                    .github_to(
                        hook,
                        "your-webhook-secret",
                        "issues",
                        &delivery,
                        &issue_body(2, "opened", &["bug"]),
                    )
                    .await;
                let Some(task) = v["matched"][0]["task_id"].as_str() else {
                    return false;
                };
                let (_, t) = app.api_get(&format!("/api/tasks/{task}")).await;
                t["message"].as_str().unwrap_or("").starts_with("Triage: ")
            }
        },
        "the changed template",
    )
    .await;

    // Broken: reported, and the others keep working.
    std::fs::write(
        dir.path().join("jira-automation-001.json"),
        "{ this is not json",
    )
    .unwrap();
    wait_until(
        || async {
            let (_, v) = app.api_get("/api/webhooks").await;
            v["file_errors"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["file"]
                        .as_str()
                        .unwrap()
                        .ends_with("jira-automation-001.json")
                })
            })
        },
        "the broken file to be reported",
    )
    .await;
    let (s, _) = app
        .github_to(
            hook,
            "your-webhook-secret",
            "issues",
            "f-3",
            &issue_body(3, "opened", &["bug"]),
        )
        .await;
    assert_eq!(s, 202, "a broken file never disturbs the other webhooks");

    // Added and deleted.
    std::fs::write(
        dir.path().join("extra.yaml"),
        "name: Extra\nprovider: jira\ncommands:\n  - trigger: \"jira:*\"\n    action: create_task\n    agent: executor\n    template: \"{{issue.key}}\"\n",
    )
    .unwrap();
    wait_until(
        || async { app.api_get("/api/webhooks/extra").await.0 == 200 },
        "the YAML file to load",
    )
    .await;
    let r = app
        .client
        .post(app.url("/webhooks/jira/extra"))
        .json(&json!({"webhookEvent": "jira:issue_created", "issue": {"key": "K-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    std::fs::remove_file(dir.path().join("extra.yaml")).unwrap();
    wait_until(
        || async { app.api_get("/api/webhooks/extra").await.0 == 404 },
        "the deleted file to unload",
    )
    .await;
    let r = app
        .client
        .post(app.url("/webhooks/jira/extra"))
        .json(&json!({"webhookEvent": "jira:issue_created"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

/// Makes `n` planning tasks through the seed's GitHub webhook.
pub(crate) async fn make_tasks(app: &TestApp, n: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (s, v) = app
            .github_to(
                "/webhooks/github/github-issues-001",
                "your-webhook-secret",
                "issues",
                &format!("t-{i}-{}", uuid::Uuid::new_v4()),
                &issue_body(100 + i, "opened", &["bug"]),
            )
            .await;
        assert_eq!(s, 202);
        ids.push(v["matched"][0]["task_id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn lease_complete_fail_expire(kind: Kind) {
    let app = seed_app(kind).await;
    let ids = make_tasks(&app, 3).await;
    let lease = |body: Value| {
        app.api(
            reqwest::Method::POST,
            "/api/agents/planning/tasks/lease",
            Some(body),
        )
    };
    let (s, v) = lease(json!({"max": 2, "lease_seconds": 60})).await;
    assert_eq!(s, 200, "{v}");
    let got = v["tasks"].as_array().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["task_id"], ids[0].as_str(), "oldest first");
    assert_eq!(got[0]["status"], "leased");
    assert_eq!(got[0]["attempts"], 1);
    let lease_id = got[0]["lease_id"].as_str().unwrap().to_owned();

    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/heartbeat", ids[0]),
            Some(json!({"lease_id": lease_id, "lease_seconds": 120})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[0]),
            Some(json!({"lease_id": lease_id, "result": {"plan": "fix it"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"]["plan"], "fix it");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[0]),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    // A repeated completion under the same lease (a retry after a lost answer)
    // answers the completed task, unchanged; another lease is still refused.
    assert_eq!(s, 200, "completed once, repeated: {v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"]["plan"], "fix it");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[0]),
            Some(json!({"lease_id": "lease_other"})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[1]),
            Some(json!({"lease_id": "lease_wrong"})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/tasks/task_nope/complete",
            Some(json!({"lease_id": "x"})),
        )
        .await;
    assert_eq!(s, 404);

    // Fail with retry: back in the queue; without: failed.
    let l1 = got[1]["lease_id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/fail", ids[1]),
            Some(json!({"lease_id": l1, "error": "flaky", "retry": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "queued");
    let (_, v) = lease(json!({"max": 5, "lease_seconds": 1})).await;
    let again: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(again, [ids[1].as_str(), ids[2].as_str()]);
    assert_eq!(v["tasks"][0]["attempts"], 2);
    let stale_lease = v["tasks"][1]["lease_id"].as_str().unwrap().to_owned();

    // An expired lease returns the task to the queue; the old lease is dead.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, t) = app.api_get(&format!("/api/tasks/{}", ids[2])).await;
    assert_eq!(t["status"], "queued", "an expired lease reads as queued");
    let (_, v) = lease(json!({"max": 5, "lease_seconds": 60})).await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2);
    let t2 = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == ids[2].as_str())
        .unwrap()
        .clone();
    assert_eq!(t2["attempts"], 2);
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[2]),
            Some(json!({"lease_id": stale_lease})),
        )
        .await;
    assert_eq!(s, 409, "the expired lease cannot complete a re-leased task");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/fail", ids[2]),
            Some(json!({"lease_id": t2["lease_id"], "error": "bad input", "retry": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "failed");

    let (_, v) = app.api_get("/api/tasks?agent=planning&status=failed").await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    let (s, _) = lease(json!({"max": 0})).await;
    assert_eq!(s, 422);
    let (s, _) = lease(json!({"wait_seconds": 61})).await;
    assert_eq!(s, 422);
    app.stop().await;
}

async fn concurrent_consumers_never_share_a_task(kind: Kind) {
    let app = std::sync::Arc::new(seed_app(kind).await);
    let ids = make_tasks(&app, 40).await;
    let mut consumers = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        consumers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let (s, v) = app
                    .api(
                        reqwest::Method::POST,
                        "/api/agents/planning/tasks/lease",
                        Some(json!({"max": 3, "lease_seconds": 60})),
                    )
                    .await;
                assert_eq!(s, 200);
                let got = v["tasks"].as_array().unwrap().clone();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(
                    got.into_iter()
                        .map(|t| t["task_id"].as_str().unwrap().to_owned()),
                );
            }
        }));
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), unique.len(), "a task was leased twice");
    assert_eq!(unique.len(), ids.len(), "every task was leased");
}

async fn lease_long_poll_wakes_on_new_task(kind: Kind) {
    // Only the wake-up can answer in time: the fallback look is a minute away.
    let app = std::sync::Arc::new(seed_app_with(kind, |c| c.wait_fallback = NO_FALLBACK).await);
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move {
            let (s, v) = app
                .api(
                    reqwest::Method::POST,
                    "/api/agents/planning/tasks/lease",
                    Some(json!({"wait_seconds": 30})),
                )
                .await;
            (s, v, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = Instant::now();
    let ids = make_tasks(&app, 1).await;
    let (s, v, returned) = waiter.await.unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["tasks"][0]["task_id"], ids[0].as_str());
    let took = returned.saturating_duration_since(created);
    assert!(
        took < PROMPT,
        "the long-poll returned {took:?} after the task was made"
    );
    // With nothing to lease, the wait ends empty at its deadline.
    let started = Instant::now();
    let (_, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents/planning/tasks/lease",
            Some(json!({"wait_seconds": 1})),
        )
        .await;
    assert_eq!(v["tasks"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

async fn interactive_endpoints_record_work(kind: Kind) {
    let app = seed_app(kind).await;
    let (_, v) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "i-1",
            &issue_body(5, "opened", &["bug"]),
        )
        .await;
    let event_id = v["event_id"].as_str().unwrap().to_owned();
    let base = "/api/webhooks/github-issues-001";
    let (s, c) = app
        .api(
            reqwest::Method::POST,
            &format!("{base}/comment"),
            Some(json!({"event_id": event_id, "message": "I've created task-456 to handle this"})),
        )
        .await;
    assert_eq!(s, 202, "{c}");
    let (s, a) = app.api(reqwest::Method::POST, &format!("{base}/ask"), Some(json!({"event_id": event_id, "question": "Should I prioritize this over task-789?"}))).await;
    assert_eq!(s, 202);
    let (_, q) = app
        .api_get(&format!(
            "/api/questions/{}",
            a["question_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(q["thread_key"], "github:acme/app#5");
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            &format!("{base}/respond"),
            Some(json!({"event_id": event_id, "response": "Task completed successfully"})),
        )
        .await;
    assert_eq!(s, 202);
    let (_, outbox) = app.api_get("/api/outbox").await;
    let kinds: Vec<&str> = outbox["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for k in ["comment", "ask", "respond"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let comment = outbox["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["delivery_id"] == c["delivery_id"])
        .unwrap()
        .clone();
    assert_eq!(
        comment["payload"]["message"],
        "I've created task-456 to handle this"
    );
    assert_eq!(
        comment["payload"]["target"]["subject"],
        "https://github.com/acme/app/issues/5"
    );
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            &format!("{base}/comment"),
            Some(json!({"event_id": "evt_nope", "message": "x"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            &format!("{base}/comment"),
            Some(json!({"message": "x"})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks/jira-automation-001/comment",
            Some(json!({"event_id": event_id, "message": "x"})),
        )
        .await;
    assert_eq!(s, 404, "the event belongs to another webhook");
    app.stop().await;
}

/// `GET /api/questions` lists questions newest first with filters and a cursor; an
/// interactive call about an event whose provider Switchyard cannot post on is 422
/// and queues nothing.
async fn questions_are_listed_and_replies_need_a_channel(kind: Kind) {
    let app = seed_app(kind).await;
    let (_, v) = app
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "q-1",
            &issue_body(9, "opened", &[]),
        )
        .await;
    let event_id = v["event_id"].as_str().unwrap().to_owned();
    let mut asked = Vec::new();
    for q in ["first?", "second?"] {
        let (s, a) = app
            .api(
                reqwest::Method::POST,
                "/api/webhooks/github-issues-001/ask",
                Some(json!({"event_id": event_id, "question": q})),
            )
            .await;
        assert_eq!(s, 202, "{a}");
        asked.push(a["question_id"].as_str().unwrap().to_owned());
    }
    let (s, page) = app.api_get("/api/questions?status=open&limit=1").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["questions"][0]["question_id"], asked[1].as_str());
    assert_eq!(page["questions"][0]["question"], "second?");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = app
        .api_get(&format!(
            "/api/questions?status=open&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(page["questions"][0]["question_id"], asked[0].as_str());
    let (_, all) = app
        .api_get(&format!(
            "/api/questions?event_id={event_id}&webhook_id=github-issues-001"
        ))
        .await;
    assert_eq!(all["questions"].as_array().unwrap().len(), 2);
    let (_, none) = app.api_get("/api/questions?status=answered").await;
    assert_eq!(none["questions"], json!([]));
    for bad in ["status=closed", "cursor=garbage", "limit=0", "colour=red"] {
        let (s, v) = app.api_get(&format!("/api/questions?{bad}")).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }

    // A generic event has no thread Switchyard can post on.
    let body = r#"{"type": "deploy.finished", "service": "api"}"#;
    let r = app
        .client
        .post(app.url("/webhooks/generic"))
        .header("content-type", "application/json")
        .header(
            "x-webhook-signature",
            hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), body.as_bytes())),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    let generic_event = v["event_id"].as_str().unwrap().to_owned();
    let (_, before) = app.api_get("/api/outbox").await;
    for action in ["respond", "comment", "ask"] {
        let (s, v) = app
            .api(
                reqwest::Method::POST,
                &format!("/api/webhooks/generic/{action}"),
                Some(json!({"event_id": generic_event, "message": "x", "question": "x", "response": "x"})),
            )
            .await;
        assert_eq!(s, 422, "{action}: {v}");
        assert_eq!(v["error"]["code"], "no_reply_channel");
    }
    let (_, after) = app.api_get("/api/outbox").await;
    let ids = |v: &Value| -> Vec<String> {
        v["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["delivery_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&before), ids(&after), "nothing queued");
    app.stop().await;
}

async fn agents_api(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"name": "planning", "description": "Plans work"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["mode"], "pull");
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"name": "planning"})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents",
            Some(json!({"name": "executor", "mode": "push"})),
        )
        .await;
    assert_eq!(s, 422, "push needs a url: {v}");
    let (s, v) = app
        .api(reqwest::Method::PUT, "/api/agents/executor", Some(json!({"mode": "push", "url": "https://agents.example/executor", "secret": "whsec_abc"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["secret"], "********");
    let (_, v) = app.api_get("/api/agents").await;
    assert_eq!(v["agents"].as_array().unwrap().len(), 2);
    assert!(!v.to_string().contains("whsec_abc"));
    let (s, _) = app
        .api(reqwest::Method::DELETE, "/api/agents/executor", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.api_get("/api/agents/executor").await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn two_replicas_share_one_queue(kind: Kind) {
    let a = std::sync::Arc::new(seed_app(kind).await);
    // The second server sees the first one's webhooks (they live in the store).
    let b = std::sync::Arc::new(TestApp::replica_of(&a).await);
    let (s, v) = b
        .github_to(
            "/webhooks/github/github-issues-001",
            "your-webhook-secret",
            "issues",
            "r-0",
            &issue_body(1, "opened", &["bug"]),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let mut ids = make_tasks(&a, 30).await;
    ids.push(v["matched"][0]["task_id"].as_str().unwrap().to_owned());
    let mut consumers = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        consumers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let (s, v) = app
                    .api(
                        reqwest::Method::POST,
                        "/api/agents/planning/tasks/lease",
                        Some(json!({"max": 2, "lease_seconds": 60})),
                    )
                    .await;
                assert_eq!(s, 200);
                let got = v["tasks"].as_array().unwrap().clone();
                if got.is_empty() {
                    return mine;
                }
                for t in got {
                    let id = t["task_id"].as_str().unwrap().to_owned();
                    let (s, _) = app
                        .api(
                            reqwest::Method::POST,
                            &format!("/api/tasks/{id}/complete"),
                            Some(json!({"lease_id": t["lease_id"]})),
                        )
                        .await;
                    assert_eq!(s, 200, "the holder of a lease completes it");
                    mine.push(id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(
        all.len(),
        unique.len(),
        "a task was leased by two consumers"
    );
    assert_eq!(unique.len(), ids.len());
    let (_, done) = a
        .api_get("/api/tasks?agent=planning&status=completed&limit=100")
        .await;
    assert_eq!(done["tasks"].as_array().unwrap().len(), ids.len());
}

/// An ask is a message and a question, built in one place: repeated with one
/// `Idempotency-Key` (some of the calls at once) it answers the same stored ids and
/// opens one question; a task's follow-up `ask` opens its question too.
async fn every_ask_opens_one_question(kind: Kind) {
    let app = std::sync::Arc::new(seed_app(kind).await);
    let ids = make_tasks(&app, 1).await;
    let (_, t) = app.api_get(&format!("/api/tasks/{}", ids[0])).await;
    let event_id = t["event_id"].as_str().unwrap().to_owned();
    let mut calls = Vec::new();
    for _ in 0..6 {
        let (app, event_id) = (app.clone(), event_id.clone());
        calls.push(tokio::spawn(async move {
            let r = app
                .client
                .post(app.url("/api/webhooks/github-issues-001/ask"))
                .bearer_auth(ADMIN_KEY)
                .header("idempotency-key", "ask-1")
                .json(&json!({"event_id": event_id, "question": "Which release?"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    for a in &answers {
        assert_eq!(a["delivery_id"], answers[0]["delivery_id"], "{answers:?}");
        assert_eq!(a["question_id"], answers[0]["question_id"], "{answers:?}");
    }
    let qid = answers[0]["question_id"].as_str().unwrap();
    let (s, q) = app.api_get(&format!("/api/questions/{qid}")).await;
    assert_eq!(s, 200, "the id answered is the one stored: {q}");
    let (s, d) = app
        .api_get(&format!(
            "/api/deliveries/{}",
            answers[0]["delivery_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["payload"]["question_id"], qid);

    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/agents/planning/tasks/lease",
            Some(json!({"max": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let lease_id = v["tasks"][0]["lease_id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/tasks/{}/complete", ids[0]),
            Some(json!({"lease_id": lease_id,
                        "actions": [{"action": "ask", "message": "Can you attach the log?"}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mut asked: Vec<String> = app
        .store
        .list_questions_for_event(&event_id)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.question)
        .collect();
    asked.sort();
    assert_eq!(asked, ["Can you attach the log?", "Which release?"]);
    if let Ok(app) = std::sync::Arc::try_unwrap(app) {
        app.stop().await;
    }
}
