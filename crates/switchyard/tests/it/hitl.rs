//! Reaching people and resuming agents, on both stores, against real loopback
//! receivers and a real SMTP server: the default notifications (Slack's Block Kit
//! message, an e-mail whose links open a confirm page that only its POST decides),
//! reminders, a signed Slack click deciding (and a forged one not), the signed
//! callback and its failure on the history, and the CrewAI and LangGraph resume calls.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_engine::config::{SmtpConfig, SmtpTls};

use crate::both_stores;
use crate::delivery::{secret_of, verify_standard};
use crate::receiver::{Receiver, Reply};
use crate::smtp::SmtpServer;
use crate::support::{hmac_sha256, Kind, TestApp};

const WAIT: Duration = Duration::from_secs(20);
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

async fn create(app: &TestApp, body: Value) -> Value {
    let (s, b) = app.api(Method::POST, "/api/checkpoints", Some(body)).await;
    assert_eq!(s, 201, "{b}");
    b
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    let (s, b) = app.api_get(&format!("/api/checkpoints/{id}/history")).await;
    assert_eq!(s, 200, "{b}");
    b["history"].as_array().unwrap().clone()
}

/// Waits until the history has a step of `kind` for `channel`. The step is
/// written with the attempt's record, so each round first lets the delivery
/// engine attempt and record what is due (`settle`); the short pause between
/// rounds is for retries that are not due yet (the test schedule is 0–300 ms).
async fn wait_for_step(app: &TestApp, id: &str, kind: &str, channel: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    app.settle().await;
    loop {
        let h = history(app, id).await;
        if let Some(step) = h
            .iter()
            .find(|s| s["kind"] == kind && s["detail"]["channel"] == channel)
        {
            return step.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} step for {channel} in {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.settle().await;
    }
}

fn notify_config(rx: &Receiver, smtp: &SmtpServer) -> impl FnOnce(&mut switchyard_engine::Config) {
    let slack = format!("{}/slack/incoming", rx.url);
    let port = smtp.port;
    move |c| {
        c.notify.slack_webhook_url = Some(slack);
        c.notify.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
            from: "Switchyard <switchyard@example.com>".into(),
            tls: SmtpTls::None,
        });
        c.notify.email_to = vec!["ops@example.com".into()];
        c.secrets_from_env(|k| (k == "SLACK_WEBHOOK_SECRET").then(|| SLACK_SECRET.into()));
    }
}

/// The decision links an e-mail carries: `(decision label, token)`.
fn confirm_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("/ui/confirm/") {
        let tail = &rest[i + "/ui/confirm/".len()..];
        let token: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if !out.contains(&token) {
            out.push(token);
        }
        rest = tail;
    }
    out
}

