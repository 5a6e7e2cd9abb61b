//! The dashboard's webhook form over HTTP on both stores (issue 12): create with
//! commands built row by row, validation errors beside their fields with nothing
//! stored, edit, secret rotation (shown once; the old secret stops verifying),
//! `POST /api/webhooks/{id}/secret/rotate`, what a read key is offered, CSRF, and
//! file-defined webhooks read-only. The browser test is `browser_webhooks.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::support::{issue_body, Kind, TestApp, ADMIN_KEY};
use crate::ui::{csrf_in, github_webhook, location, unslash, Browser};

/// The form's fields for a new GitHub webhook `hook` with two commands, the
/// second with `conditions` as typed.
fn two_commands<'a>(csrf: &'a str, conditions: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("name", "Form Hook"),
        ("provider", "github"),
        ("webhook_id", "hook"),
        ("secret_mode", "generate"),
        ("secret", ""),
        ("commands[0].trigger", "issues.opened"),
        ("commands[0].action", "create_task"),
        ("commands[0].agent", "planning"),
        ("commands[0].template", "Plan {{ issue.title }}"),
        ("commands[0].conditions", ""),
        ("commands[1].trigger", "issues.labeled"),
        ("commands[1].action", "create_task"),
        ("commands[1].agent", "triage"),
        ("commands[1].template", ""),
        ("commands[1].conditions", conditions),
    ]
}

/// Webhooks and audit rows the API shows: what "nothing stored" is checked against.
async fn stored(app: &TestApp) -> (Value, Value) {
    let (_, hooks) = app.api_get("/api/webhooks").await;
    let (_, audit) = app.api_get("/api/audit").await;
    (hooks["webhooks"].clone(), audit["audit"].clone())
}

/// The secret shown once on a page.
fn secret_on(html: &str) -> String {
    let at = html
        .find("id=\"secret-once\">")
        .expect("the secret, shown once")
        + 17;
    html[at..at + html[at..].find('<').unwrap()].to_owned()
}

async fn post_issue_signed(app: &TestApp, secret: &str, n: u64) -> u16 {
    app.github_to(
        "/webhooks/github/hook",
        secret,
        "issues",
        &format!("form-{n}"),
        &issue_body(n, "opened", &[]),
    )
    .await
    .0
}

