//! The dashboard's operations pages over HTTP on both stores: deliveries (with
//! each attempt), the bulk retry's count-then-confirm flow, destinations with the
//! audited secret reveal and Pause / Resume, tasks, the audit log and the
//! overview — each for an admin and for a `read` key, which sees no secret and
//! no write control. The real-browser test is `browser_ops.rs`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_stores;
use crate::bulk_retry::{forwarded, forwarding, no_breaker};
use crate::delivery::wait_for_status;
use crate::receiver::{Receiver, Reply};
use crate::support::{Kind, TestApp, ADMIN_KEY};
use crate::ui::{location, Browser};

both_stores!(operations_pages_for_admin_and_read_keys);

async fn operations_pages_for_admin_and_read_keys(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::status(500).body("receiver says no"));
    let app = TestApp::spawn_with(kind, no_breaker).await;
    forwarding(&app, "ops", &format!("{}/hook", rx.url)).await;
    let a = forwarded(&app, "ops", 1).await;
    let b2 = forwarded(&app, "ops", 2).await;
    wait_for_status(&app, &a, "failed").await;
    wait_for_status(&app, &b2, "failed").await;
    let (_, d) = app.api_get(&format!("/api/deliveries/{a}")).await;
    let dest = d["destination_id"].as_str().unwrap().to_owned();

    let mut admin = Browser::new(&app);
    admin.login(ADMIN_KEY).await;

    // Deliveries: the dead letters with a Retry each and the bulk link.
    let (s, html) = admin.page("/ui/deliveries?status=failed").await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains(&a) && html.contains(&b2), "{html}");
    assert_eq!(html.matches("class=\"retry\"").count(), 2, "{html}");
    assert!(html.contains("id=\"bulk-retry\""), "{html}");
    assert!(html.contains("data-live=\"delivery.delivered"), "{html}");
    // A filter that matches nothing; a bad status is refused with the page.
    let (s, html) = admin.page("/ui/deliveries?status=delivered").await;
    assert_eq!(s, 200);
    assert!(!html.contains(&a), "{html}");
    let (s, _) = admin.page("/ui/deliveries?status=lost").await;
    assert_eq!(s, 400);

    // Its destination is failing (dead letters this hour), on both pages.
    let (_, html) = admin.page("/ui/destinations").await;
    assert!(html.contains("data-health=\"failing\""), "{html}");
    let (_, html) = admin.page("/ui/").await;
    assert!(html.contains("id=\"failing-count\">1<"), "{html}");

    // One delivery: every attempt with status, latency and the answer.
    let (s, html) = admin.page(&format!("/ui/deliveries/{a}")).await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("<td>HTTP 500").count(), 4, "{html}");
    assert!(
        html.contains("receiver says no") && html.contains(" ms<"),
        "{html}"
    );
    assert!(html.contains("id=\"delivery-retry\""), "{html}");

    // The bulk retry first counts, and changes nothing doing so.
    let (s, html) = admin
        .page(&format!(
            "/ui/deliveries/retry?status=failed&destination={dest}"
        ))
        .await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains("This will retry <strong>2</strong> deliveries"),
        "{html}"
    );
    assert_eq!(wait_for_status(&app, &a, "failed").await["attempts"], 4);
    // Confirming needs the CSRF token…
    let r = admin
        .post_form("/ui/deliveries/retry", &[("status", "failed")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // …and retries exactly those.
    rx.set_default(Reply::status(200));
    let csrf = admin.csrf("/ui/deliveries").await;
    let r = admin
        .post_form(
            "/ui/deliveries/retry",
            &[
                ("csrf_token", &csrf),
                ("status", "failed"),
                ("destination", &dest),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Retried <strong>2</strong> of 2"), "{html}");
    wait_for_status(&app, &a, "delivered").await;
    wait_for_status(&app, &b2, "delivered").await;

    // Destinations: health, Pause, and the secret only after a Reveal (audited).
    let secret = {
        let (_, b) = app
            .api_get(&format!("/api/destinations/{dest}/secret"))
            .await;
        b["secret"].as_str().unwrap().to_owned()
    };
    let (s, html) = admin.page("/ui/destinations").await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&dest) && html.contains("class=\"reveal\""),
        "{html}"
    );
    assert!(!html.contains(&secret), "{html}");
    assert!(
        html.contains("data-health=\"ok\""),
        "its dead letters were delivered: {html}"
    );
    let before = reveals(&app, &dest).await;
    let r = admin
        .post_form(
            &format!("/ui/destinations/{dest}/secret"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 200);
    // (minijinja writes `/` as `&#x2f;`, which a browser shows as `/`.)
    let html = r.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains(&secret), "{html}");
    assert_eq!(
        reveals(&app, &dest).await,
        before + 1,
        "the reveal is in the audit log"
    );
    let r = admin
        .post_form(
            &format!("/ui/destinations/{dest}/disable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/destinations".into())
    );
    assert_eq!(
        app.api_get(&format!("/api/destinations/{dest}")).await.1["enabled"],
        false
    );
    let (_, html) = admin.page("/ui/destinations").await;
    assert!(html.contains(">Resume<"), "{html}");
    let r = admin
        .post_form(
            &format!("/ui/destinations/{dest}/enable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.api_get(&format!("/api/destinations/{dest}")).await.1["enabled"],
        true
    );

    // Tasks: a pull agent's queued task with its message.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({"webhook_id": "tk", "name": "tk", "provider": "github", "secret": "gh-bulk-secret",
                        "commands": [{"trigger": "issues.opened", "action": "create_task",
                                      "agent": "planner", "template": "Plan {{issue.title}}"}]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let body = crate::support::issue_body(7, "opened", &[]);
    let r = app
        .client
        .post(app.url("/webhooks/github/tk"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "ops-task-7")
        .header(
            "x-hub-signature-256",
            crate::support::github_signature("gh-bulk-secret", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let (s, html) = admin.page("/ui/tasks?agent=planner&status=queued").await;
    assert_eq!(s, 200);
    assert!(html.contains("Plan ") && html.contains("planner"), "{html}");
    let (_, html) = admin.page("/ui/tasks?status=completed").await;
    assert!(!html.contains("Plan "), "{html}");

    // The audit log shows the reveal, the pause and the bulk retry.
    let (s, html) = admin.page("/ui/audit").await;
    assert_eq!(s, 200);
    for action in ["reveal", "disable", "enable", "retry"] {
        assert!(
            html.contains(&format!("class=\"action\">{action}<")),
            "{action}: {html}"
        );
    }
    let (_, html) = admin.page("/ui/audit?action=reveal").await;
    assert!(!html.contains("class=\"action\">disable<"), "{html}");

    // The overview no longer counts it as failing.
    let (s, html) = admin.page("/ui/").await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"failing-count\">0<"), "{html}");

    // A read key: every page, no secret, no write control; the forms are refused.
    let (_, read) = app.make_key(&["read"]).await;
    let mut reader = Browser::new(&app);
    reader.login(&read).await;
    for path in [
        "/ui/".to_owned(),
        "/ui/deliveries".to_owned(),
        format!("/ui/deliveries/{a}"),
        "/ui/destinations".to_owned(),
        "/ui/tasks".to_owned(),
        "/ui/audit".to_owned(),
    ] {
        let (s, html) = reader.page(&path).await;
        assert_eq!(s, 200, "{path}: {html}");
        assert!(!html.contains(&secret), "{path} shows the secret");
        for write in [
            "method=\"post\" action=\"/ui/d",
            "bulk-retry",
            ">Reveal<",
            ">Pause<",
            ">Retry",
        ] {
            assert!(!html.contains(write), "{path} shows {write}: {html}");
        }
    }
    let csrf = reader.csrf("/ui/deliveries").await;
    for path in [
        format!("/ui/destinations/{dest}/secret"),
        format!("/ui/destinations/{dest}/disable"),
        format!("/ui/deliveries/{a}/retry"),
        "/ui/deliveries/retry".to_owned(),
    ] {
        let r = reader
            .post_form(&path, &[("csrf_token", &csrf), ("status", "failed")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = reader.page("/ui/deliveries/retry?status=failed").await;
    assert_eq!(s, 403);
    assert_eq!(
        reveals(&app, &dest).await,
        before + 1,
        "a refused reveal leaves no row"
    );
    app.stop().await;
}

/// How many reveals of `dest`'s secret the audit log holds.
async fn reveals(app: &TestApp, dest: &str) -> usize {
    let (s, b) = app
        .api_get(&format!("/api/audit?action=reveal&resource_id={dest}"))
        .await;
    assert_eq!(s, 200, "{b}");
    b["audit"].as_array().unwrap().len()
}
