//! The delivery engine end to end, on both stores: forwards signed per Standard
//! Webhooks and retried until they land, Retry-After, 410, the circuit breaker, FIFO,
//! dead letters with manual and bulk retry, push agents, write-backs to fake
//! provider APIs, and two replicas sharing one outbox.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::both_stores;
use crate::receiver::{Receiver, Recorded, Reply};
use crate::support::{github_signature, hmac_sha256, Kind, TestApp};

const SECRET: &str = "gh-secret";

/// Registers a GitHub webhook whose `issues.opened` events are forwarded to `url`.
async fn forwarding_webhook(app: &TestApp, id: &str, url: &str) {
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": id,
                "name": id,
                "provider": "github",
                "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "forward", "url": url,
                              "template": "{{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

async fn post_issue(app: &TestApp, webhook: &str, n: u64) -> Value {
    app.post_issue_to(webhook, SECRET, "d", n).await
}

/// The delivery id routing reported for an event's first match.
pub(crate) fn delivery_of(answer: &Value) -> String {
    answer["matched"][0]["delivery_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no delivery in {answer}"))
        .to_owned()
}

/// A delivery as the API shows it now.
async fn delivery(app: &TestApp, delivery: &str) -> Value {
    let (s, d) = app.api_get(&format!("/api/deliveries/{delivery}")).await;
    assert_eq!(s, 200, "{d}");
    d
}

/// Polls until a delivery has `status`: for retries, which are due only later
/// ([`TestApp::settle`] runs only what is due now).
pub(crate) async fn wait_for_status(app: &TestApp, delivery: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, d) = app.api_get(&format!("/api/deliveries/{delivery}")).await;
        assert_eq!(s, 200, "{d}");
        if d["status"] == status {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "delivery never became {status}: {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Verifies a request's Standard Webhooks signature with `secret` (`whsec_...`),
/// as a receiver would: HMAC-SHA256 over `id.timestamp.body`, any `v1,` entry.
pub(crate) fn verify_standard(r: &Recorded, secret: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &signed));
    r.header("webhook-signature")
        .unwrap_or_default()
        .split(' ')
        .any(|sig| sig == format!("v1,{expected}"))
}

pub(crate) async fn secret_of(app: &TestApp, destination: &str) -> String {
    let (s, b) = app
        .api_get(&format!("/api/destinations/{destination}/secret"))
        .await;
    assert_eq!(s, 200, "{b}");
    b["secret"].as_str().unwrap().to_owned()
}

both_stores!(
    forward_is_retried_until_it_lands,
    retry_after_is_honoured,
    gone_disables_the_destination,
    circuit_breaker_opens_and_probes,
    fifo_destination_keeps_order,
    dead_letter_manual_and_bulk_retry,
    push_agent_gets_signed_tasks,
    write_backs_reach_provider_apis,
    replicas_never_attempt_one_message_twice,
    rotated_secrets_sign_twice,
    limits_are_enforced,
    task_follow_ups_and_interactive_calls_are_sent,
);

async fn forward_is_retried_until_it_lands(kind: Kind) {
    let rx = Receiver::start().await;
    // A redirect is a failure and is not followed.
    rx.script(vec![
        Reply::status(500),
        Reply::status(503),
        Reply::status(302).header("location", "/elsewhere"),
    ]);
    let app = TestApp::spawn(kind).await;
    let url = format!("{}/hook?via=switchyard", rx.url);
    forwarding_webhook(&app, "fwd", &url).await;
    let answer = post_issue(&app, "fwd", 1).await;
    let id = delivery_of(&answer);
    let d = wait_for_status(&app, &id, "delivered").await;
    let got = rx.requests();
    assert_eq!(got.len(), 4, "three failures, then the success");
    let secret = secret_of(&app, d["destination_id"].as_str().unwrap()).await;
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook?via=switchyard");
        assert_eq!(r.header("webhook-id"), Some(id.as_str()), "stable id");
        assert!(verify_standard(r, &secret), "signature of {r:?}");
        assert_eq!(r.body, got[0].body, "same bytes every time");
    }
    let body = got[3].json();
    assert_eq!(body["type"], "issues.opened");
    assert_eq!(body["data"]["message"], "Issue 1");
    assert_eq!(body["data"]["payload"]["issue"]["number"], 1);
    // Every attempt is on record.
    let log = d["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 302, 200]);
    assert!(
        log[2]["error"].as_str().unwrap().contains("redirect"),
        "{log:?}"
    );
    assert_eq!(log[0]["response"], "", "the failures answered nothing");
    assert_eq!(log[3]["response"], "ok");
    assert_eq!(d["attempts"], 4);
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 4);
    app.stop().await;
}

