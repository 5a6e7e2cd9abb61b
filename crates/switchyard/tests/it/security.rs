//! Holes found in review, each held closed at the HTTP level (and the store's, for
//! concurrency) on both stores: a signed webhook never accepts an unsigned request,
//! an ambiguous signature is refused, odd delivery ids neither break ingest nor
//! escape de-duplication, and concurrent redeliveries never deadlock.

use std::sync::Arc;

use serde_json::Value;
use switchyard_store::prelude::*;
use switchyard_store::{WriteOp, WriteOutcome};

use crate::both_stores;
use crate::delivery::{delivery_of, wait_for_status};
use crate::receiver::{Receiver, Reply};
use crate::support::{
    fresh_store, github_signature, hmac_sha256, issue_body, Kind, TestApp, GITHUB_SECRET,
};

both_stores!(
    notion_with_a_secret_never_accepts_unsigned,
    repeated_signature_headers_are_refused,
    odd_delivery_ids_are_stored_and_deduplicated,
    interleaved_redeliveries_never_fail,
    a_credential_goes_only_where_the_operator_said,
    bodies_that_are_not_objects_are_refused,
    concurrent_creates_of_one_id_make_one,
);

const NOTION_TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";

async fn post(app: &TestApp, path: &str, headers: &[(&str, &[u8])], body: &str) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, reqwest::header::HeaderValue::from_bytes(v).unwrap());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Notion's first handshake is unsigned; once a secret is set it is refused like
/// any unsigned request, and nothing is stored or routed.
async fn notion_with_a_secret_never_accepts_unsigned(kind: Kind) {
    let app = TestApp::spawn_with(kind, |c| {
        c.provider_secrets.insert(
            "notion".into(),
            vec![switchyard_core::Secret::new(NOTION_TOKEN)],
        );
    })
    .await;
    let handshake = format!(r#"{{"verification_token":"{NOTION_TOKEN}"}}"#);
    let (s, v) = post(&app, "/webhooks/notion", &[], &handshake).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "signature_missing");
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    let sig = format!(
        "sha256={}",
        hex::encode(hmac_sha256(NOTION_TOKEN.as_bytes(), handshake.as_bytes()))
    );
    let (s, v) = post(
        &app,
        "/webhooks/notion",
        &[("x-notion-signature", sig.as_bytes())],
        &handshake,
    )
    .await;
    assert!(s == 200 || s == 202, "{s} {v}");
    assert_eq!(app.store.count_events().await.unwrap(), 1);
    app.stop().await;
}

/// Two `X-Hub-Signature-256` headers are ambiguous, in either order.
async fn repeated_signature_headers_are_refused(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let body = issue_body(1, "opened", &[]);
    let good = github_signature(GITHUB_SECRET, body.as_bytes());
    let bad = github_signature("not the secret", body.as_bytes());
    for (i, (first, second)) in [(&good, &bad), (&bad, &good)].into_iter().enumerate() {
        let r = app
            .client
            .post(app.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("dup-sig-{i}"))
            .header("x-hub-signature-256", first.as_str())
            .header("x-hub-signature-256", second.as_str())
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "order {i}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "signature_malformed", "{v}");
    }
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
}

