//! The HTTP suite: what a sender and an operator see, on both stores.

use base64::Engine;
use serde_json::json;

use crate::both_stores;
use crate::support::{
    db_url_for, github_signature, hmac_sha256, issue_body, Kind, Server, TestApp, ADMIN_KEY,
    GENERIC_SECRET, GITHUB_SECRET,
};

both_stores!(
    github_event_is_stored_once,
    forged_tampered_unsigned_are_refused_and_audited,
    unknown_and_unconfigured_endpoints_are_404,
    oversized_bodies_are_413,
    media_and_malformed_bodies,
    generic_and_crewai_follow_the_seeds,
    slack_stripe_standard_jira_notion,
    stored_webhooks_with_rotation,
    api_needs_the_key_and_filters,
    concurrent_redeliveries_store_one_event,
    health_and_metrics,
);

async fn github_event_is_stored_once(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let body = issue_body(7, "opened", &["bug"]);
    let (status, v) = app
        .post_github("issues", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body)
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["duplicate"], false);
    assert_eq!(v["matched"], json!([]));
    let id = v["event_id"].as_str().unwrap().to_owned();

    let (status, e) = app.api_get(&format!("/api/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(e["event_type"], "issues.opened");
    assert_eq!(e["provider"], "github");
    assert_eq!(e["webhook_id"], "github");
    assert_eq!(e["delivery_id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(e["source"], "acme/app");
    assert_eq!(e["subject"], "https://github.com/acme/app/issues/7");
    assert_eq!(e["actor"], "octocat");
    assert_eq!(e["thread_key"], "github:acme/app#7");
    assert_eq!(e["payload"]["issue"]["title"], "Issue 7");
    assert_eq!(e["headers"]["x-github-event"], "issues");
    assert_eq!(e["headers"]["x-hub-signature-256"], "[redacted]");
    assert!(e["received_at"].as_str().unwrap().ends_with('Z'));

    // GitHub redelivers with the same delivery id: 200, the original id, nothing new.
    let (status, v) = app
        .post_github("issues", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body)
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["duplicate"], true);
    assert_eq!(v["event_id"], id.as_str());
    assert_eq!(app.store.count_events().await.unwrap(), 1);
    app.stop().await;
}

async fn forged_tampered_unsigned_are_refused_and_audited(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let body = issue_body(1, "opened", &[]);
    let send = |sig: Option<String>, body: String| {
        let mut r = app
            .client
            .post(app.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", "d-forged");
        if let Some(s) = sig {
            r = r.header("x-hub-signature-256", s);
        }
        r.body(body).send()
    };
    let cases = [
        (
            Some(github_signature("wrong secret", body.as_bytes())),
            body.clone(),
            "signature_mismatch",
        ),
        (
            Some(github_signature(GITHUB_SECRET, body.as_bytes())),
            body.replace("Issue 1", "Issue 2"),
            "signature_mismatch",
        ),
        (None, body.clone(), "signature_missing"),
        (
            Some("sha256=zz".into()),
            body.clone(),
            "signature_malformed",
        ),
    ];
    for (sig, body, code) in cases {
        let r = send(sig, body).await.unwrap();
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].is_string());
    }
    assert_eq!(
        app.store.count_events().await.unwrap(),
        0,
        "a refused request stores no event"
    );
    let (_, v) = app.api_get("/api/rejections").await;
    let rows = v["rejections"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["status"] == 401
        && r["remote_addr"] == "127.0.0.1"
        && r["webhook_id"] == "github"));
    assert!(
        !v.to_string().contains("It crashes"),
        "the audit log never holds a body"
    );
    app.stop().await;
}