async fn defaults_reach_slack_and_email_and_links_decide(kind: Kind) {
    let rx = Receiver::start().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(kind, notify_config(&rx, &smtp)).await;
    create(
        &app,
        json!({"checkpoint_id": "mail-1", "name": "Publish the report",
               "question": "Send the Q3 report to the board?",
               "context": {"report": "Q3", "pages": 12}}),
    )
    .await;
    // Slack: the Block Kit message with both buttons.
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/slack/incoming");
    let message = got[0].json();
    let buttons = switchyard_core::notice::buttons(&message);
    assert_eq!(
        buttons,
        [
            ("switchyard:approve:mail-1".to_owned(), "mail-1".to_owned()),
            ("switchyard:reject:mail-1".to_owned(), "mail-1".to_owned())
        ]
    );
    // E-mail: one confirm link per decision.
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].to, ["<ops@example.com>"]);
    let text = mails[0].text();
    assert!(text.contains("Publish the report"), "{text}");
    let tokens = confirm_tokens(&text);
    assert_eq!(tokens.len(), 2, "approve and reject: {tokens:?}");
    // Each channel's sending is on the history.
    wait_for_step(&app, "mail-1", "notified", "slack").await;
    wait_for_step(&app, "mail-1", "notified", "email").await;
    wait_for_step(&app, "mail-1", "notified", "websocket").await;

    // The link's GET shows the page and decides nothing.
    let approve = &tokens[0];
    let page = app
        .client
        .get(app.url(&format!("/ui/confirm/{approve}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<button type=\"submit\">Approve</button>"),
        "{html}"
    );
    let (_, c) = app.api_get("/api/checkpoints/mail-1").await;
    assert_eq!(c["status"], "pending", "a GET never decides");
    // A forged link is refused.
    let forged = format!("{}x", &approve[..approve.len() - 1]);
    let r = app
        .client
        .get(app.url(&format!("/ui/confirm/{forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Its POST decides.
    let r = app
        .client
        .post(app.url(&format!("/ui/confirm/{approve}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("comment=looks+good&by=Dana")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, c) = app.api_get("/api/checkpoints/mail-1").await;
    assert_eq!(c["status"], "approved", "{c}");
    assert_eq!(c["decided_by"], "Dana");
    assert_eq!(c["comment"], "looks good");
    // The reject link now finds it decided.
    let r = app
        .client
        .post(app.url(&format!("/ui/confirm/{}", tokens[1])))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    app.stop().await;
}

async fn reminders_go_to_the_checkpoints_channels(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let own = format!("{}/own-slack", rx.url);
    create(
        &app,
        json!({"checkpoint_id": "rem-1", "name": "n", "remind_after_seconds": 1,
               "notify": [{"channel": "slack", "webhook_url": own}]}),
    )
    .await;
    let got = rx.wait_for(2, WAIT).await;
    assert!(got.iter().all(|r| r.path == "/own-slack"));
    let texts: Vec<String> = got
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!texts[0].starts_with("Reminder"), "{texts:?}");
    assert!(texts[1].starts_with("Reminder: "), "{texts:?}");
    wait_for_step(&app, "rem-1", "notified", "slack").await;
    let kinds: Vec<String> = history(&app, "rem-1")
        .await
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"reminded".to_owned()), "{kinds:?}");
    // A channel the server cannot serve is refused when the checkpoint is made.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/checkpoints",
            Some(json!({"name": "n", "notify": [{"channel": "email", "to": ["a@example.com"]}]})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["fields"][0]["path"], "notify[0]", "{b}");
    app.stop().await;
}

fn slack_form(checkpoint: &str, decision: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U123", "username": "alice"},
        "response_url": response_url,
        "actions": [{"action_id": format!("switchyard:{decision}:{checkpoint}"),
                     "value": checkpoint, "type": "button"}],
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

async fn click(app: &TestApp, body: &str, secret: &str) -> (u16, Value) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sig = hex::encode(hmac_sha256(
        secret.as_bytes(),
        format!("v0:{ts}:{body}").as_bytes(),
    ));
    let r = app
        .client
        .post(app.url("/slack/interactivity"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", format!("v0={sig}"))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn slack_clicks_decide_only_when_signed(kind: Kind) {
    let rx = Receiver::start().await;
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(kind, notify_config(&rx, &smtp)).await;
    create(
        &app,
        json!({"checkpoint_id": "click-1", "name": "Deploy", "notify": [{"channel": "websocket"}]}),
    )
    .await;
    let response_url = format!("{}/slack/response/1", rx.url);
    let body = slack_form("click-1", "approve", &response_url);
    // Signed with another secret: refused, nothing decided.
    let (s, b) = click(&app, &body, "not-the-secret").await;
    assert_eq!(s, 401, "{b}");
    let (_, c) = app.api_get("/api/checkpoints/click-1").await;
    assert_eq!(c["status"], "pending");
    // Signed: decided by the clicking user, and the message is replaced.
    let (s, b) = click(&app, &body, SLACK_SECRET).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["checkpoint"]["status"], "approved", "{b}");
    assert_eq!(b["checkpoint"]["decided_by"], "alice");
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/slack/response/1");
    let m = got[0].json();
    assert_eq!(m["replace_original"], true);
    assert!(
        m["text"].as_str().unwrap().contains("Approved by @alice"),
        "{m}"
    );
    // A second click (on another message) finds it decided: 409, and that message
    // too is replaced with the outcome.
    let late_url = format!("{}/slack/response/2", rx.url);
    let (s, b) = click(
        &app,
        &slack_form("click-1", "reject", &late_url),
        SLACK_SECRET,
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["checkpoint"]["status"], "approved");
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got[1].path, "/slack/response/2");
    let text = got[1].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("Approved by @alice"), "{text}");
    app.stop().await;
}

async fn callbacks_and_resume_calls_are_sent(kind: Kind) {
    let rx = Receiver::start().await;
    let crewai = format!("{}/crewai", rx.url);
    let app = TestApp::spawn_with(kind, move |c| {
        c.notify.crewai_api_url = Some(crewai);
        c.notify.crewai_api_token = Some("crew-token".to_owned().into());
        c.delivery.public_url = "https://switchyard.example.com".into();
    })
    .await;
    // LangGraph, edited, with a signed callback.
    create(
        &app,
        json!({"checkpoint_id": "lg-1", "name": "send_email", "decisions": ["approve", "edit"],
               "notify": [{"channel": "websocket"}],
               "callback_url": format!("{}/callback", rx.url),
               "action": {"name": "send_email", "args": {"to": "a@example.com"}},
               "resume": {"kind": "langgraph", "url": format!("{}/lg", rx.url),
                          "thread_id": "t-1", "assistant_id": "agent"}}),
    )
    .await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/checkpoints/lg-1/decision",
            Some(json!({"decision": "edit", "by": "bob",
                        "edited_action": {"name": "send_email", "args": {"to": "b@example.com"}}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["edited_action"],
        json!({"name": "send_email", "args": {"to": "b@example.com"}}),
        "{b}"
    );
    let got = rx.wait_for(2, WAIT).await;
    let callback = got
        .iter()
        .find(|r| r.path == "/callback")
        .expect("callback");
    let resume = got
        .iter()
        .find(|r| r.path == "/lg/threads/t-1/runs")
        .expect("resume");
    let body = callback.json();
    assert_eq!(body["type"], "checkpoint.decided");
    assert_eq!(body["data"]["checkpoint_id"], "lg-1");
    assert_eq!(body["data"]["status"], "edited");
    let (_, d) = app.api_get("/api/deliveries?kind=callback").await;
    let dest = d["deliveries"][0]["destination_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = secret_of(&app, &dest).await;
    assert!(verify_standard(callback, &secret), "callback signature");
    assert_eq!(
        resume.json(),
        json!({"assistant_id": "agent", "command": {"resume": {"decisions": [
            {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "b@example.com"}}}
        ]}}})
    );
    wait_for_step(&app, "lg-1", "callback_delivered", "callback").await;
    wait_for_step(&app, "lg-1", "callback_delivered", "langgraph").await;

    // CrewAI, rejected: the bearer token, and the kickoff's webhook URLs kept.
    create(
        &app,
        json!({"checkpoint_id": "crew-1", "name": "review", "notify": [{"channel": "websocket"}],
               "resume": {"kind": "crewai", "execution_id": "exec-9", "task_id": "task-3"}}),
    )
    .await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/checkpoints/crew-1/decision",
            Some(json!({"decision": "reject", "comment": "too risky"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let got = rx.wait_for(3, WAIT).await;
    let r = got
        .iter()
        .find(|r| r.path == "/crewai/resume")
        .expect("crewai resume");
    assert_eq!(r.header("authorization"), Some("Bearer crew-token"));
    assert_eq!(
        r.json(),
        json!({"execution_id": "exec-9", "task_id": "task-3", "human_feedback": "too risky",
               "is_approve": false,
               "taskWebhookUrl": "https://switchyard.example.com/webhook/crewai?event=task",
               "stepWebhookUrl": "https://switchyard.example.com/webhook/crewai?event=step",
               "crewWebhookUrl": "https://switchyard.example.com/webhook/crewai?event=crew"})
    );

    // A callback that always fails ends on the history as callback_failed.
    rx.set_default(Reply::status(500));
    create(
        &app,
        json!({"checkpoint_id": "cb-fail", "name": "n", "notify": [{"channel": "websocket"}],
               "callback_url": format!("{}/down", rx.url)}),
    )
    .await;
    let (s, _) = app
        .api(Method::POST, "/api/checkpoints/cb-fail/cancel", None)
        .await;
    assert_eq!(s, 200);
    let step = wait_for_step(&app, "cb-fail", "callback_failed", "callback").await;
    assert_eq!(step["detail"]["type"], "checkpoint.cancelled");
    assert_eq!(step["detail"]["outcome"], "failed", "{step}");
    assert!(step["detail"]["error"].is_string(), "{step}");
    app.stop().await;
}

async fn the_bot_posts_to_a_channel(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::json(json!({"ok": true, "ts": "1700000000.000100"})));
    let api = format!("{}/api", rx.url);
    let app = TestApp::spawn_with(kind, move |c| {
        c.delivery.api_bases.slack = api;
        c.delivery.provider_tokens.insert(
            "slack".into(),
            switchyard_core::writeback::Credentials {
                token: "xoxb-test".into(),
                user: None,
            },
        );
    })
    .await;
    create(
        &app,
        json!({"checkpoint_id": "bot-1", "name": "Rotate keys",
               "notify": [{"channel": "slack", "slack_channel": "C0123"}]}),
    )
    .await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].path, "/api/chat.postMessage");
    assert_eq!(got[0].header("authorization"), Some("Bearer xoxb-test"));
    let body = got[0].json();
    assert_eq!(body["channel"], "C0123");
    assert_eq!(
        switchyard_core::notice::buttons(&body).len(),
        2,
        "approve and reject buttons: {body}"
    );
    let step = wait_for_step(&app, "bot-1", "notified", "slack").await;
    assert_eq!(step["detail"]["outcome"], "sent");
    // Counted (the process's one recorder: other tests add to it, never take away).
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The series exists from start: it must have counted.
    let sent = crate::support::metric(
        &metrics,
        "switchyard_notifications_total",
        &[("channel", "slack"), ("outcome", "sent")],
    );
    assert!(sent.is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(
        metrics.contains("switchyard_checkpoints_pending"),
        "{metrics}"
    );
    // Slack's refusals come as 200 with "ok": false: retried, then failed.
    rx.set_default(Reply::json(
        json!({"ok": false, "error": "channel_not_found"}),
    ));
    create(
        &app,
        json!({"checkpoint_id": "bot-2", "name": "n",
               "notify": [{"channel": "slack", "slack_channel": "C404"}]}),
    )
    .await;
    let step = wait_for_step(&app, "bot-2", "notified", "slack").await;
    assert_eq!(step["detail"]["outcome"], "failed", "{step}");
    assert!(
        step["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("channel_not_found"),
        "{step}"
    );
    app.stop().await;
}

both_stores!(
    the_bot_posts_to_a_channel,
    defaults_reach_slack_and_email_and_links_decide,
    reminders_go_to_the_checkpoints_channels,
    slack_clicks_decide_only_when_signed,
    callbacks_and_resume_calls_are_sent,
);
