//! The dashboard over HTTP on both stores (issue 12): sign-in and its cookie,
//! redirects, CSRF on every POST, security headers, what a `read` key is shown,
//! a revoked key signed out, the session opening the live stream, and the inbox's
//! one-click decision. The real-browser tests are in `browser.rs`.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{Kind, TestApp, ADMIN_KEY};

const SECRET: &str = "gh-ui-secret";

/// A browser-like client of the dashboard: follows no redirects (the tests look
/// at them) and carries the session cookie it was given.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        r
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.req(Method::GET, path).send().await.unwrap()
    }

    /// A page's status and HTML (minijinja writes `/` in text as `&#x2f;`, which
    /// a browser shows as `/`: undone here so assertions read naturally).
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        (r.status(), unslash(&r.text().await.unwrap()))
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.req(Method::POST, path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
    }

    /// Fills in and posts the sign-in form with `key`, as a browser does: the form
    /// page first (its cookie and CSRF token), then the post with both.
    pub async fn sign_in(&self, key: &str) -> reqwest::Response {
        let form = self.get("/ui/login").await;
        let form_cookie = form.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let form_cookie = form_cookie.split(';').next().unwrap().to_owned();
        let csrf = csrf_in(&form.text().await.unwrap());
        self.client
            .post(format!("{}/ui/login", self.base))
            .header(COOKIE, form_cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("api_key", key)
                    .append_pair("csrf_token", &csrf)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
    }

    /// Signs in with `key`; panics unless it is a 303 to `/ui/` with a cookie.
    pub async fn login(&mut self, key: &str) -> String {
        let r = self.sign_in(key).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/ui/");
        let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
        set
    }

    /// The CSRF token in a page's forms.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.page(path).await;
        csrf_in(&html)
    }
}

pub(crate) fn unslash(html: &str) -> String {
    html.replace("&#x2f;", "/")
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a csrf_token field");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Registers a GitHub webhook `id` with one command.
pub async fn github_webhook(app: &TestApp, id: &str) {
    let (s, b) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "webhook_id": id, "name": format!("Hook {id}"), "provider": "github", "secret": SECRET,
                "commands": [{"trigger": "issues.opened", "action": "create_task",
                              "agent": "planning", "template": "Plan {{issue.title}}"}]
            })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

/// Posts a signed `issues.opened` to webhook `id`; returns its event id.
pub async fn post_issue(app: &TestApp, id: &str, n: u64) -> String {
    let b = app.post_issue_to(id, SECRET, "ui", n).await;
    b["event_id"].as_str().unwrap().to_owned()
}

