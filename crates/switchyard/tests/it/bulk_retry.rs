//! `POST /api/deliveries/retry` on both stores: a dry run counts and changes
//! nothing, a real run puts exactly what the filter selects back in the queue
//! (and leaves the rest), a filter is required, a `read` key is refused, and the
//! audit log records the bulk retry's counts and every reveal of a signing secret.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::delivery::{delivery_of, wait_for_status};
use crate::receiver::{Receiver, Reply};
use crate::support::{Kind, TestApp};

pub(crate) const SECRET: &str = "gh-bulk-secret";

/// A GitHub webhook `id` forwarding `issues.opened` to `url`.
pub(crate) async fn forwarding(app: &TestApp, id: &str, url: &str) {
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": id, "name": id, "provider": "github", "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "forward", "url": url,
                              "template": "{{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// Posts issue `n` to webhook `id`; returns the delivery it caused.
pub(crate) async fn forwarded(app: &TestApp, id: &str, n: u64) -> String {
    delivery_of(&app.post_issue_to(id, SECRET, "bulk", n).await)
}

/// Every attempt is made on schedule, however many fail (no circuit opens).
pub(crate) fn no_breaker(c: &mut switchyard_engine::Config) {
    c.delivery.breaker.min_requests = 1_000_000;
}

async fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let (s, d) = app.api_get(&format!("/api/deliveries/{id}")).await;
        assert_eq!(s, 200, "{d}");
        out.push(d["status"].as_str().unwrap().to_owned());
    }
    out
}

both_stores!(
    bulk_retry_counts_then_requeues_exactly_the_selection,
    revealing_a_signing_secret_is_audited,
);