async fn retry_after_is_honoured(kind: Kind) {
    let rx = Receiver::start().await;
    rx.script(vec![Reply::status(429).header("retry-after", "1")]);
    let app = TestApp::spawn(kind).await;
    forwarding_webhook(&app, "ra", &format!("{}/hook", rx.url)).await;
    let id = delivery_of(&post_issue(&app, "ra", 1).await);
    wait_for_status(&app, &id, "delivered").await;
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    // The schedule's next delay is 100 ms; Retry-After asked for a second.
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    app.stop().await;
}

async fn gone_disables_the_destination(kind: Kind) {
    let rx = Receiver::start().await;
    rx.script(vec![Reply::status(410)]);
    let app = TestApp::spawn(kind).await;
    forwarding_webhook(&app, "gone", &format!("{}/hook", rx.url)).await;
    let first = delivery_of(&post_issue(&app, "gone", 1).await);
    app.settle().await;
    assert_eq!(rx.count(), 1);
    let dest = delivery(&app, &first).await["destination_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The 410 is recorded with its attempt: the destination is off by then.
    let (_, b) = app.api_get(&format!("/api/destinations/{dest}")).await;
    assert_eq!(b["enabled"], false, "{b}");
    assert!(
        b["disabled_reason"].as_str().unwrap().contains("410"),
        "{b}"
    );
    // While disabled, nothing is sent; the messages wait.
    let second = delivery_of(&post_issue(&app, "gone", 2).await);
    app.settle().await;
    assert_eq!(rx.count(), 1, "a disabled destination gets nothing");
    assert_eq!(delivery(&app, &second).await["status"], "pending");
    // Listed by destination and status.
    let (_, list) = app
        .api_get(&format!(
            "/api/deliveries?destination={dest}&status=pending"
        ))
        .await;
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 2, "{list}");
    // Turned back on, both go out.
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/destinations/{dest}/enable"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["enabled"], true);
    app.settle().await;
    assert_eq!(delivery(&app, &first).await["status"], "delivered");
    assert_eq!(delivery(&app, &second).await["status"], "delivered");
    assert_eq!(rx.count(), 3);
    app.stop().await;
}

