//! The operations pages in a real headless Chromium, on both stores: a delivery
//! dead-lettered by a receiver that always fails shows on `/ui/deliveries`;
//! Retry (with the receiver now answering 200) turns its row to `delivered`
//! without a reload (the stream's `delivery.delivered` notice; a marker set in the
//! page's `window` survives). Screenshots of the deliveries, destinations,
//! overview, tasks and audit pages.

use fantoccini::Locator;

use crate::both_stores;
use crate::browser::{mark, screenshot, still_marked, wait_for, Driver};
use crate::bulk_retry::{forwarded, forwarding};
use crate::delivery::wait_for_status;
use crate::receiver::{Receiver, Reply};
use crate::support::{Kind, TestApp, ADMIN_KEY};

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
        c.goto(&app.url("/ui/login")).await.unwrap();
        wait_for(&c, "#api_key")
            .await
            .send_keys(ADMIN_KEY)
            .await
            .unwrap();
        c.find(Locator::Css("form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&c, "header .who").await;

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
    app.stop().await;
}