async fn bulk_retry_counts_then_requeues_exactly_the_selection(kind: Kind) {
    let one = Receiver::start().await;
    let two = Receiver::start().await;
    one.set_default(Reply::status(500).body("down"));
    two.set_default(Reply::status(500).body("down too"));
    let app = TestApp::spawn_with(kind, no_breaker).await;
    forwarding(&app, "one", &format!("{}/hook", one.url)).await;
    forwarding(&app, "two", &format!("{}/hook", two.url)).await;
    let mut dead = Vec::new();
    for n in 1..=3 {
        dead.push(forwarded(&app, "one", n).await);
    }
    let other = forwarded(&app, "two", 1).await;
    for id in dead.iter().chain([&other]) {
        wait_for_status(&app, id, "failed").await;
    }
    let (_, d) = app.api_get(&format!("/api/deliveries/{}", dead[0])).await;
    let dest = d["destination_id"].as_str().unwrap().to_owned();

    // No filter, or only a time: refused, nothing touched.
    for body in [json!({}), json!({"since": "2020-01-01T00:00:00Z"})] {
        let (s, b) = app
            .api(Method::POST, "/api/deliveries/retry", Some(body))
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"]["code"], "filter_required", "{b}");
    }
    for (body, code) in [
        (json!({"status": "lost"}), "invalid_status"),
        (json!({"status": "failed", "kind": "nope"}), "invalid_kind"),
        (
            json!({"status": "failed", "since": "yesterday"}),
            "invalid_query",
        ),
    ] {
        let (s, b) = app
            .api(Method::POST, "/api/deliveries/retry", Some(body))
            .await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some(code)), "{b}");
    }
    let (s, b) = app
        .api(
            Method::POST,
            "/api/deliveries/retry",
            Some(json!({"status": "failed", "limit": 5})),
        )
        .await;
    assert_eq!(s, 422, "an unknown field is refused: {b}");

    // A read key may list but not retry.
    let (_, read) = app.make_key(&["read"]).await;
    let (s, b) = app
        .call_as(
            Some(&read),
            Method::POST,
            "/api/deliveries/retry",
            Some(json!({"status": "failed", "dry_run": true})),
        )
        .await;
    assert_eq!(s, 403, "{b}");

    // Dry runs count what a retry would touch and change nothing.
    let dry = |body: Value| {
        let app = &app;
        async move {
            let (s, b) = app
                .api(Method::POST, "/api/deliveries/retry", Some(body))
                .await;
            assert_eq!(s, 200, "{b}");
            b
        }
    };
    let b = dry(json!({"status": "failed", "destination_id": dest, "dry_run": true})).await;
    assert_eq!(b, json!({"matched": 3, "retried": 0, "dry_run": true}));
    // `dead` is a dead letter's other name; without a destination, both count.
    let b = dry(json!({"status": "dead", "dry_run": true})).await;
    assert_eq!(b["matched"], 4, "{b}");
    // The destination by the URL it stands for, as in the list.
    let b = dry(json!({"destination_id": format!("{}/hook", one.url), "dry_run": true})).await;
    assert_eq!(b["matched"], 3, "{b}");
    // Nothing delivered is retryable; nothing created in the future matches.
    let b = dry(json!({"status": "delivered", "dry_run": true})).await;
    assert_eq!(b["matched"], 0, "{b}");
    let b =
        dry(json!({"status": "failed", "since": "2999-01-01T00:00:00Z", "dry_run": true})).await;
    assert_eq!(b["matched"], 0, "{b}");
    assert_eq!(
        statuses(&app, &dead).await,
        ["failed", "failed", "failed"],
        "a dry run changes nothing"
    );
    let (_, audit) = app.api_get("/api/audit?action=retry").await;
    assert!(audit["audit"].as_array().unwrap().is_empty(), "{audit}");
    let sent_to_one = one.count();

    // The real run: exactly destination one's three dead letters go out again.
    one.set_default(Reply::status(204));
    let b = dry(json!({"status": "failed", "destination_id": dest})).await;
    assert_eq!(b, json!({"matched": 3, "retried": 3, "dry_run": false}));
    for id in &dead {
        let d = wait_for_status(&app, id, "delivered").await;
        assert_eq!(d["attempts"], 5, "one more attempt each: {d}");
    }
    one.wait_for(sent_to_one + 3, Duration::from_secs(20)).await;
    let (_, d) = app.api_get(&format!("/api/deliveries/{other}")).await;
    assert_eq!(
        d["status"], "failed",
        "another destination's dead letter stays"
    );
    assert_eq!(d["attempts"], 4, "{d}");

    // Once more: nothing left to retry there.
    let b = dry(json!({"status": "failed", "destination_id": dest})).await;
    assert_eq!(b, json!({"matched": 0, "retried": 0, "dry_run": false}));

    let (_, audit) = app.api_get("/api/audit?action=retry").await;
    let rows = audit["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{audit}");
    let first = &rows[1];
    assert_eq!(first["key_id"], "admin");
    assert_eq!(first["resource_kind"], "delivery");
    assert_eq!(first["resource_id"], dest.as_str());
    assert_eq!(first["after"]["matched"], 3);
    assert_eq!(first["after"]["retried"], 3);
    assert_eq!(first["after"]["status"], "failed");
    app.stop().await;
}

async fn revealing_a_signing_secret_is_audited(kind: Kind) {
    let rx = Receiver::start().await;
    let app = TestApp::spawn(kind).await;
    let url = format!("{}/hook", rx.url);
    let (s, d) = app
        .api(Method::POST, "/api/destinations", Some(json!({"url": url})))
        .await;
    assert_eq!(s, 201, "{d}");
    let dest = d["destination_id"].as_str().unwrap().to_owned();
    let (_, audit) = app.api_get("/api/audit?action=reveal").await;
    assert!(audit["audit"].as_array().unwrap().is_empty(), "{audit}");

    // A read key is refused the secret, and nothing is recorded for it.
    let (_, read) = app.make_key(&["read"]).await;
    let (s, _) = app
        .call_as(
            Some(&read),
            Method::GET,
            &format!("/api/destinations/{dest}/secret"),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (_, audit) = app.api_get("/api/audit?action=reveal").await;
    assert!(audit["audit"].as_array().unwrap().is_empty(), "{audit}");

    let (s, b) = app
        .api_get(&format!("/api/destinations/{dest}/secret"))
        .await;
    assert_eq!(s, 200, "{b}");
    let secret = b["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{b}");

    let (_, audit) = app
        .api_get(&format!(
            "/api/audit?action=reveal&resource_kind=destination&resource_id={dest}"
        ))
        .await;
    let rows = audit["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    assert_eq!(rows[0]["key_id"], "admin");
    assert!(
        !audit.to_string().contains(secret),
        "the log never holds the secret: {audit}"
    );
    app.stop().await;
}