/// A delivery id over the length cap is stored by its hash and still
/// de-duplicates; a non-ASCII id and event name are read, not lost.
async fn odd_delivery_ids_are_stored_and_deduplicated(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let body = issue_body(2, "opened", &[]);
    let sig = github_signature(GITHUB_SECRET, body.as_bytes());
    let send = |delivery: Vec<u8>, event: Vec<u8>| {
        let (body, sig) = (body.clone(), sig.clone());
        let app = &app;
        async move {
            post(
                app,
                "/webhooks/github",
                &[
                    ("x-github-event", &event),
                    ("x-github-delivery", &delivery),
                    ("x-hub-signature-256", sig.as_bytes()),
                ],
                &body,
            )
            .await
        }
    };
    let long = "L".repeat(5000).into_bytes();
    let (s, first) = send(long.clone(), b"issues".to_vec()).await;
    assert_eq!(s, 202, "{first}");
    let (s, again) = send(long, b"issues".to_vec()).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["event_id"], first["event_id"]);

    let accented = "déjà-1".as_bytes().to_vec();
    let (s, first) = send(accented.clone(), "issués".as_bytes().to_vec()).await;
    assert_eq!(s, 202, "{first}");
    let (s, again) = send(accented, b"issues".to_vec()).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["event_id"], first["event_id"]);
    let (_, e) = app
        .api_get(&format!(
            "/api/events/{}",
            first["event_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(e["delivery_id"], "déjà-1", "{e}");
    assert_eq!(app.store.count_events().await.unwrap(), 2);
    app.stop().await;
}

fn event(id: &str, delivery: &str) -> WriteOp {
    WriteOp::Event(crate::story::event(
        id,
        "github",
        Some(delivery),
        "issues.opened",
    ))
}

/// Two writers holding the same two redeliveries in opposite orders, many times
/// over: every batch commits, and each delivery is one event.
async fn interleaved_redeliveries_never_fail(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = fresh_store(kind, dir.path()).await;
    for round in 0..40 {
        let (a, b) = (format!("a-{round}"), format!("b-{round}"));
        let one = vec![
            event(&format!("evt_1{round:03}a"), &a),
            event(&format!("evt_1{round:03}b"), &b),
        ];
        let two = vec![
            event(&format!("evt_2{round:03}b"), &b),
            event(&format!("evt_2{round:03}a"), &a),
        ];
        let (s1, s2) = (store.clone(), store.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.write_batch(&one).await }),
            tokio::spawn(async move { s2.write_batch(&two).await }),
        );
        let (r1, r2) = (
            r1.unwrap().expect("batch one"),
            r2.unwrap().expect("batch two"),
        );
        let id = |o: &WriteOutcome| match o {
            WriteOutcome::Event { event_id, .. } => event_id.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(id(&r1[0]), id(&r2[1]), "round {round}: {a} is one event");
        assert_eq!(id(&r1[1]), id(&r2[0]), "round {round}: {b} is one event");
    }
    assert_eq!(store.count_events().await.unwrap(), 80);
}

/// Seed 002's Jira webhook has no secret, so anyone can post to it. With a token
/// configured and no API base, a `comment` must not send the token to the site the
/// payload names (`issue.self`) — only to a host the operator listed for the webhook.
async fn a_credential_goes_only_where_the_operator_said(kind: Kind) {
    let site = Receiver::start().await;
    site.set_default(Reply {
        status: 201,
        ..Reply::json(serde_json::json!({"id": "10000"}))
    });
    let app = TestApp::spawn_with(kind, |c| {
        c.delivery.provider_tokens.insert(
            "jira".into(),
            switchyard_core::writeback::Credentials {
                token: "jira-env-token".into(),
                user: Some("bot@example.com".into()),
            },
        );
    })
    .await;
    let hook = serde_json::json!({"webhook_id": "jx", "name": "jx", "provider": "jira",
        "commands": [{"trigger": "jira:issue_created", "action": "comment", "template": "ack"}]});
    let (s, v) = app
        .api(reqwest::Method::POST, "/api/webhooks", Some(hook.clone()))
        .await;
    assert_eq!(s, 201, "{v}");
    let event = |n: u32| {
        serde_json::json!({"webhookEvent": "jira:issue_created",
            "issue": {"key": format!("OPS-{n}"),
                      "self": format!("{}/rest/api/2/issue/{n}", site.url),
                      "fields": {"summary": "x", "project": {"key": "OPS"}}}})
        .to_string()
    };
    let (s, v) = post(&app, "/webhooks/jira/jx", &[], &event(1)).await;
    assert_eq!(s, 202, "{v}");
    let d = wait_for_status(&app, &delivery_of(&v), "failed").await;
    assert!(
        d["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("api_hosts"),
        "{d}"
    );
    assert_eq!(
        site.count(),
        0,
        "the token went to a site the payload chose"
    );

    // Listed by the operator, the event's own site is used.
    let mut listed = hook;
    listed["api_hosts"] = serde_json::json!(["127.0.0.1"]);
    let (s, v) = app
        .api(reqwest::Method::PUT, "/api/webhooks/jx", Some(listed))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["api_hosts"], serde_json::json!(["127.0.0.1"]));
    let (s, v) = post(&app, "/webhooks/jira/jx", &[], &event(2)).await;
    assert_eq!(s, 202, "{v}");
    wait_for_status(&app, &delivery_of(&v), "delivered").await;
    let got = site.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/rest/api/3/issue/OPS-2/comment");
    app.stop().await;
}

/// Every provider refuses a JSON body that is not an object, as `/webhooks/generic`
/// always did; nothing is stored.
async fn bodies_that_are_not_objects_are_refused(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    for (i, body) in ["7", "[1]", "null"].into_iter().enumerate() {
        let sig = github_signature(GITHUB_SECRET, body.as_bytes());
        let delivery = format!("not-object-{i}");
        let (s, v) = post(
            &app,
            "/webhooks/github",
            &[
                ("x-github-event", b"issues"),
                ("x-github-delivery", delivery.as_bytes()),
                ("x-hub-signature-256", sig.as_bytes()),
            ],
            body,
        )
        .await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "malformed_body");
    }
    assert_eq!(app.store.count_events().await.unwrap(), 0);
    app.stop().await;
}