async fn circuit_breaker_opens_and_probes(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::status(500));
    let app = TestApp::spawn_with(kind, |c| {
        c.delivery.breaker.min_requests = 3;
        c.delivery.breaker.failure_ratio = 0.5;
        c.delivery.breaker.open_for = Duration::from_secs(3);
        c.delivery.retry_schedule = vec![Duration::from_millis(50); 30];
    })
    .await;
    forwarding_webhook(&app, "cb", &format!("{}/hook", rx.url)).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(delivery_of(&post_issue(&app, "cb", n).await));
    }
    let (_, d) = app.api_get(&format!("/api/deliveries/{}", ids[0])).await;
    let dest = d["destination_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = app.api_get(&format!("/api/destinations/{dest}")).await;
        if b["circuit"] == "open" {
            break;
        }
        assert!(Instant::now() < deadline, "circuit never opened: {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Open: the destination is left alone (retries are due every 50 ms).
    let before = rx.count();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(rx.count(), before, "requests while the circuit was open");
    // It recovers; the probe succeeds, the circuit closes, everything lands.
    rx.set_default(Reply::status(200));
    for id in &ids {
        wait_for_status(&app, id, "delivered").await;
    }
    let (_, b) = app.api_get(&format!("/api/destinations/{dest}")).await;
    assert_eq!(b["circuit"], "closed", "{b}");
    app.stop().await;
}

async fn fifo_destination_keeps_order(kind: Kind) {
    let rx = Receiver::start().await;
    rx.script(vec![Reply::status(500)]);
    rx.set_default(Reply::status(200).delay(Duration::from_millis(30)));
    let app = TestApp::spawn(kind).await;
    let url = format!("{}/ordered", rx.url);
    let (s, b) = app
        .api(
            Method::POST,
            "/api/destinations",
            Some(json!({"url": url, "fifo": true})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["fifo"], true);
    forwarding_webhook(&app, "fifo", &url).await;
    let mut ids = Vec::new();
    for n in 1..=6 {
        ids.push(delivery_of(&post_issue(&app, "fifo", n).await));
    }
    for id in &ids {
        wait_for_status(&app, id, "delivered").await;
    }
    let numbers: Vec<i64> = rx
        .requests()
        .iter()
        .map(|r| {
            r.json()["data"]["payload"]["issue"]["number"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // The first failed once and was retried before any later message went out.
    assert_eq!(numbers, [1, 1, 2, 3, 4, 5, 6]);
    assert_eq!(rx.max_concurrent(), 1, "one at a time");
    app.stop().await;
}

async fn dead_letter_manual_and_bulk_retry(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::status(500).body("broken"));
    let app = TestApp::spawn(kind).await;
    forwarding_webhook(&app, "dl", &format!("{}/hook", rx.url)).await;
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let a = delivery_of(&post_issue(&app, "dl", 1).await);
    let b = delivery_of(&post_issue(&app, "dl", 2).await);
    let d = wait_for_status(&app, &a, "failed").await;
    wait_for_status(&app, &b, "failed").await;
    // The test schedule has four attempts.
    assert_eq!(d["attempts"], 4);
    let log = d["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 4);
    assert!(log
        .iter()
        .all(|a| a["status_code"] == 500 && a["response"] == "broken"));
    assert_eq!(d["last_error"], "HTTP 500");
    let (_, list) = app.api_get("/api/deliveries?status=failed").await;
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 2);
    // Nothing more is attempted on a dead letter.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.count(), 8);

    rx.set_default(Reply::status(204));
    let (s, r) = app
        .api(Method::POST, &format!("/api/deliveries/{a}/retry"), None)
        .await;
    assert_eq!(s, 202, "{r}");
    let d = wait_for_status(&app, &a, "delivered").await;
    assert_eq!(d["attempts"], 5);
    let (s, _) = app
        .api(Method::POST, "/api/deliveries/msg_nope/retry", None)
        .await;
    assert_eq!(s, 404);

    // Bulk: every dead letter of the destination since a time.
    let dest = d["destination_id"].as_str().unwrap();
    let since = t0
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (s, r) = app
        .api(
            Method::POST,
            &format!("/api/destinations/{dest}/recover"),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["requeued"], 1);
    wait_for_status(&app, &b, "delivered").await;
    let (s, _) = app
        .api(
            Method::POST,
            &format!("/api/destinations/{dest}/recover"),
            Some(json!({"since": "yesterday"})),
        )
        .await;
    assert_eq!(s, 422);
    app.stop().await;
}

async fn push_agent_gets_signed_tasks(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let agent_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (s, b) = app
        .api(
            Method::POST,
            "/api/agents",
            Some(
                json!({"name": "pusher", "mode": "push", "url": format!("{}/tasks", rx.url),
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
                "webhook_id": "push", "name": "push", "provider": "github", "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "create_task", "agent": "pusher",
                              "template": "Plan {{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let answer = post_issue(&app, "push", 9).await;
    let task_id = answer["matched"][0]["task_id"].as_str().unwrap().to_owned();
    app.settle().await;
    let got = rx.requests();
    assert_eq!(got.len(), 1, "one push per task");
    let r = &got[0];
    assert!(
        verify_standard(r, agent_secret),
        "signed with the agent's secret"
    );
    let body = r.json();
    assert_eq!(body["type"], "task.created");
    assert_eq!(body["data"]["task"]["id"], task_id.as_str());
    assert_eq!(body["data"]["task"]["message"], "Plan Issue 9");
    assert_eq!(body["data"]["event"]["payload"]["issue"]["number"], 9);
    let complete_url = body["data"]["complete_url"].as_str().unwrap();
    assert!(complete_url.ends_with(&format!("/api/tasks/{task_id}/complete")));
    // A pushed task is not in the pull queue, and the push's lease completes it.
    let (_, leased) = app
        .api(
            Method::POST,
            "/api/agents/pusher/tasks/lease",
            Some(json!({"max": 5, "wait_seconds": 0})),
        )
        .await;
    assert_eq!(leased["tasks"].as_array().unwrap().len(), 0, "{leased}");
    let lease = body["data"]["task"]["lease_id"].as_str().unwrap();
    let (s, t) = app
        .api(
            Method::POST,
            &format!("/api/tasks/{task_id}/complete"),
            Some(json!({"lease_id": lease, "result": {"ok": true}})),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["status"], "completed");
    app.stop().await;
}

async fn write_backs_reach_provider_apis(kind: Kind) {
    let github = Receiver::start().await;
    github.set_default(Reply {
        status: 201,
        ..Reply::json(json!({"id": 1}))
    });
    let jira = Receiver::start().await;
    jira.set_default(Reply {
        status: 201,
        ..Reply::json(json!({"id": "10000"}))
    });
    let slack = Receiver::start().await;
    slack.script(vec![Reply::json(
        json!({"ok": false, "error": "ratelimited"}),
    )]);
    slack.set_default(Reply::json(json!({"ok": true, "ts": "2.0"})));
    let linear = Receiver::start().await;
    linear.set_default(Reply::json(
        json!({"data": {"commentCreate": {"success": true, "comment": {"id": "c9"}}}}),
    ));
    let (gh, sl, li) = (github.url.clone(), slack.url.clone(), linear.url.clone());
    let app = TestApp::spawn_with(kind, move |c| {
        c.delivery.api_bases.github = gh;
        c.delivery.api_bases.slack = sl;
        c.delivery.api_bases.linear = li;
    })
    .await;
    for cfg in [
        json!({"webhook_id": "gh", "name": "gh", "provider": "github", "secret": SECRET, "api_token": "ghp_test",
               "commands": [{"trigger": "issue_comment.created", "action": "comment",
                             "template": "Thanks {{comment.user.login}}"}]}),
        json!({"webhook_id": "ji", "name": "ji", "provider": "jira", "api_token": "jira-token",
               "api_user": "bot@example.com", "api_base_url": jira.url,
               "commands": [{"trigger": "jira:issue_created", "action": "comment",
                             "template": "Picked up {{issue.key}}"}]}),
        json!({"webhook_id": "sl", "name": "sl", "provider": "slack", "secret": "slack-signing",
               "api_token": "xoxb-test",
               "commands": [{"trigger": "*", "action": "comment", "template": "On it: {{event.text}}"}]}),
        json!({"webhook_id": "li", "name": "li", "provider": "linear", "secret": "linear-secret",
               "api_token": "lin_api_test",
               "commands": [{"trigger": "comment.create", "action": "ask", "template": "Which release?"}]}),
    ] {
        let (s, b) = app.api(Method::POST, "/api/webhooks", Some(cfg)).await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["api_token"], "********", "tokens are write-only");
    }

    // GitHub: an issue comment.
    let body = json!({"action": "created",
        "issue": {"number": 7, "title": "Crash", "html_url": "https://github.com/acme/app/issues/7", "labels": []},
        "comment": {"body": "help", "user": {"login": "alice"}},
        "repository": {"full_name": "acme/app"}, "sender": {"login": "alice"}})
    .to_string();
    let r = app
        .client
        .post(app.url("/webhooks/github/gh"))
        .header("x-github-event", "issue_comment")
        .header("x-github-delivery", "gh-1")
        .header(
            "x-hub-signature-256",
            github_signature(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.settle().await;
    let got = github.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/repos/acme/app/issues/7/comments");
    assert_eq!(got[0].header("authorization"), Some("Bearer ghp_test"));
    assert_eq!(got[0].json(), json!({"body": "Thanks alice"}));

    // Jira: REST v3, Basic auth, the comment in Atlassian Document Format.
    let r = app
        .client
        .post(app.url("/webhooks/jira/ji"))
        .json(&json!({"webhookEvent": "jira:issue_created",
                      "issue": {"key": "PROJ-7", "self": "https://acme.atlassian.net/rest/api/2/issue/10002",
                                "fields": {"summary": "Fix login", "project": {"key": "PROJ"}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.settle().await;
    let got = jira.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/rest/api/3/issue/PROJ-7/comment");
    let basic = base64::engine::general_purpose::STANDARD.encode("bot@example.com:jira-token");
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let adf = got[0].json();
    assert_eq!(adf["body"]["type"], "doc");
    assert_eq!(
        adf["body"]["content"][0]["content"][0]["text"],
        "Picked up PROJ-7"
    );

    // Slack: chat.postMessage in the thread; `ok: false` is a failure and retried.
    let slack_body = json!({"type": "event_callback", "team_id": "T1", "event_id": "Ev1",
        "event": {"type": "message", "channel": "C1", "user": "U1", "text": "deploy?", "ts": "1.2",
                  "thread_ts": "1.1"}})
    .to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            b"slack-signing",
            format!("v0:{ts}:{slack_body}").as_bytes()
        ))
    );
    let r = app
        .client
        .post(app.url("/webhooks/slack/sl"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(slack_body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let got = slack.wait_for(2, Duration::from_secs(10)).await;
    for g in &got {
        assert_eq!(g.path, "/chat.postMessage");
        assert_eq!(g.header("authorization"), Some("Bearer xoxb-test"));
        assert_eq!(
            g.json(),
            json!({"channel": "C1", "text": "On it: deploy?", "thread_ts": "1.1"})
        );
    }
    let (_, list) = app.api_get("/api/deliveries?kind=comment").await;
    let slack_delivery = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["webhook_id"] == "sl")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = wait_for_status(&app, &slack_delivery, "delivered").await;
    let log = d["attempt_log"].as_array().unwrap();
    assert!(
        log[0]["error"].as_str().unwrap().contains("ratelimited"),
        "{log:?}"
    );

    // Linear: an ask posts its question through commentCreate.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let linear_body = json!({"action": "create", "type": "Comment", "webhookTimestamp": now_ms,
        "data": {"id": "cm1", "body": "ship it?", "issueId": "iss-1"},
        "actor": {"name": "Bo"}, "url": "https://linear.app/acme/issue/ENG-1"})
    .to_string();
    let r = app
        .client
        .post(app.url("/webhooks/linear/li"))
        .header("content-type", "application/json")
        .header("linear-delivery", "lin-1")
        .header(
            "linear-signature",
            hex::encode(hmac_sha256(b"linear-secret", linear_body.as_bytes())),
        )
        .body(linear_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    app.settle().await;
    let got = linear.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/graphql");
    assert_eq!(got[0].header("authorization"), Some("lin_api_test"));
    let q = got[0].json();
    assert!(q["query"].as_str().unwrap().contains("commentCreate"));
    assert_eq!(
        q["variables"]["input"],
        json!({"issueId": "iss-1", "body": "Which release?"})
    );
    app.stop().await;
}

async fn replicas_never_attempt_one_message_twice(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::status(200).delay(Duration::from_millis(5)));
    let a = TestApp::spawn(kind).await;
    let b = TestApp::replica_of(&a).await;
    forwarding_webhook(&a, "rep", &format!("{}/hook", rx.url)).await;
    b.reload_registry().await;
    let n = 120;
    let mut ids = Vec::new();
    for i in 0..n {
        // Alternate replicas, so both engines are woken and both claim.
        let app = if i % 2 == 0 { &a } else { &b };
        ids.push(delivery_of(&post_issue(app, "rep", i).await));
    }
    for id in &ids {
        wait_for_status(&a, id, "delivered").await;
    }
    let got = rx.requests();
    let mut seen = std::collections::HashSet::new();
    for r in &got {
        assert!(
            seen.insert(r.header("webhook-id").unwrap().to_owned()),
            "sent twice: {:?}",
            r.header("webhook-id")
        );
    }
    assert_eq!(got.len(), n as usize);
    b.stop().await;
    a.stop().await;
}

async fn rotated_secrets_sign_twice(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    forwarding_webhook(&app, "rot", &format!("{}/hook", rx.url)).await;
    let first = delivery_of(&post_issue(&app, "rot", 1).await);
    app.settle().await;
    let d = delivery(&app, &first).await;
    assert_eq!(d["status"], "delivered", "{d}");
    let dest = d["destination_id"].as_str().unwrap().to_owned();
    let old = secret_of(&app, &dest).await;
    let (s, r) = app
        .api(
            Method::POST,
            &format!("/api/destinations/{dest}/secret/rotate"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let new = r["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let second = delivery_of(&post_issue(&app, "rot", 2).await);
    app.settle().await;
    assert_eq!(delivery(&app, &second).await["status"], "delivered");
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    let last = got.last().unwrap();
    assert_eq!(
        last.header("webhook-signature").unwrap().split(' ').count(),
        2,
        "new and old during the grace period"
    );
    assert!(verify_standard(last, &new));
    assert!(verify_standard(last, &old));
    assert!(
        !verify_standard(&got[0], &new),
        "the first was signed before"
    );
    app.stop().await;
}

async fn limits_are_enforced(kind: Kind) {
    let capped = Receiver::start().await;
    capped.set_default(Reply::status(200).delay(Duration::from_millis(100)));
    let rated = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let (cap_url, rate_url) = (format!("{}/c", capped.url), format!("{}/r", rated.url));
    for (url, settings) in [
        (&cap_url, json!({"max_concurrency": 2})),
        (&rate_url, json!({"rate_per_second": 10, "burst": 1})),
    ] {
        let mut body = settings;
        body["url"] = json!(url);
        let (s, b) = app.api(Method::POST, "/api/destinations", Some(body)).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": "lim", "name": "lim", "provider": "github", "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "forward", "url": cap_url},
                             {"trigger": "issues.opened", "action": "forward", "url": rate_url}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    for n in 1..=8 {
        post_issue(&app, "lim", n).await;
    }
    capped.wait_for(8, Duration::from_secs(20)).await;
    let got = rated.wait_for(8, Duration::from_secs(20)).await;
    assert_eq!(capped.max_concurrent(), 2, "two at a time, never more");
    // Ten a second with a burst of one: eight requests span at least 0.7 s.
    let span = got[7].at.duration_since(got[0].at);
    assert!(span >= Duration::from_millis(650), "8 requests in {span:?}");
    app.stop().await;
}

async fn task_follow_ups_and_interactive_calls_are_sent(kind: Kind) {
    let github = Receiver::start().await;
    let hook = Receiver::start().await;
    let gh = github.url.clone();
    let app = TestApp::spawn_with(kind, move |c| c.delivery.api_bases.github = gh).await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": "work", "name": "work", "provider": "github", "secret": SECRET,
                "api_token": "ghp_work",
                "commands": [{"trigger": "issues.opened", "action": "create_task", "agent": "worker",
                              "template": "{{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let answer = post_issue(&app, "work", 12).await;
    let event_id = answer["event_id"].as_str().unwrap().to_owned();

    // Seed 002's interactive endpoint posts for real now.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks/work/comment",
            Some(json!({"event_id": event_id, "message": "Looking into it"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    app.settle().await;
    let got = github.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/repos/acme/app/issues/12/comments");
    assert_eq!(got[0].header("authorization"), Some("Bearer ghp_work"));
    assert_eq!(got[0].json(), json!({"body": "Looking into it"}));

    let (_, leased) = app
        .api(
            Method::POST,
            "/api/agents/worker/tasks/lease",
            Some(json!({"max": 1})),
        )
        .await;
    let task = &leased["tasks"][0];
    let (task_id, lease) = (
        task["task_id"].as_str().unwrap().to_owned(),
        task["lease_id"].as_str().unwrap().to_owned(),
    );
    // A follow-up that cannot be carried out refuses the whole completion.
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/tasks/{task_id}/complete"),
            Some(json!({"lease_id": lease, "actions": [{"action": "forward", "message": "x"}]})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let (_, t) = app.api_get(&format!("/api/tasks/{task_id}")).await;
    assert_eq!(t["status"], "leased");

    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/tasks/{task_id}/complete"),
            Some(json!({"lease_id": lease, "result": {"pr": 3},
                        "actions": [{"action": "comment", "message": "Fixed in #3"},
                                    {"action": "forward", "url": format!("{}/done", hook.url), "message": "deployed"}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    app.settle().await;
    let got = github.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json(), json!({"body": "Fixed in #3"}));
    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["type"], "task.completed");
    assert_eq!(body["data"]["task_id"], task_id.as_str());
    assert_eq!(body["data"]["message"], "deployed");
    // Completing again under the same lease answers the completed task as it is,
    // and sends nothing more.
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/tasks/{task_id}/complete"),
            Some(
                json!({"lease_id": lease, "actions": [{"action": "comment", "message": "again"}]}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["result"], json!({"pr": 3}));
    app.settle().await;
    assert_eq!(github.count(), 2);
    assert_eq!(hook.count(), 1);
    app.stop().await;
}

/// A stop that arrives while a claim is half done (rows claimed, one waiting on the
/// database while its destination is recorded) ends at once: the claimed rows go
/// back when their claim runs out. It used to wait forever for attempts that were
/// never started. PostgreSQL only: a table lock holds the claim at that point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_claim_does_not_hang() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(Kind::Postgres).await;
    forwarding_webhook(&app, "held", &format!("{}/hook", rx.url)).await;
    let crate::support::StoreAt::Postgres { url, schema } = &app.store_at else {
        unreachable!()
    };
    // Reads of destinations go on (the claim reads them); recording a new one waits.
    let mut locker = sqlx::postgres::PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query(&format!("LOCK TABLE {schema}.destinations IN SHARE MODE"))
        .execute(&mut locker)
        .await
        .unwrap();
    post_issue(&app, "held", 1).await;
    // Wait until the dispatcher's insert of the new destination waits on the lock.
    let mut watcher = sqlx::postgres::PgConnection::connect(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO destinations%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the claim never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("the server stops while a claim waits on the database");
    assert!(started.elapsed() < Duration::from_secs(30));
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
}
