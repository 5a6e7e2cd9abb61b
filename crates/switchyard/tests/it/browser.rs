//! The dashboard in a real headless Chromium (issue 12), on both stores: sign in,
//! toggle a webhook in place, an event posted to `/webhooks/...` appearing in an
//! open event list, Approve in the inbox deciding the checkpoint (an API `wait`
//! sees it), and a checkpoint decided through the API leaving an open inbox — the
//! last three without a reload (a marker set in the page's `window` survives).
//!
//! Drives Debian's `chromium` through `chromedriver` (started here on a free port
//! and killed by its PID) with fantoccini. Missing either binary fails the test:
//! `.ci/run` installs them. Waits are WebDriver waits with a deadline, never sleeps.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};
use crate::ui::{github_webhook, post_issue};

/// How long any one thing may take to show in the browser.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// A chromedriver process, killed (by its PID) when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free port and waits (polling its status with a
    /// deadline: an external process) until it answers.
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed (apt-get install chromium chromium-driver)");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let until = Instant::now() + DEADLINE;
        loop {
            if let Ok(r) = client.get(format!("{}/status", driver.url)).send().await {
                if r.status().is_success() {
                    return driver;
                }
            }
            assert!(
                Instant::now() < until,
                "chromedriver did not answer in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A headless Chromium session.
    pub(crate) async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,900"]
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session (is chromium installed?)")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `css` to match in the page.
pub(crate) async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// With `SWITCHYARD_TEST_SCREENSHOTS=DIR` (test-only), saves the page as
/// `DIR/{name}.png`: how docs/dashboard/'s pictures are made.
pub(crate) async fn screenshot(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("SWITCHYARD_TEST_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Marks the page's window: the mark is gone after any reload or navigation.
pub(crate) async fn mark(c: &Client) {
    c.execute("window.__sy_mark = 'kept'; return null;", vec![])
        .await
        .unwrap();
}

pub(crate) async fn still_marked(c: &Client) -> bool {
    c.execute("return window.__sy_mark || null;", vec![])
        .await
        .unwrap()
        == json!("kept")
}

/// Signs in with the admin key through the login form (from a page that
/// sends there), landing on the overview.
pub(crate) async fn sign_in(c: &Client, app: &TestApp) {
    sign_in_with(c, app, ADMIN_KEY).await
}

/// Signs in with `key` through the login form, landing on the overview.
pub(crate) async fn sign_in_with(c: &Client, app: &TestApp, key: &str) {
    c.goto(&app.url("/ui/webhooks")).await.unwrap();
    wait_for(c, "#api_key").await.send_keys(key).await.unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "header .who").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/");
}

async fn dashboard_in_a_browser(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    github_webhook(&app, "gh1").await;
    for id in ["c1", "c2"] {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/checkpoints",
                Some(json!({"checkpoint_id": id, "name": format!("deploy {id}"), "question": "Ship it?"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let driver = Driver::start().await;
    let c = driver.session().await;
    let run = async {
        sign_in(&c, &app).await;

        // Toggle a webhook off: the row changes in place.
        c.goto(&app.url("/ui/webhooks")).await.unwrap();
        mark(&c).await;
        wait_for(&c, "#wh-gh1 button.toggle[data-enabled=true]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(&c, "#wh-gh1 button.toggle[data-enabled=false]")
            .await
            .click()
            .await
            .unwrap();
        // ...and on again, so it takes events.
        wait_for(&c, "#wh-gh1 button.toggle[data-enabled=true]").await;
        assert!(still_marked(&c).await, "the toggle reloaded the page");
        screenshot(&c, "webhooks").await;
        assert_eq!(app.api_get("/api/webhooks/gh1").await.1["enabled"], true);
        let (_, audit) = app.api_get("/api/audit?resource_id=gh1").await;
        // Created, then the two toggles, each an audit row.
        assert_eq!(audit["audit"].as_array().map(Vec::len), Some(3), "{audit}");

        // An event posted now appears at the top of the open list.
        c.goto(&app.url("/ui/events")).await.unwrap();
        wait_for(&c, "#event-list").await;
        mark(&c).await;
        let event_id = post_issue(&app, "gh1", 7).await;
        wait_for(
            &c,
            &format!("#event-list tbody tr:first-child[id='{event_id}']"),
        )
        .await;
        assert!(still_marked(&c).await, "the event list reloaded");

        // The webhook's Test button, pressed in a second tab, sends a signed sample
        // through ingest and shows the event; the list in the first tab gets it
        // without a reload.
        let list_tab = c.window().await.unwrap();
        let test_tab = c.new_window(true).await.unwrap().handle;
        c.switch_to_window(test_tab).await.unwrap();
        c.goto(&app.url("/ui/webhooks/gh1")).await.unwrap();
        wait_for(&c, "#test-webhook").await.click().await.unwrap();
        // The event's page: what matched (the webhook has no commands: nothing).
        wait_for(&c, "#matched").await;
        let tested = c.current_url().await.unwrap();
        let tested = tested.path().trim_start_matches("/ui/events/").to_owned();
        let stored = app.api_get(&format!("/api/events/{tested}")).await;
        assert_eq!(stored.0, 200, "{}", stored.1);
        assert_eq!(stored.1["webhook_id"], "gh1", "{}", stored.1);
        c.close_window().await.unwrap();
        c.switch_to_window(list_tab).await.unwrap();
        wait_for(
            &c,
            &format!("#event-list tbody tr:first-child[id='{tested}']"),
        )
        .await;
        assert!(still_marked(&c).await, "the event list reloaded");
        screenshot(&c, "events").await;

        // Approve decides in one click; a long-poll on the API sees it.
        c.goto(&app.url("/ui/inbox")).await.unwrap();
        wait_for(&c, "#cp-c1").await;
        screenshot(&c, "inbox").await;
        let waiting = app
            .client
            .get(app.url("/api/checkpoints/c1/wait?timeout=20"))
            .bearer_auth(ADMIN_KEY)
            .send();
        let click = async {
            wait_for(&c, "#cp-c1 button[data-decision=approve]")
                .await
                .click()
                .await
                .unwrap();
        };
        let (answer, ()) = tokio::join!(waiting, click);
        let decided: Value = answer.unwrap().json().await.unwrap();
        assert_eq!(decided["status"], "approved", "{decided}");
        assert_eq!(decided["decided_by"], "admin", "{decided}");

        // A decision made elsewhere leaves the open inbox without a reload.
        wait_for(&c, "#inbox-list:not(:has(#cp-c1)) #cp-c2").await;
        mark(&c).await;
        let (s, b) = app
            .api(
                Method::POST,
                "/api/checkpoints/c2/decision",
                Some(json!({"decision": "reject", "by": "someone@example.com"})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        wait_for(&c, "#inbox-list:not(:has(#cp-c2))").await;
        assert!(still_marked(&c).await, "the inbox reloaded");

        // A run's page follows the run: its task completed elsewhere, the page shows
        // it succeeded without a reload.
        crate::runs::serve(&app, &[crate::runs::HANDOFF]).await;
        let run_id = crate::runs::start(&app, "handoff", json!({"incident": "disk"})).await;
        crate::runs::wait_for(&app, &run_id, "waiting").await;
        c.goto(&app.url(&format!("/ui/runs/{run_id}")))
            .await
            .unwrap();
        wait_for(&c, "html[data-stream=open] #run-live").await;
        mark(&c).await;
        crate::runs::complete_next_task(&app, "fixer", json!({"proposal": "p", "risk": "r"})).await;
        c.wait()
            .at_most(DEADLINE)
            .for_element(Locator::XPath(
                "//dd[@id='run-status' and normalize-space(text())='succeeded']",
            ))
            .await
            .unwrap_or_else(|e| panic!("the run page never showed the run succeeded: {e}"));
        assert!(still_marked(&c).await, "the run page reloaded");
        screenshot(&c, "run").await;
        c.goto(&app.url("/ui/workflows")).await.unwrap();
        wait_for(&c, "h1").await;
        screenshot(&c, "workflows").await;
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

both_stores!(dashboard_in_a_browser);