/// Two creates of one id at once: exactly one 201, every other 409 (webhooks and
/// agents alike).
async fn concurrent_creates_of_one_id_make_one(kind: Kind) {
    let app = Arc::new(TestApp::spawn(kind).await);
    for (path, body) in [
        (
            "/api/webhooks",
            serde_json::json!({"webhook_id": "twin", "name": "twin", "provider": "github"}),
        ),
        (
            "/api/agents",
            serde_json::json!({"name": "twin-agent", "mode": "pull"}),
        ),
    ] {
        let mut calls = Vec::new();
        for _ in 0..8 {
            let (app, body) = (app.clone(), body.clone());
            calls.push(tokio::spawn(async move {
                app.api(reqwest::Method::POST, path, Some(body)).await.0
            }));
        }
        let mut statuses = Vec::new();
        for c in calls {
            statuses.push(c.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409], "{path}");
    }
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
}

/// README's `switchyard webhooks create`, run after the API made that webhook,
/// refuses instead of replacing it (and dropping its commands); `webhooks update`
/// changes only what it is given; creating a signing webhook without a secret
/// says so, through the CLI and the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_create_never_replaces_a_webhook() {
    let app = TestApp::spawn(Kind::Sqlite).await;
    let hook = serde_json::json!({"webhook_id": "github-issues-001", "name": "GitHub Issue Tracker",
        "provider": "github", "secret": "your-webhook-secret",
        "commands": [{"trigger": "issues.opened", "action": "create_task", "agent": "planning"}]});
    let (s, v) = app
        .api(reqwest::Method::POST, "/api/webhooks", Some(hook))
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(v.get("warnings").is_none(), "{v}");
    let crate::support::StoreAt::Sqlite(url) = &app.store_at else {
        unreachable!("a SQLite app")
    };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", url)
            .env("SWITCHYARD_DATA_DIR", app.data_dir())
            .output()
            .expect("run switchyard");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let (ok, _, stderr) = cli(&[
        "webhooks",
        "create",
        "--provider",
        "github",
        "--id",
        "github-issues-001",
        "--secret",
        "S",
    ]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("exists"), "{stderr}");
    let stored = || async {
        app.store
            .get_webhook("github-issues-001")
            .await
            .unwrap()
            .unwrap()
    };
    assert!(stored().await.config_json.contains("create_task"));

    // update: a new secret and disabled; commands kept.
    let (ok, _, stderr) = cli(&[
        "webhooks",
        "update",
        "github-issues-001",
        "--secret",
        "rotated",
        "--disable",
    ]);
    assert!(ok, "{stderr}");
    let w = stored().await;
    assert!(!w.enabled);
    assert!(w.config_json.contains("create_task"), "{}", w.config_json);
    assert_eq!(w.name, "GitHub Issue Tracker");
    app.reload_registry().await;
    let body = issue_body(1, "opened", &[]);
    let post = |secret: &'static str, delivery: &'static str| {
        let body = body.clone();
        let app = &app;
        async move {
            let (s, _) = post(
                app,
                "/webhooks/github/github-issues-001",
                &[
                    ("x-github-event", b"issues"),
                    ("x-github-delivery", delivery.as_bytes()),
                    (
                        "x-hub-signature-256",
                        github_signature(secret, body.as_bytes()).as_bytes(),
                    ),
                ],
                &body,
            )
            .await;
            s
        }
    };
    assert_eq!(post("rotated", "u-1").await, 404, "disabled");
    let (ok, _, stderr) = cli(&[
        "webhooks",
        "update",
        "github-issues-001",
        "--enable",
        "--name",
        "Issues",
    ]);
    assert!(ok, "{stderr}");
    app.reload_registry().await;
    assert_eq!(
        post("your-webhook-secret", "u-2").await,
        401,
        "the old secret is gone"
    );
    assert_eq!(post("rotated", "u-3").await, 202);
    let (_, v) = app.api_get("/api/webhooks/github-issues-001").await;
    assert_eq!(v["name"], "Issues");
    assert_eq!(v["commands"].as_array().unwrap().len(), 1);
    let (ok, _, stderr) = cli(&["webhooks", "update", "github-issues-001"]);
    assert!(!ok && stderr.contains("nothing to change"), "{stderr}");
    let (ok, _, stderr) = cli(&["webhooks", "update", "nope", "--enable"]);
    assert!(!ok && stderr.contains("no webhook nope"), "{stderr}");

    // A signing webhook without a secret is accepted, with a warning saying why its
    // endpoint will answer 404.
    let (ok, _, stderr) = cli(&["webhooks", "create", "--provider", "stripe", "--id", "bare"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: stripe signs its webhooks"),
        "{stderr}"
    );
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks",
            Some(
                serde_json::json!({"webhook_id": "bare2", "name": "bare2", "provider": "shopify"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let warning = v["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("answers 404 until you set one"),
        "{warning}"
    );
    assert!(warning.contains("SHOPIFY_WEBHOOK_SECRET"), "{warning}");
    let (s, v) = app
        .api(
            reqwest::Method::POST,
            "/api/webhooks",
            Some(serde_json::json!({"webhook_id": "open-jira", "name": "open-jira", "provider": "jira"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("accepts unsigned requests"),
        "{v}"
    );
    app.stop().await;
}