async fn sign_in_csrf_and_redirects(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    github_webhook(&app, "gh1").await;
    let mut b = Browser::new(&app);

    // Not signed in: every page goes to the form; a browser asking / goes to the
    // dashboard, an API client still gets the health JSON.
    let r = b.get("/ui/webhooks").await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/login".into())
    );
    let r = b
        .req(Method::GET, "/")
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/".into())
    );
    let r = b.get("/").await;
    assert_eq!(r.status(), 200);
    let health: Value = r.json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let (s, html) = b.page("/ui/login").await;
    assert_eq!(s, 200);
    assert!(html.contains("name=\"api_key\""), "{html}");

    // A sign-in form posted from elsewhere (no form cookie, no token) signs
    // nobody in, even with the right key (login CSRF).
    let r = b.post_form("/ui/login", &[("api_key", ADMIN_KEY)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("switchyard_session="));
    // A wrong key is refused; the admin key signs in with a strict cookie.
    let r = b.sign_in("sy_key_nope").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("switchyard_session="));
    let set = b.login(ADMIN_KEY).await;
    for part in [
        "switchyard_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http, no https public URL: {set}"
    );
    assert!(
        !set.contains(ADMIN_KEY),
        "the cookie names the key, never holds it"
    );

    // Pages: no framing, no inline script, not cached.
    let r = b.get("/ui/webhooks").await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = unslash(&r.text().await.unwrap());
    assert!(
        html.contains("Hook gh1") && html.contains("/webhooks/github/gh1"),
        "{html}"
    );
    let csrf = csrf_in(&html);

    // A POST without the token, or with another, is refused and changes nothing.
    let r = b
        .post_form("/ui/webhooks/gh1/disable", &[("next", "/ui/webhooks")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post_form(
            "/ui/webhooks/gh1/disable",
            &[("csrf_token", "forged"), ("next", "/ui/webhooks")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.api_get("/api/webhooks/gh1").await.1["enabled"], true);
    // With it, the toggle works and goes back where the form said (only to /ui/).
    let r = b
        .post_form(
            "/ui/webhooks/gh1/disable",
            &[("csrf_token", &csrf), ("next", "/ui/webhooks/gh1")],
        )
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/webhooks/gh1".into())
    );
    assert_eq!(app.api_get("/api/webhooks/gh1").await.1["enabled"], false);
    let r = b
        .post_form(
            "/ui/webhooks/gh1/enable",
            &[("csrf_token", &csrf), ("next", "https://evil.example/")],
        )
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/webhooks".into())
    );
    assert_eq!(app.api_get("/api/webhooks/gh1").await.1["enabled"], true);

    // Seed 002's detail tree.
    post_issue(&app, "gh1", 1).await;
    let (s, html) = b.page("/ui/webhooks/gh1").await;
    assert_eq!(s, 200);
    for part in [
        "Status",
        "Enabled",
        "/webhooks/github/gh1",
        "••••••••",
        "Commands (1)",
        "issues.opened → create_task (planning)",
        "Recent Events (1)",
        ">Delete<",
        ">Test<",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    assert!(!html.contains(SECRET));

    // Test sends a signed sample through ingest and shows the stored event.
    let r = b.post_form("/ui/webhooks/gh1/test", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post_form("/ui/webhooks/gh1/test", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = location(&r);
    let event_id = at.strip_prefix("/ui/events/").expect("to the event");
    let (_, stored) = app.api_get(&format!("/api/events/{event_id}")).await;
    assert_eq!(stored["event_type"], "issues.opened", "{stored}");
    let (s, html) = b.page(&at).await;
    assert_eq!(s, 200);
    assert!(html.contains("create_task"), "what matched: {html}");

    // The session opens the live stream, and only the stream.
    let r = b.get("/api/stream").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    drop(r);
    assert_eq!(
        b.get("/api/events").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A tampered cookie is no session.
    let good = b.cookie.clone().unwrap();
    b.cookie = Some(format!("{}x", good));
    assert_eq!(b.get("/ui/events").await.status(), StatusCode::SEE_OTHER);
    b.cookie = Some(good);

    // Sign out clears the cookie (and needs the token too).
    assert_eq!(
        b.post_form("/ui/logout", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = b.post_form("/ui/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/login".into())
    );
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    app.stop().await;
}

async fn a_read_key_sees_no_write_controls(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    github_webhook(&app, "gh1").await;
    let (key_id, read) = app.make_key(&["read"]).await;
    let mut b = Browser::new(&app);
    b.login(&read).await;

    for path in ["/ui/webhooks", "/ui/webhooks/gh1"] {
        let (s, html) = b.page(path).await;
        assert_eq!(s, 200, "{path}");
        assert!(html.contains("Hook gh1"), "{html}");
        for write in [
            "/enable\"",
            "/disable\"",
            "/delete\"",
            "/test\"",
            ">Delete<",
            ">Test<",
            "role=\"switch\"",
        ] {
            assert!(!html.contains(write), "{path} shows {write}: {html}");
        }
    }
    // The forms are refused anyway, valid token or not.
    let csrf = b.csrf("/ui/webhooks").await;
    let r = b
        .post_form("/ui/webhooks/gh1/disable", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post_form("/ui/webhooks/gh1/delete", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post_form("/ui/webhooks/gh1/test", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.api_get("/api/webhooks/gh1").await.1["enabled"], true);

    // The inbox shows a pending checkpoint without decision buttons.
    let (s, _) = app
        .api(
            Method::POST,
            "/api/checkpoints",
            Some(json!({"checkpoint_id": "c1", "name": "ship it"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, html) = b.page("/ui/inbox").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("ship it") && !html.contains("data-decision"),
        "{html}"
    );

    // Revoking the key signs its session out at the next request.
    let (s, _) = app
        .api(Method::DELETE, &format!("/api/keys/{key_id}"), None)
        .await;
    assert_eq!(s, 204);
    let r = b.get("/ui/webhooks").await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/login".into())
    );

    // An agent key cannot sign in at all.
    let (_, agent) = app.make_key(&["agent:planning"]).await;
    let r = b.sign_in(&agent).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn events_and_the_inbox(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    github_webhook(&app, "gh1").await;
    let first = post_issue(&app, "gh1", 1).await;
    let second = post_issue(&app, "gh1", 2).await;
    let (_, feedback) = app.make_key(&["feedback", "read"]).await;
    let mut b = Browser::new(&app);
    b.login(&feedback).await;

    // Newest first, filtered, and the detail with what matched.
    let (s, html) = b.page("/ui/events").await;
    assert_eq!(s, 200);
    let (a, z) = (html.find(&second).unwrap(), html.find(&first).unwrap());
    assert!(a < z, "newest first");
    let (_, html) = b.page("/ui/events?provider=stripe").await;
    assert!(!html.contains(&first), "{html}");
    let (s, html) = b.page(&format!("/ui/events/{first}")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("create_task") && html.contains("&quot;number&quot;: 1"),
        "{html}"
    );

    // One click approves, decided by the signed-in key.
    let (s, c) = app
        .api(
            Method::POST,
            "/api/checkpoints",
            Some(
                json!({"checkpoint_id": "c1", "name": "deploy", "question": "Ship <b>it</b>?",
                        "timeout_seconds": 600, "default_decision": "reject"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (_, html) = b.page("/ui/inbox").await;
    assert!(
        html.contains("Ship &lt;b&gt;it&lt;/b&gt;?"),
        "escaped: {html}"
    );
    assert!(
        html.contains("data-decision=\"approve\"") && html.contains("data-countdown"),
        "{html}"
    );
    let csrf = csrf_in(&html);
    let r = b
        .post_form(
            "/ui/inbox/c1/decision",
            &[("decision", "approve"), ("next", "/ui/inbox")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token, no decision");
    let r = b
        .post_form(
            "/ui/inbox/c1/decision",
            &[
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("next", "/ui/inbox"),
            ],
        )
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/inbox".into())
    );
    let (_, c) = app.api_get("/api/checkpoints/c1").await;
    assert_eq!(
        (c["status"].as_str(), c["decision"].as_str()),
        (Some("approved"), Some("approve")),
        "{c}"
    );
    assert_ne!(c["decided_by"], json!(null));
    let (_, html) = b.page("/ui/inbox").await;
    assert!(!html.contains("deploy"), "decided: gone from the inbox");
    // Deciding again shows the conflict as a page.
    let r = b
        .post_form(
            "/ui/inbox/c1/decision",
            &[("csrf_token", &csrf), ("decision", "reject")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (s, html) = b.page("/ui/inbox/c1").await;
    assert_eq!(s, 200);
    assert!(html.contains("approved"), "{html}");
    app.stop().await;
}

const SHOUT: &str = r#"
schema_version: "1.0"
flow: {name: shout, description: "Shouts <loudly>"}
state:
  fields:
    message: {type: str, required: true}
    loud: {type: str, default: ""}
nodes:
  - id: upper
    kind: template
    template: "{{ state.message | upper }}!"
    outputs: [loud]
edges:
  - {from: START, to: upper}
  - {from: upper, to: END}
"#;

async fn workflows_and_a_run_timeline(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    crate::runs::serve(&app, &[SHOUT]).await;
    let id = crate::runs::start(&app, "shout", json!({"message": "hello"})).await;
    crate::runs::wait_for(&app, &id, "succeeded").await;
    let (_, read) = app.make_key(&["read"]).await;
    let mut b = Browser::new(&app);
    b.login(&read).await;

    let (s, html) = b.page("/ui/workflows").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("id=\"wf-shout\"") && html.contains("Shouts &lt;loudly&gt;"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/ui/runs/{id}\"")) && html.contains("succeeded"),
        "{html}"
    );
    let (s, html) = b.page(&format!("/ui/runs/{id}")).await;
    assert_eq!(s, 200);
    for part in ["<code>upper</code>", "template", "succeeded", "HELLO!"] {
        assert!(html.contains(part), "{part} in {html}");
    }
    let (s, _) = b.page("/ui/runs/run_0000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!html.contains("run-restart"), "a read key gets no Restart");
    assert!(
        !html.contains("data-live"),
        "a finished run's page does not follow the stream"
    );

    // An admin cancels a waiting run and restarts it.
    crate::runs::serve(&app, &[crate::runs::HANDOFF]).await;
    let waiting = crate::runs::start(&app, "handoff", json!({"incident": "x"})).await;
    crate::runs::wait_for(&app, &waiting, "waiting").await;
    let mut admin = Browser::new(&app);
    admin.login(ADMIN_KEY).await;
    let (_, html) = admin.page(&format!("/ui/runs/{waiting}")).await;
    assert!(
        html.contains("id=\"run-cancel\"") && !html.contains("id=\"run-restart\""),
        "{html}"
    );
    assert!(
        html.contains("data-live=\"run.started run.node_finished run.finished\""),
        "a live run's page follows the stream: {html}"
    );
    let csrf = csrf_in(&html);
    let r = admin
        .post_form(&format!("/ui/runs/{waiting}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token, no cancel");
    let r = admin
        .post_form(
            &format!("/ui/runs/{waiting}/cancel"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, run) = app.api_get(&format!("/api/runs/{waiting}")).await;
    assert_eq!(run["status"], "cancelled");
    let (_, html) = admin.page(&format!("/ui/runs/{waiting}")).await;
    assert!(
        html.contains("id=\"run-restart\"") && !html.contains("id=\"run-cancel\""),
        "{html}"
    );
    let r = admin
        .post_form(
            &format!("/ui/runs/{waiting}/restart"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new_run = location(&r);
    let new_id = new_run.trim_start_matches("/ui/runs/");
    assert_ne!(new_id, waiting);
    let (_, run) = app.api_get(&format!("/api/runs/{new_id}")).await;
    assert_eq!(run["restarted_from"], waiting.as_str());
    app.stop().await;
}

both_stores!(
    workflows_and_a_run_timeline,
    sign_in_csrf_and_redirects,
    a_read_key_sees_no_write_controls,
    events_and_the_inbox
);
