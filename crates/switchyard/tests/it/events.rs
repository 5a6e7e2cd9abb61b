//! The event log's filters (`GET /api/events` and `/ui/events`), what an event
//! caused (`GET /api/events/{id}/caused` and its page), and replaying an event
//! (`POST /api/events/{id}/replay` and the page's Replay button), on both stores.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{Kind, TestApp};
use crate::ui::Browser;

const SECRET: &str = "gh-events-secret";

/// Registers GitHub webhook `id` with `commands`.
async fn webhook(app: &TestApp, id: &str, commands: Value) {
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(
                json!({"webhook_id": id, "name": format!("Hook {id}"), "provider": "github",
                        "secret": SECRET, "commands": commands}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// Posts a signed `issues.opened` titled `title` to webhook `id`; its event id.
async fn post(app: &TestApp, id: &str, delivery: &str, title: &str) -> String {
    let body = json!({
        "action": "opened",
        "issue": {"number": 1, "title": title, "body": "b",
                  "html_url": "https://github.com/acme/app/issues/1", "labels": []},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "octocat"}
    })
    .to_string();
    let (s, b) = app
        .post_github_to(
            &format!("/webhooks/github/{id}"),
            SECRET,
            "issues",
            delivery,
            &body,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["event_id"].as_str().unwrap().to_owned()
}

/// The event ids of an `/api/events` answer.
fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

both_stores!(filters_on_the_api_and_the_page, caused_and_replay);

async fn filters_on_the_api_and_the_page(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    webhook(&app, "gh-a", json!([])).await;
    webhook(&app, "gh-b", json!([])).await;
    let first = post(&app, "gh-a", "a-1", "Disk FULL on web-1").await;
    let second = post(&app, "gh-a", "a-2", "100% of disk_usage").await;
    let other = post(&app, "gh-b", "b-1", "disk full on db-1").await;

    let (s, p) = app.api_get("/api/events?webhook_id=gh-a").await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(ids(&p), [second.as_str(), first.as_str()]);
    let (_, p) = app.api_get("/api/events?q=disk%20full").await;
    assert_eq!(ids(&p), [other.as_str(), first.as_str()], "case is ignored");
    let (_, p) = app.api_get("/api/events?q=100%25").await;
    assert_eq!(ids(&p), [second.as_str()]);
    let (_, p) = app.api_get("/api/events?q=k_u").await;
    assert_eq!(ids(&p), [second.as_str()], "_ matches only itself");
    let (_, p) = app.api_get("/api/events?q=kxu").await;
    assert_eq!(ids(&p), Vec::<String>::new());
    let (_, p) = app.api_get("/api/events?webhook_id=gh-b&q=DISK").await;
    assert_eq!(ids(&p), [other.as_str()], "filters combine");

    // Time bounds, from the stored times (RFC 3339, inclusive).
    let (_, e) = app.api_get(&format!("/api/events/{second}")).await;
    let at = e["received_at"].as_str().unwrap().to_owned();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (_, p) = app
        .api_get(&format!("/api/events?since={}", enc(&at)))
        .await;
    assert_eq!(ids(&p), [other.as_str(), second.as_str()]);
    let (_, p) = app
        .api_get(&format!("/api/events?until={}", enc(&at)))
        .await;
    assert_eq!(ids(&p), [second.as_str(), first.as_str()]);
    let (s, v) = app.api_get("/api/events?since=yesterday").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_query");
    assert!(v["error"]["message"].as_str().unwrap().contains("since"));

    // The page: the same filters, kept in the form and carried to the next page.
    let mut b = Browser::new(&app);
    b.login(crate::support::ADMIN_KEY).await;
    let (s, html) = b.page("/ui/events?webhook_id=gh-a&q=disk+full").await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("id=\"{first}\"")), "{html}");
    assert!(!html.contains(&format!("id=\"{second}\"")));
    assert!(!html.contains(&format!("id=\"{other}\"")));
    assert!(html.contains("<option value=\"gh-a\" selected>"), "{html}");
    assert!(html.contains("name=\"q\" value=\"disk full\""), "{html}");
    let (s, html) = b
        .page("/ui/events?from=2000-01-01T00:00&to=2000-01-01T00:00")
        .await;
    assert_eq!(s, 200);
    assert!(html.contains("No events match these filters"), "{html}");
    let (s, _) = b.page("/ui/events?from=soon").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // More than a page of matches: the next page's link keeps the filters.
    let ops: Vec<_> = (0..51)
        .map(|i| {
            let mut e = switchyard_store::NewEvent::plain(
                switchyard_store::new_id("evt"),
                "gh-b".into(),
                "github".into(),
                "issues.opened".into(),
            );
            e.payload = format!(r#"{{"note":"paged {i}"}}"#);
            switchyard_store::WriteOp::Event(e)
        })
        .collect();
    app.store.write_batch(&ops).await.unwrap();
    let (_, html) = b.page("/ui/events?webhook_id=gh-b&q=PAGED").await;
    let link = "rel=\"next\" href=\"";
    let at = html.find(link).expect("a next page") + link.len();
    let next = html[at..at + html[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(
        next.contains("webhook_id=gh-b") && next.contains("q=PAGED"),
        "{next}"
    );
    let (_, html) = b.page(&next).await;
    assert_eq!(html.matches("<tr id=\"evt_").count(), 1, "{html}");
    let (_, p) = app
        .api_get("/api/events?webhook_id=gh-b&q=paged%200&limit=5")
        .await;
    assert_eq!(p["events"].as_array().unwrap().len(), 1);
    assert!(
        html.contains(p["events"][0]["event_id"].as_str().unwrap()),
        "the oldest match is on page two"
    );
    app.stop().await;
}

async fn caused_and_replay(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    webhook(
        &app,
        "gh-r",
        json!([{"trigger": "issues.opened", "action": "create_task", "agent": "triage",
                "template": "Look at {{issue.title}}"}]),
    )
    .await;
    let event = post(&app, "gh-r", "r-1", "Broken build").await;
    let (s, c) = app.api_get(&format!("/api/events/{event}/caused")).await;
    assert_eq!(s, 200, "{c}");
    let caused = c["caused"].as_array().unwrap();
    assert_eq!(caused.len(), 1, "{c}");
    assert_eq!(caused[0]["kind"], "task");
    assert_eq!(caused[0]["status"], "queued");
    let first_task = caused[0]["id"].as_str().unwrap().to_owned();

    // Nothing is missing: a replay creates nothing.
    let replay = |dry: Option<bool>| {
        let app = &app;
        let event = event.clone();
        async move {
            let body = dry.map(|d| json!({"dry_run": d}));
            app.api(Method::POST, &format!("/api/events/{event}/replay"), body)
                .await
        }
    };
    let (s, r) = replay(None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r,
        json!({"event_id": event, "dry_run": false, "created": []})
    );

    // Commands added after the event: a replay plans them.
    for cmd in [
        json!({"trigger": "issues.*", "action": "create_task", "agent": "review"}),
        json!({"trigger": "issues.opened", "action": "forward", "url": "http://127.0.0.1:9/hook"}),
    ] {
        let (s, b) = app
            .api(Method::POST, "/api/webhooks/gh-r/commands", Some(cmd))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    // A dry run lists them and stores nothing (also asked in the query).
    let (s, r) = app
        .api(
            Method::POST,
            &format!("/api/events/{event}/replay?dry_run=true"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["dry_run"], true);
    let kinds: Vec<_> = r["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].clone(), c["id"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("task"), Value::Null),
            (json!("delivery"), Value::Null)
        ],
        "{r}"
    );
    let typed: switchyard_server::http::views::ReplayView =
        serde_json::from_value(r.clone()).expect("the view reads back");
    assert!(typed.dry_run);
    let (_, c) = app.api_get(&format!("/api/events/{event}/caused")).await;
    assert_eq!(
        c["caused"].as_array().unwrap().len(),
        1,
        "a dry run stores nothing: {c}"
    );

    // The replay itself: exactly the new commands' work, then nothing.
    let (s, r) = replay(Some(false)).await;
    assert_eq!(s, 200, "{r}");
    let created = r["created"].as_array().unwrap();
    assert_eq!(created.len(), 2, "{r}");
    assert_eq!(created[0]["kind"], "task");
    assert_eq!(created[0]["summary"], "task for review");
    assert_eq!(created[1]["kind"], "delivery");
    let new_task = created[0]["id"].as_str().unwrap();
    let (s, t) = app.api_get(&format!("/api/tasks/{new_task}")).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["agent"], "review");
    assert_eq!(t["event_id"], event.as_str());
    let delivery = created[1]["id"].as_str().unwrap();
    let (s, d) = app.api_get(&format!("/api/deliveries/{delivery}")).await;
    assert_eq!(s, 200, "{d}");
    let (_, c) = app.api_get(&format!("/api/events/{event}/caused")).await;
    let caused: Vec<_> = c["caused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(caused.contains(&first_task) && caused.contains(&new_task.to_owned()));
    assert!(caused.contains(&delivery.to_owned()), "{c}");
    assert_eq!(caused.len(), 3, "{c}");
    let (s, r) = replay(None).await;
    assert_eq!(s, 200);
    assert_eq!(r["created"], json!([]), "a second replay creates nothing");
    // One audit row: the replay that created something.
    let (_, a) = app.api_get("/api/audit?resource_kind=event").await;
    let rows = a["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{a}");
    assert_eq!(rows[0]["action"], "replay");
    assert_eq!(rows[0]["resource_id"], event.as_str());
    assert_eq!(rows[0]["key_id"], "admin");
    assert_eq!(rows[0]["after"]["created"], 2, "{a}");

    // Who may, and what cannot be replayed.
    let (_, read) = app.make_key(&["read"]).await;
    let r = app
        .client
        .post(app.url(&format!("/api/events/{event}/replay")))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .get(app.url(&format!("/api/events/{event}/caused")))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a read key sees what an event caused");
    let (s, v) = app
        .api(Method::POST, "/api/events/evt_nope/replay", None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "unknown_event");
    let (s, _) = app.api_get("/api/events/evt_nope/caused").await;
    assert_eq!(s, 404);
    let (s, v) = app
        .api(
            Method::POST,
            &format!("/api/events/{event}/replay"),
            Some(json!({"dry_run": "yes"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");

    // The page: what it caused, linked, and the Replay button for an admin only.
    let mut admin = Browser::new(&app);
    admin.login(crate::support::ADMIN_KEY).await;
    let path = format!("/ui/events/{event}");
    let (s, html) = admin.page(&path).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!("/ui/tasks?agent=review#{new_task}")),
        "{html}"
    );
    assert!(html.contains(&format!("#{delivery}\"")), "{html}");
    assert!(html.contains("id=\"replay\""), "{html}");
    let replay_path = format!("/ui/events/{event}/replay");
    let r = admin.post_form(&replay_path, &[]).await;
    assert_eq!(r.status(), 403, "no CSRF token, no replay");
    let token = admin.csrf(&path).await;
    let r = admin
        .post_form(&replay_path, &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Nothing new: everything this event causes already exists."),
        "{html}"
    );
    let mut reader = Browser::new(&app);
    reader.login(&read).await;
    let (s, html) = reader.page(&path).await;
    assert_eq!(s, 200);
    assert!(
        !html.contains("id=\"replay\"") && !html.contains("/replay\""),
        "{html}"
    );
    let token = reader.csrf("/ui/events").await;
    let r = reader
        .post_form(&replay_path, &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status(), 403);

    // A disabled webhook cannot route; a deleted one is gone.
    let (s, _) = app
        .api(Method::POST, "/api/webhooks/gh-r/disable", None)
        .await;
    assert_eq!(s, 200);
    let (s, v) = replay(Some(true)).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "webhook_disabled");
    let (s, _) = app.api(Method::DELETE, "/api/webhooks/gh-r", None).await;
    assert_eq!(s, 204);
    let (s, v) = replay(None).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "webhook_gone");
    app.stop().await;
}
