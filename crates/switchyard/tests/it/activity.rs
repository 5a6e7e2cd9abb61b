//! `GET /api/activity` and the overview's charts on both stores: events, refusals,
//! delivery attempts (failed ones, latency) and the queue's depth per minute over
//! the last hour, counted from what really happened on a running server.

use reqwest::Method;
use serde_json::Value;

use crate::both_stores;
use crate::bulk_retry::{forwarded, forwarding, no_breaker};
use crate::delivery::wait_for_status;
use crate::receiver::{Receiver, Reply};
use crate::support::{Kind, TestApp, ADMIN_KEY};
use crate::ui::Browser;

both_stores!(activity_counts_what_happened);

/// The sum of `field` over every minute.
fn total(minutes: &[Value], field: &str) -> i64 {
    minutes.iter().map(|m| m[field].as_i64().unwrap()).sum()
}

async fn activity_counts_what_happened(kind: Kind) {
    let ok = Receiver::start().await;
    let down = Receiver::start().await;
    down.set_default(Reply::status(503).body("down"));
    let app = TestApp::spawn_with(kind, no_breaker).await;

    // Nothing yet: an hour of empty minutes, the current one sampled (depth 0).
    let (s, a) = app.api_get("/api/activity").await;
    assert_eq!(s, 200, "{a}");
    let minutes = a["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "{a}");
    assert_eq!(total(minutes, "events"), 0);
    assert!(minutes[0]["error_rate"].is_null() && minutes[0]["latency_ms"].is_null());
    assert_eq!(minutes[59]["queue_depth"], 0, "{a}");
    let at = |m: &Value| switchyard_engine::time::parse_rfc3339(m["at"].as_str().unwrap()).unwrap();
    for w in minutes.windows(2) {
        assert_eq!(at(&w[1]) - at(&w[0]), 60_000_000, "a minute apart: {a}");
    }
    let now = switchyard_store::now_micros();
    assert!(at(&minutes[59]) <= now && now - at(&minutes[59]) < 60_000_000 + 5_000_000);

    // Two delivered forwards, one that dies after its attempts, one forged request.
    forwarding(&app, "act-ok", &format!("{}/hook", ok.url)).await;
    forwarding(&app, "act-down", &format!("{}/hook", down.url)).await;
    let delivered = [
        forwarded(&app, "act-ok", 1).await,
        forwarded(&app, "act-ok", 2).await,
    ];
    let dead = forwarded(&app, "act-down", 1).await;
    for id in &delivered {
        wait_for_status(&app, id, "delivered").await;
    }
    wait_for_status(&app, &dead, "failed").await;
    let (_, d) = app.api_get(&format!("/api/deliveries/{dead}")).await;
    let dead_attempts = d["attempts"].as_i64().unwrap();
    assert!(dead_attempts >= 2, "{d}");
    let r = app
        .client
        .post(app.url("/webhooks/github/act-ok"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-hub-signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (s, a) = app.api_get("/api/activity").await;
    assert_eq!(s, 200, "{a}");
    let minutes = a["minutes"].as_array().unwrap();
    assert_eq!(total(minutes, "events"), 3, "{a}");
    assert_eq!(total(minutes, "rejected"), 1, "{a}");
    assert_eq!(total(minutes, "attempts"), 2 + dead_attempts, "{a}");
    assert_eq!(total(minutes, "failed_attempts"), dead_attempts, "{a}");
    for m in minutes {
        let arrived = m["events"].as_i64().unwrap() + m["rejected"].as_i64().unwrap();
        match m["error_rate"].as_f64() {
            Some(r) => {
                let want = m["rejected"].as_f64().unwrap() / arrived as f64;
                assert!((r - want).abs() < 1e-9, "{m}");
            }
            None => assert_eq!(arrived, 0, "{m}"),
        }
        assert_eq!(
            m["latency_ms"].is_null(),
            m["attempts"] == 0,
            "latency exactly where there were attempts: {m}"
        );
    }
    assert_eq!(minutes[59]["queue_depth"], 0, "everything finished: {a}");

    // A read key may look; the overview draws the same numbers.
    let (_, read) = app.make_key(&["read"]).await;
    let (s, _) = app
        .call_as(Some(&read), Method::GET, "/api/activity", None)
        .await;
    assert_eq!(s, 200);
    let mut admin = Browser::new(&app);
    admin.login(ADMIN_KEY).await;
    let (s, html) = admin.page("/ui/").await;
    assert_eq!(s, 200, "{html}");
    for id in ["events", "errors", "latency", "queue"] {
        assert!(html.contains(&format!("id=\"chart-{id}\"")), "{id}: {html}");
    }
    assert!(
        html.contains("3 events received in the last hour"),
        "{html}"
    );
    assert!(
        html.contains("25.0% of requests refused in the last hour (1 of 4)"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "over {} delivery attempts in the last hour; {dead_attempts} failed.",
            2 + dead_attempts
        )),
        "{html}"
    );
    assert!(html.contains("0 messages waiting now"), "{html}");
    // A bar per minute that had events, each with its minute and value.
    let chart = html.split("id=\"chart-events\"").nth(1).unwrap();
    let chart = chart.split("</figure>").next().unwrap();
    assert_eq!(chart.matches("<rect").count(), 60, "{chart}");
    app.stop().await;
}