async fn create_edit_and_rotate_through_the_form(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let mut b = Browser::new(&app);
    b.login(ADMIN_KEY).await;
    let (_, list) = b.page("/ui/webhooks").await;
    assert!(list.contains("href=\"/ui/webhooks/new\""), "{list}");
    let (s, html) = b.page("/ui/webhooks/new").await;
    assert_eq!(s, 200);
    for part in [
        "<label for=\"name\">",
        "<label for=\"cmd-0-trigger\">",
        "<label for=\"cmd-0-conditions\">",
        "<legend>Command <span data-row-number>1</span></legend>",
        "name=\"add_row\"",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    let csrf = csrf_in(&html);
    let before = stored(&app).await;

    // "Add command" without script: the form again, one row more, as typed.
    let mut fields = two_commands(&csrf, "")[..11].to_vec();
    fields.push(("add_row", "1"));
    let r = b.post_form("/ui/webhooks/new", &fields).await;
    assert_eq!(r.status(), 200);
    let html = unslash(&r.text().await.unwrap());
    assert!(
        html.contains("name=\"commands[1].trigger\"") && html.contains("value=\"planning\""),
        "{html}"
    );
    // "Remove command" drops that row and keeps the others.
    let mut fields = two_commands(&csrf, "");
    fields.push(("remove_row", "0"));
    let r = b.post_form("/ui/webhooks/new", &fields).await;
    let html = unslash(&r.text().await.unwrap());
    assert!(
        html.contains("value=\"issues.labeled\"") && !html.contains("value=\"issues.opened\""),
        "{html}"
    );
    assert_eq!(
        stored(&app).await,
        before,
        "adding and removing rows stores nothing"
    );

    // Conditions that are not JSON: 422, the error beside that field, what was
    // typed kept, nothing stored.
    let r = b
        .post_form("/ui/webhooks/new", &two_commands(&csrf, "{label: urgent"))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unslash(&r.text().await.unwrap());
    for part in [
        "aria-describedby=\"cmd-1-conditions-hint cmd-1-conditions-error\" aria-invalid=\"true\"",
        "<span class=\"field-error\" id=\"cmd-1-conditions-error\">is not valid JSON",
        ">{label: urgent</textarea>",
        ">Plan {{ issue.title }}</textarea>",
        "href=\"#cmd-1-conditions\"",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    assert!(!html.contains("id=\"cmd-0-conditions-error\""), "{html}");
    // A condition the engine refuses: the same 422 the API answers, beside the field.
    let bad = r#"{"bogus": 1}"#;
    let r = b
        .post_form("/ui/webhooks/new", &two_commands(&csrf, bad))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unslash(&r.text().await.unwrap());
    assert!(
        html.contains("<span class=\"field-error\" id=\"cmd-1-conditions-error\">bogus: "),
        "{html}"
    );
    let (api_status, api) = app
        .api(
            Method::POST,
            "/api/webhooks",
            Some(
                json!({"name": "Form Hook", "provider": "github", "webhook_id": "hook",
                        "commands": [{"trigger": "issues.labeled", "action": "create_task",
                                      "agent": "triage", "conditions": {"bogus": 1}}]}),
            ),
        )
        .await;
    assert_eq!(api_status, 422, "{api}");
    assert_eq!(
        api["error"]["fields"][0]["path"],
        "commands[0].conditions.bogus"
    );
    assert_eq!(stored(&app).await, before, "a refused form stores nothing");

    // Fixed: created; its secret shown once on the answer to the POST.
    let good = r#"{"label": "urgent"}"#;
    let r = b
        .post_form("/ui/webhooks/new", &two_commands(&csrf, good))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = unslash(&r.text().await.unwrap());
    let secret = secret_on(&html);
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(
        html.contains("issues.opened → create_task (planning)")
            && html.contains("issues.labeled → create_task (triage)"),
        "{html}"
    );
    let (s, w) = app.api_get("/api/webhooks/hook").await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["name"], "Form Hook");
    assert_eq!(w["source"], "api");
    let cmds = w["commands"].as_array().unwrap();
    assert_eq!(cmds.len(), 2, "{w}");
    assert_eq!(
        (&cmds[0]["trigger"], &cmds[0]["agent"], &cmds[0]["template"]),
        (
            &json!("issues.opened"),
            &json!("planning"),
            &json!("Plan {{ issue.title }}")
        )
    );
    assert_eq!(cmds[1]["conditions"], json!({"label": "urgent"}));
    let (_, audit) = app.api_get("/api/audit?resource_id=hook").await;
    assert_eq!(audit["audit"][0]["action"], "create", "{audit}");
    assert_eq!(audit["audit"][0]["key_id"], "admin", "{audit}");
    assert_eq!(post_issue_signed(&app, &secret, 1).await, 202);
    // Never again: the page, read again, masks it.
    let (_, html) = b.page("/ui/webhooks/hook").await;
    assert!(
        !html.contains(&secret) && html.contains("••••••••"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/ui/webhooks/hook/edit\"")
            && html.contains("href=\"/ui/webhooks/hook/rotate\""),
        "{html}"
    );
    // The same id again: 409 beside the id, nothing stored.
    let r = b
        .post_form("/ui/webhooks/new", &two_commands(&csrf, good))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = unslash(&r.text().await.unwrap());
    assert!(html.contains("id=\"webhook_id-error\""), "{html}");

    // Edit: prefilled; a change to the first command, the second removed, the
    // secret kept.
    let (s, html) = b.page("/ui/webhooks/hook/edit").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("name=\"commands[0].id\" value=\"cmd-1\"")
            && html.contains("value=\"issues.labeled\"")
            && html.contains("&quot;label&quot;: &quot;urgent&quot;"),
        "{html}"
    );
    let edit = |agent: &'static str| {
        vec![
            ("csrf_token", csrf.as_str()),
            ("name", "Form Hook 2"),
            ("provider", "github"),
            ("secret_mode", "keep"),
            ("commands[0].id", "cmd-1"),
            ("commands[0].trigger", "issues.*"),
            ("commands[0].action", "create_task"),
            ("commands[0].agent", agent),
            ("commands[0].template", "Look at {{ issue.title }}"),
            ("commands[0].conditions", ""),
        ]
    };
    let (_, before_edit) = app.api_get("/api/webhooks/hook").await;
    let r = b
        .post_form("/ui/webhooks/hook/edit", &edit("no/slash"))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unslash(&r.text().await.unwrap());
    assert!(html.contains("id=\"cmd-0-agent-error\""), "{html}");
    assert_eq!(app.api_get("/api/webhooks/hook").await.1, before_edit);
    let r = b
        .post_form("/ui/webhooks/hook/edit", &edit("planning"))
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/ui/webhooks/hook".into())
    );
    let (_, w) = app.api_get("/api/webhooks/hook").await;
    assert_eq!(w["name"], "Form Hook 2");
    assert_eq!(w["commands"].as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(w["commands"][0]["command_id"], "cmd-1");
    assert_eq!(w["commands"][0]["trigger"], "issues.*");
    assert_eq!(
        post_issue_signed(&app, &secret, 2).await,
        202,
        "secret kept"
    );
    let (_, audit) = app.api_get("/api/audit?resource_id=hook").await;
    assert_eq!(audit["audit"][0]["action"], "update", "{audit}");

    // Rotate: asks first; then a new secret, shown once; the old one is refused.
    let (s, html) = b.page("/ui/webhooks/hook/rotate").await;
    assert_eq!(s, 200);
    assert!(html.contains("stops verifying"), "{html}");
    let r = b.post_form("/ui/webhooks/hook/rotate", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token, no rotation");
    assert_eq!(post_issue_signed(&app, &secret, 3).await, 202);
    let r = b
        .post_form("/ui/webhooks/hook/rotate", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), 200);
    let rotated = secret_on(&unslash(&r.text().await.unwrap()));
    assert_ne!(rotated, secret);
    assert_eq!(post_issue_signed(&app, &secret, 4).await, 401, "old secret");
    assert_eq!(
        post_issue_signed(&app, &rotated, 5).await,
        202,
        "new secret"
    );
    let (_, html) = b.page("/ui/webhooks/hook").await;
    assert!(!html.contains(&rotated), "{html}");
    let (_, audit) = app.api_get("/api/audit?resource_id=hook").await;
    assert_eq!(audit["audit"][0]["action"], "rotate", "{audit}");
    assert!(!audit.to_string().contains(&rotated), "{audit}");

    // The API's rotation: a given secret, or a generated one; shown once.
    let (s, w) = app
        .api(
            Method::POST,
            "/api/webhooks/hook/secret/rotate",
            Some(json!({"secret": "given-secret-1234"})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["secret"], "given-secret-1234");
    assert_eq!(post_issue_signed(&app, &rotated, 6).await, 401);
    assert_eq!(post_issue_signed(&app, "given-secret-1234", 7).await, 202);
    let (s, w) = app
        .api(Method::POST, "/api/webhooks/hook/secret/rotate", None)
        .await;
    assert_eq!(s, 200, "{w}");
    assert!(w["secret"].as_str().unwrap().starts_with("whsec_"), "{w}");
    assert_eq!(
        app.api_get("/api/webhooks/hook").await.1["secret"],
        "********"
    );
    let (s, e) = app
        .api(
            Method::POST,
            "/api/webhooks/hook/secret/rotate",
            Some(json!({"secret": ""})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"]["fields"][0]["path"], "secret");
    let (s, _) = app
        .api(Method::POST, "/api/webhooks/nope/secret/rotate", None)
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}

const FILE_HOOK: &str = r#"{"webhook_id": "from-file", "name": "From File", "provider": "github",
  "secret": "file-secret", "commands": [{"trigger": "issues.opened", "action": "respond"}]}"#;

async fn read_keys_csrf_and_file_webhooks(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from-file.json");
    std::fs::write(&file, FILE_HOOK).unwrap();
    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(kind, move |c| c.config_dir = Some(path)).await;
    github_webhook(&app, "gh1").await;
    let (_, read) = app.make_key(&["read"]).await;
    let before = stored(&app).await;

    // A read key is offered no create, edit or rotate, and is refused them.
    let mut r = Browser::new(&app);
    r.login(&read).await;
    let (_, list) = r.page("/ui/webhooks").await;
    assert!(
        list.contains("Hook gh1") && !list.contains("/ui/webhooks/new"),
        "{list}"
    );
    let (_, detail) = r.page("/ui/webhooks/gh1").await;
    assert!(
        !detail.contains("/edit\"") && !detail.contains("/rotate\""),
        "{detail}"
    );
    let csrf = csrf_in(&list);
    for path in [
        "/ui/webhooks/new",
        "/ui/webhooks/gh1/edit",
        "/ui/webhooks/gh1/rotate",
    ] {
        assert_eq!(
            r.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
        let res = r
            .post_form(
                path,
                &[
                    ("csrf_token", &csrf),
                    ("name", "x"),
                    ("provider", "github"),
                    ("secret_mode", "none"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
    let res = app
        .client
        .post(app.url("/api/webhooks/gh1/secret/rotate"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // An admin's forms without the session's CSRF token are refused.
    let mut a = Browser::new(&app);
    a.login(ADMIN_KEY).await;
    for path in [
        "/ui/webhooks/new",
        "/ui/webhooks/gh1/edit",
        "/ui/webhooks/gh1/rotate",
    ] {
        for token in [None, Some("forged")] {
            let mut fields = vec![
                ("name", "Forged"),
                ("provider", "github"),
                ("secret_mode", "none"),
                ("commands[0].trigger", "*"),
                ("commands[0].action", "respond"),
            ];
            if let Some(t) = token {
                fields.push(("csrf_token", t));
            }
            let res = a.post_form(path, &fields).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
        }
    }
    assert_eq!(stored(&app).await, before, "refused forms store nothing");

    // A file-defined webhook is read-only, saying where it is defined.
    let (s, html) = a.page("/ui/webhooks/from-file").await;
    assert_eq!(s, 200);
    let shown = file.display().to_string();
    assert!(
        html.contains(&format!("Defined in <code>{shown}</code>; edit the file")),
        "{html}"
    );
    for control in ["/edit\"", "/rotate\"", "/delete\"", ">Edit<", ">Delete<"] {
        assert!(!html.contains(control), "{control} in {html}");
    }
    let csrf = csrf_in(&html);
    let (s, html) = a.page("/ui/webhooks/from-file/edit").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(html.contains("edit that file instead"), "{html}");
    let res = a
        .post_form(
            "/ui/webhooks/from-file/edit",
            &[
                ("csrf_token", &csrf),
                ("name", "x"),
                ("provider", "github"),
                ("secret_mode", "keep"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = a
        .post_form("/ui/webhooks/from-file/rotate", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let (s, _) = app
        .api(Method::POST, "/api/webhooks/from-file/secret/rotate", None)
        .await;
    assert_eq!(s, 409);
    let (_, w) = app.api_get("/api/webhooks/from-file").await;
    assert_eq!(w["name"], "From File");
    assert_eq!(stored(&app).await, before);
    app.stop().await;
}

both_stores!(
    create_edit_and_rotate_through_the_form,
    read_keys_csrf_and_file_webhooks
);
