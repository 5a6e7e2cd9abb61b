//! The webhook form in a real headless Chromium (issue 12), on both stores: sign
//! in, create a webhook with two commands (the second row added by the script),
//! see a bad condition's error beside its field with nothing stored, fix it, land
//! on the webhook's page showing both commands and the secret once, then toggle
//! it off and on in the list. Screenshots `webhook_form` and `webhook`.
//! Waits are WebDriver waits with a deadline (`browser.rs`), never sleeps.

use fantoccini::Client;

use crate::both_stores;
use crate::browser::{mark, screenshot, sign_in, still_marked, wait_for, Driver};
use crate::support::{Kind, TestApp};

/// Types `text` into the field `css` after clearing it.
async fn fill(c: &Client, css: &str, text: &str) {
    let field = wait_for(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    wait_for(c, css).await.attr(name).await.unwrap()
}

async fn webhook_form_in_a_browser(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let driver = Driver::start().await;
    let c = driver.session().await;
    let run = async {
        sign_in(&c, &app).await;
        c.goto(&app.url("/ui/webhooks")).await.unwrap();
        wait_for(&c, "#create-webhook").await.click().await.unwrap();
        wait_for(&c, "#webhook-form").await;

        fill(&c, "#name", "Browser Hook").await;
        fill(&c, "#webhook_id", "browser-hook").await;
        fill(&c, "#cmd-0-trigger", "issues.opened").await;
        fill(&c, "#cmd-0-agent", "planning").await;
        // The second row comes from the script, in place.
        mark(&c).await;
        wait_for(&c, "#add-command").await.click().await.unwrap();
        fill(&c, "#cmd-1-trigger", "issues.labeled").await;
        assert!(still_marked(&c).await, "Add command reloaded the page");
        assert_eq!(
            wait_for(&c, "#cmd-1 legend").await.text().await.unwrap(),
            "Command 2"
        );
        fill(&c, "#cmd-1-agent", "triage").await;
        fill(&c, "#cmd-1-conditions", r#"{"bogus": 1}"#).await;
        wait_for(&c, "#save-webhook").await.click().await.unwrap();

        // Refused: the error beside the conditions of command 2, all kept.
        let error = wait_for(&c, "#cmd-1-conditions-error").await;
        assert!(
            error.text().await.unwrap().starts_with("bogus: "),
            "{:?}",
            error.text().await
        );
        assert_eq!(
            attr(&c, "#cmd-1-conditions", "aria-invalid")
                .await
                .as_deref(),
            Some("true")
        );
        assert!(attr(&c, "#cmd-1-conditions", "aria-describedby")
            .await
            .unwrap()
            .contains("cmd-1-conditions-error"));
        assert_eq!(
            attr(&c, "#cmd-0-trigger", "value").await.as_deref(),
            Some("issues.opened")
        );
        assert_eq!(app.api_get("/api/webhooks/browser-hook").await.0, 404);
        c.execute(
            "document.getElementById('cmd-1').scrollIntoView(); return null;",
            vec![],
        )
        .await
        .unwrap();
        screenshot(&c, "webhook_form").await;

        // Fixed and saved: the webhook's page, with its secret this once.
        fill(&c, "#cmd-1-conditions", r#"{"label": "urgent"}"#).await;
        wait_for(&c, "#save-webhook").await.click().await.unwrap();
        let secret = wait_for(&c, "#secret-once").await.text().await.unwrap();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(
            c.current_url().await.unwrap().path(),
            "/ui/webhooks/browser-hook",
            "the page takes the webhook's address"
        );
        let commands = wait_for(&c, "ul.commands").await.text().await.unwrap();
        assert!(
            commands.contains("issues.opened → create_task (planning)")
                && commands.contains("issues.labeled → create_task (triage)"),
            "{commands}"
        );
        screenshot(&c, "webhook").await;
        let (_, w) = app.api_get("/api/webhooks/browser-hook").await;
        assert_eq!(w["commands"].as_array().map(Vec::len), Some(2), "{w}");

        // Off and on again in the list, in place.
        c.goto(&app.url("/ui/webhooks")).await.unwrap();
        mark(&c).await;
        wait_for(&c, "#wh-browser-hook button.toggle[data-enabled=true]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(&c, "#wh-browser-hook button.toggle[data-enabled=false]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(&c, "#wh-browser-hook button.toggle[data-enabled=true]").await;
        assert!(still_marked(&c).await, "the toggle reloaded the page");
        let (_, w) = app.api_get("/api/webhooks/browser-hook").await;
        assert_eq!(w["enabled"], true);
        let (_, audit) = app.api_get("/api/audit?resource_id=browser-hook").await;
        let actions: Vec<&str> = audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["enable", "disable", "create"], "{audit}");
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

both_stores!(webhook_form_in_a_browser);