async fn unknown_and_unconfigured_endpoints_are_404(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for (path, code) in [
        ("/webhooks/nosuch", "unknown_provider"),
        ("/webhooks/stripe", "webhook_not_configured"),
        ("/webhooks/github/not-registered", "unknown_webhook"),
        ("/nowhere", "not_found"),
    ] {
        let r = app
            .client
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{path}");
    }
    let v: serde_json::Value = app
        .client
        .post(app.url("/webhooks/stripe"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("STRIPE_WEBHOOK_SECRET"));
    let r = app
        .client
        .get(app.url("/webhooks/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
}

async fn oversized_bodies_are_413(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| c.max_body_bytes = 1000).await;
    let big = format!(r#"{{"action":"opened","pad":"{}"}}"#, "x".repeat(2000));
    let (status, v) = app.post_github("issues", "big-1", &big).await;
    assert_eq!(status, 413);
    assert_eq!(v["error"]["code"], "body_too_large");
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok(big[..600].to_owned()), Ok(big[600..].to_owned())];
    let r = app
        .client
        .post(app.url("/webhooks/github"))
        .header("x-github-event", "issues")
        .header(
            "x-hub-signature-256",
            github_signature(GITHUB_SECRET, big.as_bytes()),
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
}

async fn media_and_malformed_bodies(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let post = |ct: &'static str, body: &'static str, event: &'static str| {
        app.client
            .post(app.url("/webhooks/github"))
            .header("content-type", ct)
            .header("x-github-event", event)
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header(
                "x-hub-signature-256",
                github_signature(GITHUB_SECRET, body.as_bytes()),
            )
            .body(body)
            .send()
    };
    let r = post("text/plain", "hello", "push").await.unwrap();
    assert_eq!(r.status(), 415);
    let r = post("application/json", "{\"action\": ", "push")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "malformed_body");
    // GitHub's form content type: a `payload` field holding the JSON.
    let r = post(
        "application/x-www-form-urlencoded",
        "payload=%7B%22zen%22%3A%22Keep%20it%20simple%22%7D",
        "ping",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    let (_, e) = app
        .api_get(&format!("/api/events/{}", v["event_id"].as_str().unwrap()))
        .await;
    assert_eq!(e["payload"]["zen"], "Keep it simple");
    assert_eq!(e["event_type"], "ping");
    assert_eq!(app.store.count_events().await.unwrap(), 1);
    app.stop().await;
}

async fn generic_and_crewai_follow_the_seeds(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    // Seed 003 registers its workflow first (an unknown one is 404).
    let (status, body) = crate::runs::post(
        &app,
        "/api/workflows",
        json!({"name": "slack_notification", "yaml": crate::workflows_api::example("slack_notification.yaml")}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Seed 003's payload, signed as its Python sender does.
    let payload = r##"{"workflow_name": "slack_notification", "inputs": {"event_type": "test", "message": "Test webhook from curl", "slack_channel": "#general"}}"##;
    let sig = hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), payload.as_bytes()));
    let r = app
        .client
        .post(app.url("/webhooks/generic"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", &sig)
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = app
        .client
        .post(app.url("/webhooks/generic"))
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "WEBHOOK_SECRET is set: unsigned is refused"
    );

    // CrewAI sends its token as a bearer.
    let r = app
        .client
        .post(app.url("/webhook/crewai?event=task"))
        .bearer_auth(GENERIC_SECRET)
        .json(&json!({"kickoff_id": "k-1", "task": "plan", "output": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, e) = app.api_get(&format!("/api/events/{id}")).await;
    assert_eq!(e["event_type"], "crewai.task");
    assert_eq!(e["thread_key"], "crewai:k-1");
    assert_eq!(e["headers"]["authorization"], "[redacted]");
    let r = app
        .client
        .post(app.url("/webhook/crewai?event=task"))
        .bearer_auth("nope")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Seed 000's send_checkpoint_webhook: X-CrewAI-Signature over the very bytes sent.
    let body = r#"{"checkpoint_id": "cp-1", "checkpoint_name": "review", "kickoff_id": "k-1", "context": {"draft": "v1"}}"#;
    let sig = hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), body.as_bytes()));
    for (value, status) in [
        (format!("sha256={sig}"), 202),
        (format!("sha256={}", "0".repeat(64)), 401),
    ] {
        let r = app
            .client
            .post(app.url("/webhook/crewai"))
            .header("content-type", "application/json")
            .header("x-crewai-signature", value)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
    }
    app.stop().await;

    // With no WEBHOOK_SECRET, seed 003's unsigned curl works.
    let app = TestApp::spawn_with(kind, |c| c.provider_secrets.clear()).await;
    let (status, body) = crate::runs::post(
        &app,
        "/api/workflows",
        json!({"name": "slack_notification", "yaml": crate::workflows_api::example("slack_notification.yaml")}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let r = app
        .client
        .post(app.url("/webhooks/generic"))
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.stop().await;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn slack_stripe_standard_jira_notion(kind: Kind) {
    use switchyard_core::Secret;
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = TestApp::spawn_with(kind, |c| {
        c.provider_secrets
            .insert("slack".into(), vec![Secret::new("slack-signing")]);
        c.provider_secrets
            .insert("stripe".into(), vec![Secret::new("whsec_stripe")]);
        c.provider_secrets
            .insert("standard".into(), vec![Secret::new(WHSEC)]);
    })
    .await;

    // Slack: url_verification is answered with its challenge after verification.
    let body = r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = now().to_string();
    let sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            b"slack-signing",
            format!("v0:{ts}:{body}").as_bytes()
        ))
    );
    let slack = |ts: String, sig: String, body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/webhooks/slack"))
            .header("content-type", ct)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    let r = slack(ts.clone(), sig.clone(), body, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Replayed ten minutes later: stale.
    let old = (now() - 600).to_string();
    let old_sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            b"slack-signing",
            format!("v0:{old}:{body}").as_bytes()
        ))
    );
    let r = slack(old, old_sig, body, "application/json").await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "timestamp_stale"
    );
    // A slash command, form-encoded.
    let form = "command=%2Fdeploy&text=prod&channel_id=C1&user_id=U1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx";
    let sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            b"slack-signing",
            format!("v0:{ts}:{form}").as_bytes()
        ))
    );
    let r = slack(ts.clone(), sig, form, "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, e) = app.api_get(&format!("/api/events/{id}")).await;
    assert_eq!(e["event_type"], "slash_command");
    assert_eq!(e["payload"]["text"], "prod");
    // An Events API message in a public channel.
    let msg = r#"{"type":"event_callback","event_id":"Ev123","event":{"type":"message","channel":"C1","channel_type":"channel","user":"U1","text":"hi","ts":"1.2"}}"#;
    let sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            b"slack-signing",
            format!("v0:{ts}:{msg}").as_bytes()
        ))
    );
    let r = slack(ts.clone(), sig, msg, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (_, page) = app
        .api_get("/api/events?provider=slack&event_type=message.channels")
        .await;
    assert_eq!(page["events"][0]["delivery_id"], "Ev123");

    // Stripe: t=..,v1=.. over "{t}.{body}".
    let body = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"charge.succeeded","data":{"object":{"id":"ch_1","amount":2000,"currency":"usd"}}}"#;
    let t = now();
    let v1 = hex::encode(hmac_sha256(
        b"whsec_stripe",
        format!("{t}.{body}").as_bytes(),
    ));
    let stripe = |header: String| {
        app.client
            .post(app.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body)
            .send()
    };
    let r = stripe(format!("t={t},v1=deadbeef,v1={v1},v0=abc"))
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "any one valid v1 is enough");
    let r = stripe(format!("t={t},v1={v1}")).await.unwrap();
    assert_eq!(r.status(), 200, "same Stripe event id is a duplicate");
    let t_old = t - 301;
    let v1_old = hex::encode(hmac_sha256(
        b"whsec_stripe",
        format!("{t_old}.{body}").as_bytes(),
    ));
    assert_eq!(
        stripe(format!("t={t_old},v1={v1_old}"))
            .await
            .unwrap()
            .status(),
        401
    );

    // Standard Webhooks: "{id}.{ts}.{body}" under the base64 key after whsec_.
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let body = r#"{"type":"invoice.paid","data":{"id":"inv_1"}}"#;
    let ts = now().to_string();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(&key, format!("msg_1.{ts}.{body}").as_bytes()));
    let r = app
        .client
        .post(app.url("/webhooks/standard"))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", &ts)
        .header("webhook-signature", format!("v1,bm90IGl0 v1,{sig}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // Jira with no secret configured: accepted unsigned, as seed 004 says.
    let r = app
        .client
        .post(app.url("/webhooks/jira"))
        .header("x-atlassian-webhook-identifier", "jira-1")
        .json(&json!({"webhookEvent": "jira:issue_created", "issue": {"key": "PROJ-1", "fields": {"summary": "S", "project": {"key": "PROJ"}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (_, page) = app.api_get("/api/events?provider=jira").await;
    assert_eq!(page["events"][0]["event_type"], "jira:issue_created");
    assert_eq!(page["events"][0]["thread_key"], "jira:PROJ-1");

    // Notion's first POST carries the verification token; it is stored and shown.
    let r = app
        .client
        .post(app.url("/webhooks/notion"))
        .json(&json!({"verification_token": "secret_abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (_, page) = app.api_get("/api/events?provider=notion").await;
    let id = page["events"][0]["id"].as_str().unwrap();
    let (_, e) = app.api_get(&format!("/api/events/{id}")).await;
    assert_eq!(e["payload"]["verification_token"], "secret_abc");
    app.stop().await;
}

async fn stored_webhooks_with_rotation(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let sealer = app.state.engine.sealer.clone();
    let now = switchyard_store::now_micros();
    let mut record = switchyard_store::WebhookRecord {
        webhook_id: "github-issues-001".into(),
        name: "GitHub Issue Tracker".into(),
        provider: "github".into(),
        enabled: true,
        secrets: serde_json::to_string(&[sealer.seal(b"old-secret"), sealer.seal(b"new-secret")])
            .unwrap(),
        config_json: "{}".into(),
        created_at: now,
        created_by: "test".into(),
        updated_at: now,
        api_token: None,
    };
    app.store
        .put_webhook(&record, &crate::support::test_audit())
        .await
        .unwrap();
    // Rows written behind the server's back (as the CLI does) are picked up by the
    // registry's refresh; run it now rather than wait for the next tick.
    app.reload_registry().await;
    assert!(
        !record.secrets.contains("old-secret"),
        "secrets are stored sealed"
    );
    let body = issue_body(3, "opened", &[]);
    let post = |secret: &'static str, delivery: &'static str, path: &'static str| {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post("old-secret", "a", "/webhooks/github/github-issues-001")
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        post("new-secret", "b", "/webhooks/github/github-issues-001")
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        post("other", "c", "/webhooks/github/github-issues-001")
            .await
            .unwrap()
            .status(),
        401
    );
    // The default endpoint's secret does not open a stored webhook.
    assert_eq!(
        post(GITHUB_SECRET, "d", "/webhooks/github/github-issues-001")
            .await
            .unwrap()
            .status(),
        401
    );
    // Wrong provider in the path: not this webhook.
    assert_eq!(
        post("new-secret", "e", "/webhooks/gitlab/github-issues-001")
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, page) = app
        .api_get("/api/events?webhook_id=github-issues-001")
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);

    record.enabled = false;
    record.updated_at += 1;
    app.store
        .put_webhook(&record, &crate::support::test_audit())
        .await
        .unwrap();
    app.reload_registry().await;
    let r = post("new-secret", "f", "/webhooks/github/github-issues-001")
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a disabled webhook's endpoint answers 404");
    assert_eq!(
        app.store.count_events().await.unwrap(),
        2,
        "and stores nothing"
    );
    app.stop().await;
}

async fn api_needs_the_key_and_filters(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for i in 0..7 {
        let ev = if i % 2 == 0 {
            "issues"
        } else {
            "issue_comment"
        };
        let (s, _) = app
            .post_github(ev, &format!("del-{i}"), &issue_body(i, "created", &[]))
            .await;
        assert_eq!(s, 202);
    }
    let r = app.client.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );

    let (s, page) = app.api_get("/api/events?limit=3").await;
    assert_eq!(s, 200);
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    assert!(
        page["events"][0].get("payload").is_none(),
        "listings leave payloads out"
    );
    let mut all: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, p) = app
            .api_get(&format!("/api/events?limit=3&cursor={c}"))
            .await;
        all.extend(
            p["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(all.len(), 7);
    let (_, p) = app
        .api_get("/api/events?event_type=issue_comment.created")
        .await;
    assert_eq!(p["events"].as_array().unwrap().len(), 3);
    let (_, p) = app.api_get("/api/events?delivery_id=del-4").await;
    assert_eq!(p["events"][0]["delivery_id"], "del-4");
    let (s, v) = app.api_get("/api/events?limit=0").await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "invalid_limit");
    let (s, v) = app.api_get("/api/events?bogus=1").await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = app.api_get("/api/events/evt_nope").await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "unknown_event");
    let _ = ADMIN_KEY;
    app.stop().await;
}

async fn concurrent_redeliveries_store_one_event(kind: Kind) {
    let app = std::sync::Arc::new(TestApp::spawn(kind).await);
    let body = issue_body(9, "opened", &[]);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let (app, body) = (app.clone(), body.clone());
        // 20 copies of one delivery among 100 distinct ones.
        let delivery = if i % 6 == 0 {
            "same-delivery".to_owned()
        } else {
            format!("d-{i}")
        };
        tasks.push(tokio::spawn(async move {
            app.post_github("issues", &delivery, &body).await
        }));
    }
    let mut same_ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, v) = t.await.unwrap();
        assert!(status == 202 || status == 200, "{status} {v}");
        if i % 6 == 0 {
            same_ids.insert(v["event_id"].as_str().unwrap().to_owned());
        }
        if status == 202 {
            fresh += 1;
        }
    }
    assert_eq!(same_ids.len(), 1, "every copy names the same event");
    assert_eq!(fresh, 101);
    assert_eq!(app.store.count_events().await.unwrap(), 101);
    if let Ok(app) = std::sync::Arc::try_unwrap(app) {
        app.stop().await;
    }
}

/// The `switchyard_webhooks_*` and ingest-duration counts in a Prometheus text
/// page that are not zero, by series (`name{labels}`): the families are made at
/// zero at start (tests/it/observability.rs checks those).
fn ingest_series(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| {
            l.starts_with("switchyard_webhooks_")
                || l.starts_with("switchyard_ingest_duration_seconds_count")
        })
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .filter(|(_, v): &(String, f64)| *v != 0.0)
        .collect()
}

async fn health_and_metrics(kind: Kind) {
    // `/metrics` renders the process's one recorder, which every test in this
    // binary shares; a server process of its own counts only what this test sends,
    // so the counts can be exact.
    let dir = tempfile::tempdir().unwrap();
    let (db_url, pg) = db_url_for(kind, dir.path()).await;
    let server = Server::start(&db_url, dir.path());
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    for path in ["/healthz", "/"] {
        let v: serde_json::Value = client
            .get(url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["store"]["ok"], true);
        assert_eq!(
            v["store"]["kind"],
            if kind == Kind::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
    }
    let body = issue_body(1, "opened", &[]);
    let github = |delivery: &'static str, signature: Option<String>| {
        let mut r = client
            .post(url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", delivery);
        if let Some(s) = signature {
            r = r.header("x-hub-signature-256", s);
        }
        r.body(body.clone()).send()
    };
    let signed = || Some(github_signature(GITHUB_SECRET, body.as_bytes()));
    let forged = Some(github_signature("not the secret", body.as_bytes()));
    for (delivery, signature, status) in [
        ("m-1", signed(), 202),
        ("m-1", signed(), 200),
        ("m-2", signed(), 202),
        ("m-3", None, 401),
        ("m-4", forged.clone(), 401),
        ("m-5", forged, 401),
    ] {
        let r = github(delivery, signature).await.unwrap();
        assert_eq!(r.status(), status, "{delivery}");
    }
    let r = client
        .post(url("/webhooks/nosuch"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let expected: std::collections::BTreeMap<String, f64> = [
        (
            r#"switchyard_webhooks_received_total{provider="github"}"#,
            6.0,
        ),
        (
            r#"switchyard_webhooks_received_total{provider="unknown"}"#,
            1.0,
        ),
        (
            r#"switchyard_webhooks_accepted_total{provider="github"}"#,
            2.0,
        ),
        (
            r#"switchyard_webhooks_duplicates_total{provider="github"}"#,
            1.0,
        ),
        (
            r#"switchyard_webhooks_rejected_total{reason="signature_missing"}"#,
            1.0,
        ),
        (
            r#"switchyard_webhooks_rejected_total{reason="signature_mismatch"}"#,
            2.0,
        ),
        (
            r#"switchyard_webhooks_rejected_total{reason="unknown_provider"}"#,
            1.0,
        ),
        (
            r#"switchyard_ingest_duration_seconds_count{provider="github"}"#,
            6.0,
        ),
        (
            r#"switchyard_ingest_duration_seconds_count{provider="unknown"}"#,
            1.0,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(ingest_series(&text), expected, "/metrics:\n{text}");
    drop(server);
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}
