//! The operations pages in a real headless Chromium, on both stores: a delivery
//! dead-lettered by a receiver that always fails shows on `/ui/deliveries`;
//! Retry (with the receiver now answering 200) turns its row to `delivered`
//! without a reload (the stream's `delivery.delivered` notice; a marker set in the
//! page's `window` survives). Screenshots of the deliveries, destinations,
//! overview, tasks and audit pages. Then a `read` key's session: no form but Sign
//! out, no write button and no secret on any page.

use crate::both_stores;
use crate::browser::{mark, screenshot, sign_in, sign_in_with, still_marked, wait_for, Driver};
use crate::bulk_retry::{forwarded, forwarding};
use crate::delivery::wait_for_status;
use crate::receiver::{Receiver, Reply};
use crate::support::{Kind, TestApp};

both_stores!(retry_a_dead_delivery_in_a_browser);

async fn retry_a_dead_delivery_in_a_browser(kind: Kind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::status(500).body("not today"));
    let app = TestApp::spawn(kind).await;
    forwarding(&app, "br", &format!("{}/hook", rx.url)).await;
    let dead = forwarded(&app, "br", 1).await;
    wait_for_status(&app, &dead, "failed").await;

    let driver = Driver::start().await;
    let c = driver.session().await;
    let run = async {
        sign_in(&c, &app).await;

        c.goto(&app.url("/ui/deliveries")).await.unwrap();
        wait_for(&c, "html[data-stream=open] #delivery-list").await;
        wait_for(&c, &format!("tr[id='{dead}'] td[data-status=failed]")).await;
        screenshot(&c, "deliveries").await;
        mark(&c).await;
        rx.set_default(Reply::status(200));
        wait_for(&c, &format!("tr[id='{dead}'] button.retry"))
            .await
            .click()
            .await
            .unwrap();
        // The retry answers at once (pending); the attempt's notice brings the
        // delivered row without a reload.
        wait_for(&c, &format!("tr[id='{dead}'] td[data-status=delivered]")).await;
        assert!(still_marked(&c).await, "the page was reloaded");
        assert_eq!(
            app.api_get(&format!("/api/deliveries/{dead}")).await.1["status"],
            "delivered"
        );

        for (path, name, css) in [
            ("/ui/destinations", "destinations", "#destination-list"),
            ("/ui/", "overview", "#failing-count"),
            ("/ui/tasks", "tasks", "#task-list"),
            ("/ui/audit", "audit", "h1"),
        ] {
            c.goto(&app.url(path)).await.unwrap();
            wait_for(&c, css).await;
            screenshot(&c, name).await;
        }
    };
    run.await;
    c.close().await.unwrap();

    // A read key, in its own browser session: every page it opens has no form
    // that changes anything (only Sign out), no write button and no secret.
    let (_, read) = app.make_key(&["read"]).await;
    let c = driver.session().await;
    sign_in_with(&c, &app, &read).await;
    for (path, css) in [
        ("/ui/webhooks", "#wh-br"),
        ("/ui/webhooks/br", "h1"),
        ("/ui/events", "#event-list"),
        ("/ui/deliveries", "#delivery-list"),
        (&format!("/ui/deliveries/{dead}") as &str, "#delivery-live"),
        ("/ui/destinations", "#destination-list"),
        ("/ui/tasks", "#task-list"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        wait_for(&c, css).await;
        let actions = c
            .execute(
                "return [...document.querySelectorAll('form[method=post], form[method=POST]')]\
                 .map(f => f.getAttribute('action'));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(actions, serde_json::json!(["/ui/logout"]), "{path}");
        let buttons = c
            .execute(
                "return [...document.querySelectorAll('button')].filter(b => {\
                   const f = b.closest('form');\
                   return !f || (f.method === 'post' && f.getAttribute('action') !== '/ui/logout');\
                 }).length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(buttons, serde_json::json!(0), "{path} shows a write button");
        let html = c.source().await.unwrap();
        assert!(
            !html.contains(crate::bulk_retry::SECRET) && !html.contains("whsec_"),
            "{path} shows a secret"
        );
    }
    c.close().await.unwrap();
    app.stop().await;
}
