//! The events pages in a real headless Chromium, on both stores: an event posted
//! to `/webhooks/...` appears at the top of the open event list without a reload;
//! its page lists what it caused; Replay (after a command was added) shows what
//! is new, and pressed again, that nothing is. Screenshot `event`.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

use crate::both_stores;
use crate::browser::{mark, screenshot, still_marked, wait_for, Driver};
use crate::support::{Kind, TestApp, ADMIN_KEY};
use crate::ui::{github_webhook, post_issue};

async fn replay_in_a_browser(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    github_webhook(&app, "gh1").await;
    let driver = Driver::start().await;
    let c = driver.session().await;
    let run = async {
        c.goto(&app.url("/ui/events")).await.unwrap();
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

        // The open list shows a new event at its top, without a reload.
        c.goto(&app.url("/ui/events")).await.unwrap();
        wait_for(&c, "html[data-stream=open] #event-list").await;
        mark(&c).await;
        let event_id = post_issue(&app, "gh1", 3).await;
        wait_for(
            &c,
            &format!("#event-list tbody tr:first-child[id='{event_id}']"),
        )
        .await;
        assert!(still_marked(&c).await, "the event list reloaded");

        // Its page: the task it caused.
        c.find(Locator::Css(&format!("tr[id='{event_id}'] a")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&c, "#caused li[data-kind=task]").await;

        // A command added since: Replay creates its task, and lists it.
        let (s, b) = app
            .api(
                Method::POST,
                "/api/webhooks/gh1/commands",
                Some(json!({"trigger": "issues.*", "action": "create_task", "agent": "review"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        wait_for(&c, "button#replay").await.click().await.unwrap();
        let item = wait_for(&c, "#replayed li[data-kind=task]").await;
        assert!(item.text().await.unwrap().contains("task for review"));
        let (_, caused) = app.api_get(&format!("/api/events/{event_id}/caused")).await;
        assert_eq!(
            caused["caused"].as_array().map(Vec::len),
            Some(2),
            "{caused}"
        );
        screenshot(&c, "event").await;

        // Again: nothing is new.
        wait_for(&c, "button#replay").await.click().await.unwrap();
        c.wait()
            .at_most(crate::browser::DEADLINE)
            .for_element(Locator::XPath(
                "//section[@id='replayed']/p[contains(., 'Nothing new')]",
            ))
            .await
            .unwrap_or_else(|e| panic!("the second replay did not say nothing is new: {e}"));
    };
    // Close the session whatever happened, then report.
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let _ = c.close().await;
    drop(driver);
    app.stop().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

both_stores!(replay_in_a_browser);
